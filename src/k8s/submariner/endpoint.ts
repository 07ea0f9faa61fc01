// submariner.io/v1 Endpoint: validated once at the edge into a typed value, and back to the wire shape
// Submariner writes (snake_case field names, string-valued backend_config). Fields hawser does not know are
// kept beside the typed spec so a write-back does not drop them.
import { isIP } from 'node:net';
import { parseCidr } from '../../config/parse.js';
import { isRecord, omitKeys, str, strList, type JsonObject } from '../../util/json.js';
import { named, objectRef, wireMeta, type Parsed, type WireMeta } from './common.js';

export type Backend = 'libreswan' | 'wireguard' | 'vxlan';

export interface EndpointSpec {
  clusterId: string;
  cableName: string;
  hostname: string;
  /** Valid CIDRs only (canonical text); the invalid ones are kept apart so they can be reported. */
  subnets: string[];
  invalidSubnets: string[];
  privateIP: string;
  publicIP: string;
  healthCheckIP: string;
  /** Dual-stack lists; the single fields above are their first IPv4 entries. */
  privateIPs: string[];
  publicIPs: string[];
  healthCheckIPs: string[];
  natEnabled: boolean;
  /** As written; `libreswan` and hawser's `ipsec` both mean IPsec. */
  backend: string;
  backendConfig: Record<string, string>;
}

/** An Endpoint object: its metadata, typed spec, and the spec fields hawser does not read. */
export interface Endpoint {
  meta: WireMeta;
  spec: EndpointSpec;
  unknownSpec: JsonObject;
}

/** The spec fields hawser reads and writes (Submariner's Go json tags). */
export const ENDPOINT_SPEC_FIELDS = [
  'cluster_id', 'cable_name', 'hostname', 'subnets', 'private_ip', 'public_ip', 'healthCheckIP', 'nat_enabled', 'backend', 'backend_config',
  'privateIPs', 'publicIPs', 'healthCheckIPs',
] as const;

/** Normalizes a backend name: `libreswan`, `ipsec` and `strongswan` are IPsec. */
export function backendKind(backend: string): Backend | undefined {
  const b = backend.toLowerCase();
  if (b === 'libreswan' || b === 'ipsec' || b === 'strongswan') return 'libreswan';
  if (b === 'wireguard') return 'wireguard';
  if (b === 'vxlan') return 'vxlan';
  return undefined;
}

export function cableName(clusterId: string, privateIP: string): string {
  return `submariner-cable-${clusterId}-${privateIP.replace(/[.:]/g, '-')}`;
}

/**
 * admiral's `resource.EnsureValidName`: lower-case, every character other than [a-z0-9.-] becomes `-`, and
 * (admiral since the 2025 releases) leading and trailing `-` are trimmed.
 */
export function ensureValidName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9.-]/g, '-').replace(/^-+|-+$/g, '');
}

/** Object name of an Endpoint: `EnsureValidName(<clusterID>-<cable_name>)`, as Submariner names it. */
export function endpointObjectName(clusterId: string, cable: string): string {
  return ensureValidName(`${clusterId}-${cable}`);
}

function firstV4(list: string[]): string | undefined {
  return list.find((ip) => isIP(ip) === 4);
}

