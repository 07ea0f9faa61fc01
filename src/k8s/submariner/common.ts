// What every submariner.io/v1 kind shares: the group/version, the cluster label, the parse result type, and a
// typed view of the metadata parsers name objects by.
import { formatGoDuration } from './duration.js';
import { isRecord, num, omitKeys, str, strMap, type JsonObject } from '../../util/json.js';

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
  /** RFC 3339 as the API server wrote it ('' when absent): sorts by age as text. */
  creationTimestamp: string;
  generation?: number;
  /** Set while the object is being deleted. */
  deletionTimestamp?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The metadata fields not above (ownerReferences, finalizers, managedFields, …): a write-back keeps them. */
  unknownMeta: JsonObject;
}

const META_FIELDS = ['name', 'namespace', 'resourceVersion', 'uid', 'creationTimestamp', 'generation', 'deletionTimestamp', 'labels', 'annotations'] as const;

/** Metadata of a raw object, or undefined when it has no name (not an object at all). */
export function wireMeta(raw: unknown): WireMeta | undefined {
  if (!isRecord(raw) || !isRecord(raw.metadata) || typeof raw.metadata.name !== 'string' || !raw.metadata.name) return undefined;
  const m = raw.metadata;
  const generation = num(m, 'generation');
  const deletionTimestamp = str(m, 'deletionTimestamp');
  return {
    name: m.name as string,
    namespace: str(m, 'namespace') ?? '',
    resourceVersion: str(m, 'resourceVersion') ?? '',
    uid: str(m, 'uid') ?? '',
    creationTimestamp: str(m, 'creationTimestamp') ?? '',
    ...(generation !== undefined ? { generation } : {}),
    ...(deletionTimestamp !== undefined ? { deletionTimestamp } : {}),
    labels: strMap(m.labels),
    annotations: strMap(m.annotations),
    unknownMeta: omitKeys(m, META_FIELDS),
  };
}

/**
 * The metadata to send back on an update: everything read (unknown fields included), with the optional
 * fields only when they were there, so a replace changes nothing the writer did not mean to change.
 */
export function metaToWire(m: WireMeta): JsonObject {
  const out: JsonObject = { ...m.unknownMeta, name: m.name };
  if (m.namespace) out.namespace = m.namespace;
  if (m.resourceVersion) out.resourceVersion = m.resourceVersion;
  if (m.uid) out.uid = m.uid;
  if (m.creationTimestamp) out.creationTimestamp = m.creationTimestamp;
  if (m.generation !== undefined) out.generation = m.generation;
  if (m.deletionTimestamp !== undefined) out.deletionTimestamp = m.deletionTimestamp;
  if (Object.keys(m.labels).length) out.labels = { ...m.labels };
  if (Object.keys(m.annotations).length) out.annotations = { ...m.annotations };
  return out;
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

/** RTT statistics in nanoseconds, as the health checker keeps them (src/health `RttStats`). */
export interface RttNs {
  lastNs: number;
  minNs: number;
  avgNs: number;
  maxNs: number;
  stddevNs: number;
}

/** The one place a `latencyRTT` block is made: Go duration strings from RTT statistics in nanoseconds. */
export function latencyRTTFromNs(rtt: RttNs): LatencyRTT {
  return { last: formatGoDuration(rtt.lastNs), min: formatGoDuration(rtt.minNs), average: formatGoDuration(rtt.avgNs), max: formatGoDuration(rtt.maxNs), stdDev: formatGoDuration(rtt.stddevNs) };
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
