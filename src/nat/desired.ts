// Globalnet's planner (pure): from the typed resources and the pods/services/endpoints they refer to,
// compute the allocation of global IPs, the status each resource should carry, the GlobalIngressIP and
// internal Service objects to create/update/delete, and the nftables data plane.
//
// Level-triggered and stateless: every run rebuilds the IPAM from the statuses of the resources that exist
// now (the source of truth), then allocates for whoever lacks addresses, oldest first. Run it only on a
// complete snapshot (all informers synced): that is what keeps a restart from handing an address out twice.
import { allocatedCondition, setCondition, type ConditionChange } from './conditions.js';
import { isIPv4 as isIpv4 } from 'node:net';
import { ipv4ToInt as ipToInt, normalizeCidrs, overlaps as cidrsOverlap, parseIpv4Cidr } from '../net/cidr.js';
import type { IpStats } from '../metrics/globalnet.js';
import { ipRange } from './ip.js';
import { describeRejection, Ipam, sortByAge, type Claim, type RejectedClaim } from './ipam.js';
import { endpointsIngressName, internalServiceName, podIngressName } from './names.js';
import { emptyDataplane, type Dataplane } from './nft.js';
import {
  CLUSTER_EGRESS_NAME, DEFAULT_CLUSTER_EGRESS_IPS, DEFAULT_EGRESS_IPS, HEADLESS_EP_IP_ANNOTATION, HEADLESS_POD_IP_ANNOTATION,
  INTERNAL_SERVICE_FINALIZER, INTERNAL_SERVICE_LABEL, ownerKey, SERVICE_REF_LABEL,
  type ClusterGlobalEgressIP, type Condition, type Count, type EgressStatus, type EndpointsObject, type GlobalEgressIP,
  type GlobalIngressIP, type IngressTarget, type Meta, type Pod, type Service, type ServiceExport, type ServicePort,
} from './resources.js';
import { mapSelector, selectorMatches, type LabelSelector } from './selector.js';

export interface GlobalnetInputs {
  /** This cluster's global CIDR. */
  globalCidr: string;
  /** Sources the ClusterGlobalEgressIP applies to: the local cluster (pod) and service CIDRs. */
  localCidrs: string[];
  /** Remote clusters' global CIDRs (their Endpoints' subnets). */
  remoteGlobalCidrs: string[];
  clusterEgressIPs: ClusterGlobalEgressIP[];
  egressIPs: GlobalEgressIP[];
  ingressIPs: GlobalIngressIP[];
  serviceExports: ServiceExport[];
  services: Service[];
  pods: Pod[];
  endpoints: EndpointsObject[];
  /** RFC 3339, for condition transition times. */
  now: string;
  /**
   * The node Globalnet runs on (the active gateway): it gets one global IP, DNATed to its CNI interface
   * address, that the gateway publishes as its Endpoint's healthCheckIP (the CNI address itself overlaps).
   */
  gatewayNode?: GatewayNodeInput;
  /** Global IPs other nodes hold (their `submariner.io/globalIp` annotation): reserved, never re-used. */
  nodeGlobalIPs?: { node: string; ip: string }[];
}

export interface GatewayNodeInput {
  name: string;
  /** Its CNI interface address (the health check's target once DNATed); unknown: no global IP. */
  cniIP?: string;
  /** Its current `submariner.io/globalIp` annotation. */
  globalIP?: string;
}

/** Node annotation holding the node's global IP (Submariner's constant, defined with the wire types). */
export { NODE_GLOBAL_IP_ANNOTATION } from '../k8s/submariner/globalnet.js';

const nodeOwnerKey = (node: string): string => `Node /${node}`;

export type StatusUpdate =
  | { kind: 'ClusterGlobalEgressIP'; namespace: ''; name: string; status: EgressStatus }
  | { kind: 'GlobalEgressIP'; namespace: string; name: string; status: EgressStatus }
  | { kind: 'GlobalIngressIP'; namespace: string; name: string; status: { allocatedIP: string; conditions: Condition[] } };

export interface IngressObject {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  target: IngressTarget;
  serviceRef: string;
  podRef?: string;
}

/** `update` rewrites labels/annotations only (a pod's new IP keeps its global IP). */
export type IngressObjectOp = { op: 'create' | 'update'; object: IngressObject } | { op: 'delete'; namespace: string; name: string };

export interface InternalService {
  namespace: string;
  name: string;
  exportedService: string;
  externalIP: string;
  ports: ServicePort[];
  selector?: Record<string, string>;
}

export type InternalServiceOp = { op: 'upsert'; service: InternalService } | { op: 'delete'; namespace: string; name: string };

export interface PlanNote {
  level: 'info' | 'warn';
  owner: string;
  message: string;
}

/** The pool totals live with the gauges that show them (metrics/globalnet.ts); planners and tests take them from here too. */
export type { IpStats };

