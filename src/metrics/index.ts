// Prometheus metrics of the hawser roles (Submariner's names, plus hawser_* extras) and their endpoint.
export { createRegistry, type RegistryOptions } from './registry.js';
export {
  GatewayMetrics, GATEWAY_METRIC_NAMES, CONNECTION_STATUSES, reconcileErrorsCounter,
  type GatewayMetricsOptions, type LocalGateway, type ConnectionSample, type ConnectionStatus, type HaStatus,
} from './gateway.js';
export {
  RouteAgentMetrics, ROUTE_AGENT_METRIC_NAMES,
  type RemoteEndpointSample, type RemoteEndpointStatus, type InstalledKind,
} from './routeagent.js';
export { startMetricsServer, renderRegistries, type MetricsServer, type MetricsServerOptions } from './server.js';
export { parseExposition, findSamples, type Sample } from './exposition.js';
export { GaugeSeries, seriesKey } from './series.js';
export type { Registry } from 'prom-client';
export { trackLeader, LEADER_METRIC } from './leader.js';
export { HealthChecks, defaultHealth, trackInformer, DEFAULT_HEALTH_TIMINGS, type HealthReport, type HealthTimings, type InformerLike, type Probe } from './health.js';
