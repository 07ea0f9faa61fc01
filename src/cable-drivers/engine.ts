// The cable engine: from the wanted set (remote Endpoints, newest per cluster) and what is applied, plan
// connect/disconnect and apply them through the driver. A failure on one cable is that cable's error
// status, retried with backoff; it never touches other cables.
import type { Logger } from '../log/index.js';
import { backendKind, type EndpointSpec } from '../k8s/resources.js';
import { errorMessage } from '../util/errors.js';
import type { CableDriver, ConnectionState, NatInfo } from './types.js';

export interface EndpointObject {
  name: string;
  creationTimestamp: string;
  spec: EndpointSpec;
}

export interface Selection {
  /** One endpoint per remote cluster: the newest. */
  wanted: EndpointSpec[];
  /** Endpoints we will not connect to, with why (they become error connections on the status). */
  rejected: Array<{ endpoint: EndpointSpec; reason: string }>;
}

/** Picks the newest Endpoint of each remote cluster; rejects ones that cannot work with our driver. */
export function selectRemoteEndpoints(objs: readonly EndpointObject[], localClusterId: string, localBackend: string): Selection {
  const newest = new Map<string, EndpointObject>();
  for (const o of objs) {
    if (o.spec.clusterId === localClusterId) continue;
    const cur = newest.get(o.spec.clusterId);
    if (!cur || o.creationTimestamp > cur.creationTimestamp || (o.creationTimestamp === cur.creationTimestamp && o.name > cur.name)) newest.set(o.spec.clusterId, o);
  }
  const wanted: EndpointSpec[] = [];
  const rejected: Selection['rejected'] = [];
  const ours = backendKind(localBackend);
  for (const o of [...newest.values()].sort((a, b) => a.spec.clusterId.localeCompare(b.spec.clusterId))) {
    const theirs = backendKind(o.spec.backend);
    if (theirs !== ours) {
      rejected.push({ endpoint: o.spec, reason: `remote cluster ${o.spec.clusterId} uses cable driver ${JSON.stringify(o.spec.backend)} but this cluster uses ${localBackend}: every cluster must use the same cable driver` });
    } else if (o.spec.subnets.length === 0) {
      rejected.push({ endpoint: o.spec, reason: `remote endpoint ${o.spec.cableName} has no valid subnets${o.spec.invalidSubnets.length ? ` (invalid: ${o.spec.invalidSubnets.join(', ')})` : ''}: fix SUBMARINER_CLUSTERCIDR/SERVICECIDR on cluster ${o.spec.clusterId}` });
    } else wanted.push(o.spec);
  }
  return { wanted, rejected };
}

/** What matters for the data path: a change here means reconnect. */
export function cableFingerprint(e: EndpointSpec, nat: NatInfo): string {
  const bc = Object.keys(e.backendConfig).sort().map((k) => `${k}=${e.backendConfig[k]}`).join(',');
  return [e.cableName, e.backend, e.subnets.join(','), e.privateIP, e.publicIP, e.healthCheckIP, String(e.natEnabled), bc, nat.useIP, String(nat.useNAT)].join('|');
}

export type CableAction =
  | { kind: 'connect'; endpoint: EndpointSpec; nat: NatInfo; why: 'new' | 'changed' | 'retry' }
  | { kind: 'disconnect'; endpoint: EndpointSpec; why: 'gone' | 'replaced' };

export interface AppliedCable {
  endpoint: EndpointSpec;
  fingerprint: string;
}

/** Pure: the actions that take `applied` to `wanted`. Disconnects of replaced cables come after connects. */
export function planCables(wanted: readonly EndpointSpec[], natFor: (e: EndpointSpec) => NatInfo, applied: ReadonlyMap<string, AppliedCable>, failed: ReadonlySet<string> = new Set()): CableAction[] {
  const actions: CableAction[] = [];
  const wantedNames = new Set(wanted.map((e) => e.cableName));
  const clustersWanted = new Map(wanted.map((e) => [e.clusterId, e.cableName]));
  for (const e of wanted) {
    const nat = natFor(e);
    const fp = cableFingerprint(e, nat);
    const cur = applied.get(e.cableName);
    if (!cur) actions.push({ kind: 'connect', endpoint: e, nat, why: failed.has(e.cableName) ? 'retry' : 'new' });
    else if (cur.fingerprint !== fp) actions.push({ kind: 'connect', endpoint: e, nat, why: 'changed' });
  }
  for (const [name, cur] of applied) {
    if (wantedNames.has(name)) continue;
    const replaced = clustersWanted.has(cur.endpoint.clusterId);
    actions.push({ kind: 'disconnect', endpoint: cur.endpoint, why: replaced ? 'replaced' : 'gone' });
  }
  return actions;
}

