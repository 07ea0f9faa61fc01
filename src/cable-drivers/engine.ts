// The cable engine: from the wanted set (remote Endpoints, newest per cluster) and the NAT decisions, the
// cables the driver must carry, handed over in one declarative set(). A failure on one cable is that
// cable's error status, retried with backoff; it never touches other cables.
import type { Logger } from '../log/index.js';
import { backendKind, type EndpointSpec } from '../k8s/resources.js';
import { errorMessage } from '../util/errors.js';
import type { CableDriver, CableOutcome, ConnectionState, LocalBackendConfig, NatInfo, WantedCable } from './types.js';

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
  /** The fingerprint that failed: a changed Endpoint or NAT decision is retried at once. */
  fingerprint: string;
  message: string;
  attempts: number;
  nextAttemptAt: number;
}

/** Per-cable retry backoff: 1, 2, 4 … 30 s. */
export function retryDelayMs(attempts: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.min(attempts - 1, 5));
}

/** Default engine-level resync period: the drivers re-observe and repair drift (a route deleted behind our back). */
export const DEFAULT_RESYNC_MS = 30_000;

export interface EngineOptions {
  driver: CableDriver;
  localEndpoint: EndpointSpec;
  log: Logger;
  natFor?: (e: EndpointSpec) => NatInfo;
  now?: () => number;
  /** Resync period once reconciling (default 30 s; 0 = none). */
  resyncMs?: number;
  onEvent?: (ev: { kind: 'connected' | 'disconnected' | 'error'; endpoint: EndpointSpec; message?: string }) => void;
}

export interface ConnectionView extends ConnectionState {
  clusterId: string;
}

/**
 * Owns cable selection, the NAT choice, per-cable backoff and the one cable-state log; the driver owns
 * the data path. reconcile() hands the driver the whole wanted set (level-triggered), so the driver's
 * planner decides what to keep (adoption), change and remove.
 */
export class CableEngine {
  /** Cables the driver last reported in place, with the fingerprint that was applied. */
  private readonly applied = new Map<string, AppliedCable>();
  private readonly errors = new Map<string, CableError>();
  private wanted: EndpointSpec[] = [];
  private rejected: Selection['rejected'] = [];
  private readonly now: () => number;
  private chain: Promise<unknown> = Promise.resolve();
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: EngineOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Driver init: starts or adopts the data path as it is (no cable is touched); returns the keys to publish. */
  async start(): Promise<LocalBackendConfig> {
    this.stopped = false;
    await this.o.driver.init();
    return this.o.driver.localBackendConfig();
  }

  setWanted(sel: Selection): void {
    this.wanted = sel.wanted;
    this.rejected = sel.rejected;
  }

