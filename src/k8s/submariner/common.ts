// What every submariner.io/v1 kind shares: the group/version, the cluster label, the parse result type, and a
// typed view of the metadata parsers name objects by.
import { isRecord, strMap, type JsonObject } from '../../util/json.js';

export const SUBMARINER_GROUP = 'submariner.io';
export const SUBMARINER_VERSION = 'v1';
export const SUBMARINER_API_VERSION = `${SUBMARINER_GROUP}/${SUBMARINER_VERSION}`;
/** Label on broker copies (and their local copies) naming the cluster that owns the object. */
export const CLUSTER_ID_LABEL = 'submariner-io/clusterID';

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export interface WireMeta {
  name: string;
  namespace: string;
  resourceVersion: string;
  uid: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** Metadata of a raw object, or undefined when it has no name (not an object at all). */
export function wireMeta(raw: unknown): WireMeta | undefined {
  if (!isRecord(raw) || !isRecord(raw.metadata) || typeof raw.metadata.name !== 'string' || !raw.metadata.name) return undefined;
  const m = raw.metadata;
  return {
    name: m.name as string,
    namespace: typeof m.namespace === 'string' ? m.namespace : '',
    resourceVersion: typeof m.resourceVersion === 'string' ? m.resourceVersion : '',
    uid: typeof m.uid === 'string' ? m.uid : '',
    labels: strMap(m.labels),
    annotations: strMap(m.annotations),
  };
}

/** `Kind ns/name` (or `Kind name`), how validation errors name an object. */
export function objectRef(kind: string, raw: unknown): string {
  const m = isRecord(raw) && isRecord(raw.metadata) ? raw.metadata : {};
  const name = typeof m.name === 'string' ? m.name : '?';
  return typeof m.namespace === 'string' && m.namespace ? `${kind} ${m.namespace}/${name}` : `${kind} ${name}`;
}

/** Go-duration strings of an RTT block (`latencyRTT` on Gateway connections and RouteAgent remote endpoints). */
export interface LatencyRTT {
  last: string;
  min: string;
  average: string;
  max: string;
  stdDev: string;
}

export function parseLatencyRTT(v: unknown): LatencyRTT | undefined {
  if (!isRecord(v)) return undefined;
  const s = (k: string): string => (typeof v[k] === 'string' ? (v[k] as string) : '');
  return { last: s('last'), min: s('min'), average: s('average'), max: s('max'), stdDev: s('stdDev') };
}

export function latencyRTTToWire(l: LatencyRTT): JsonObject {
  return { last: l.last, min: l.min, average: l.average, max: l.max, stdDev: l.stdDev };
}

/** A parse result's error prefixed with the object it came from. */
export function named<T>(ref: string, p: Parsed<T>): Parsed<T> {
  return p.ok ? p : { ok: false, error: `${ref}: ${p.error}` };
}
