// The cable engine: from the wanted set (remote Endpoints, newest per cluster) and the NAT decisions, the
// cables the driver must carry, handed over in one declarative set(). A failure on one cable is that
// cable's error status, retried with backoff; it never touches other cables. It also keeps each cable's
// state (connecting / connected / error) and reports a change the moment an outcome, an observation or a
// health result makes it: the one cable-state log (gateway/cable-log.ts) is fed from here, not by polling.
import type { Logger } from '../log/index.js';
import { backendKind, type EndpointSpec } from '../k8s/resources.js';
import { errorMessage } from '../util/errors.js';
import type { CableDriver, CableOutcome, ConnectionState, ConnectionStatus, LocalBackendConfig, NatInfo, SetOptions, WantedCable } from './types.js';

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

/**
 * The resync period: every driver reads all its cables back from the data path and repairs drift no event
 * reported (set() with `resync`). The only periodic resync of the cables: drivers have no timer of their own.
 */
export const DEFAULT_RESYNC_MS = 30_000;

/**
 * While a cable is `connecting` (waiting for a handshake or an SA, which come without any call of ours),
 * the engine looks again after this long, doubling up to SETTLE_MAX_MS while nothing changes. With every
 * cable settled nothing is sampled here: the status writer's refresh observes on demand.
 */
export const DEFAULT_SETTLE_MS = 1000;
export const SETTLE_MAX_MS = 8000;
/**
 * The doubling starts only after this many settle periods without any change: cables come up in waves (a
 * remote's WireGuard retries its handshake every 5 s), and a look 8 s late made the last of 200 cables
 * count as connected up to 8 s after its handshake.
 */
export const SETTLE_QUIET_PERIODS = 10;

export type CableLogState = ConnectionStatus | 'removed';

/** One cable's state changed (what the cable-state log writes, one line each). */
export interface CableStateChange {
  cable: string;
  /** The remote cluster. */
  cluster: string;
  from: CableLogState | undefined;
  to: CableLogState;
  statusMessage: string;
  /** For `removed`: gone, replaced, failing or shutdown. */
  why?: string;
}

interface KnownState {
  cluster: string;
  status: ConnectionStatus;
  /** When the cable entered this status (epoch ms). */
  sinceMs: number;
}

/**
 * Pure: the state changes from `known` to `views` (every cable the engine reports), and the new map. A
 * cable missing from `views` was removed; `removedWhy` says why when the caller knows.
 */
export function diffCableStates(known: ReadonlyMap<string, KnownState>, views: readonly ConnectionView[], removedWhy: ReadonlyMap<string, string> = new Map(), nowMs = 0): { changes: CableStateChange[]; next: Map<string, KnownState> } {
  const next = new Map<string, KnownState>();
  const changes: CableStateChange[] = [];
  for (const v of views) {
    const prev = known.get(v.cableName);
    const before = prev?.status;
    next.set(v.cableName, { cluster: v.clusterId, status: v.status, sinceMs: before === v.status && prev ? prev.sinceMs : nowMs });
    if (before !== v.status) changes.push({ cable: v.cableName, cluster: v.clusterId, from: before, to: v.status, statusMessage: v.statusMessage });
  }
  for (const [cable, k] of known) {
    if (!next.has(cable)) changes.push({ cable, cluster: k.cluster, from: k.status, to: 'removed', statusMessage: '', why: removedWhy.get(cable) ?? 'gone' });
  }
  return { changes, next };
}

export interface EngineOptions {
  driver: CableDriver;
  localEndpoint: EndpointSpec;
  log: Logger;
  natFor?: (e: EndpointSpec) => NatInfo;
  now?: () => number;
  /** Resync period once reconciling (default 30 s; 0 = none). */
  resyncMs?: number;
  /** First re-observation of a `connecting` cable (default DEFAULT_SETTLE_MS; 0 = none). */
  settleMs?: number;
  /** A cable's state changed (in the order the changes were seen). */
  onState?: (c: CableStateChange) => void;
  /** The health check's verdict: why a cable counts as down, undefined while healthy or unchecked. */
  unhealthy?: (cable: string) => string | undefined;
}

export interface ConnectionView extends ConnectionState {
  clusterId: string;
  /** For `connected`: since when (epoch ms), as the engine saw it. */
  connectedSinceMs?: number;
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
  /** Each reported cable's state as last told to `onState`. */
  private known = new Map<string, KnownState>();
  /** The last observation before the health overlay (a health result re-judges a cable from it). */
  private observed = new Map<string, ConnectionView>();
  private settleTimer: NodeJS.Timeout | undefined;
  private settleDelay: number;
  /** When the last observation changed some cable's state (the settle delay doubles only after a quiet spell). */
  private lastChangeMs = 0;