export interface GlobalnetPlan {
  dataplane: Dataplane;
  statusUpdates: StatusUpdate[];
  ingressObjects: IngressObjectOp[];
  internalServices: InternalServiceOp[];
  /** Final allocation, owner key -> addresses. */
  allocations: Map<string, string[]>;
  notes: PlanNote[];
  stats: IpStats;
  /** No `cluster-egress.submariner.io` exists (the controller creates it once, as Submariner does). */
  needsDefaultClusterEgress: boolean;
  /** Set the gateway node's `submariner.io/globalIp` annotation to this address. */
  nodeAnnotation?: { node: string; globalIP: string };
  /** What a pod change alone needs (the controller's incremental path, valid until the next plan). */
  pods: PodPlanContext;
}

/** The part of a plan that decides a pod's egress mappings, and which pods need a whole plan instead. */
export interface PodPlanContext {
  egressRules: PodEgressRule[];
  /** Namespace -> selectors of its exported headless Services. */
  headlessSelectors: Map<string, LabelSelector[]>;
}

const nsName = (ns: string, name: string): string => `${ns}/${name}`;

/** A pod that can send/receive through the gateway: has an IPv4 pod IP of its own and is not finished. */
export function podIsLive(p: Pod): boolean {
  return !p.hostNetwork && isIpv4(p.podIP) && p.phase !== 'Succeeded' && p.phase !== 'Failed';
}

function countOf(c: Count, def: number): { n: number } | { error: string } {
  if (c.kind === 'invalid') return { error: c.error };
  return { n: c.kind === 'value' ? c.value : def };
}

/** An owner of global IPs, whatever its kind. */
export interface Owner {
  key: string;
  meta: Meta;
  /** Addresses wanted (0 = none), or a condition explaining why none are. */
  want: number;
  blocked?: ConditionChange;
  statusIps: string[];
  conditions: Condition[];
  contiguous: boolean;
}

export interface DesiredIngress extends IngressObject {
  /** Where DNAT sends the global IP (pod/endpoint IP, or the ClusterIP); undefined when the Service is missing. */
  targetIP?: string;
}

/** What each ServiceExport needs: one GlobalIngressIP per ClusterIP export, per selected headless pod, or per endpoints address. */
export function desiredIngressObjects(inp: GlobalnetInputs, services: Map<string, Service>, podsByNs: Map<string, Pod[]>, endpoints: Map<string, EndpointsObject>): Map<string, DesiredIngress> {
  const out = new Map<string, DesiredIngress>();
  // A pod's GlobalIngressIP is named after the pod, so a pod behind several headless exports gets one: the
  // export whose name it carries keeps it (else the first by name). Handing it to another export would delete and
  // re-create it, and with it the pod's global IP, each time an unrelated export selecting the pod comes or goes.
  const podIngressOwner = new Map(inp.ingressIPs.filter((g) => g.target === 'HeadlessServicePod').map((g) => [nsName(g.meta.namespace, g.meta.name), g.serviceRef]));
  const exports = [...inp.serviceExports].sort((a, b) => nsName(a.namespace, a.name).localeCompare(nsName(b.namespace, b.name)));
  for (const ex of exports) {
    const svc = services.get(nsName(ex.namespace, ex.name));
    if (svc && svc.type !== 'ClusterIP') continue; // Submariner exports ClusterIP Services only
    if (!svc || svc.clusterIP !== 'None') {
      out.set(nsName(ex.namespace, ex.name), {
        namespace: ex.namespace, name: ex.name, labels: {}, annotations: {}, target: 'ClusterIPService', serviceRef: ex.name,
        ...(svc && isIpv4(svc.clusterIP) ? { targetIP: svc.clusterIP } : {}),
      });
      continue;
    }
    if (svc.selector) {
      const sel = mapSelector(svc.selector);
      for (const p of podsByNs.get(ex.namespace) ?? []) {
        if (!podIsLive(p) || !selectorMatches(sel, p.labels)) continue;
        if (!svc.publishNotReadyAddresses && p.phase !== 'Running') continue;
        const name = podIngressName(p.name);
        if (out.has(nsName(ex.namespace, name)) && podIngressOwner.get(nsName(ex.namespace, name)) !== svc.name) continue;
        out.set(nsName(ex.namespace, name), {
          namespace: ex.namespace, name, labels: { [SERVICE_REF_LABEL]: svc.name }, annotations: { [HEADLESS_POD_IP_ANNOTATION]: p.podIP },
          target: 'HeadlessServicePod', serviceRef: svc.name, podRef: p.name, targetIP: p.podIP,
        });
      }
    } else {
      for (const ip of endpoints.get(nsName(ex.namespace, ex.name))?.ips ?? []) {
        const name = endpointsIngressName(svc.name, ip);
        out.set(nsName(ex.namespace, name), {
          namespace: ex.namespace, name, labels: { [SERVICE_REF_LABEL]: svc.name }, annotations: { [HEADLESS_EP_IP_ANNOTATION]: ip },
          target: 'HeadlessServiceEndpoints', serviceRef: svc.name, targetIP: ip,
        });
      }
    }
  }
  return out;
}

