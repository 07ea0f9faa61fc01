// How each cable reaches its remote: NAT discovery's decision when it has one, else a provisional guess.
// Discovery runs on the active gateway only: a standby behind the same NAT answering probes from the same
// port would confuse remote gateways (UNKNOWN_DST_ENDPOINT).
import type { EndpointSpec } from '../k8s/resources.js';
import { fallbackNat } from '../cable-drivers/engine.js';
import type { NatInfo } from '../cable-drivers/types.js';
import { fallbackDecision } from '../cable-drivers/natdiscovery/remote.js';
import { errorMessage } from '../util/errors.js';
import type { NatDiscoveryPort } from './ports.js';
import type { Failures } from './status-writer.js';

export interface NatChoiceOptions {
  /** Starts NAT discovery for our Endpoint; unset: discovery is not wired (the fallback rule decides). */
  discovery?: (local: EndpointSpec) => Promise<NatDiscoveryPort>;
  failures: Failures;
  /** A decision arrived or changed: the cables are reconciled again. */
  onDecided: () => void;
}

export class NatChoice {
  private port: NatDiscoveryPort | undefined;
  /** Discovery could not start (or is not wired): Submariner's fallback rule decides every cable. */
  private unavailable: boolean;

  constructor(private readonly o: NatChoiceOptions) {
    this.unavailable = o.discovery === undefined;
  }

  /** Starts discovery once; `stillWanted` is asked again after the start (a lease lost meanwhile stops it). */
  async start(local: EndpointSpec, stillWanted: () => boolean): Promise<void> {
    if (!this.o.discovery || this.port) return;
    try {
      const nat = await this.o.discovery(local);
      if (!stillWanted()) return void (await nat.stop());
      this.port = nat;
      nat.onDecided(() => this.o.onDecided());
      this.o.failures.clear('nat-discovery');
    } catch (err) {
      this.unavailable = true;
      this.o.failures.set('nat-discovery', `NAT discovery failed to start (using the fallback NAT decision): ${errorMessage(err)}`);
    }
  }

  /**
   * Discovery's decision, or while it still probes a provisional guess: unlike Submariner (which waits),
   * hawser connects at once. The guess also counts our own SUBMARINER_NATENABLED, the likelier truth for
   * this side, so that the answer a moment later rarely changes it (a reconnect). Once discovery gives up,
   * its decision is Submariner's fallback rule (the remote's flags only: natdiscovery/remote.ts); when
   * discovery cannot run at all, that rule directly.
   */
  decision(local: EndpointSpec, remote: EndpointSpec): NatInfo {
    const decided = this.port?.decision(remote.cableName);
    if (decided) return decided;
    return this.unavailable ? fallbackDecision(remote) : fallbackNat(local, remote);
  }

  setRemotes(eps: readonly EndpointSpec[]): void {
    this.port?.setRemotes(eps);
  }

  setLocal(ep: EndpointSpec): void {
    this.port?.setLocal(ep);
  }

  async stop(): Promise<void> {
    const p = this.port;
    this.port = undefined;
    await p?.stop();
  }
}
