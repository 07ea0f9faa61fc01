// Adapters from the engine's building blocks (drivers, NAT discovery, health check, metrics) to the ports
// the gateway role uses. Kept apart from role.ts so the role can be tested with fakes.
import type { CableDriverName } from '../config/roles.js';
import type { Logger } from '../log/index.js';
import type { EndpointSpec } from '../k8s/resources.js';
import type { CableDriver, DriverContext } from '../cable-drivers/types.js';
import { CableEngine, type ConnectionView } from '../cable-drivers/engine.js';
import { NatDiscovery } from '../cable-drivers/natdiscovery/index.js';
import { SharedHealthChecker, findHealthCheckIP } from '../health/index.js';
import type { GatewayMetrics } from '../metrics/index.js';
import type { ConnectionHealth } from './status.js';
import type { CablesContext, CablesPort, HealthPort, LocalBackendConfig, MetricsPort, NatDiscoveryPort } from './ports.js';

/** Drivers are loaded on demand: a gateway imports only the one it runs. */
export async function createDriver(name: CableDriverName, ctx: DriverContext): Promise<CableDriver> {
  switch (name) {
    case 'wireguard': {
      const m = await import('../cable-drivers/wireguard/index.js');
      return m.createWireGuardDriver(ctx);
    }
    case 'libreswan': {
      if (ctx.config.ipsecBackend === 'libreswan') return (await import('../cable-drivers/ipsec/libreswan/index.js')).createPlutoDriver(ctx);
      const m = await import('../cable-drivers/ipsec/index.js');
      return m.createIpsecDriver(ctx);
    }
    case 'vxlan': {
      const m = await import('../cable-drivers/vxlan/index.js');
      return m.createVxlanDriver(ctx);
    }
  }
}

export async function natDiscoveryPort(local: EndpointSpec, log: Logger): Promise<NatDiscoveryPort> {
  const nd = new NatDiscovery({ localEndpoint: local, log: log.child({ sub: 'nat-discovery' }) });
  await nd.start();
  return {
    setLocal: (ep) => nd.setLocalEndpoint(ep),
    setRemotes: (eps) => nd.setRemotes(eps),
    decision: (c) => nd.decision(c),
    onDecided: (cb) => {
      nd.on('decided', (cable, nat, source) => {
        // NAT discovery logs the decision at info itself: one line per state change for on-call.
        log.debug({ cable, usingIP: nat.useIP, usingNAT: nat.useNAT, source }, 'NAT decision');
        cb();
      });
    },
    stop: () => nd.stop(),
  };
}

export function healthPort(opts: { log: Logger; intervalMs: number; maxLoss: number; sourceIP?: string }): HealthPort {
  // one long-lived fping for every remote endpoint rather than a ping process per cable
  const hc = new SharedHealthChecker({ log: opts.log.child({ sub: 'health-check' }), intervalMs: opts.intervalMs, maxLoss: opts.maxLoss });
  return {
    setTargets: (ts) => hc.setTargets(ts.map((t) => ({ ...t, sourceIP: opts.sourceIP }))),
    health: (cable): ConnectionHealth | undefined => {
      const s = hc.stats(cable);
      if (!s) return undefined;
      return { rtt: s.rtt, lossPercent: s.lossPercent };
    },
    unhealthy: (cable) => hc.unhealthyReason(cable),
    onVerdict: (cb) => {
      hc.on('health', (cable) => cb(cable));
    },
    stop: async () => hc.stop(),
  };
}

export async function healthCheckSource(clusterCidrs: readonly string[]): Promise<{ ip?: string; unavailable?: string }> {
  const r = await findHealthCheckIP(clusterCidrs);
  return 'ip' in r ? { ip: r.ip } : { unavailable: r.unavailable };
}

/**
 * The gateway's metrics. The connection series are published when scraped (`publish`, called just before
 * the registry is read), from the connections of the last Gateway status write: nothing is computed per
 * cable while nobody looks. Transitions are exact anyway: a cable's established time comes from the engine.
 */
export function metricsPort(m: GatewayMetrics, local: { cluster: string; hostname: string; driver: string }): MetricsPort & { publish(): void } {
  let latest: { ep: EndpointSpec; conns: readonly ConnectionView[]; health: (cable: string) => ConnectionHealth | undefined } | undefined;
  let published = true;
  return {
    update: (ep, conns, health) => {
      latest = { ep, conns, health };
      published = false;
    },
    publish: () => {
      if (published || !latest) return;
      published = true;
      const { ep, conns, health } = latest;
      const now = Date.now();
      m.setConnections(
        { cluster: local.cluster, hostname: local.hostname, endpointIP: ep.publicIP || ep.privateIP, driver: local.driver },
        conns.map((c) => {
          const h = health(c.cableName);
          return {
            remoteCluster: c.clusterId,
            remoteHostname: c.endpoint.hostname,
            remoteEndpointIP: c.endpoint.publicIP || c.endpoint.privateIP,
            status: c.status,
            rxBytes: c.rxBytes,
            txBytes: c.txBytes,
            establishedAt: c.connectedSinceMs,
            rttSeconds: h?.rtt ? h.rtt.lastNs / 1e9 : undefined,
            lossRatio: h?.lossPercent !== undefined ? h.lossPercent / 100 : undefined,
            lastHandshakeAgeSeconds: c.lastHandshakeMs ? (now - c.lastHandshakeMs) / 1000 : undefined,
            healthCheckAvailable: h !== undefined,
          };
        }),
        now,
      );
    },
    cableConnected: (remoteCluster) => m.cableConnect(remoteCluster),
    syncIteration: () => m.syncIteration(),
    reconcileError: (s) => m.reconcileError(s),
    leaderTransition: (to) => m.leaderTransition(to),
  };
}

/**
 * The CablesPort is the declarative CableEngine's own API; this only creates the driver on the first
 * start (and drops it again when its init fails, so the role's retry gets a fresh one).
 */
export function engineCables(createDriverFor: (ctx: DriverContext) => Promise<CableDriver>, ctx: CablesContext): CablesPort {
  let driver: CableDriver | undefined;
  let engine: CableEngine | undefined;
  const log = ctx.log;
  return {
    async start(): Promise<LocalBackendConfig> {
      if (!driver || !engine) {
        driver = await createDriverFor({ config: ctx.config, localEndpoint: ctx.localEndpoint, log });
        engine = new CableEngine({
          driver,
          localEndpoint: ctx.localEndpoint,
          log,
          natFor: ctx.natFor,
          onState: ctx.onState,
          unhealthy: ctx.unhealthy,
        });
      }
      try {
        // init adopts the data path as it is; the first set() keeps every cable still wanted.
        return await engine.start();
      } catch (err) {
        const failed = driver;
        driver = undefined;
        engine = undefined;
        await failed.close().catch((closeErr: unknown) => log.debug({ err: closeErr }, 'closing the driver that failed to start failed'));
        throw err;
      }
    },
    setWanted: (sel) => engine?.setWanted(sel),
    reconcile: async () => (engine ? engine.reconcile() : ''),
    connections: async () => (engine ? engine.connections() : []),
    healthChanged: (cable) => engine?.healthChanged(cable),
    nextRetryAt: () => engine?.nextRetryAt(),
    shutdown: async () => engine?.shutdown(),
    async stop(): Promise<void> {
      const e = engine;
      driver = undefined;
      engine = undefined;
      await e?.stop();
    },
  };
}
