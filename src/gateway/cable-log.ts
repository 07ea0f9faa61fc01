// One `info` line per cable state change (connected / error / removed), so on-call can follow a cable
// from the gateway log alone. Diffing is pure; the role feeds observed connections in once a second.
import type { Logger } from '../log/index.js';
import type { ConnectionView } from '../cable-drivers/engine.js';

export type CableLogState = 'connecting' | 'connected' | 'error' | 'removed';

export interface CableStateChange {
  cable: string;
  cluster: string;
  from: CableLogState | undefined;
  to: CableLogState;
  statusMessage: string;
}

interface Known {
  cluster: string;
  status: CableLogState;
}

/** Pure: the changes from `prev` (cable → last state) to the observed connections, and the new map. */
export function diffCableStates(prev: ReadonlyMap<string, Known>, conns: readonly ConnectionView[]): { changes: CableStateChange[]; next: Map<string, Known> } {
  const next = new Map<string, Known>();
  const changes: CableStateChange[] = [];
  for (const c of conns) {
    next.set(c.cableName, { cluster: c.clusterId, status: c.status });
    const before = prev.get(c.cableName)?.status;
    if (before !== c.status) changes.push({ cable: c.cableName, cluster: c.clusterId, from: before, to: c.status, statusMessage: c.statusMessage });
  }
  for (const [cable, k] of prev) {
    if (!next.has(cable)) changes.push({ cable, cluster: k.cluster, from: k.status, to: 'removed', statusMessage: '' });
  }
  return { changes, next };
}

/** Which changes on-call sees at `info`; `connecting` (a transient) goes to `debug`. */
export function isInfoChange(c: CableStateChange): boolean {
  return c.to !== 'connecting';
}

export class CableStateLog {
  private known = new Map<string, Known>();

  constructor(private readonly log: Logger) {}

  /** Logs every change since the last call. */
  observe(conns: readonly ConnectionView[]): CableStateChange[] {
    const { changes, next } = diffCableStates(this.known, conns);
    this.known = next;
    for (const c of changes) {
      const fields = { remoteCluster: c.cluster, endpoint: c.cable, cable: c.cable, status: c.to, previous: c.from ?? 'none', ...(c.statusMessage ? { statusMessage: c.statusMessage } : {}) };
      if (isInfoChange(c)) this.log.info(fields, `cable ${c.to}`);
      else this.log.debug(fields, `cable ${c.to}`);
    }
    return changes;
  }

  /** Forgets a cable whose removal was already logged (the engine logs `cable removed` itself). */
  forget(cable: string): void {
    this.known.delete(cable);
  }
}