  private natFor(e: EndpointSpec): NatInfo {
    return this.o.natFor ? this.o.natFor(e) : fallbackNat(this.o.localEndpoint, e);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** One pass: the wanted cables (minus those backing off) go to the driver in one set(). Returns the plan text. */
  reconcile(): Promise<string> {
    return this.serial(() => this.reconcileLocked());
  }

  private async reconcileLocked(): Promise<string> {
    // A pass queued behind stop() must not touch a closed driver.
    if (this.stopped) return '';
    this.scheduleResync();
    const now = this.now();
    const cables: WantedCable[] = [];
    const fps = new Map<string, string>();
    for (const e of this.wanted) {
      const nat = this.natFor(e);
      const fp = cableFingerprint(e, nat);
      const err = this.errors.get(e.cableName);
      // A failed cable waits for its backoff unless its Endpoint or NAT decision changed; meanwhile the
      // driver is not asked for it (whatever half of it exists goes, as a failed connect always did).
      if (err && err.nextAttemptAt > now && err.fingerprint === fp) continue;
      cables.push({ endpoint: e, nat });
      fps.set(e.cableName, fp);
    }
    // The plan text, for logs and tests: what changes relative to what is applied.
    const actions = planCables(cables.map((c) => c.endpoint), (e) => cables.find((c) => c.endpoint.cableName === e.cableName)!.nat, this.applied, new Set(this.errors.keys()));
    for (const k of [...this.errors.keys()]) if (!this.wanted.some((e) => e.cableName === k)) this.errors.delete(k);
    let outcomes: Map<string, CableOutcome>;
    try {
      outcomes = await this.o.driver.set(cables);
    } catch (err) {
      const message = errorMessage(err);
      outcomes = new Map(cables.map((c) => [c.endpoint.cableName, { ok: false, error: message }]));
    }
    const whyOf = new Map(actions.flatMap((a) => (a.kind === 'connect' ? [[a.endpoint.cableName, a.why] as const] : [])));
    for (const c of cables) {
      const name = c.endpoint.cableName;
      const log = this.cableLog(c.endpoint);
      const out = outcomes.get(name) ?? { ok: false, error: `the ${this.o.driver.name} driver reported nothing for this cable` };
      if (out.ok) {
        const hadError = this.errors.delete(name);
        const why = whyOf.get(name);
        this.applied.set(name, { endpoint: c.endpoint, fingerprint: fps.get(name)! });
        if (why && (out.changed || hadError)) {
          log.info({ usingIP: c.nat.useIP, usingNAT: c.nat.useNAT, why, recovered: hadError || undefined }, 'cable configured');
          this.o.onEvent?.({ kind: 'connected', endpoint: c.endpoint });
        } else if (why) log.debug({ usingIP: c.nat.useIP, why }, 'cable already in place in the data path (adopted as it is)');
        continue;
      }
      this.applied.delete(name);
      const prev = this.errors.get(name);
      const attempts = (prev?.attempts ?? 0) + 1;
      const delay = retryDelayMs(attempts);
      this.errors.set(name, { endpoint: c.endpoint, fingerprint: fps.get(name)!, message: out.error, attempts, nextAttemptAt: this.now() + delay });
      if (!prev || prev.message !== out.error) {
        log.error({ err: out.error, attempts, retryInMs: delay }, 'cable failed');
        this.o.onEvent?.({ kind: 'error', endpoint: c.endpoint, message: out.error });
      } else log.debug({ err: out.error, attempts, retryInMs: delay }, 'cable still failing');
    }
    // Applied cables the driver was not given are gone (removed by that same set()).
    const given = new Set(cables.map((c) => c.endpoint.cableName));
    for (const [name, a] of [...this.applied]) {
      if (given.has(name)) continue;
      this.applied.delete(name);
      const replaced = this.wanted.some((e) => e.clusterId === a.endpoint.clusterId);
      this.cableLog(a.endpoint).info({ why: this.errors.has(name) ? 'failing' : replaced ? 'replaced' : 'gone' }, 'cable removed');
      this.o.onEvent?.({ kind: 'disconnected', endpoint: a.endpoint });
    }
    return planText(actions);
  }

  private cableLog(e: EndpointSpec): Logger {
    return this.o.log.child({ cable: e.cableName, remoteCluster: e.clusterId });
  }

  private scheduleResync(): void {
    const period = this.o.resyncMs ?? DEFAULT_RESYNC_MS;
    if (this.resyncTimer || this.stopped || period <= 0) return;
    // Level-triggered repair of drift (a peer or route removed behind our back) without any event.
    this.resyncTimer = setInterval(() => void this.reconcile().catch((err) => this.o.log.warn({ err }, 'cable resync failed; retried on the next tick')), period);
    this.resyncTimer.unref();
  }

  private stopResync(): void {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.resyncTimer = undefined;
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
      const base = { cableName: e.cableName, clusterId: e.clusterId, endpoint: e, usingIP: nat.useIP, usingNAT: nat.useNAT };
      if (err) out.push({ ...base, status: 'error', statusMessage: err.message });
      else if (driverError) out.push({ ...base, status: 'error', statusMessage: `cannot read the cable state: ${driverError}` });
      else if (obs) out.push({ ...obs, endpoint: e, clusterId: e.clusterId });
      else out.push({ ...base, status: 'connecting', statusMessage: 'configuring the cable' });
    }
    for (const r of this.rejected) {
      out.push({ cableName: r.endpoint.cableName, clusterId: r.endpoint.clusterId, endpoint: r.endpoint, status: 'error', statusMessage: r.reason, usingIP: '', usingNAT: false });
    }
    return out;
  }

  /**
   * Removes every cable of ours (set([])), including what a previous run left: stepping down, uninstall.
   * The wanted set is emptied too, so a resync tick queued meanwhile cannot bring a cable back; the
   * driver keeps running and the next setWanted + reconcile serves again.
   */
  shutdown(): Promise<void> {
    return this.serial(async () => {
      this.stopResync();
      this.wanted = [];
      this.rejected = [];
      const had = [...this.applied.values()];
      await this.o.driver.set([]);
      this.applied.clear();
      this.errors.clear();
      for (const a of had) {
        this.cableLog(a.endpoint).info({ why: 'shutdown' }, 'cable removed');
        this.o.onEvent?.({ kind: 'disconnected', endpoint: a.endpoint });
      }
    });
  }

  /** Stops the engine and the driver's loops; the data path stays as it is (a restart adopts it without a flap). */
  stop(): Promise<void> {
    return this.serial(async () => {
      this.stopResync();
      this.stopped = true;
      await this.o.driver.close();
    });
  }
}
