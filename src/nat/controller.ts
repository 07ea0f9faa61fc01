// Globalnet's Kubernetes wiring: informers feed one debounced, level-triggered reconcile that plans
// (desired.ts, pure), programs the data plane (nft.ts), then writes statuses and the objects the plan asks
// for. Only the leader writes or programs anything; every write re-checks leadership first.
import { EventEmitter } from 'node:events';
import type { LeaderSignal } from '../election/active-gateway.js';
import { Informer, Debouncer } from '../k8s/informer.js';
import { isApiError, resourcePath, type KubeObject, type RestClient } from '../k8s/rest.js';
import { SUBMARINER_GROUP, SUBMARINER_VERSION } from '../k8s/resources.js';
import { parseCluster, type ClusterSpec } from '../k8s/submariner/cluster.js';
import { parseEndpoint, type EndpointSpec } from '../k8s/submariner/endpoint.js';
import { parseNode, type Node } from '../k8s/node.js';
import type { Logger } from '../log/index.js';

// Leadership comes from src/election; re-exported for the controller's callers and tests.
export { alwaysLeader, type LeaderSignal } from '../election/active-gateway.js';
import { errorMessage, HawserError } from '../util/errors.js';
import {
  headlessExportSelectors, NODE_GLOBAL_IP_ANNOTATION, planGlobalnet, podEgressFor, type PodEgressRule, type GlobalnetInputs, type GlobalnetPlan, type IngressObject, type InternalService, type PodPlanContext, type StatusUpdate,
} from './desired.js';
import { selectorMatches } from './selector.js';
import type { InformerDelta } from '../k8s/informer.js';
import type { GlobalnetMetrics } from './metrics.js';
import type { Dataplane, ElementUpdate, IntervalUpdate, SyncResult } from './nft.js';
import {
  CLUSTER_EGRESS_NAME, DEFAULT_CLUSTER_EGRESS_IPS, INTERNAL_SERVICE_FINALIZER, INTERNAL_SERVICE_LABEL,
  parseClusterGlobalEgressIP, parseEndpoints, parseGlobalEgressIP, parseGlobalIngressIP, parsePod, parseService, parseServiceExport,
  type Condition, type Pod,
} from './resources.js';

/** The part of the data plane applier the controller uses (NftDataplane, or a fake). */
export interface DataplaneApplier {
  sync(desired: Dataplane): Promise<SyncResult>;
  invalidate(): void;
  remove?(): Promise<void>;
  /** Element changes (and new interval sets) on top of what was applied, as one transaction (the incremental paths; absent: none). */
  applyDelta?(updates: readonly ElementUpdate[], intervals?: IntervalUpdate): Promise<SyncResult>;
  /** What the last sync left in the kernel (undefined: the next change must be a full sync). */
  readonly current?: Dataplane | undefined;
  /** Deletes conntrack entries that crossed this node before its NAT was in place; resolves with how many. */
  clearNatlessFlows?(remoteGlobalCidrs: readonly string[], ownGlobalCidr: string | undefined): Promise<number>;
}

const SOURCES = ['clusterEgressIPs', 'egressIPs', 'ingressIPs', 'serviceExports', 'services', 'pods', 'endpoints', 'submarinerEndpoints', 'clusters'] as const;
export type SourceName = (typeof SOURCES)[number];
/** `nodes`: Node objects (this node's CNI global IP and the addresses other nodes' annotations hold). */
export type SourceObjects = Record<SourceName, readonly KubeObject[]> & { nodes?: readonly KubeObject[] };

const GLOBALNET = { group: SUBMARINER_GROUP, version: SUBMARINER_VERSION };

function sourcePath(s: SourceName, namespace: string): string {
  switch (s) {
    case 'clusterEgressIPs': return resourcePath(GLOBALNET.group, GLOBALNET.version, 'clusterglobalegressips');
    case 'egressIPs': return resourcePath(GLOBALNET.group, GLOBALNET.version, 'globalegressips');
    case 'ingressIPs': return resourcePath(GLOBALNET.group, GLOBALNET.version, 'globalingressips');
    case 'serviceExports': return resourcePath('multicluster.x-k8s.io', 'v1alpha1', 'serviceexports');
    case 'services': return resourcePath('', 'v1', 'services');
    case 'pods': return resourcePath('', 'v1', 'pods');
    case 'endpoints': return resourcePath('', 'v1', 'endpoints');
    case 'submarinerEndpoints': return resourcePath(GLOBALNET.group, GLOBALNET.version, 'endpoints', namespace);
    case 'clusters': return resourcePath(GLOBALNET.group, GLOBALNET.version, 'clusters', namespace);
  }
}

export interface InputsConfig {
  clusterId: string;
  /** From SUBMARINER_GLOBALCIDR; else the local Cluster object's global_cidr. */
  globalCidr?: string;
  /** From SUBMARINER_CLUSTERCIDR + SUBMARINER_SERVICECIDR; else the local Cluster object's. */
  localCidrs?: string[];
  /** This node (the gateway Globalnet runs on) and its CNI interface address: it gets a global IP for the health check. */
  nodeName?: string;
  cniIP?: string;
}