export function planText(actions: readonly CableAction[]): string {
  return actions.map((a) => (a.kind === 'connect' ? `connect ${a.endpoint.cableName} via ${a.nat.useIP}${a.nat.useNAT ? ' (nat)' : ''} [${a.why}]` : `disconnect ${a.endpoint.cableName} [${a.why}]`)).join('\n');
}

/** The default NAT decision before (or without) discovery: public IP when either side says NAT. */
export function fallbackNat(local: EndpointSpec, remote: EndpointSpec): NatInfo {
  const useNAT = local.natEnabled || remote.natEnabled;
  return { useIP: useNAT && remote.publicIP ? remote.publicIP : remote.privateIP, useNAT };
}

interface CableError {
  endpoint: EndpointSpec;
  message: string;
  attempts: number;
  nextAttemptAt: number;
}

export interface EngineOptions {
  driver: CableDriver;
  localEndpoint: EndpointSpec;
  log: Logger;
  natFor?: (e: EndpointSpec) => NatInfo;
  now?: () => number;
  onEvent?: (ev: { kind: 'connected' | 'disconnected' | 'error'; endpoint: EndpointSpec; message?: string }) => void;
}

export interface ConnectionView extends ConnectionState {
  clusterId: string;
}

export class CableEngine {
  private readonly applied = new Map<string, AppliedCable>();
  private readonly errors = new Map<string, CableError>();
  private wanted: EndpointSpec[] = [];
  private rejected: Selection['rejected'] = [];
  private readonly now: () => number;

  constructor(private readonly o: EngineOptions) {
    this.now = o.now ?? Date.now;
  }

  setWanted(sel: Selection): void {
    this.wanted = sel.wanted;
    this.rejected = sel.rejected;
  }

  private natFor(e: EndpointSpec): NatInfo {
    return this.o.natFor ? this.o.natFor(e) : fallbackNat(this.o.localEndpoint, e);
  }

  /** One pass: plan, then apply each action independently. Returns the plan text (for logs/tests). */
  async reconcile(): Promise<string> {
    const now = this.now();
    // Cables whose last attempt failed are not "applied"; retry them only when their backoff has passed.
    const due = this.wanted.filter((e) => {
      const err = this.errors.get(e.cableName);
      return !err || err.nextAttemptAt <= now || cableFingerprint(err.endpoint, this.natFor(e)) !== cableFingerprint(e, this.natFor(e));
    });
    const notDue = new Set(this.wanted.filter((e) => !due.includes(e)).map((e) => e.cableName));
    const actions = planCables(due, (e) => this.natFor(e), new Map([...this.applied].filter(([k]) => !notDue.has(k))), new Set(this.errors.keys()));
    // Forget errors of cables no longer wanted.
    for (const k of [...this.errors.keys()]) if (!this.wanted.some((e) => e.cableName === k)) this.errors.delete(k);
    for (const a of actions) {
      const log = this.o.log.child({ cable: a.endpoint.cableName, cluster: a.endpoint.clusterId, endpoint: a.endpoint.cableName });
      try {
        if (a.kind === 'connect') {
          await this.o.driver.connect(a.endpoint, a.nat);
          this.applied.set(a.endpoint.cableName, { endpoint: a.endpoint, fingerprint: cableFingerprint(a.endpoint, a.nat) });
          const hadError = this.errors.delete(a.endpoint.cableName);
          log.info({ usingIP: a.nat.useIP, usingNAT: a.nat.useNAT, why: a.why, recovered: hadError || undefined }, 'cable configured');
          this.o.onEvent?.({ kind: 'connected', endpoint: a.endpoint });
        } else {
          await this.o.driver.disconnect(a.endpoint);
          this.applied.delete(a.endpoint.cableName);
          log.info({ why: a.why }, 'cable removed');
          this.o.onEvent?.({ kind: 'disconnected', endpoint: a.endpoint });
        }
      } catch (err) {
        const message = errorMessage(err);
        if (a.kind === 'connect') {
          this.applied.delete(a.endpoint.cableName);
          const prev = this.errors.get(a.endpoint.cableName);
          const attempts = (prev?.attempts ?? 0) + 1;
          const delay = Math.min(30_000, 1000 * 2 ** Math.min(attempts - 1, 5));
          this.errors.set(a.endpoint.cableName, { endpoint: a.endpoint, message, attempts, nextAttemptAt: this.now() + delay });
          if (!prev || prev.message !== message) {
            log.error({ err: message, attempts, retryInMs: delay }, 'cable failed');
            this.o.onEvent?.({ kind: 'error', endpoint: a.endpoint, message });
          } else log.debug({ err: message, attempts, retryInMs: delay }, 'cable still failing');
        } else {
          log.error({ err: message }, 'removing cable failed; will retry');
        }
      }
    }
    return planText(actions);
  }

