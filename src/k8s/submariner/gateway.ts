// submariner.io/v1 Gateway: one per gateway node (name = hostname), status only (no spec, no status
// subresource), written with plain create/update and an `update-timestamp` annotation in Unix seconds.
import type { KubeObject } from '../rest.js';
import { asRecord, isRecord, num, omitKeys, str, type JsonObject } from '../../util/json.js';
import { SUBMARINER_API_VERSION, latencyRTTToWire, metaToWire, objectRef, parseLatencyRTT, wireMeta, type LatencyRTT, type Parsed, type WireMeta } from './common.js';
import { endpointSpecToWire, parseEndpointSpec, type EndpointSpec } from './endpoint.js';

export const UPDATE_TIMESTAMP_ANNOTATION = 'update-timestamp';
/** The active gateway deletes Gateways whose update-timestamp is older than this (or missing). */
export const STALE_GATEWAY_SECONDS = 15;

export type HAStatus = 'active' | 'passive';
export type ConnectionStatus = 'connecting' | 'connected' | 'error';

export interface GatewayConnection {
  status: string;
  statusMessage: string;
  /** Undefined when the connection's endpoint does not parse (`endpointError` says why). */
  endpoint?: EndpointSpec;
  endpointError?: string;
  usingIP: string;
  usingNAT: boolean;
  latencyRTT?: LatencyRTT;
  /** WireGuard extras (Submariner's capitalised field names). */
  receiveBytes?: number;
  transmitBytes?: number;
  lastChecked?: string;
}

export interface GatewayStatus {
  /** Empty when absent or not one of active/passive. */
  haStatus: HAStatus | '';
  /** The haStatus text when it is something else (shown as written by `hawser show`). */
  haStatusOther?: string;
  localEndpoint?: EndpointSpec;
  statusFailure: string;
  version: string;
  connections: GatewayConnection[];
}

export interface Gateway {
  meta: WireMeta;
  /** `update-timestamp` in Unix seconds; undefined when missing or unparsable. */
  updatedAtSeconds?: number;
  status: GatewayStatus;
  unknownStatus: JsonObject;
}

const STATUS_FIELDS = ['haStatus', 'localEndpoint', 'statusFailure', 'version', 'connections'] as const;

export function parseGatewayConnection(v: unknown): GatewayConnection {
  const c = asRecord(v);
  const ep = parseEndpointSpec(c.endpoint);
  const latency = parseLatencyRTT(c.latencyRTT);
  const rx = num(c, 'ReceiveBytes');
  const tx = num(c, 'TransmitBytes');
  const checked = str(c, 'LastChecked');
  return {
    status: str(c, 'status') ?? '',
    statusMessage: str(c, 'statusMessage') ?? '',
    ...(ep.ok ? { endpoint: ep.value } : { endpointError: `endpoint: ${ep.error}` }),
    usingIP: str(c, 'usingIP') ?? '',
    usingNAT: c.usingNAT === true,
    ...(latency ? { latencyRTT: latency } : {}),
    ...(rx !== undefined ? { receiveBytes: rx } : {}),
    ...(tx !== undefined ? { transmitBytes: tx } : {}),
    ...(checked !== undefined ? { lastChecked: checked } : {}),
  };
}

export function parseGatewayStatus(v: unknown): GatewayStatus {
  const st = asRecord(v);
  const ha = str(st, 'haStatus');
  const le = parseEndpointSpec(st.localEndpoint);
  return {
    haStatus: ha === 'active' || ha === 'passive' ? ha : '',
    ...(ha && ha !== 'active' && ha !== 'passive' ? { haStatusOther: ha } : {}),
    ...(le.ok ? { localEndpoint: le.value } : {}),
    statusFailure: str(st, 'statusFailure') ?? '',
    version: str(st, 'version') ?? '',
    connections: Array.isArray(st.connections) ? st.connections.map(parseGatewayConnection) : [],
  };
}

/**
 * A Gateway object. Only a missing name fails: a Gateway is read for what it says (haStatus, connections),
 * and a half-written status still says something.
 */