/**
 * Parsed values by raw object: the informer replaces an object when it changes, so a reconcile parses only
 * what changed since the last one (50,000 unchanged pods cost a lookup each, not a parse). Parsers are
 * pure and the planner never mutates its inputs, so sharing the values is safe.
 */
const parseCache = new WeakMap<(o: unknown) => unknown, WeakMap<KubeObject, { v: unknown }>>();

function parsed<T>(objs: readonly KubeObject[], parse: (o: unknown) => T | undefined): T[] {
  const out: T[] = [];
  for (const o of objs) {
    const v = parsedOne(o, parse);
    if (v !== undefined) out.push(v);
  }
  return out;
}

function parsedOne<T>(o: KubeObject, parse: (o: unknown) => T | undefined): T | undefined {
  let cache = parseCache.get(parse);
  if (!cache) parseCache.set(parse, (cache = new WeakMap()));
  let hit = cache.get(o);
  if (!hit) cache.set(o, (hit = { v: parse(o) }));
  return hit.v as T | undefined;
}

function index(m: Map<string, Map<string, Pod>>, at: string, key: string, pod: Pod): void {
  let inner = m.get(at);
  if (!inner) m.set(at, (inner = new Map()));
  inner.set(key, pod);
}

function unindex(m: Map<string, Map<string, Pod>>, at: string, key: string): void {
  const inner = m.get(at);
  inner?.delete(key);
  if (inner?.size === 0) m.delete(at);
}

/**
 * Pods by namespace/name, by address and by namespace, kept from the pod informer's deltas between whole plans (and
 * rebuilt by each): the incremental path recomputes the mappings of the addresses a delta touched.
 */
export class PodIndex {
  private readonly byKey = new Map<string, Pod>();
  private readonly byIP = new Map<string, Map<string, Pod>>();
  private readonly byNs = new Map<string, Map<string, Pod>>();

  static key(namespace: string, name: string): string {
    return `${namespace}/${name}`;
  }

  get(key: string): Pod | undefined {
    return this.byKey.get(key);
  }

  /** Sets (or with undefined removes) one pod; returns the previous version. */
  set(key: string, pod: Pod | undefined): Pod | undefined {
    const prev = this.byKey.get(key);
    if (prev) {
      unindex(this.byIP, prev.podIP, key);
      unindex(this.byNs, prev.namespace, key);
    }
    if (pod) {
      this.byKey.set(key, pod);
      index(this.byIP, pod.podIP, key, pod);
      index(this.byNs, pod.namespace, key, pod);
    } else this.byKey.delete(key);
    return prev;
  }

  inNamespace(ns: string): Pod[] {
    const m = this.byNs.get(ns);
    return m ? [...m.values()] : [];
  }

  withIP(ip: string): Pod[] {
    const m = this.byIP.get(ip);
    return m ? [...m.values()] : [];
  }

  reset(pods: readonly Pod[]): void {
    this.byKey.clear();
    this.byIP.clear();
    this.byNs.clear();
    for (const p of pods) this.set(PodIndex.key(p.namespace, p.name), p);
  }
}

/**
 * Typed planner inputs from raw API objects (validation at the edge). Throws a HawserError when the
 * cluster's global CIDR is unknown (nothing can be allocated without it).
 */
export function inputsFromObjects(src: SourceObjects, cfg: InputsConfig, now: Date): GlobalnetInputs {
  const localSpec = parsed(src.clusters, clusterSpecOf).find((c) => c.clusterId === cfg.clusterId);
  const globalCidr = cfg.globalCidr ?? localSpec?.globalCidrs[0];
  if (!globalCidr) throw new HawserError('CONFIG', `no global CIDR for cluster ${cfg.clusterId}: set SUBMARINER_GLOBALCIDR or global_cidr in its Cluster object`);
  const localCidrs = cfg.localCidrs?.length ? cfg.localCidrs : [...(localSpec?.clusterCidrs ?? []), ...(localSpec?.serviceCidrs ?? [])];
  const remote: string[] = [];
  for (const e of parsed(src.submarinerEndpoints, endpointSpecOf)) if (e.clusterId !== cfg.clusterId) remote.push(...e.subnets);
  return {
    globalCidr,
    localCidrs,
    remoteGlobalCidrs: remote,
    clusterEgressIPs: parsed(src.clusterEgressIPs, parseClusterGlobalEgressIP),
    egressIPs: parsed(src.egressIPs, parseGlobalEgressIP),
    ingressIPs: parsed(src.ingressIPs, parseGlobalIngressIP),
    serviceExports: parsed(src.serviceExports, parseServiceExport),
    services: parsed(src.services, parseService),
    pods: parsed(src.pods, parsePod),
    endpoints: parsed(src.endpoints, parseEndpoints),
    now: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ...nodeInputs(parsed(src.nodes ?? [], nodeOf), cfg),
  };
}

