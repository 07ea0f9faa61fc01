// The Gateway object (one per gateway node, name = hostname), written as Submariner writes it: no status
// subresource, `update-timestamp` annotation refreshed every 5 s, stale ones removed by the active gateway.
// What it says comes from here (the engine's connections and the health check's RTT); its wire shape, and
// the latencyRTT block, from k8s/submariner.
import type { EndpointSpec } from '../k8s/submariner/endpoint.js';
import { latencyRTTFromNs } from '../k8s/submariner/common.js';
import { gatewayToWire, type GatewayConnection } from '../k8s/submariner/gateway.js';
import type { KubeObject } from '../k8s/rest.js';
import type { ConnectionView } from '../cable-drivers/engine.js';
import type { RttStats } from '../health/index.js';

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

/** One connection as the Gateway shows it: the engine's view plus the health check's RTT. */
export function gatewayConnection(c: ConnectionView, h: ConnectionHealth | undefined): GatewayConnection {
  return {
    status: c.status,
    statusMessage: c.statusMessage,
    endpoint: c.endpoint,
    usingIP: c.usingIP,
    usingNAT: c.usingNAT,
    ...(h?.rtt ? { latencyRTT: latencyRTTFromNs(h.rtt) } : {}),
  };
}

export function buildGatewayObject(i: GatewayStatusInput): KubeObject {
  return gatewayToWire({
    name: i.hostname,
    namespace: i.namespace,
    nowSeconds: i.nowSeconds,
    status: {
      haStatus: i.haStatus,
      localEndpoint: i.localEndpoint,
      statusFailure: i.statusFailure,
      version: i.version,
      connections: i.connections.map((c) => gatewayConnection(c, i.health(c.cableName))),
    },
  });
}
