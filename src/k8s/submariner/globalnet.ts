// submariner.io/v1 Globalnet kinds: ClusterGlobalEgressIP, GlobalEgressIP, GlobalIngressIP, and the node
// annotation Globalnet writes. Field names are Submariner's (note `numGlobalIPs` on the cluster kind, but
// `numberOfIPs` on the namespaced one). This module reads the wire shape; the IPAM's meaning of each field
// (defaults, limits, selector matching) stays in src/nat.
import { asRecord, isRecord, num, str, strings, type JsonObject } from '../../util/json.js';
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
  /** Undefined when absent or not a string. */
  target?: string;
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

/** A JSON value where a string belongs: the string, or the JSON text of what was there instead. */
export type WireText = { text: string } | { notText: string };

/** One `matchExpressions` entry as written (undefined: the field is absent). */
export interface SelectorExpressionRead {
  key?: WireText;
  operator?: WireText;
  values: { kind: 'absent' } | { kind: 'invalid' } | { kind: 'list'; items: WireText[] };
}

/**
 * A label selector exactly as written, every value typed and nothing dropped, so that whoever gives it meaning
 * (Globalnet's IPAM) can name the first bad part in document order. Absent includes null.
 */
export interface LabelSelectorRead {
  matchLabels: { kind: 'absent' } | { kind: 'invalid' } | { kind: 'map'; entries: { key: string; value: WireText }[] };
  matchExpressions: { kind: 'absent' } | { kind: 'invalid' } | { kind: 'list'; items: (SelectorExpressionRead | { kind: 'not-an-object' })[] };
}

function wireText(v: unknown): WireText {
  return typeof v === 'string' ? { text: v } : { notText: String(JSON.stringify(v)) };
}

/** Reads a selector's shape; undefined when it is not an object at all. */
export function readLabelSelector(v: unknown): LabelSelectorRead | undefined {
  if (!isRecord(v)) return undefined;
  const ml = v.matchLabels;
  const me = v.matchExpressions;
  const expression = (e: unknown): SelectorExpressionRead | { kind: 'not-an-object' } => {
    if (!isRecord(e)) return { kind: 'not-an-object' };
    const vals = e.values;
    return {
      ...(e.key !== undefined ? { key: wireText(e.key) } : {}),
      ...(e.operator !== undefined ? { operator: wireText(e.operator) } : {}),
      values: vals === undefined || vals === null ? { kind: 'absent' } : Array.isArray(vals) ? { kind: 'list', items: vals.map(wireText) } : { kind: 'invalid' },
    };
  };
  return {
    matchLabels: ml === undefined || ml === null ? { kind: 'absent' } : isRecord(ml) ? { kind: 'map', entries: Object.entries(ml).map(([key, x]) => ({ key, value: wireText(x) })) } : { kind: 'invalid' },
    matchExpressions: me === undefined || me === null ? { kind: 'absent' } : Array.isArray(me) ? { kind: 'list', items: me.map(expression) } : { kind: 'invalid' },
  };
}

const textOf = (t: WireText | undefined): string | undefined => (t && 'text' in t ? t.text : undefined);

/** The shape of a label selector, not its meaning (operators are checked where selectors are matched). */
export function parseWireLabelSelector(v: unknown, where: string): Parsed<WireLabelSelector> {
  const read = readLabelSelector(v);
  if (!read) return { ok: false, error: `${where} is not an object` };
  const exprs: WireLabelSelector['matchExpressions'] = [];
  if (read.matchExpressions.kind === 'invalid') return { ok: false, error: `${where}.matchExpressions is not a list` };
  if (read.matchExpressions.kind === 'list') {
    for (const [i, e] of read.matchExpressions.items.entries()) {
      const key = 'values' in e ? textOf(e.key) : undefined;
      const operator = 'values' in e ? textOf(e.operator) : undefined;
      if (!key || !operator || !('values' in e)) return { ok: false, error: `${where}.matchExpressions[${i}] needs key and operator` };
      exprs.push({ key, operator, values: e.values.kind === 'list' ? e.values.items.flatMap((x) => ('text' in x ? [x.text] : [])) : [] });
    }
  }
  const matchLabels = Object.create(null) as Record<string, string>;
  if (read.matchLabels.kind === 'map') for (const { key, value } of read.matchLabels.entries) if ('text' in value) matchLabels[key] = value.text;
  return { ok: true, value: { matchLabels, matchExpressions: exprs } };
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

/** A GlobalEgressIP as written, its podSelector kept whatever its shape (Globalnet reports a bad one in a condition). */
export interface GlobalEgressIPRead extends Omit<GlobalEgressIPWire, 'podSelector'> {
  /** Absent (or null): the whole namespace; otherwise its shape, undefined when it is not an object. */
  podSelector: { kind: 'none' } | { kind: 'present'; read: LabelSelectorRead | undefined };
}

export function readGlobalEgressIP(raw: unknown): Parsed<GlobalEgressIPRead> {
  const o = named('GlobalEgressIP', raw);
  if (typeof o === 'string') return { ok: false, error: o };
  const sel = o.spec.podSelector;
  return {
    ok: true,
    value: {
      meta: o.meta,
      numberOfIPs: count(o.spec, 'numberOfIPs'),
      podSelector: sel === undefined || sel === null ? { kind: 'none' } : { kind: 'present', read: readLabelSelector(sel) },
      allocatedIPs: strings(o.status.allocatedIPs),
      conditions: parseConditions(o.status.conditions),
    },
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
      ...(str(o.spec, 'target') !== undefined ? { target: str(o.spec, 'target') } : {}),
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