// The wire model's parsers (k8s/submariner, k8s/node.ts), as `parsed` takes them: one identity each, so every
// informer object is parsed once per version; an object that does not parse is left out, as before.
const clusterSpecOf = (o: unknown): ClusterSpec | undefined => {
  const p = parseCluster(o);
  return p.ok ? p.value.spec : undefined;
};
const endpointSpecOf = (o: unknown): EndpointSpec | undefined => {
  const p = parseEndpoint(o);
  return p.ok ? p.value.spec : undefined;
};
const nodeOf = (o: unknown): Node | undefined => {
  const p = parseNode(o);
  return p.ok ? p.value : undefined;
};

function nodeInputs(nodes: readonly Node[], cfg: InputsConfig): Pick<GlobalnetInputs, 'gatewayNode' | 'nodeGlobalIPs'> {
  const nodeGlobalIPs: { node: string; ip: string }[] = [];
  for (const n of nodes) {
    if (n.globalIP && n.meta.name !== cfg.nodeName) nodeGlobalIPs.push({ node: n.meta.name, ip: n.globalIP });
  }
  const self = cfg.nodeName ? nodes.find((n) => n.meta.name === cfg.nodeName) : undefined;
  const globalIP = self?.globalIP;
  return {
    nodeGlobalIPs,
    ...(cfg.nodeName && self ? { gatewayNode: { name: cfg.nodeName, ...(cfg.cniIP ? { cniIP: cfg.cniIP } : {}), ...(globalIP ? { globalIP } : {}) } } : {}),
  };
}

/**
 * Our own status writes, until the informer shows them: a plan made from a cache that has not caught up
 * would see an address we just wrote as free and could hand it out again.
 */
export class WriteOverlay {
  private readonly entries = new Map<string, { beforeRv: string | undefined; written: KubeObject }>();