  constructor(private readonly o: EngineOptions) {
    this.now = o.now ?? Date.now;
    this.settleDelay = o.settleMs ?? DEFAULT_SETTLE_MS;
    // A driver whose data path changed without a call (a daemon restarted) asks to be observed again.
    o.driver.onDataPathChange?.(() => {
      if (this.stopped) return;
      this.settleDelay = this.o.settleMs ?? DEFAULT_SETTLE_MS;
      void this.connections().catch((err: unknown) => this.o.log.debug({ err }, 'observing the cables after a data-path change failed'));
    });
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

  /**
   * One pass: the wanted cables (minus those backing off) go to the driver in one set(). Returns the plan text.
   * `resync`: the driver reads every cable back from the data path (the resync tick passes it).
   */
  reconcile(opts: SetOptions = {}): Promise<string> {
    return this.serial(() => this.reconcileLocked(opts));
  }

  private async reconcileLocked(opts: SetOptions): Promise<string> {
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
      outcomes = await (opts.resync ? this.o.driver.set(cables, { resync: true }) : this.o.driver.set(cables));
    } catch (err) {
      const message = errorMessage(err);
      outcomes = new Map(cables.map((c) => [c.endpoint.cableName, { ok: false, error: message }]));
    }
    const whyOf = new Map(actions.flatMap((a) => (a.kind === 'connect' ? [[a.endpoint.cableName, a.why] as const] : [])));
    for (const c of cables) {
      const name = c.endpoint.cableName;
      // A child logger per cable costs (pino copies bindings, the redaction set-up) and most passes log nothing.
      let cableLog: Logger | undefined;
      const log = (): Logger => (cableLog ??= this.cableLog(c.endpoint));
      const out = outcomes.get(name) ?? { ok: false, error: `the ${this.o.driver.name} driver reported nothing for this cable` };
      if (out.ok) {
        const hadError = this.errors.delete(name);
        const why = whyOf.get(name);
        this.applied.set(name, { endpoint: c.endpoint, fingerprint: fps.get(name)! });
        if (why && (out.changed || hadError)) log().info({ usingIP: c.nat.useIP, usingNAT: c.nat.useNAT, why, recovered: hadError || undefined }, 'cable configured');
        else if (why) log().debug({ usingIP: c.nat.useIP, why }, 'cable already in place in the data path (adopted as it is)');
        continue;
      }
      this.applied.delete(name);
      const prev = this.errors.get(name);
      const attempts = (prev?.attempts ?? 0) + 1;
      const delay = retryDelayMs(attempts);
      this.errors.set(name, { endpoint: c.endpoint, fingerprint: fps.get(name)!, message: out.error, attempts, nextAttemptAt: this.now() + delay });
      if (!prev || prev.message !== out.error) log().error({ err: out.error, attempts, retryInMs: delay }, 'cable failed');
      else log().debug({ err: out.error, attempts, retryInMs: delay }, 'cable still failing');
    }
    // Applied cables the driver was not given are gone (removed by that same set()).
    const given = new Set(cables.map((c) => c.endpoint.cableName));
    const removedWhy = new Map<string, string>();
    for (const [name, a] of [...this.applied]) {
      if (given.has(name)) continue;
      this.applied.delete(name);
      const replaced = this.wanted.some((e) => e.clusterId === a.endpoint.clusterId);
      removedWhy.set(name, this.errors.has(name) ? 'failing' : replaced ? 'replaced' : 'gone');
    }
    // The states this pass left, read back from the data path (a cable configured is not yet a cable up).
    await this.observeLocked(removedWhy);
    return planText(actions);
  }

  private cableLog(e: EndpointSpec): Logger {
    return this.o.log.child({ cable: e.cableName, remoteCluster: e.clusterId });
  }