  /** The earliest time a failed cable is due again (for scheduling), or undefined. */
  nextRetryAt(): number | undefined {
    let t: number | undefined;
    for (const e of this.errors.values()) t = t === undefined ? e.nextAttemptAt : Math.min(t, e.nextAttemptAt);
    return t;
  }

  /** Connections for the Gateway status: the driver's observed state, our errors and rejections. */
  async connections(): Promise<ConnectionView[]> {
    let observed: ConnectionState[] = [];
    let driverError: string | undefined;
    try {
      observed = await this.o.driver.connections();
    } catch (err) {
      driverError = errorMessage(err);
    }
    const byName = new Map(observed.map((c) => [c.cableName, c]));
    const out: ConnectionView[] = [];
    for (const e of this.wanted) {
      const err = this.errors.get(e.cableName);
      const nat = this.natFor(e);
      const obs = byName.get(e.cableName);
      if (err) out.push({ cableName: e.cableName, clusterId: e.clusterId, endpoint: e, status: 'error', statusMessage: err.message, usingIP: nat.useIP, usingNAT: nat.useNAT });
      else if (driverError) out.push({ cableName: e.cableName, clusterId: e.clusterId, endpoint: e, status: 'error', statusMessage: `cannot read the cable state: ${driverError}`, usingIP: nat.useIP, usingNAT: nat.useNAT });
      else if (obs) out.push({ ...obs, endpoint: e, clusterId: e.clusterId });
      else out.push({ cableName: e.cableName, clusterId: e.clusterId, endpoint: e, status: 'connecting', statusMessage: 'configuring the cable', usingIP: nat.useIP, usingNAT: nat.useNAT });
    }
    for (const r of this.rejected) {
      out.push({ cableName: r.endpoint.cableName, clusterId: r.endpoint.clusterId, endpoint: r.endpoint, status: 'error', statusMessage: r.reason, usingIP: '', usingNAT: false });
    }
    return out;
  }

  /** Disconnects every applied cable (fencing: a gateway that is no longer active stops serving). */
  async disconnectAll(): Promise<void> {
    for (const a of [...this.applied.values()]) {
      try {
        await this.o.driver.disconnect(a.endpoint);
      } catch (err) {
        this.o.log.error({ cable: a.endpoint.cableName, err: errorMessage(err) }, 'disconnect failed');
      }
      this.applied.delete(a.endpoint.cableName);
    }
    this.errors.clear();
  }

  /**
   * Takes the driver's existing cables as applied (a restarted hawser adopts the data path): the next
   * reconcile keeps the wanted ones (connect is idempotent) and removes the rest.
   */
  adopt(observed: readonly ConnectionState[]): void {
    for (const c of observed) {
      if (!this.applied.has(c.cableName)) this.applied.set(c.cableName, { endpoint: c.endpoint, fingerprint: `adopted:${c.cableName}` });
    }
  }

  get appliedCount(): number {
    return this.applied.size;
  }
}
