// What the gateway role is built from: its config, clients and the ports (ports.ts) it drives; tests pass
// fakes, cli/commands/gateway.ts the real ones (gateway/wiring.ts).
import type { Logger } from '../log/index.js';
import type { GatewayConfig } from '../config/roles.js';
import type { EndpointSpec } from '../k8s/submariner/endpoint.js';
import type { RestClient } from '../k8s/rest.js';
import type { CableDriver, DriverContext } from '../cable-drivers/types.js';
import type { ResolveIO } from './public-ip.js';
import type { CablesFactory, ElectorPort, HealthPort, MetricsPort, NatDiscoveryPort } from './ports.js';

export interface GatewayDeps {
  cfg: GatewayConfig;
  log: Logger;
  local: RestClient;
  broker: RestClient;
  createDriver: (ctx: DriverContext) => Promise<CableDriver>;
  /** The cables; default: the CableEngine over `createDriver`'s driver (wiring.ts `engineCables`). */
  cables?: CablesFactory;
  /** The election; default: a LeaderElector on the submariner-gateway-lock Lease. */
  elector?: (identity: string) => ElectorPort;
  /** Addresses on this node, for the health-check source (pod-CIDR address). */
  healthCheckIP?: () => Promise<{ ip?: string; unavailable?: string }>;
  natDiscovery?: (local: EndpointSpec) => Promise<NatDiscoveryPort>;
  health?: (local: EndpointSpec) => Promise<HealthPort>;
  metrics?: MetricsPort;
  version: string;
  /** I/O of the public-IP resolvers (tests); default: HTTP(S), DNS and the Services of SUBMARINER_NAMESPACE. */
  publicIpIO?: ResolveIO;
  /** Re-resolution period of the public IP; default PUBLIC_IP_RECHECK_MS (PUBLIC_IP_RETRY_MS while unresolved). */
  publicIpRecheckMs?: number;
  /** Lease hold on a restart in place (default RESTART_GRACE_MS). */
  restartGraceMs?: number;
  /** First retry delay of a failed driver start (default 1 s, doubling to 15 s). */
  driverRetryMs?: number;
  /** Gateway status: debounce and refresh period (defaults 20 ms and 5 s). */
  statusDebounceMs?: number;
  statusRefreshMs?: number;
}