export function parseEndpointSpec(spec: unknown): Parsed<EndpointSpec> {
  if (!isRecord(spec)) return { ok: false, error: 'spec is missing or not an object' };
  const clusterId = str(spec, 'cluster_id');
  if (!clusterId) return { ok: false, error: 'spec.cluster_id is missing' };
  const cable = str(spec, 'cable_name');
  if (!cable) return { ok: false, error: 'spec.cable_name is missing' };
  const backend = str(spec, 'backend');
  if (!backend) return { ok: false, error: 'spec.backend is missing' };
  const subnetsRaw = strList(spec, 'subnets');
  if (!subnetsRaw) return { ok: false, error: 'spec.subnets is missing or not a list of strings' };
  const subnets: string[] = [];
  const invalidSubnets: string[] = [];
  for (const s of subnetsRaw) {
    const c = parseCidr(s);
    if (c) subnets.push(c.text);
    else invalidSubnets.push(s);
  }
  const listOrSingle = (listKey: string, singleKey: string): string[] => {
    const list = (strList(spec, listKey) ?? []).filter((ip) => isIP(ip) !== 0);
    const single = str(spec, singleKey);
    if (single && isIP(single) !== 0 && !list.includes(single)) list.unshift(single);
    return list;
  };
  const privateIPs = listOrSingle('privateIPs', 'private_ip');
  const publicIPs = listOrSingle('publicIPs', 'public_ip');
  const healthCheckIPs = listOrSingle('healthCheckIPs', 'healthCheckIP');
  const privateIP = firstV4(privateIPs) ?? privateIPs[0];
  if (!privateIP) return { ok: false, error: 'spec has no valid private IP (private_ip or privateIPs)' };
  const bcRaw = spec.backend_config;
  const backendConfig: Record<string, string> = Object.create(null) as Record<string, string>;
  if (bcRaw !== undefined && bcRaw !== null) {
    if (!isRecord(bcRaw)) return { ok: false, error: 'spec.backend_config is not a map of strings' };
    for (const [k, v] of Object.entries(bcRaw)) {
      if (typeof v === 'string') backendConfig[k] = v;
      else if (typeof v === 'number' || typeof v === 'boolean') backendConfig[k] = String(v);
      else return { ok: false, error: `spec.backend_config.${k} is not a string` };
    }
  }
  const nat = spec.nat_enabled;
  return {
    ok: true,
    value: {
      clusterId,
      cableName: cable,
      hostname: str(spec, 'hostname') ?? '',
      subnets,
      invalidSubnets,
      privateIP,
      publicIP: firstV4(publicIPs) ?? publicIPs[0] ?? '',
      healthCheckIP: firstV4(healthCheckIPs) ?? healthCheckIPs[0] ?? '',
      privateIPs,
      publicIPs,
      healthCheckIPs,
      natEnabled: nat === true || nat === 'true',
      backend,
      backendConfig,
    },
  };
}

/** A whole Endpoint object; errors name it (`Endpoint ns/name: spec.cluster_id is missing`). */
export function parseEndpoint(raw: unknown): Parsed<Endpoint> {
  const ref = objectRef('Endpoint', raw);
  const meta = wireMeta(raw);
  if (!meta) return { ok: false, error: `${ref}: metadata.name is missing` };
  const spec = isRecord(raw) ? raw.spec : undefined;
  const p = named(ref, parseEndpointSpec(spec));
  if (!p.ok) return p;
  return { ok: true, value: { meta, spec: p.value, unknownSpec: isRecord(spec) ? omitKeys(spec, ENDPOINT_SPEC_FIELDS) : {} } };
}

/**
 * The wire shape, as Submariner writes it (single and dual-stack fields both present). `unknown` (fields
 * hawser did not read, from `Endpoint.unknownSpec`) is written underneath, so a write-back keeps them.
 */
export function endpointSpecToWire(e: EndpointSpec, unknown: JsonObject = {}): JsonObject {
  const out: JsonObject = {
    ...unknown,
    cluster_id: e.clusterId,
    cable_name: e.cableName,
    hostname: e.hostname,
    subnets: [...e.subnets],
    private_ip: e.privateIP,
    public_ip: e.publicIP,
    nat_enabled: e.natEnabled,
    backend: e.backend,
  };
  if (e.healthCheckIP) out.healthCheckIP = e.healthCheckIP;
  if (Object.keys(e.backendConfig).length > 0) out.backend_config = { ...e.backendConfig };
  if (e.privateIPs.length) out.privateIPs = [...e.privateIPs];
  if (e.publicIPs.length) out.publicIPs = [...e.publicIPs];
  if (e.healthCheckIPs.length) out.healthCheckIPs = [...e.healthCheckIPs];
  return out;
}

/** backend_config value with a default; ports parsed as numbers. */
export function backendPort(e: EndpointSpec, key: string, def: number): number {
  const v = e.backendConfig[key];
  if (v === undefined) return def;
  const n = Number(v);
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : def;
}

/** The `cluster_id` an Endpoint or Cluster spec claims, without validating the rest (broker sync ownership). */
export function specClusterId(raw: unknown): string | undefined {
  return isRecord(raw) && isRecord(raw.spec) ? str(raw.spec, 'cluster_id') : undefined;
}