function sameRecord(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>, keys: readonly string[]): boolean {
  return keys.every((k) => a[k] === b[k]);
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function byAge<T extends { meta: Meta }>(xs: readonly T[]): T[] {
  return sortByAge(xs, (x) => x.meta.creationTimestamp, (x) => `${x.meta.namespace}/${x.meta.name}`);
}

function sameConditions(a: readonly Condition[], b: readonly Condition[]): boolean {
  return a.length === b.length && a.every((c, i) => {
    const d = b[i]!;
    return c.type === d.type && c.status === d.status && c.reason === d.reason && c.message === d.message
      && c.lastTransitionTime === d.lastTransitionTime && c.observedGeneration === d.observedGeneration;
  });
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Lookups every step shares: Services and Endpoints by namespace/name, live-or-not pods per namespace (by name). */
export interface InputIndex {
  services: Map<string, Service>;
  endpoints: Map<string, EndpointsObject>;
  podsByNs: Map<string, Pod[]>;
}

export function indexInputs(inp: Pick<GlobalnetInputs, 'services' | 'endpoints' | 'pods'>): InputIndex {
  const services = new Map(inp.services.map((s) => [nsName(s.namespace, s.name), s]));
  const endpoints = new Map(inp.endpoints.map((e) => [nsName(e.namespace, e.name), e]));
  const podsByNs = new Map<string, Pod[]>();
  for (const p of [...inp.pods].sort((a, b) => a.name.localeCompare(b.name))) {
    const l = podsByNs.get(p.namespace) ?? [];
    l.push(p);
    podsByNs.set(p.namespace, l);
  }
  return { services, endpoints, podsByNs };
}

export interface LiveIngress {
  giip: GlobalIngressIP;
  desired: DesiredIngress;
}

export interface IngressReconciliation {
  ops: IngressObjectOp[];
  /** Existing GlobalIngressIPs an export still wants, with what it wants. */
  live: LiveIngress[];
  /** Existing GlobalIngressIPs with a bad target that no export claims (they only get a condition). */
  invalid: GlobalIngressIP[];
}

/** Step 1: GlobalIngressIP objects are derived from ServiceExports; ours to create, update and delete. */
export function reconcileIngressObjects(existing: readonly GlobalIngressIP[], want: ReadonlyMap<string, DesiredIngress>): IngressReconciliation {
  const ops: IngressObjectOp[] = [];
  const live: LiveIngress[] = [];
  const invalid: GlobalIngressIP[] = [];
  const seen = new Set<string>();
  for (const g of existing) {
    const k = nsName(g.meta.namespace, g.meta.name);
    seen.add(k);
    const d = want.get(k);
    if (!g.target) {
      // An invalid object under the name an export needs is replaced; others only get a condition.
      if (d) ops.push({ op: 'delete', namespace: g.meta.namespace, name: g.meta.name });
      else invalid.push(g);
      continue;
    }
    if (!d || d.target !== g.target || d.serviceRef !== g.serviceRef || d.podRef !== g.podRef) {
      ops.push({ op: 'delete', namespace: g.meta.namespace, name: g.meta.name });
      continue;
    }
    const keys = [...Object.keys(d.labels), ...Object.keys(d.annotations)];
    if (!sameRecord(g.meta.labels, d.labels, Object.keys(d.labels)) || !sameRecord(g.meta.annotations, d.annotations, Object.keys(d.annotations))) {
      if (keys.length) ops.push({ op: 'update', object: stripTarget(d) });
    }
    live.push({ giip: g, desired: d });
  }
  for (const [k, d] of want) if (!seen.has(k)) ops.push({ op: 'create', object: stripTarget(d) });
  return { ops, live, invalid };
}

/** Step 2: every owner of global IPs and how many it wants, or the condition saying why it gets none. */
export function collectOwners(inp: Pick<GlobalnetInputs, 'clusterEgressIPs' | 'egressIPs'>, ingress: Pick<IngressReconciliation, 'live' | 'invalid'>): Owner[] {
  const owners: Owner[] = [];
  const egressOwner = (kind: 'ClusterGlobalEgressIP' | 'GlobalEgressIP', meta: Meta, status: EgressStatus, want: number, blocked?: ConditionChange): Owner => ({
    key: ownerKey(kind, meta), meta, want, statusIps: status.allocatedIPs, conditions: status.conditions, contiguous: true, ...(blocked ? { blocked } : {}),
  });
  for (const c of inp.clusterEgressIPs) {
    if (c.meta.name !== CLUSTER_EGRESS_NAME) {
      owners.push(egressOwner('ClusterGlobalEgressIP', c.meta, c.status, 0, {
        status: 'False', reason: 'InvalidInstance', message: `Only the ClusterGlobalEgressIP instance with the well-known name "${CLUSTER_EGRESS_NAME}" is supported`,
      }));
      continue;
    }
    const n = countOf(c.numGlobalIPs, DEFAULT_CLUSTER_EGRESS_IPS);
    if ('error' in n) owners.push(egressOwner('ClusterGlobalEgressIP', c.meta, c.status, 0, { status: 'False', reason: 'InvalidInput', message: n.error }));
    else if (n.n === 0) owners.push(egressOwner('ClusterGlobalEgressIP', c.meta, c.status, 0, { status: 'False', reason: 'ZeroInput', message: 'The specified NumGlobalIPs is 0' }));
    else owners.push(egressOwner('ClusterGlobalEgressIP', c.meta, c.status, n.n));
  }
  for (const e of inp.egressIPs) {
    const n = countOf(e.numberOfIPs, DEFAULT_EGRESS_IPS);
    if ('error' in n) owners.push(egressOwner('GlobalEgressIP', e.meta, e.status, 0, { status: 'False', reason: 'InvalidInput', message: n.error }));
    else if (e.podSelector.kind === 'invalid') {
      owners.push(egressOwner('GlobalEgressIP', e.meta, e.status, 0, { status: 'False', reason: 'InvalidSelector', message: `Invalid podSelector: ${e.podSelector.error}` }));
    } else if (n.n === 0) owners.push(egressOwner('GlobalEgressIP', e.meta, e.status, 0, { status: 'False', reason: 'ZeroInput', message: 'The specified NumberOfIPs is 0' }));
    else owners.push(egressOwner('GlobalEgressIP', e.meta, e.status, n.n));
  }
  for (const { giip, desired } of ingress.live) {
    const base = { key: ownerKey('GlobalIngressIP', giip.meta), meta: giip.meta, statusIps: giip.status.allocatedIP ? [giip.status.allocatedIP] : [], conditions: giip.status.conditions, contiguous: false };
    if (!desired.targetIP) {
      owners.push({ ...base, want: 0, blocked: { status: 'False', reason: 'ServiceNotFound', message: `The exported Service ${giip.meta.namespace}/${giip.serviceRef ?? ''} does not exist` } });
    } else owners.push({ ...base, want: 1 });
  }
  for (const g of ingress.invalid) {
    owners.push({
      key: ownerKey('GlobalIngressIP', g.meta), meta: g.meta, statusIps: g.status.allocatedIP ? [g.status.allocatedIP] : [], conditions: g.status.conditions, contiguous: false,
      want: 0, blocked: { status: 'False', reason: 'InvalidTarget', message: g.targetError ?? 'invalid target' },
    });
  }
  return owners;
}

export interface RebuiltIpam {
  ipam: Ipam;
  rejectedBy: Map<string, RejectedClaim>;
  /** IPAM keys to release once this run's allocations are done. */
  deferred: string[];
  /** GlobalIngressIPs about to be deleted (their addresses stay held this run). */
  doomed: GlobalIngressIP[];
}

/**
 * Step 3: the IPAM rebuilt from every status that names addresses, oldest first: also the ones about to
 * be rewritten or deleted, so an address leaves a status before anyone else can get it.
 */
export function rebuildIpam(inp: GlobalnetInputs, owners: readonly Owner[], ingressOps: readonly IngressObjectOp[], notes: PlanNote[]): RebuiltIpam {
  const deleting = new Set(ingressOps.filter((op) => op.op === 'delete').map((op) => (op.op === 'delete' ? nsName(op.namespace, op.name) : '')));
  const doomed = inp.ingressIPs.filter((g) => deleting.has(nsName(g.meta.namespace, g.meta.name)));
  const claims: Claim[] = [
    ...owners.filter((o) => o.statusIps.length > 0).map((o) => ({ owner: o.key, createdAt: o.meta.creationTimestamp, ips: o.statusIps })),
    ...doomed.filter((g) => g.status.allocatedIP).map((g) => ({ owner: ownerKey('GlobalIngressIP', g.meta), createdAt: g.meta.creationTimestamp, ips: [g.status.allocatedIP] })),
    ...nodeClaims(inp),
  ];
  const { ipam, rejected } = Ipam.fromClaims(inp.globalCidr, claims);
  const rejectedBy = new Map<string, RejectedClaim>(rejected.map((r) => [r.claim.owner, r]));
  const deferred: string[] = [];
  for (const r of rejected) {
    notes.push({ level: 'warn', owner: r.claim.owner, message: `status claims ${r.claim.ips.join(', ')} but ${describeRejection(r.why, ipam.cidr.text)}; re-allocating` });
    // The loser's other addresses stay out of reach for this run (its status still lists them).
    r.claim.ips.forEach((ip, i) => {
      const q = `${r.claim.owner}#${i}`;
      if (!ipam.reserve(q, [ip])) deferred.push(q);
    });
  }
  return { ipam, rejectedBy, deferred, doomed };
}

export type StatusByOwner = Map<string, { ips: string[]; conditions: Condition[] }>;

/**
 * Step 4: keep valid holdings, allocate for whoever lacks addresses (oldest first), give every owner its
 * status. Addresses an owner gives up are released only after all allocations of this run; the gateway
 * node's global IP is allocated last.
 */
export function allocateOwners(inp: GlobalnetInputs, owners: readonly Owner[], rebuilt: RebuiltIpam, notes: PlanNote[]): { statusByKey: StatusByOwner; nodeGlobalIP: string | undefined } {
  const { ipam, rejectedBy, deferred } = rebuilt;
  const statusByKey: StatusByOwner = new Map();
  const failedOwners: Owner[] = [];
  const ordered = sortByAge(owners, (o) => o.meta.creationTimestamp, (o) => o.key);
  for (const o of ordered) {
    const gen = o.meta.generation;
    const held = ipam.ipsOf(o.key);
    if (o.want > 0 && held.length === o.want && (!o.contiguous || isContiguous(held))) {
      const cur = allocatedCondition(o.conditions);
      let conditions = [...o.conditions];
      if (cur?.status !== 'True') conditions = setCondition(o.conditions, { status: 'True', reason: 'Success', message: allocatedMessage(o) }, inp.now, gen);
      else if (gen !== undefined && cur.observedGeneration !== gen) conditions = setCondition(o.conditions, { status: 'True', reason: cur.reason, message: cur.message }, inp.now, gen);
      statusByKey.set(o.key, { ips: o.statusIps, conditions });
      continue;
    }
    if (held.length > 0) deferred.push(o.key);
    if (o.want === 0) {
      statusByKey.set(o.key, { ips: [], conditions: setCondition(o.conditions, o.blocked!, inp.now, gen) });
      continue;
    }
    const key = held.length > 0 ? `${o.key}#new` : o.key;
    const got = ipam.allocate(key, o.want);
    if (!got) {
      failedOwners.push(o);
      continue;
    }
    const rej = rejectedBy.get(o.key);
    const change: ConditionChange = rej
      ? { status: 'True', reason: 'Reallocated', message: `Re-allocated ${got.join(', ')}: the status claimed ${rej.claim.ips.join(', ')} but ${describeRejection(rej.why, ipam.cidr.text)}` }
      : { status: 'True', reason: 'Success', message: allocatedMessage(o) };
    if (rej) notes.push({ level: 'info', owner: o.key, message: change.message });
    statusByKey.set(o.key, { ips: got, conditions: setCondition(o.conditions, change, inp.now, gen) });
  }
  const nodeGlobalIP = planNodeGlobalIP(inp, ipam, notes);
  for (const k of deferred) ipam.release(k);
  // Exhaustion messages describe the pool after this run (stable from one run to the next).
  const largestRun = failedOwners.length ? ipam.largestFreeRun() : 0;
  for (const o of failedOwners) {
    const why = o.want === 1
      ? `no free address left in ${ipam.cidr.text}`
      : `${ipam.cidr.text} has ${ipam.available} free address(es), the longest contiguous run is ${largestRun}`;
    const message = o.contiguous ? `Error allocating ${o.want} global IP(s) from the pool: ${why}` : `Error allocating a global IP from the pool: ${why}`;
    notes.push({ level: 'warn', owner: o.key, message });
    statusByKey.set(o.key, { ips: [], conditions: setCondition(o.conditions, { status: 'False', reason: 'IPPoolAllocationFailed', message }, inp.now, o.meta.generation) });
  }
  return { statusByKey, nodeGlobalIP };
}

/** Step 5: a status update for every object whose status differs from the one computed. */
export function planStatusUpdates(inp: Pick<GlobalnetInputs, 'clusterEgressIPs' | 'egressIPs'>, ingress: readonly GlobalIngressIP[], statusByKey: StatusByOwner): StatusUpdate[] {
  const out: StatusUpdate[] = [];
  for (const c of inp.clusterEgressIPs) {
    const s = statusByKey.get(ownerKey('ClusterGlobalEgressIP', c.meta))!;
    const status: EgressStatus = { allocatedIPs: s.ips, conditions: s.conditions };
    if (!sameList(status.allocatedIPs, c.status.allocatedIPs) || !sameConditions(status.conditions, c.status.conditions)) out.push({ kind: 'ClusterGlobalEgressIP', namespace: '', name: c.meta.name, status });
  }
  for (const e of inp.egressIPs) {
    const s = statusByKey.get(ownerKey('GlobalEgressIP', e.meta))!;
    const status: EgressStatus = { allocatedIPs: s.ips, conditions: s.conditions };
    if (!sameList(status.allocatedIPs, e.status.allocatedIPs) || !sameConditions(status.conditions, e.status.conditions)) out.push({ kind: 'GlobalEgressIP', namespace: e.meta.namespace, name: e.meta.name, status });
  }
  for (const g of ingress) {
    const s = statusByKey.get(ownerKey('GlobalIngressIP', g.meta))!;
    const status = { allocatedIP: s.ips[0] ?? '', conditions: s.conditions };
    if (status.allocatedIP !== g.status.allocatedIP || !sameConditions(status.conditions, g.status.conditions)) out.push({ kind: 'GlobalIngressIP', namespace: g.meta.namespace, name: g.meta.name, status });
  }
  return out;
}

/**
 * Step 6: the nftables data plane from the allocations: remote global CIDRs (overlapping our own are
 * dropped with a note), cluster egress per local CIDR, pod/namespace egress (oldest GlobalEgressIP wins a
 * pod two select), ingress DNAT plus the headless targets' egress, and the gateway node's global IP.
 */
export function planDataplane(
  inp: GlobalnetInputs, index: Pick<InputIndex, 'podsByNs'>, live: readonly LiveIngress[], ipsOf: (key: string) => string[], nodeGlobalIP: string | undefined, notes: PlanNote[],
  egressRules: readonly PodEgressRule[] = podEgressRules(inp.egressIPs, ipsOf),
): Dataplane {
  const dp = emptyDataplane();
  const own = parseIpv4Cidr(inp.globalCidr);
  const remote: string[] = [];
  for (const text of inp.remoteGlobalCidrs) {
    const c = parseIpv4Cidr(text);
    if (!c) continue; // IPv6 or invalid: not for this IPv4 data plane
    if (own && cidrsOverlap(c, own)) {
      notes.push({ level: 'warn', owner: 'remote', message: `remote global CIDR ${c.text} overlaps the local global CIDR ${own.text}; ignored` });
      continue;
    }
    remote.push(c.text);
  }
  dp.remoteGlobalCidrs.push(...normalizeCidrs(remote));
  const cge = inp.clusterEgressIPs.find((c) => c.meta.name === CLUSTER_EGRESS_NAME);
  if (cge) {
    const ips = ipsOf(ownerKey('ClusterGlobalEgressIP', cge.meta));
    if (ips.length) for (const c of normalizeCidrs(inp.localCidrs)) dp.egressCluster.set(c, ipRange(ips));
  }
  // Oldest GlobalEgressIP wins a pod claimed by two (Submariner leaves this unspecified).
  for (const rule of egressRules) {
    const map = rule.selector ? dp.egressPods : dp.egressNs;
    for (const p of index.podsByNs.get(rule.namespace) ?? []) {
      if (podEgressRuleMatches(rule, p) && !map.has(p.podIP)) map.set(p.podIP, rule.range);
    }
  }
  for (const { giip, desired } of sortByAge(live, (l) => l.giip.meta.creationTimestamp, (l) => `${l.giip.meta.namespace}/${l.giip.meta.name}`)) {
    const ip = ipsOf(ownerKey('GlobalIngressIP', giip.meta))[0];
    if (!ip || !desired.targetIP) continue;
    dp.ingress.set(ip, desired.targetIP);
    if (desired.target === 'HeadlessServicePod' && !dp.egressHdlsPods.has(desired.targetIP)) dp.egressHdlsPods.set(desired.targetIP, `${ip}-${ip}`);
    if (desired.target === 'HeadlessServiceEndpoints' && !dp.egressHdlsEps.has(desired.targetIP)) dp.egressHdlsEps.set(desired.targetIP, `${ip}-${ip}`);
  }
  const gw = inp.gatewayNode;
  if (gw?.cniIP && nodeGlobalIP && !dp.ingress.has(nodeGlobalIP)) dp.ingress.set(nodeGlobalIP, gw.cniIP);
  return dp;
}

/**
 * A GlobalEgressIP as the pod egress maps apply it. Rules come in precedence order (oldest object first):
 * the first rule matching a pod gives that pod's address its range, in egress_pods for a rule with a
 * selector, in egress_ns for a namespace-wide one.
 */
export interface PodEgressRule {
  namespace: string;
  /** Undefined: every pod of the namespace (egress_ns). */
  selector?: LabelSelector;
  /** nft `first-last` range of the object's global IPs. */
  range: string;
}

/** The rules of the GlobalEgressIPs that hold addresses, oldest first (`ipsOf` gives an owner's addresses). */
export function podEgressRules(egressIPs: readonly GlobalEgressIP[], ipsOf: (key: string) => readonly string[]): PodEgressRule[] {
  const out: PodEgressRule[] = [];
  for (const e of byAge(egressIPs)) {
    const ips = ipsOf(ownerKey('GlobalEgressIP', e.meta));
    if (!ips.length || e.podSelector.kind === 'invalid') continue;
    out.push({ namespace: e.meta.namespace, range: ipRange(ips), ...(e.podSelector.kind === 'selector' ? { selector: e.podSelector.value } : {}) });
  }
  return out;
}

export function podEgressRuleMatches(rule: PodEgressRule, p: Pod): boolean {
  return p.namespace === rule.namespace && podIsLive(p) && (!rule.selector || selectorMatches(rule.selector, p.labels));
}

/**
 * The egress map values of one pod address, given every pod that has it (usually one): what planDataplane
 * puts under that key, computed without looking at any other pod (the controller's incremental path).
 */
export function podEgressFor(rules: readonly PodEgressRule[], podsWithIP: readonly Pod[]): { pods?: string; ns?: string } {
  const out: { pods?: string; ns?: string } = {};
  for (const rule of rules) {
    const slot = rule.selector ? 'pods' : 'ns';
    if (out[slot] !== undefined) continue;
    if (podsWithIP.some((p) => podEgressRuleMatches(rule, p))) out[slot] = rule.range;
    if (out.pods !== undefined && out.ns !== undefined) break;
  }
  return out;
}

/**
 * Selectors of the exported headless Services, by namespace: a pod one of them selects has a
 * GlobalIngressIP of its own, so a change to it needs the whole plan (IPAM, objects), not only the maps.
 */
export function headlessExportSelectors(inp: Pick<GlobalnetInputs, 'serviceExports'>, services: ReadonlyMap<string, Service>): Map<string, LabelSelector[]> {
  const out = new Map<string, LabelSelector[]>();
  for (const ex of inp.serviceExports) {
    const svc = services.get(nsName(ex.namespace, ex.name));
    if (!svc || svc.type !== 'ClusterIP' || svc.clusterIP !== 'None' || !svc.selector) continue;
    const l = out.get(ex.namespace) ?? [];
    l.push(mapSelector(svc.selector));
    out.set(ex.namespace, l);
  }
  return out;
}

/** Step 8: final allocation per owner (doomed GlobalIngressIPs included while they hold addresses) and pool stats. */
export function summarize(ipam: Ipam, statusByKey: StatusByOwner, doomed: readonly GlobalIngressIP[]): { allocations: Map<string, string[]>; stats: IpStats } {
  const allocations = new Map<string, string[]>();
  for (const [k, s] of statusByKey) if (s.ips.length) allocations.set(k, s.ips);
  for (const g of doomed) {
    const k = ownerKey('GlobalIngressIP', g.meta);
    if (ipam.ipsOf(k).length) allocations.set(k, ipam.ipsOf(k));
  }
  const sum = (prefix: string): number => [...allocations].filter(([k]) => k.startsWith(prefix + ' ')).reduce((n, [, ips]) => n + ips.length, 0);
  return {
    allocations,
    stats: {
      cidr: ipam.cidr.text, size: ipam.size, available: ipam.available, allocated: ipam.allocated,
      egress: sum('GlobalEgressIP'), clusterEgress: sum('ClusterGlobalEgressIP'), ingress: sum('GlobalIngressIP'),
    },
  };
}

/** The whole plan: the named steps above, in order. */
export function planGlobalnet(inp: GlobalnetInputs): GlobalnetPlan {
  const notes: PlanNote[] = [];
  const index = indexInputs(inp);
  const ingress = reconcileIngressObjects(inp.ingressIPs, desiredIngressObjects(inp, index.services, index.podsByNs, index.endpoints));
  const owners = collectOwners(inp, ingress);
  const rebuilt = rebuildIpam(inp, owners, ingress.ops, notes);
  const { statusByKey, nodeGlobalIP } = allocateOwners(inp, owners, rebuilt, notes);
  const statusUpdates = planStatusUpdates(inp, [...ingress.live.map((l) => l.giip), ...ingress.invalid], statusByKey);
  const ipsOf = (key: string): string[] => statusByKey.get(key)?.ips ?? [];
  const egressRules = podEgressRules(inp.egressIPs, ipsOf);
  const dataplane = planDataplane(inp, index, ingress.live, ipsOf, nodeGlobalIP, notes, egressRules);
  // Step 7: internal Services carrying ClusterIP exports' global IPs (kube-proxy DNATs externalIPs).
  const internalServices = planInternalServices(inp, ingress.live, index.services, ipsOf);
  const { allocations, stats } = summarize(rebuilt.ipam, statusByKey, rebuilt.doomed);
  const gw = inp.gatewayNode;
  return {
    dataplane,
    statusUpdates,
    ingressObjects: ingress.ops,
    internalServices,
    allocations,
    notes,
    stats,
    needsDefaultClusterEgress: !inp.clusterEgressIPs.some((c) => c.meta.name === CLUSTER_EGRESS_NAME),
    ...(gw && nodeGlobalIP && nodeGlobalIP !== gw.globalIP ? { nodeAnnotation: { node: gw.name, globalIP: nodeGlobalIP } } : {}),
    pods: { egressRules, headlessSelectors: headlessExportSelectors(inp, index.services) },
  };
}

/** Node annotations as IPAM claims (creation time unknown: they sort after every CR, so a CR keeps a clash). */
function nodeClaims(inp: GlobalnetInputs): Claim[] {
  const out: Claim[] = [];
  const seen = new Set<string>();
  const all = [...(inp.nodeGlobalIPs ?? []), ...(inp.gatewayNode?.globalIP ? [{ node: inp.gatewayNode.name, ip: inp.gatewayNode.globalIP }] : [])];
  for (const { node, ip } of all) {
    if (seen.has(node) || !isIpv4(ip)) continue;
    seen.add(node);
    out.push({ owner: nodeOwnerKey(node), createdAt: '', ips: [ip] });
  }
  return out;
}

/** The gateway node's global IP: the one its annotation holds if the IPAM kept it, else a new one. */
function planNodeGlobalIP(inp: GlobalnetInputs, ipam: Ipam, notes: PlanNote[]): string | undefined {
  const gw = inp.gatewayNode;
  if (!gw?.cniIP) return undefined;
  const key = nodeOwnerKey(gw.name);
  const held = ipam.ipsOf(key);
  if (held.length === 1) return held[0];
  const got = ipam.allocate(key, 1);
  if (!got) {
    notes.push({ level: 'warn', owner: key, message: `no free global IP for the gateway node's health check in ${ipam.cidr.text}` });
    return undefined;
  }
  return got[0];
}

function isContiguous(ips: readonly string[]): boolean {
  const n = ips.map((ip) => ipToInt(ip)).sort((a, b) => a - b);
  return n[n.length - 1]! - n[0]! === n.length - 1;
}

function allocatedMessage(o: Owner): string {
  return o.contiguous ? `Allocated ${o.want} global IP(s)` : 'Allocated global IP';
}

function stripTarget(d: DesiredIngress): IngressObject {
  const { targetIP: _t, ...o } = d;
  return o;
}

/** Step 7: the internal Services (create/update/delete) that carry ClusterIP exports' global IPs. */
export function planInternalServices(
  inp: GlobalnetInputs,
  live: readonly { giip: GlobalIngressIP; desired: DesiredIngress }[],
  services: Map<string, Service>,
  ipsOf: (key: string) => string[],
): InternalServiceOp[] {
  const ops: InternalServiceOp[] = [];
  const want = new Map<string, InternalService>();
  for (const { giip, desired } of live) {
    if (desired.target !== 'ClusterIPService') continue;
    const ip = ipsOf(ownerKey('GlobalIngressIP', giip.meta))[0];
    const svc = services.get(nsName(giip.meta.namespace, desired.serviceRef));
    if (!ip || !svc) continue;
    const name = internalServiceName(svc.name);
    want.set(nsName(svc.namespace, name), {
      namespace: svc.namespace, name, exportedService: svc.name, externalIP: ip, ports: svc.ports, ...(svc.selector ? { selector: svc.selector } : {}),
    });
  }
  const existing = new Map(inp.services.filter((s) => s.labels[INTERNAL_SERVICE_LABEL] !== undefined).map((s) => [nsName(s.namespace, s.name), s]));
  for (const [k, w] of [...want].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const s = existing.get(k);
    const upToDate = s
      && s.labels[INTERNAL_SERVICE_LABEL] === w.exportedService
      && sameJson(s.externalIPs, [w.externalIP])
      && sameJson(normalizePorts(s.ports), normalizePorts(w.ports))
      && sameJson(sortedRecord(s.selector), sortedRecord(w.selector))
      && s.finalizers.includes(INTERNAL_SERVICE_FINALIZER);
    if (!upToDate) ops.push({ op: 'upsert', service: w });
  }
  for (const [k, s] of [...existing].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) if (!want.has(k)) ops.push({ op: 'delete', namespace: s.namespace, name: s.name });
  return ops;
}

function normalizePorts(ps: readonly ServicePort[]): ServicePort[] {
  return ps.map((p) => ({ name: p.name ?? '', protocol: p.protocol, port: p.port, targetPort: p.targetPort ?? p.port, appProtocol: p.appProtocol ?? '' }) as ServicePort);
}

function sortedRecord(r: Readonly<Record<string, string>> | undefined): [string, string][] {
  return Object.entries(r ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

