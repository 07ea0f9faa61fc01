// submariner.io/v1 Cluster: the cluster's CIDRs as Submariner publishes them (snake_case fields, lists always
// present: `global_cidr` is required by the CRD and sent as [] rather than null).
import { isRecord, omitKeys, str, type JsonObject } from '../../util/json.js';
import { named, objectRef, wireMeta, type Parsed, type WireMeta } from './common.js';

export interface ClusterSpec {
  clusterId: string;
  colorCodes: string[];
  serviceCidrs: string[];
  clusterCidrs: string[];
  globalCidrs: string[];
}

export interface Cluster {
  meta: WireMeta;
  spec: ClusterSpec;
  unknownSpec: JsonObject;
}

export const CLUSTER_SPEC_FIELDS = ['cluster_id', 'color_codes', 'service_cidr', 'cluster_cidr', 'global_cidr'] as const;

function list(spec: JsonObject, k: string): Parsed<string[]> {
  const v = spec[k];
  if (v === undefined || v === null) return { ok: true, value: [] };
  if (!Array.isArray(v) || !v.every((x): x is string => typeof x === 'string')) return { ok: false, error: `spec.${k} is not a list of strings` };
  return { ok: true, value: [...v] };
}

export function parseClusterSpec(spec: unknown): Parsed<ClusterSpec> {
  if (!isRecord(spec)) return { ok: false, error: 'spec is missing or not an object' };
  const clusterId = str(spec, 'cluster_id');
  if (!clusterId) return { ok: false, error: 'spec.cluster_id is missing' };
  const out: Partial<Record<'color_codes' | 'service_cidr' | 'cluster_cidr' | 'global_cidr', string[]>> = {};
  for (const k of ['color_codes', 'service_cidr', 'cluster_cidr', 'global_cidr'] as const) {
    const p = list(spec, k);
    // A malformed optional list reads as empty, as before (hawser's own Cluster is rebuilt from config anyway).
    out[k] = p.ok ? p.value : [];
  }
  return {
    ok: true,
    value: { clusterId, colorCodes: out.color_codes ?? [], serviceCidrs: out.service_cidr ?? [], clusterCidrs: out.cluster_cidr ?? [], globalCidrs: out.global_cidr ?? [] },
  };
}

/** A whole Cluster object; errors name it (`Cluster ns/name: spec.cluster_id is missing`). */
export function parseCluster(raw: unknown): Parsed<Cluster> {
  const ref = objectRef('Cluster', raw);
  const meta = wireMeta(raw);
  if (!meta) return { ok: false, error: `${ref}: metadata.name is missing` };
  const spec = isRecord(raw) ? raw.spec : undefined;
  const p = named(ref, parseClusterSpec(spec));
  if (!p.ok) return p;
  return { ok: true, value: { meta, spec: p.value, unknownSpec: isRecord(spec) ? omitKeys(spec, CLUSTER_SPEC_FIELDS) : {} } };
}

export function clusterSpecToWire(c: ClusterSpec, unknown: JsonObject = {}): JsonObject {
  return {
    ...unknown,
    cluster_id: c.clusterId,
    color_codes: [...c.colorCodes],
    service_cidr: [...c.serviceCidrs],
    cluster_cidr: [...c.clusterCidrs],
    global_cidr: [...c.globalCidrs],
  };
}
