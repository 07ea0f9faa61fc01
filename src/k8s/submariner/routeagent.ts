// submariner.io/v1 RouteAgent: one per node (name = node name), status only: the health of the path to each
// remote cluster's Endpoint as this node sees it.
import type { KubeObject } from '../rest.js';
import { asRecord, isRecord, omitKeys, str, type JsonObject } from '../../util/json.js';
import { SUBMARINER_API_VERSION, latencyRTTToWire, objectRef, parseLatencyRTT, wireMeta, type LatencyRTT, type Parsed, type WireMeta } from './common.js';
import { endpointSpecToWire, parseEndpointSpec, type EndpointSpec } from './endpoint.js';

/** Submariner's per-remote statuses (routeagent_driver/handlers/healthchecker). */
export type RemoteEndpointStatus = 'connected' | 'connecting' | 'error' | 'none';

export interface RemoteEndpoint {
  /** Undefined when the entry's spec does not parse (`specError` says why). */
  spec?: EndpointSpec;
  specError?: string;
  status: RemoteEndpointStatus | '';
  statusMessage: string;
  latencyRTT?: LatencyRTT;
}

export interface RouteAgentStatus {
  remoteEndpoints: RemoteEndpoint[];
  statusFailure: string;
  version: string;
}

export interface RouteAgent {
  meta: WireMeta;
  status: RouteAgentStatus;
  unknownStatus: JsonObject;
}

const STATUSES: readonly string[] = ['connected', 'connecting', 'error', 'none'];
const STATUS_FIELDS = ['remoteEndpoints', 'statusFailure', 'version'] as const;

export function parseRemoteEndpoint(v: unknown): RemoteEndpoint {
  const r = asRecord(v);
  const spec = parseEndpointSpec(r.spec);
  const status = str(r, 'status') ?? '';
  const latency = parseLatencyRTT(r.latencyRTT);
  return {
    ...(spec.ok ? { spec: spec.value } : { specError: spec.error }),
    status: STATUSES.includes(status) ? (status as RemoteEndpointStatus) : '',
    statusMessage: str(r, 'statusMessage') ?? '',
    ...(latency ? { latencyRTT: latency } : {}),
  };
}

export function parseRouteAgentStatus(v: unknown): RouteAgentStatus {
  const st = asRecord(v);
  return {
    remoteEndpoints: Array.isArray(st.remoteEndpoints) ? st.remoteEndpoints.map(parseRemoteEndpoint) : [],
    statusFailure: str(st, 'statusFailure') ?? '',
    version: str(st, 'version') ?? '',
  };
}

export function parseRouteAgent(raw: unknown): Parsed<RouteAgent> {
  const meta = wireMeta(raw);
  if (!meta) return { ok: false, error: `${objectRef('RouteAgent', raw)}: metadata.name is missing` };
  const status = isRecord(raw) ? raw.status : undefined;
  return { ok: true, value: { meta, status: parseRouteAgentStatus(status), unknownStatus: isRecord(status) ? omitKeys(status, STATUS_FIELDS) : {} } };
}

export function remoteEndpointToWire(r: RemoteEndpoint & { spec: EndpointSpec }): JsonObject {
  const out: JsonObject = { spec: endpointSpecToWire(r.spec), status: r.status, statusMessage: r.statusMessage };
  if (r.latencyRTT) out.latencyRTT = latencyRTTToWire(r.latencyRTT);
  return out;
}

export function routeAgentStatusToWire(s: RouteAgentStatus, unknown: JsonObject = {}): JsonObject {
  return {
    ...unknown,
    remoteEndpoints: s.remoteEndpoints.filter((r): r is RemoteEndpoint & { spec: EndpointSpec } => r.spec !== undefined).map(remoteEndpointToWire),
    statusFailure: s.statusFailure,
    version: s.version,
  };
}

export function routeAgentToWire(r: { name: string; namespace: string; status: RouteAgentStatus; annotations?: Record<string, string>; ownerReferences?: unknown[] }): KubeObject {
  return {
    apiVersion: SUBMARINER_API_VERSION,
    kind: 'RouteAgent',
    metadata: { name: r.name, namespace: r.namespace, ...(r.annotations ? { annotations: { ...r.annotations } } : {}), ...(r.ownerReferences ? { ownerReferences: r.ownerReferences } : {}) },
    status: routeAgentStatusToWire(r.status),
  };
}