  private scheduleResync(): void {
    const period = this.o.resyncMs ?? DEFAULT_RESYNC_MS;
    if (this.resyncTimer || this.stopped || period <= 0) return;
    // Level-triggered repair of drift (a peer, route or connection removed behind our back) without any event.
    this.resyncTimer = setInterval(() => void this.reconcile({ resync: true }).catch((err) => this.o.log.warn({ err }, 'cable resync failed; retried on the next tick')), period);
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

  /**
   * Connections for the Gateway status and metrics: the driver's observed state, our errors, rejections and
   * health verdicts. Reading them is an observation: any state change is reported (onState) first.
   */
  connections(): Promise<ConnectionView[]> {
    return this.serial(() => this.observeLocked());
  }

  /** The health check's verdict on `cable` flipped: the cable is judged again from the last observation. */
  healthChanged(cable: string): void {
    if (this.observed.has(cable)) this.record([...this.observed.values()].map((v) => this.withHealth(v)));
  }

  /** A connected cable the health check counts as down is an error (its pings get no answer). */
  private withHealth(v: ConnectionView): ConnectionView {
    const bad = v.status === 'connected' ? this.o.unhealthy?.(v.cableName) : undefined;
    return bad ? { ...v, status: 'error', statusMessage: bad } : v;
  }

  private async observeLocked(removedWhy: ReadonlyMap<string, string> = new Map()): Promise<ConnectionView[]> {
    let observed: ConnectionState[] = [];
    let driverError: string | undefined;
    try {
      observed = await this.o.driver.connections();
    } catch (err) {
      driverError = errorMessage(err);
    }
    const byName = new Map(observed.map((c) => [c.cableName, c]));
    const raw: ConnectionView[] = [];
    for (const e of this.wanted) {
      const err = this.errors.get(e.cableName);
      const nat = this.natFor(e);
      const obs = byName.get(e.cableName);
      const base = { cableName: e.cableName, clusterId: e.clusterId, endpoint: e, usingIP: nat.useIP, usingNAT: nat.useNAT };
      if (err) raw.push({ ...base, status: 'error', statusMessage: err.message });
      else if (driverError) raw.push({ ...base, status: 'error', statusMessage: `cannot read the cable state: ${driverError}` });
      else if (obs) raw.push({ ...obs, endpoint: e, clusterId: e.clusterId });
      else raw.push({ ...base, status: 'connecting', statusMessage: 'configuring the cable' });
    }
    for (const r of this.rejected) {
      raw.push({ cableName: r.endpoint.cableName, clusterId: r.endpoint.clusterId, endpoint: r.endpoint, status: 'error', statusMessage: r.reason, usingIP: '', usingNAT: false });
    }
    this.observed = new Map(raw.map((v) => [v.cableName, v]));
    const views = raw.map((v) => this.withHealth(v));
    this.record(views, removedWhy);
    return views.map((v) => {
      const since = v.status === 'connected' ? this.known.get(v.cableName)?.sinceMs : undefined;
      return since === undefined ? v : { ...v, connectedSinceMs: since };
    });
  }

  /** Reports every state change `views` makes; keeps looking while a cable is on its way up. */
  private record(views: readonly ConnectionView[], removedWhy?: ReadonlyMap<string, string>): void {
    const { changes, next } = diffCableStates(this.known, views, removedWhy, this.now());
    this.known = next;
    for (const c of changes) this.o.onState?.(c);
    this.scheduleSettle(changes.length > 0);
  }

  /** Re-observes (only) while some cable is `connecting`: its handshake or SA arrives without a call of ours. */
  private scheduleSettle(changed: boolean): void {
    const base = this.o.settleMs ?? DEFAULT_SETTLE_MS;
    if (changed) {
      this.settleDelay = base;
      this.lastChangeMs = this.now();
    }
    if (this.settleTimer || this.stopped || base <= 0) return;
    if (![...this.known.values()].some((k) => k.status === 'connecting')) return;
    const delay = this.settleDelay;
    if (this.now() - this.lastChangeMs >= base * SETTLE_QUIET_PERIODS) this.settleDelay = Math.min(SETTLE_MAX_MS, delay * 2);
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      void this.serial(async () => {
        if (!this.stopped) await this.observeLocked();
      }).catch((err: unknown) => this.o.log.debug({ err }, 'observing the connecting cables failed; the status refresh looks again'));
    }, delay);
    this.settleTimer.unref();
  }

  private stopSettle(): void {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
  }

  /**
   * Removes every cable of ours (set([])), including what a previous run left: stepping down, uninstall.
   * The wanted set is emptied too, so a resync tick queued meanwhile cannot bring a cable back; the
   * driver keeps running and the next setWanted + reconcile serves again.
   */
  shutdown(): Promise<void> {
    return this.serial(async () => {
      this.stopResync();
      this.stopSettle();
      this.wanted = [];
      this.rejected = [];
      await this.o.driver.set([]);
      this.applied.clear();
      this.errors.clear();
      this.observed.clear();
      this.record([], new Map([...this.known.keys()].map((k) => [k, 'shutdown'])));
    });
  }

  /** Stops the engine and the driver's loops; the data path stays as it is (a restart adopts it without a flap). */
  stop(): Promise<void> {
    return this.serial(async () => {
      this.stopResync();
      this.stopSettle();
      this.stopped = true;
      await this.o.driver.close();
    });
  }
}
