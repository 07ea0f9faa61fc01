// The Gateway object (one per gateway node, name = hostname), written as Submariner writes it: no status
// subresource, `update-timestamp` annotation refreshed every 5 s, stale ones removed by the active gateway.
import { endpointSpecToWire, SUBMARINER_GROUP, SUBMARINER_VERSION, type EndpointSpec } from '../k8s/resources.js';
import { UPDATE_TIMESTAMP_ANNOTATION } from '../k8s/submariner/gateway.js';
import type { KubeObject } from '../k8s/rest.js';
import type { ConnectionView } from '../cable-drivers/engine.js';
import { formatGoDuration as goDuration, type RttStats } from '../health/index.js';

export { STALE_GATEWAY_SECONDS, UPDATE_TIMESTAMP_ANNOTATION } from '../k8s/submariner/gateway.js';

export interface ConnectionHealth {
  rtt?: RttStats;
  lossPercent?: number;
  /** Why health checking is off for this connection, if it is. */
  unavailable?: string;
}

export interface GatewayStatusInput {
  hostname: string;
  namespace: string;
  haStatus: 'active' | 'passive';
  localEndpoint: EndpointSpec;
  connections: readonly ConnectionView[];
  health: (cableName: string) => ConnectionHealth | undefined;
  statusFailure: string;
  version: string;
  nowSeconds: number;
}

/** Wire forms of remote Endpoints by their parsed value (one per informer version): the Gateway is rewritten every 5 s. */
const wireEndpoints = new WeakMap<EndpointSpec, ReturnType<typeof endpointSpecToWire>>();

function endpointWire(e: EndpointSpec): ReturnType<typeof endpointSpecToWire> {
  let w = wireEndpoints.get(e);
  if (!w) {
    w = endpointSpecToWire(e);
    wireEndpoints.set(e, w);
  }
  return w;
}

export function buildGatewayObject(i: GatewayStatusInput): KubeObject {
  return {
    apiVersion: `${SUBMARINER_GROUP}/${SUBMARINER_VERSION}`,
    kind: 'Gateway',
    metadata: { name: i.hostname, namespace: i.namespace, annotations: { [UPDATE_TIMESTAMP_ANNOTATION]: String(Math.floor(i.nowSeconds)) } },
    status: {
      haStatus: i.haStatus,
      localEndpoint: endpointSpecToWire(i.localEndpoint),
      statusFailure: i.statusFailure,
      version: i.version,
      connections: i.connections.map((c) => {
        const h = i.health(c.cableName);
        const conn: Record<string, unknown> = {
          status: c.status,
          statusMessage: c.statusMessage,
          endpoint: endpointWire(c.endpoint),
          usingIP: c.usingIP,
          usingNAT: c.usingNAT,
        };
        if (h?.rtt) conn.latencyRTT = { last: goDuration(h.rtt.lastNs), min: goDuration(h.rtt.minNs), average: goDuration(h.rtt.avgNs), max: goDuration(h.rtt.maxNs), stdDev: goDuration(h.rtt.stddevNs) };
        if (c.rxBytes !== undefined) conn.ReceiveBytes = c.rxBytes;
        if (c.txBytes !== undefined) conn.TransmitBytes = c.txBytes;
        if (c.lastHandshakeMs !== undefined) conn.LastChecked = new Date(c.lastHandshakeMs).toISOString();
        return conn;
      }),
    },
  };
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
