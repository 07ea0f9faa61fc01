// submariner.io/v1 Globalnet kinds: ClusterGlobalEgressIP, GlobalEgressIP, GlobalIngressIP, and the node
// annotation Globalnet writes. Field names are Submariner's (note `numGlobalIPs` on the cluster kind, but
// `numberOfIPs` on the namespaced one). This module reads the wire shape; the IPAM's meaning of each field
// (defaults, limits, selector matching) stays in src/nat.
import { asRecord, isRecord, num, str, strings, strMap, type JsonObject } from '../../util/json.js';
import { objectRef, wireMeta, type Parsed, type WireMeta } from './common.js';

export const CLUSTER_EGRESS_NAME = 'cluster-egress.submariner.io';
/** Node annotation carrying the node's Globalnet global IP (its health-check IP when Globalnet is on). */
export const NODE_GLOBAL_IP_ANNOTATION = 'submariner.io/globalIp';

export interface WireCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** A count field as written: absent, an integer, or something else (kept as text for the condition). */
export type WireCount = { kind: 'absent' } | { kind: 'integer'; value: number } | { kind: 'invalid'; text: string };

export interface WireLabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: { key: string; operator: string; values: string[] }[];
}

export interface ClusterGlobalEgressIPWire {
  meta: WireMeta;
  numGlobalIPs: WireCount;
  allocatedIPs: string[];
  conditions: WireCondition[];
}

export interface GlobalEgressIPWire {
  meta: WireMeta;
  numberOfIPs: WireCount;
  /** Undefined = the whole namespace. */
  podSelector?: WireLabelSelector;
  allocatedIPs: string[];
  conditions: WireCondition[];
}

export type IngressTarget = 'ClusterIPService' | 'HeadlessServicePod' | 'HeadlessServiceEndpoints';
export const INGRESS_TARGETS: readonly IngressTarget[] = ['ClusterIPService', 'HeadlessServicePod', 'HeadlessServiceEndpoints'];

export interface GlobalIngressIPWire {
  meta: WireMeta;
  target: string;
  serviceRef?: string;
  podRef?: string;
  allocatedIP: string;
  conditions: WireCondition[];
}

export function parseConditions(v: unknown): WireCondition[] {
  if (!Array.isArray(v)) return [];
  const out: WireCondition[] = [];
  for (const c of v) {
    if (!isRecord(c) || typeof c.type !== 'string') continue;
    const observedGeneration = num(c, 'observedGeneration');
    out.push({
      type: c.type,
      status: c.status === 'True' || c.status === 'False' ? c.status : 'Unknown',
      reason: str(c, 'reason') ?? '',
      message: str(c, 'message') ?? '',
      lastTransitionTime: str(c, 'lastTransitionTime') ?? '',
      ...(observedGeneration !== undefined ? { observedGeneration } : {}),
    });
  }
  return out;
}

function count(spec: JsonObject, k: string): WireCount {
  const v = spec[k];
  if (v === undefined || v === null) return { kind: 'absent' };
  if (typeof v === 'number' && Number.isInteger(v)) return { kind: 'integer', value: v };
  return { kind: 'invalid', text: JSON.stringify(v) };
}

/** The shape of a label selector, not its meaning (operators are checked where selectors are matched). */
export function parseWireLabelSelector(v: unknown, where: string): Parsed<WireLabelSelector> {
  if (!isRecord(v)) return { ok: false, error: `${where} is not an object` };
  const exprs: WireLabelSelector['matchExpressions'] = [];
  if (v.matchExpressions !== undefined && v.matchExpressions !== null) {
    if (!Array.isArray(v.matchExpressions)) return { ok: false, error: `${where}.matchExpressions is not a list` };
    for (const [i, e] of v.matchExpressions.entries()) {
      const key = isRecord(e) ? str(e, 'key') : undefined;
      const operator = isRecord(e) ? str(e, 'operator') : undefined;
      if (!key || !operator) return { ok: false, error: `${where}.matchExpressions[${i}] needs key and operator` };
      exprs.push({ key, operator, values: strings(asRecord(e).values) });
    }
  }
  return { ok: true, value: { matchLabels: strMap(v.matchLabels), matchExpressions: exprs } };
}

function named(kind: string, raw: unknown): { meta: WireMeta; spec: JsonObject; status: JsonObject } | string {
  const meta = wireMeta(raw);
  if (!meta) return `${objectRef(kind, raw)}: metadata.name is missing`;
  return { meta, spec: asRecord(asRecord(raw).spec), status: asRecord(asRecord(raw).status) };
}

export function parseClusterGlobalEgressIPWire(raw: unknown): Parsed<ClusterGlobalEgressIPWire> {
  const o = named('ClusterGlobalEgressIP', raw);
  if (typeof o === 'string') return { ok: false, error: o };
  return { ok: true, value: { meta: o.meta, numGlobalIPs: count(o.spec, 'numGlobalIPs'), allocatedIPs: strings(o.status.allocatedIPs), conditions: parseConditions(o.status.conditions) } };
}

export function parseGlobalEgressIPWire(raw: unknown): Parsed<GlobalEgressIPWire> {
  const o = named('GlobalEgressIP', raw);
  if (typeof o === 'string') return { ok: false, error: o };
  let podSelector: WireLabelSelector | undefined;
  if (o.spec.podSelector !== undefined && o.spec.podSelector !== null) {
    const p = parseWireLabelSelector(o.spec.podSelector, 'spec.podSelector');
    if (!p.ok) return { ok: false, error: `${objectRef('GlobalEgressIP', raw)}: ${p.error}` };
    podSelector = p.value;
  }
  return {
    ok: true,
    value: { meta: o.meta, numberOfIPs: count(o.spec, 'numberOfIPs'), ...(podSelector ? { podSelector } : {}), allocatedIPs: strings(o.status.allocatedIPs), conditions: parseConditions(o.status.conditions) },
  };
}

export function parseGlobalIngressIPWire(raw: unknown): Parsed<GlobalIngressIPWire> {
  const o = named('GlobalIngressIP', raw);
  if (typeof o === 'string') return { ok: false, error: o };
  const serviceRef = str(asRecord(o.spec.serviceRef), 'name');
  const podRef = str(asRecord(o.spec.podRef), 'name');
  return {
    ok: true,
    value: {
      meta: o.meta,
      target: str(o.spec, 'target') ?? '',
      ...(serviceRef ? { serviceRef } : {}),
      ...(podRef ? { podRef } : {}),
      allocatedIP: str(o.status, 'allocatedIP') ?? '',
      conditions: parseConditions(o.status.conditions),
    },
  };
}

/** The status block of the two egress kinds. */
export function egressStatusToWire(s: { allocatedIPs: readonly string[]; conditions: readonly WireCondition[] }): JsonObject {
  return { ...(s.allocatedIPs.length ? { allocatedIPs: [...s.allocatedIPs] } : {}), conditions: s.conditions.map((c) => ({ ...c })) };
}

export function ingressStatusToWire(s: { allocatedIP: string; conditions: readonly WireCondition[] }): JsonObject {
  return { ...(s.allocatedIP ? { allocatedIP: s.allocatedIP } : {}), conditions: s.conditions.map((c) => ({ ...c })) };
}
