// One-cable-at-a-time calls mapped onto set(), for driver tests and benches (the engine only uses set()).
// Each is set() of the last wanted cables plus/minus one.
import type { EndpointSpec } from '../k8s/resources.js';
import { HawserError } from '../util/errors.js';
import type { CableOutcome, NatInfo, WantedCable } from './types.js';

export abstract class DeclarativeDriver {
  /** The cables of the last set() (what connections() reports). */
  protected wantedCables: WantedCable[] = [];

  abstract set(cables: readonly WantedCable[]): Promise<Map<string, CableOutcome>>;

  /** set() of the current cables with `remote` added or updated; throws its outcome's error. */
  async connect(remote: EndpointSpec, nat: NatInfo): Promise<void> {
    const next = [...this.wantedCables.filter((c) => c.endpoint.cableName !== remote.cableName), { endpoint: remote, nat }];
    const out = (await this.set(next)).get(remote.cableName);
    if (out && !out.ok) throw new HawserError('INVALID', out.error);
  }

  /** set() of the current cables without `remote`. */
  async disconnect(remote: EndpointSpec): Promise<void> {
    await this.set(this.wantedCables.filter((c) => c.endpoint.cableName !== remote.cableName));
  }
}
