// The shared services the gateway role starts and stops on its transitions, built from its deps: the
// cables, the health check, the gateway Lease election and, while active, the broker sync.
import { hostname } from 'node:os';
import type { Logger } from '../log/index.js';
import { errorMessage } from '../util/errors.js';
import { BrokerSync } from '../k8s/brokersync.js';
import { LeaderElector } from '../election/lease.js';
import type { GatewayDeps } from './deps.js';
import type { EndpointSpec } from '../k8s/submariner/endpoint.js';
import type { CablesContext, CablesPort, ElectorPort, HealthPort } from './ports.js';
import { engineCables } from './wiring.js';
import type { Failures } from './status-writer.js';

export const GATEWAY_LEASE = 'submariner-gateway-lock';

/** The election on the submariner-gateway-lock Lease (or the deps' fake), under Submariner's identity. */
export function gatewayElector(d: GatewayDeps, log: Logger): ElectorPort {
  const identity = `${d.cfg.nodeName || hostname()}-submariner-gateway`;
  if (d.elector) return d.elector(identity);
  return new LeaderElector({ client: d.local, namespace: d.cfg.namespace, name: GATEWAY_LEASE, identity, timings: d.cfg.election, log });
}

/** Starts copying Endpoints and Clusters between the local namespace and the broker; a failure is a status problem. */
export function startBrokerSync(d: GatewayDeps, log: Logger, failures: Failures): BrokerSync {
  const bs = new BrokerSync({
    local: d.local,
    broker: d.broker,
    localNamespace: d.cfg.namespace,
    brokerNamespace: d.cfg.broker.remoteNamespace,
    clusterId: d.cfg.clusterId,
    log: log.child({ sub: 'broker-sync' }),
  });
  bs.start().then(() => failures.clear('broker-sync'), (err: unknown) => failures.set('broker-sync', `broker sync failed to start: ${errorMessage(err)}`));
  return bs;
}

/**
 * The health check of the cables, when enabled. With Globalnet it probes from the node's CNI address (`cniIP`),
 * not the global IP the Endpoint publishes. A failure to start is a status problem, not a stop.
 */
export async function startHealth(d: GatewayDeps, local: EndpointSpec, cniIP: string | undefined, failures: Failures): Promise<HealthPort | undefined> {
  if (!d.cfg.healthCheck.enabled || !d.health) return undefined;
  const healthLocal = d.cfg.globalCidrs.length > 0 ? { ...local, healthCheckIP: cniIP ?? '' } : local;
  return d.health(healthLocal).catch((err: unknown) => {
    failures.set('health', `health checking unavailable: ${errorMessage(err)}`);
    return undefined;
  });
}

/** The cables: the deps' (a fake in tests) or the CableEngine over `createDriver`'s driver. */
export function roleCables(d: GatewayDeps, ctx: CablesContext): CablesPort {
  return d.cables ? d.cables(ctx) : engineCables(d.createDriver, ctx);
}

/**
 * The election's events as the role's: our renewal → lease-acquired; stopped → lease-lost (renew-failed when it
 * could not renew); another holder → other-holder-seen. `settled`: the election has said who holds the lease;
 * `changed`: the Gateway should say so now.
 */
export function followElection(elector: ElectorPort, on: { event: (ev: 'lease-acquired' | 'lease-lost' | 'renew-failed' | 'other-holder-seen') => void; settled: () => void; changed: () => void }): void {
  elector.on('started', () => {
    on.settled();
    on.event('lease-acquired');
  });
  elector.on('stopped', (why: string) => on.event(/^could not renew/.test(why) ? 'renew-failed' : 'lease-lost'));
  elector.on('leader', (holder: string) => {
    // Our own identity holding is settled by 'started' (the renewal), not here: a restarted gateway would
    // otherwise write "passive" between reading its Lease and renewing it.
    if (holder === elector.identity) return;
    on.settled();
    if (holder) on.event('other-holder-seen');
    on.changed();
  });
}