  static key(o: KubeObject, kind: string): string {
    return `${kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  }

  record(kind: string, before: KubeObject, written: KubeObject): void {
    this.entries.set(WriteOverlay.key(before, kind), { beforeRv: before.metadata.resourceVersion, written });
  }

  /** The object to plan with: our write while the cache still shows the version we wrote over. */
  resolve(kind: string, cached: KubeObject): KubeObject {
    const k = WriteOverlay.key(cached, kind);
    const e = this.entries.get(k);
    if (!e) return cached;
    if (cached.metadata.resourceVersion === e.beforeRv) return e.written;
    this.entries.delete(k); // the cache caught up (or moved past us)
    return cached;
  }

  /** Forgets entries of objects that are gone. */
  prune(kind: string, live: readonly KubeObject[]): void {
    const keep = new Set(live.map((o) => WriteOverlay.key(o, kind)));
    for (const k of this.entries.keys()) if (k.startsWith(`${kind}/`) && !keep.has(k)) this.entries.delete(k);
  }
}

export interface GlobalnetControllerOptions extends InputsConfig {
  client: RestClient;
  /** Submariner's namespace (Endpoints, Cluster). */
  namespace: string;
  leader: LeaderSignal;
  dataplane: DataplaneApplier;
  metrics?: GlobalnetMetrics;
  log: Logger;
  now?: () => Date;
  debounceMs?: number;
  /** Full data-plane rebuild period (repairs drift made behind our back); 0 disables. Default 5 min. */
  resyncIntervalMs?: number;
  /** How long stop() waits for the informers (default 2 s). */
  stopTimeoutMs?: number;
  /** Objects to plan with instead of informers (tests of the wiring without an API server watch). */
  sources?: () => SourceObjects;
}

export interface ReconcileReport {
  skipped?: string;
  dataplane?: SyncResult;
  writes: number;
  conflicts: number;
  errors: string[];
  plan?: GlobalnetPlan;
}

function statusWire(u: StatusUpdate): Record<string, unknown> {
  const conditions = (cs: Condition[]): Record<string, unknown>[] => cs.map((c) => ({ ...c }));
  if (u.kind === 'GlobalIngressIP') {
    return { allocatedIP: u.status.allocatedIP, ...(u.status.conditions.length ? { conditions: conditions(u.status.conditions) } : {}) };
  }
  return {
    ...(u.status.conditions.length ? { conditions: conditions(u.status.conditions) } : {}),
    ...(u.status.allocatedIPs.length ? { allocatedIPs: [...u.status.allocatedIPs] } : {}),
  };
}

const STATUS_SOURCE: Record<StatusUpdate['kind'], SourceName> = {
  ClusterGlobalEgressIP: 'clusterEgressIPs',
  GlobalEgressIP: 'egressIPs',
  GlobalIngressIP: 'ingressIPs',
};

const PLURAL: Record<StatusUpdate['kind'], string> = {
  ClusterGlobalEgressIP: 'clusterglobalegressips',
  GlobalEgressIP: 'globalegressips',
  GlobalIngressIP: 'globalingressips',
};

function ingressObjectWire(o: IngressObject): Record<string, unknown> {
  return {
    apiVersion: `${SUBMARINER_GROUP}/${SUBMARINER_VERSION}`,
    kind: 'GlobalIngressIP',
    metadata: { name: o.name, namespace: o.namespace, ...(Object.keys(o.labels).length ? { labels: o.labels } : {}), ...(Object.keys(o.annotations).length ? { annotations: o.annotations } : {}) },
    spec: { target: o.target, serviceRef: { name: o.serviceRef }, ...(o.podRef ? { podRef: { name: o.podRef } } : {}) },
  };
}

function internalServiceSpec(s: InternalService): Record<string, unknown> {
  return {
    ports: s.ports.map((p) => ({ ...p })),
    ...(s.selector ? { selector: { ...s.selector } } : {}),
    externalIPs: [s.externalIP],
    ipFamilyPolicy: 'SingleStack',
  };
}

/**
 * Emitted after an incremental path changed the data plane: `podsApplied` (pod deltas) and
 * `objectsApplied` (any other object), with the sync result.
 */
interface ControllerEvents {
  podsApplied: [SyncResult];
  objectsApplied: [SyncResult, ReconcileReport];
}

/** What an object change did: planned without the pods' own maps (incremental), or left to a whole plan. */
export type ObjectsOutcome = ReconcileReport & { how: 'incremental' | 'whole' };

/** Namespaces whose pod egress rules differ between two plans (rules apply only to their own namespace). */
function changedRuleNamespaces(before: readonly PodEgressRule[], after: readonly PodEgressRule[]): Set<string> {
  const byNs = (rules: readonly PodEgressRule[]): Map<string, string> => {
    const m = new Map<string, string[]>();
    for (const r of rules) (m.get(r.namespace) ?? m.set(r.namespace, []).get(r.namespace)!).push(JSON.stringify([r.selector ?? null, r.range]));
    return new Map([...m].map(([ns, l]) => [ns, l.join('|')]));
  };
  const a = byNs(before);
  const b = byNs(after);
  const out = new Set<string>();
  for (const ns of new Set([...a.keys(), ...b.keys()])) if (a.get(ns) !== b.get(ns)) out.add(ns);
  return out;
}

/** The small point maps a plan decides without looking at every pod. */
const OBJECT_MAPS = [['ingress', 'ingress'], ['egress_hdls_pods', 'egressHdlsPods'], ['egress_hdls_eps', 'egressHdlsEps']] as const;

export class GlobalnetController extends EventEmitter<ControllerEvents> {
  private readonly informers = new Map<SourceName, Informer>();
  private readonly pods = new PodIndex();
  /** Pod addresses whose mappings a delta may have changed, not yet recomputed. */
  private readonly pendingPodIPs = new Set<string>();
  /** From the last whole plan whose data plane was applied; undefined: pod changes need a whole plan. */
  private podCtx: PodPlanContext | undefined;
  /** Nodes, watched only when the controller knows its node (it then gives that node a global IP). */
  private nodeInformer: Informer | undefined;
  private readonly overlay = new WriteOverlay();
  private queue: Promise<unknown> = Promise.resolve();
  private debouncer: Debouncer | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private lastNotes = new Set<string>();
  private defaultEgressTried = false;
  /** An objectsChanged() pass queued and not started yet (later calls share it). */
  private objectsQueued: Promise<ObjectsOutcome> | undefined;
  /** The remote global CIDRs conntrack was last cleared for in this term (undefined: not yet). */
  private natlessClearedFor: string | undefined;
  private readonly onStarted = (): void => {
    // A new term: rebuild the data plane from scratch and create the default cluster egress if missing.
    this.natlessClearedFor = undefined;
    this.opts.dataplane.invalidate();
    this.defaultEgressTried = false;
    this.trigger();
  };
  private readonly onStopped = (): void => this.log.info('no longer the Globalnet leader: not writing or programming until leadership returns (the data plane stays)');
  /** The latest plan, for `show`-style tools and tests. */
  lastPlan: GlobalnetPlan | undefined;

  constructor(private readonly opts: GlobalnetControllerOptions) {
    super();
    this.log = opts.log;
  }

  /** Starts informers and the reconcile loop; resolves once every informer has listed. */
  async start(): Promise<void> {
    this.debouncer = new Debouncer(async () => {
      const r = await this.reconcile();
      if (r.errors.length) throw new HawserError('API', `${r.errors.length} write(s) failed: ${r.errors.slice(0, 3).join('; ')}`);
      if (r.conflicts) this.trigger(500);
    }, this.opts.debounceMs ?? 100, (err) => this.log.warn({ err }, 'Globalnet reconcile failed; retrying'), 2000);
    this.opts.leader.on('started', this.onStarted);
    this.opts.leader.on('stopped', this.onStopped);
    const every = this.opts.resyncIntervalMs ?? 300_000;
    if (every > 0) {
      this.resyncTimer = setInterval(() => {
        this.opts.dataplane.invalidate();
        this.trigger();
      }, every);
      this.resyncTimer.unref();
    }
    if (!this.opts.sources) {
      for (const s of SOURCES) {
        const inf = new Informer({ client: this.opts.client, path: sourcePath(s, this.opts.namespace), log: this.log });
        // Pods are the many objects: their changes take the incremental path, which falls back to a whole plan.
        // Other kinds are few: their changes plan everything but the pods' own maps (objectsChanged).
        if (s === 'pods') inf.on('delta', (d) => void this.podsChanged(d));
        else inf.on('change', () => void this.objectsChanged());
        this.informers.set(s, inf);
      }
      if (this.opts.nodeName) {
        this.nodeInformer = new Informer({ client: this.opts.client, path: resourcePath('', 'v1', 'nodes'), log: this.log });
        this.nodeInformer.on('change', () => void this.objectsChanged());
      }
      await Promise.all([...this.informers.values(), ...(this.nodeInformer ? [this.nodeInformer] : [])].map((i) => i.start()));
    }
    this.trigger(0);
  }

  async stop(): Promise<void> {
    this.debouncer?.close();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.opts.leader.off('started', this.onStarted);
    this.opts.leader.off('stopped', this.onStopped);
    // Bounded: shutdown must not hang on a watch that does not end when aborted.
    const stopped = Promise.all([...this.informers.values(), ...(this.nodeInformer ? [this.nodeInformer] : [])].map((i) => i.stop())).then(() => true);
    const limit = this.opts.stopTimeoutMs ?? 2000;
    const inTime = await Promise.race([stopped, new Promise<false>((r) => setTimeout(() => r(false), limit).unref())]);
    if (!inTime) this.log.warn({ ms: limit }, 'informers did not stop in time; leaving them behind');
    this.informers.clear();
    this.nodeInformer = undefined;
  }

  trigger(delayMs?: number): void {
    this.debouncer?.trigger(delayMs);
  }

  /** The informers' objects (`withPods` false: no pods, which the PodIndex then stands for). */
  private snapshot(withPods = true): SourceObjects | undefined {
    const given = this.opts.sources?.();
    const out: Partial<Record<SourceName, readonly KubeObject[]>> = {};
    for (const s of SOURCES) {
      let objs: readonly KubeObject[];
      if (s === 'pods' && !withPods) objs = [];
      else if (given) objs = given[s];
      else {
        const inf = this.informers.get(s);
        if (!inf?.hasSynced) return undefined;
        objs = inf.list();
      }
      if (s === 'clusterEgressIPs' || s === 'egressIPs' || s === 'ingressIPs') {
        this.overlay.prune(s, objs);
        objs = objs.map((o) => this.overlay.resolve(s, o));
      }
      out[s] = objs;
    }
    if (given) return { ...(out as SourceObjects), ...(given.nodes ? { nodes: given.nodes } : {}) };
    if (this.nodeInformer && !this.nodeInformer.hasSynced) return undefined;
    return { ...(out as SourceObjects), nodes: this.nodeInformer?.list() ?? [] };
  }

  /**
   * Pods added, changed or deleted (the pod informer's delta; tests and the bench call it directly). The
   * mappings of the addresses they had or have are recomputed and applied as one element transaction; a
   * pod an exported headless Service selects, or no applied plan to build on, takes a whole plan instead.
   */
  podsChanged(d: InformerDelta<KubeObject>): Promise<'incremental' | 'whole'> {
    let whole = !this.podCtx;
    const touch = (key: string, next: Pod | undefined): void => {
      const prev = this.pods.set(key, next);
      if (this.selectedByHeadlessExport(prev) || this.selectedByHeadlessExport(next)) whole = true;
      if (prev) this.pendingPodIPs.add(prev.podIP);
      if (next) this.pendingPodIPs.add(next.podIP);
    };
    for (const o of [...d.added, ...d.updated]) touch(PodIndex.key(o.metadata.namespace ?? '', o.metadata.name), parsedOne(o, parsePod));
    for (const o of d.deleted) touch(PodIndex.key(o.metadata.namespace ?? '', o.metadata.name), undefined);
    if (whole) {
      this.trigger();
      return Promise.resolve('whole');
    }
    return this.serialized(() => this.applyPendingPods()).then(
      (r) => r,
      (err: unknown) => {
        this.log.warn({ err }, 'Globalnet pod update failed');
        return 'whole' as const;
      },
    );
  }

  private selectedByHeadlessExport(p: Pod | undefined): boolean {
    if (!p) return false;
    return this.podCtx?.headlessSelectors.get(p.namespace)?.some((sel) => selectorMatches(sel, p.labels)) ?? false;
  }

  private async applyPendingPods(): Promise<'incremental' | 'whole'> {
    if (this.pendingPodIPs.size === 0 || !this.opts.leader.isLeader()) return 'incremental';
    const dp = this.opts.dataplane;
    const ctx = this.podCtx;
    if (!ctx || !dp.applyDelta || !dp.current) {
      this.trigger();
      return 'whole';
    }
    const updates: ElementUpdate[] = [];
    for (const ip of this.pendingPodIPs) {
      const want = podEgressFor(ctx.egressRules, this.pods.withIP(ip));
      updates.push({ set: 'egress_pods', key: ip, value: want.pods }, { set: 'egress_ns', key: ip, value: want.ns });
    }
    this.pendingPodIPs.clear();
    try {
      const r = await dp.applyDelta(updates);
      if (r.mode !== 'none') this.log.debug({ mode: r.mode, changes: r.changes }, 'nftables updated for pod changes');
      this.emit('podsApplied', r);
      return 'incremental';
    } catch (err) {
      this.log.warn({ err }, 'incremental nftables update for pod changes failed; planning everything');
      this.trigger(0);
      return 'whole';
    }
  }

  /**
   * A Service, Endpoints, ServiceExport, Globalnet object, Node, Cluster or Endpoint changed (their
   * informers call this; tests and the bench too). Plans every object except the pods, which the PodIndex
   * stands for: pods only where an exported headless Service may select them, and the pod egress maps
   * recomputed only in namespaces whose GlobalEgressIP rules changed. IPAM, statuses and the objects to
   * write are the whole plan's (none of them depends on other pods); the data plane changes as one
   * element transaction. Calls while one is queued share it; no applied plan to build on: a whole plan.
   */
  objectsChanged(): Promise<ObjectsOutcome> {
    if (this.objectsQueued) return this.objectsQueued;
    const queued = this.serialized(() => {
      this.objectsQueued = undefined;
      return this.reconcileObjects();
    }).then(
      (r) => r,
      (err: unknown) => {
        this.log.warn({ err }, 'incremental Globalnet update failed; planning everything');
        this.trigger(0);
        return { writes: 0, conflicts: 0, errors: [errorMessage(err)], how: 'whole' as const };
      },
    );
    this.objectsQueued = queued;
    return queued;
  }

  private async reconcileObjects(): Promise<ObjectsOutcome> {
    const report: ReconcileReport = { writes: 0, conflicts: 0, errors: [] };
    if (!this.opts.leader.isLeader()) return { ...report, skipped: 'not the leader', how: 'incremental' };
    const dp = this.opts.dataplane;
    const ctx = this.podCtx;
    const applied = dp.current;
    const src = ctx && dp.applyDelta && applied ? this.snapshot(false) : undefined;
    if (!ctx || !dp.applyDelta || !applied || !src) {
      this.trigger();
      return { ...report, how: 'whole' };
    }
    const inputs = inputsFromObjects(src, this.opts, (this.opts.now ?? (() => new Date()))());
    const services = new Map(inputs.services.map((x) => [`${x.namespace}/${x.name}`, x]));
    inputs.pods = [...headlessExportSelectors(inputs, services).keys()].flatMap((ns) => this.pods.inNamespace(ns));
    const plan = planGlobalnet(inputs);
    report.plan = plan;
    this.opts.metrics?.record(plan.stats);
    this.logNotes(plan);

    const updates: ElementUpdate[] = [];
    for (const [set, field] of OBJECT_MAPS) {
      const want = plan.dataplane[field];
      const have = applied[field];
      for (const [k, v] of want) if (have.get(k) !== v) updates.push({ set, key: k, value: v });
      for (const k of have.keys()) if (!want.has(k)) updates.push({ set, key: k });
    }
    const ips = new Set(this.pendingPodIPs);
    this.pendingPodIPs.clear();
    for (const ns of changedRuleNamespaces(ctx.egressRules, plan.pods.egressRules)) for (const p of this.pods.inNamespace(ns)) ips.add(p.podIP);
    for (const ip of ips) {
      const want = podEgressFor(plan.pods.egressRules, this.pods.withIP(ip));
      updates.push({ set: 'egress_pods', key: ip, value: want.pods }, { set: 'egress_ns', key: ip, value: want.ns });
    }
    this.podCtx = undefined; // until the data plane matches the new rules
    report.dataplane = await dp.applyDelta(updates, { remoteGlobalCidrs: plan.dataplane.remoteGlobalCidrs, egressCluster: plan.dataplane.egressCluster });
    this.podCtx = plan.pods;
    await this.clearNatlessFlows(plan.dataplane.remoteGlobalCidrs);
    if (report.dataplane.mode !== 'none') this.log.debug({ mode: report.dataplane.mode, changes: report.dataplane.changes }, 'nftables updated for object changes');
    await this.writePlan(report, plan, src);
    this.emit('objectsApplied', report.dataplane, report);
    // conflicts and failed writes: the debounced whole plan retries
    if (report.conflicts) this.trigger(500);
    else if (report.errors.length) this.trigger(2000);
    return { ...report, how: 'incremental' };
  }

  /** One pass: plan from the caches, program, write. Safe to call at any time (no-op unless leader). */
  reconcile(): Promise<ReconcileReport> {
    return this.serialized(() => this.reconcileOnce());
  }

  /**
   * Removes the data plane once no reconcile is running (the node stopped being the active gateway);
   * a later reconcile as leader rebuilds it.
   */
  relinquish(): Promise<void> {
    return this.serialized(async () => {
      await this.opts.dataplane.remove?.();
      this.opts.dataplane.invalidate();
    });
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async reconcileOnce(): Promise<ReconcileReport> {
    const report: ReconcileReport = { writes: 0, conflicts: 0, errors: [] };
    if (!this.opts.leader.isLeader()) return { ...report, skipped: 'not the leader' };
    const src = this.snapshot();
    if (!src) return { ...report, skipped: 'informers not synced' };
    const inputs = inputsFromObjects(src, this.opts, (this.opts.now ?? (() => new Date()))());
    // This plan covers every pod change seen so far; later ones queue behind it.
    this.podCtx = undefined;
    this.pendingPodIPs.clear();
    this.pods.reset(inputs.pods);
    const plan = planGlobalnet(inputs);
    report.plan = plan;
    this.lastPlan = plan;
    this.opts.metrics?.record(plan.stats);
    this.logNotes(plan);

    report.dataplane = await this.opts.dataplane.sync(plan.dataplane);
    this.podCtx = plan.pods;
    await this.clearNatlessFlows(plan.dataplane.remoteGlobalCidrs);
    if (report.dataplane.mode !== 'none') this.log.debug({ mode: report.dataplane.mode, changes: report.dataplane.changes }, 'nftables updated');
    await this.writePlan(report, plan, src);
    return report;
  }

  /**
   * Once per term, and again when the remote global CIDRs change: connections that crossed this node before
   * its table was loaded (the moments after a failover) or before a remote CIDR was in it got no NAT and would
   * keep it for as long as they stay busy; their conntrack entries go, so the next packet is NATed.
   */
  private async clearNatlessFlows(remoteGlobalCidrs: readonly string[]): Promise<void> {
    const key = remoteGlobalCidrs.join(',');
    if (!this.opts.dataplane.clearNatlessFlows || this.natlessClearedFor === key) return;
    try {
      const n = await this.opts.dataplane.clearNatlessFlows(remoteGlobalCidrs, this.opts.globalCidr);
      this.natlessClearedFor = key;
      if (n > 0) this.log.info({ connections: n }, 'reset connections that crossed this gateway before its Globalnet NAT was in place: their next packet is NATed');
    } catch (err) {
      this.log.warn({ err }, 'cannot clear conntrack entries of connections without Globalnet NAT (they stay un-NATed until idle); retrying on the next reconcile');
    }
  }

  /** The API writes a plan asks for: statuses, GlobalIngressIPs, internal Services, the node annotation, the default cluster egress. */
  private async writePlan(report: ReconcileReport, plan: GlobalnetPlan, src: SourceObjects): Promise<void> {
    const byKey = new Map<string, KubeObject>();
    for (const s of ['clusterEgressIPs', 'egressIPs', 'ingressIPs'] as const) for (const o of src[s]) byKey.set(WriteOverlay.key(o, s), o);
    for (const u of plan.statusUpdates) {
      const source = STATUS_SOURCE[u.kind];
      const cur = byKey.get(`${source}/${u.namespace}/${u.name}`);
      if (!cur) continue;
      await this.write(report, `status of ${u.kind} ${u.namespace ? `${u.namespace}/` : ''}${u.name}`, async () => {
        const path = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, PLURAL[u.kind], u.namespace || undefined, u.name, 'status');
        const written = await this.opts.client.replace(path, { ...cur, status: statusWire(u) });
        this.overlay.record(source, cur, written);
      });
    }
    for (const op of plan.ingressObjects) await this.applyIngressOp(report, op);
    for (const op of plan.internalServices) await this.applyInternalServiceOp(report, op);
    const na = plan.nodeAnnotation;
    if (na) {
      await this.write(report, `annotate Node ${na.node} with its global IP`, async () => {
        await this.opts.client.patch(resourcePath('', 'v1', 'nodes', undefined, na.node), { metadata: { annotations: { [NODE_GLOBAL_IP_ANNOTATION]: na.globalIP } } }, 'merge');
        this.log.info({ node: na.node, globalIP: na.globalIP }, 'gateway node global IP (health check) allocated');
      });
    }
    if (plan.needsDefaultClusterEgress && !this.defaultEgressTried) {
      this.defaultEgressTried = true;
      await this.write(report, `create ClusterGlobalEgressIP ${CLUSTER_EGRESS_NAME}`, async () => {
        await this.opts.client.create(resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'clusterglobalegressips'), {
          apiVersion: `${SUBMARINER_GROUP}/${SUBMARINER_VERSION}`, kind: 'ClusterGlobalEgressIP',
          metadata: { name: CLUSTER_EGRESS_NAME }, spec: { numGlobalIPs: DEFAULT_CLUSTER_EGRESS_IPS },
        });
        this.log.info({ name: CLUSTER_EGRESS_NAME }, 'created the default ClusterGlobalEgressIP');
      });
    }
  }

  /** Runs one write if still leader; 409 = stale cache (retry soon), 404 = gone (nothing to do). */
  private async write(report: ReconcileReport, what: string, fn: () => Promise<void>): Promise<void> {
    if (!this.opts.leader.isLeader()) return;
    try {
      await fn();
      report.writes++;
    } catch (err) {
      if (isApiError(err, 409)) {
        report.conflicts++;
        this.log.debug({ what }, 'write conflict; replanning');
      } else if (isApiError(err, 404)) {
        this.log.debug({ what }, 'object gone before the write');
      } else {
        report.errors.push(`${what}: ${errorMessage(err)}`);
        this.log.warn({ what, err }, 'Globalnet write failed');
      }
    }
  }

  private async applyIngressOp(report: ReconcileReport, op: GlobalnetPlan['ingressObjects'][number]): Promise<void> {
    const c = this.opts.client;
    if (op.op === 'delete') {
      await this.write(report, `delete GlobalIngressIP ${op.namespace}/${op.name}`, async () => {
        await c.delete(resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'globalingressips', op.namespace, op.name));
        this.log.info({ namespace: op.namespace, name: op.name }, 'deleted GlobalIngressIP (its target is gone)');
      });
      return;
    }
    const o = op.object;
    if (op.op === 'create') {
      await this.write(report, `create GlobalIngressIP ${o.namespace}/${o.name}`, async () => {
        await c.create(resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'globalingressips', o.namespace), ingressObjectWire(o));
        this.log.info({ namespace: o.namespace, name: o.name, target: o.target }, 'created GlobalIngressIP');
      });
      return;
    }
    await this.write(report, `update GlobalIngressIP ${o.namespace}/${o.name}`, async () => {
      const path = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'globalingressips', o.namespace, o.name);
      const cur = await c.get(path);
      await c.replace(path, { ...cur, metadata: { ...cur.metadata, labels: { ...cur.metadata.labels, ...o.labels }, annotations: { ...cur.metadata.annotations, ...o.annotations } } });
    });
  }

  private async applyInternalServiceOp(report: ReconcileReport, op: GlobalnetPlan['internalServices'][number]): Promise<void> {
    const c = this.opts.client;
    if (op.op === 'delete') {
      await this.write(report, `delete internal Service ${op.namespace}/${op.name}`, async () => {
        const path = resourcePath('', 'v1', 'services', op.namespace, op.name);
        const cur = await c.getOrUndefined(path);
        if (!cur) return;
        // Only Services we labelled reach here (the planner selects by label).
        if (cur.metadata.finalizers?.includes(INTERNAL_SERVICE_FINALIZER)) {
          await c.replace(path, { ...cur, metadata: { ...cur.metadata, finalizers: cur.metadata.finalizers.filter((f) => f !== INTERNAL_SERVICE_FINALIZER) } });
        }
        await c.delete(path);
      });
      return;
    }
    const s = op.service;
    await this.write(report, `upsert internal Service ${s.namespace}/${s.name}`, async () => {
      const path = resourcePath('', 'v1', 'services', s.namespace, s.name);
      const cur = await c.getOrUndefined(path);
      const labels = { [INTERNAL_SERVICE_LABEL]: s.exportedService };
      if (!cur) {
        await c.create(resourcePath('', 'v1', 'services', s.namespace), {
          apiVersion: 'v1', kind: 'Service',
          metadata: { name: s.name, namespace: s.namespace, labels, finalizers: [INTERNAL_SERVICE_FINALIZER] },
          spec: internalServiceSpec(s),
        });
        this.log.info({ namespace: s.namespace, name: s.name, service: s.exportedService, globalIP: s.externalIP }, 'created internal Service');
        return;
      }
      const finalizers = [...new Set([...(cur.metadata.finalizers ?? []), INTERNAL_SERVICE_FINALIZER])];
      const spec = { ...(typeof cur.spec === 'object' && cur.spec !== null ? cur.spec : {}), ...internalServiceSpec(s) } as Record<string, unknown>;
      if (!s.selector) delete spec.selector;
      await c.replace(path, { ...cur, metadata: { ...cur.metadata, labels: { ...cur.metadata.labels, ...labels }, finalizers }, spec });
    });
  }

  private logNotes(plan: GlobalnetPlan): void {
    const now = new Set<string>();
    for (const n of plan.notes) {
      const k = `${n.owner}\u0000${n.message}`;
      now.add(k);
      if (!this.lastNotes.has(k)) this.log[n.level]({ owner: n.owner }, n.message);
    }
    this.lastNotes = now;
  }
}
