// Globalnet's inputs, validated once at the edge into typed values: the three submariner.io/v1 Globalnet
// resources, and the core objects it reads (Pods, Services, Endpoints, ServiceExports). Invalid fields are
// kept as errors on the typed value so the planner can report them in a status condition. Names and shapes
// Submariner defines (conditions, ingress targets, the cluster egress name) are src/k8s/submariner/globalnet.ts's.
import { isIPv4 as isIpv4 } from 'node:net';
import { wireMeta, type WireMeta } from '../k8s/submariner/common.js';
import {
  CLUSTER_EGRESS_NAME, INGRESS_TARGETS, parseClusterGlobalEgressIPWire, parseConditions, parseGlobalIngressIPWire, readGlobalEgressIP,
  type IngressTarget, type WireCondition, type WireCount,
} from '../k8s/submariner/globalnet.js';
import { isRecord, str, strings as strList, strMap } from '../util/json.js';
import { labelSelectorFromRead, type LabelSelector } from './selector.js';

export { CLUSTER_EGRESS_NAME, parseConditions, type IngressTarget };

export const DEFAULT_CLUSTER_EGRESS_IPS = 8;
export const DEFAULT_EGRESS_IPS = 1;
export const MAX_EGRESS_IPS = 20;

// Names and annotations Submariner's globalnet uses between its controllers (kept for drop-in compatibility).
export const SERVICE_REF_LABEL = 'submariner.io/serviceRef';
export const HEADLESS_POD_IP_ANNOTATION = 'submariner.io/headless-svc-pod-ip';
export const HEADLESS_EP_IP_ANNOTATION = 'submariner.io/headless-svc-endpoints-ip';
export const INTERNAL_SERVICE_LABEL = 'submariner.io/exportedServiceRef';
export const INTERNAL_SERVICE_FINALIZER = 'submariner.io/globalnet-internal-service';

/** A status condition as Submariner writes it (the wire shape is src/k8s/submariner/globalnet.ts's). */
export type Condition = WireCondition;

export interface Meta {
  name: string;
  namespace: string;
  uid: string;
  creationTimestamp: string;
  generation?: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** A count field as written: absent, a valid integer, or invalid text for the condition. */
export type Count = { kind: 'default' } | { kind: 'value'; value: number } | { kind: 'invalid'; error: string };

export interface EgressStatus {
  allocatedIPs: string[];
  conditions: Condition[];
}

export interface ClusterGlobalEgressIP {
  meta: Meta;
  /** `spec.numGlobalIPs` (default 8, applied by globalnet). */
  numGlobalIPs: Count;
  status: EgressStatus;
}

export interface GlobalEgressIP {
  meta: Meta;
  /** `spec.numberOfIPs` (default 1). */
  numberOfIPs: Count;
  /** Absent = the whole namespace; present = matching pods only. */
  podSelector: { kind: 'none' } | { kind: 'selector'; value: LabelSelector } | { kind: 'invalid'; error: string };
  status: EgressStatus;
}


export interface GlobalIngressIP {
  meta: Meta;
  /** Undefined when the spec's target is missing or unknown (`targetError` says why). */
  target?: IngressTarget;
  targetError?: string;
  serviceRef?: string;
  podRef?: string;
  status: { allocatedIP: string; conditions: Condition[] };
}

export interface Pod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  podIP: string;
  phase: string;
  hostNetwork: boolean;
}

export interface ServicePort {
  name?: string;
  protocol: string;
  port: number;
  targetPort?: number | string;
  appProtocol?: string;
}

export interface Service {
  namespace: string;
  name: string;
  type: string;
  /** `None` for headless services. */
  clusterIP: string;
  /** Undefined or empty = no selector. */
  selector?: Record<string, string>;
  ports: ServicePort[];
  publishNotReadyAddresses: boolean;
  labels: Record<string, string>;
  externalIPs: string[];
  finalizers: string[];
}

export interface EndpointsObject {
  namespace: string;
  name: string;
  /** Ready addresses (IPv4). */
  ips: string[];
}

export interface ServiceExport {
  namespace: string;
  name: string;
}

/** Globalnet's view of the metadata every input needs (read by k8s/submariner's wireMeta). */
function metaOf(w: WireMeta): Meta {
  return {
    name: w.name,
    namespace: w.namespace,
    uid: w.uid,
    creationTimestamp: w.creationTimestamp,
    generation: w.generation,
    labels: w.labels,
    annotations: w.annotations,
  };
}

/** Metadata every input needs; undefined when the object has no name. */
export function parseMeta(raw: unknown): Meta | undefined {
  const w = wireMeta(raw);
  return w ? metaOf(w) : undefined;
}

/** A count field's meaning: Globalnet's default, limits and messages over the wire's integer-or-not. */
function countOf(c: WireCount, field: 'numGlobalIPs' | 'numberOfIPs'): Count {
  if (c.kind === 'absent') return { kind: 'default' };
  if (c.kind === 'invalid') return { kind: 'invalid', error: `spec.${field} must be an integer, got ${c.text}` };
  const v = c.value;
  if (v < 0) return { kind: 'invalid', error: `The ${field === 'numGlobalIPs' ? 'NumGlobalIPs' : 'NumberOfIPs'} cannot be negative` };
  if (v > MAX_EGRESS_IPS) return { kind: 'invalid', error: `spec.${field} is ${v}; at most ${MAX_EGRESS_IPS} global IPs can be requested` };
  return { kind: 'value', value: v };
}