export function parseGateway(raw: unknown): Parsed<Gateway> {
  const meta = wireMeta(raw);
  if (!meta) return { ok: false, error: `${objectRef('Gateway', raw)}: metadata.name is missing` };
  const status = isRecord(raw) ? raw.status : undefined;
  const ts = Number(meta.annotations[UPDATE_TIMESTAMP_ANNOTATION]);
  return {
    ok: true,
    value: {
      meta,
      ...(meta.annotations[UPDATE_TIMESTAMP_ANNOTATION] !== undefined && Number.isFinite(ts) ? { updatedAtSeconds: ts } : {}),
      status: parseGatewayStatus(status),
      unknownStatus: isRecord(status) ? omitKeys(status, STATUS_FIELDS) : {},
    },
  };
}

/**
 * Wire forms of remote Endpoints by their parsed value (one per informer version): the active gateway
 * rewrites every connection's Endpoint every 5 s, so each is serialised once. Shared: never mutate the result.
 */
const wireEndpoints = new WeakMap<EndpointSpec, JsonObject>();

function endpointWire(e: EndpointSpec): JsonObject {
  let w = wireEndpoints.get(e);
  if (!w) {
    w = endpointSpecToWire(e);
    wireEndpoints.set(e, w);
  }
  return w;
}

export function gatewayConnectionToWire(c: GatewayConnection): JsonObject {
  const out: JsonObject = { status: c.status, statusMessage: c.statusMessage };
  if (c.endpoint) out.endpoint = endpointWire(c.endpoint);
  out.usingIP = c.usingIP;
  out.usingNAT = c.usingNAT;
  if (c.latencyRTT) out.latencyRTT = latencyRTTToWire(c.latencyRTT);
  // receiveBytes/transmitBytes/lastChecked are read but not written: as top-level connection fields they are
  // not in the Gateway CRD, so the API server prunes them and answers one warning per connection (at 200
  // connections ~25 KB of Warning headers). The bytes are in submariner_gateway_rx/tx_bytes.
  return out;
}

export function gatewayStatusToWire(s: GatewayStatus, unknown: JsonObject = {}): JsonObject {
  return {
    ...unknown,
    haStatus: s.haStatus,
    ...(s.localEndpoint ? { localEndpoint: endpointSpecToWire(s.localEndpoint) } : {}),
    statusFailure: s.statusFailure,
    version: s.version,
    connections: s.connections.map(gatewayConnectionToWire),
  };
}

/** The whole Gateway object as hawser writes it. */
export function gatewayToWire(g: { name: string; namespace: string; nowSeconds: number; status: GatewayStatus; unknownStatus?: JsonObject }): KubeObject {
  return {
    apiVersion: SUBMARINER_API_VERSION,
    kind: 'Gateway',
    metadata: { name: g.name, namespace: g.namespace, annotations: { [UPDATE_TIMESTAMP_ANNOTATION]: String(Math.floor(g.nowSeconds)) } },
    status: gatewayStatusToWire(g.status, g.unknownStatus),
  };
}

/**
 * A Gateway read earlier, written back with a new status (an update): its metadata exactly as read
 * (resourceVersion, so a concurrent write is a 409; its own update-timestamp and unknown fields kept), and
 * the status fields hawser does not know kept underneath.
 */
export function gatewayUpdateToWire(g: Pick<Gateway, 'meta' | 'status' | 'unknownStatus'>): KubeObject {
  return {
    apiVersion: SUBMARINER_API_VERSION,
    kind: 'Gateway',
    metadata: { ...metaToWire(g.meta), name: g.meta.name },
    status: gatewayStatusToWire(g.status, g.unknownStatus),
  };
}

/** Whether the active gateway should delete this Gateway: its timestamp is older than 15 s, missing or unparsable. */
export function isStaleGateway(g: Pick<Gateway, 'updatedAtSeconds'>, nowSeconds: number): boolean {
  return g.updatedAtSeconds === undefined || nowSeconds - g.updatedAtSeconds > STALE_GATEWAY_SECONDS;
}

/** `All connections (N) are established`-style summary, as `subctl show gateways` prints. */
export function gatewaySummary(haStatus: string, conns: ReadonlyArray<{ status: string }>, statusFailure: string): string {
  if (statusFailure) return statusFailure;
  if (haStatus !== 'active') return 'There are no connections';
  if (conns.length === 0) return 'There are no connections';
  const ok = conns.filter((c) => c.status === 'connected').length;
  if (ok === conns.length) return `All connections (${ok}) are established`;
  return `${conns.length - ok} connections out of ${conns.length} are not established`;
}