export function parseClusterGlobalEgressIP(raw: unknown): ClusterGlobalEgressIP | undefined {
  const p = parseClusterGlobalEgressIPWire(raw);
  if (!p.ok) return undefined;
  const w = p.value;
  return { meta: metaOf(w.meta), numGlobalIPs: countOf(w.numGlobalIPs, 'numGlobalIPs'), status: { allocatedIPs: w.allocatedIPs, conditions: w.conditions } };
}

export function parseGlobalEgressIP(raw: unknown): GlobalEgressIP | undefined {
  const p = readGlobalEgressIP(raw);
  if (!p.ok) return undefined;
  const w = p.value;
  let podSelector: GlobalEgressIP['podSelector'] = { kind: 'none' };
  if (w.podSelector.kind === 'present') {
    const sel = labelSelectorFromRead(w.podSelector.read);
    podSelector = sel.ok ? { kind: 'selector', value: sel.value } : { kind: 'invalid', error: sel.error };
  }
  return { meta: metaOf(w.meta), numberOfIPs: countOf(w.numberOfIPs, 'numberOfIPs'), podSelector, status: { allocatedIPs: w.allocatedIPs, conditions: w.conditions } };
}

export function parseGlobalIngressIP(raw: unknown): GlobalIngressIP | undefined {
  const p = parseGlobalIngressIPWire(raw);
  if (!p.ok) return undefined;
  const { meta, target: t, serviceRef, podRef, allocatedIP, conditions } = p.value;
  let target: IngressTarget | undefined;
  let targetError: string | undefined;
  if (!t || !(INGRESS_TARGETS as readonly string[]).includes(t)) targetError = `spec.target ${JSON.stringify(t ?? null)} is not one of ${INGRESS_TARGETS.join(', ')}`;
  else if (!serviceRef) targetError = `spec.serviceRef.name is required for target ${t}`;
  else if (t === 'HeadlessServicePod' && !podRef) targetError = 'spec.podRef.name is required for target HeadlessServicePod';
  else target = t as IngressTarget;
  return {
    meta: metaOf(meta),
    ...(target ? { target } : {}),
    ...(targetError ? { targetError } : {}),
    ...(serviceRef ? { serviceRef } : {}),
    ...(podRef ? { podRef } : {}),
    status: { allocatedIP, conditions },
  };
}

export function parsePod(raw: unknown): Pod | undefined {
  const meta = parseMeta(raw);
  if (!meta || !isRecord(raw)) return undefined;
  const spec = isRecord(raw.spec) ? raw.spec : {};
  const st = isRecord(raw.status) ? raw.status : {};
  return {
    namespace: meta.namespace,
    name: meta.name,
    labels: meta.labels,
    podIP: str(st, 'podIP') ?? '',
    phase: str(st, 'phase') ?? '',
    hostNetwork: spec.hostNetwork === true,
  };
}

function parsePorts(v: unknown): ServicePort[] {
  if (!Array.isArray(v)) return [];
  const out: ServicePort[] = [];
  for (const p of v) {
    if (!isRecord(p) || typeof p.port !== 'number') continue;
    const tp = p.targetPort;
    out.push({
      ...(typeof p.name === 'string' && p.name ? { name: p.name } : {}),
      protocol: str(p, 'protocol') ?? 'TCP',
      port: p.port,
      ...(typeof tp === 'number' || (typeof tp === 'string' && tp) ? { targetPort: tp } : {}),
      ...(typeof p.appProtocol === 'string' ? { appProtocol: p.appProtocol } : {}),
    });
  }
  return out;
}

export function parseService(raw: unknown): Service | undefined {
  const meta = parseMeta(raw);
  if (!meta || !isRecord(raw)) return undefined;
  const spec = isRecord(raw.spec) ? raw.spec : {};
  const md = isRecord(raw.metadata) ? raw.metadata : {};
  const selector = isRecord(spec.selector) ? strMap(spec.selector) : undefined;
  return {
    namespace: meta.namespace,
    name: meta.name,
    type: str(spec, 'type') ?? 'ClusterIP',
    clusterIP: str(spec, 'clusterIP') ?? '',
    ...(selector && Object.keys(selector).length > 0 ? { selector } : {}),
    ports: parsePorts(spec.ports),
    publishNotReadyAddresses: spec.publishNotReadyAddresses === true,
    labels: meta.labels,
    externalIPs: strList(spec.externalIPs),
    finalizers: strList(md.finalizers),
  };
}

export function parseEndpoints(raw: unknown): EndpointsObject | undefined {
  const meta = parseMeta(raw);
  if (!meta || !isRecord(raw)) return undefined;
  const ips: string[] = [];
  if (Array.isArray(raw.subsets)) {
    for (const s of raw.subsets) {
      if (!isRecord(s) || !Array.isArray(s.addresses)) continue;
      for (const a of s.addresses) {
        const ip = isRecord(a) ? str(a, 'ip') : undefined;
        if (ip && isIpv4(ip) && !ips.includes(ip)) ips.push(ip);
      }
    }
  }
  return { namespace: meta.namespace, name: meta.name, ips };
}

export function parseServiceExport(raw: unknown): ServiceExport | undefined {
  const meta = parseMeta(raw);
  return meta ? { namespace: meta.namespace, name: meta.name } : undefined;
}

/** Owner keys used by the IPAM and in messages, e.g. `GlobalEgressIP ns/name`. */
export function ownerKey(kind: 'ClusterGlobalEgressIP' | 'GlobalEgressIP' | 'GlobalIngressIP', meta: Pick<Meta, 'namespace' | 'name'>): string {
  return meta.namespace ? `${kind} ${meta.namespace}/${meta.name}` : `${kind} ${meta.name}`;
}
