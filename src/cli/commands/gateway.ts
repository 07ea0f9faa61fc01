// `hawser gateway`: the gateway engine DaemonSet role, configured from Submariner's environment.
import { gatewayConfigFromEnv } from '../../config/roles.js';
import { initLogger, registerSecret } from '../../log/index.js';
import { brokerKubeConfig, localKubeConfig } from '../../k8s/client.js';
import { RestClient } from '../../k8s/rest.js';
import { GatewayRole } from '../../gateway/role.js';
import { createDriver, healthCheckSource, healthPort, metricsPort, natDiscoveryPort } from '../../gateway/wiring.js';
import { createRegistry, GatewayMetrics, startMetricsServer } from '../../metrics/index.js';
import { errorMessage } from '../../util/errors.js';
import { runUntilSignal } from '../lifecycle.js';
import { hawserVersion } from './version.js';

export async function run(_argv: string[]): Promise<number> {
  const cfg = gatewayConfigFromEnv(process.env);
  registerSecret(cfg.ipsec.psk);
  registerSecret(cfg.broker.token);
  const log = initLogger({ component: 'gateway', level: cfg.debug || cfg.ipsec.debug ? 'debug' : undefined });
  const version = hawserVersion();
  if (cfg.uninstall) {
    // SUBMARINER_UNINSTALL=true (Submariner operator's uninstall): clean up instead of running the agent.
    await GatewayRole.uninstall({ cfg, log, local: new RestClient(localKubeConfig()), createDriver: (ctx) => createDriver(cfg.cableDriver, ctx) });
    log.info({ node: cfg.nodeName, driver: cfg.cableDriver }, 'gateway uninstalled: cable driver state, Gateway object and local Endpoint removed');
    return 0;
  }
  log.info({ cluster: cfg.clusterId, node: cfg.nodeName, driver: cfg.cableDriver, version, psk: cfg.ipsec.pskSource, brokerToken: cfg.broker.tokenSource }, 'hawser gateway starting');
  const registry = createRegistry({ component: 'gateway', version });
  const gm = new GatewayMetrics(registry, { cluster: cfg.clusterId, hostname: cfg.nodeName, driver: cfg.cableDriver, subsystems: ['gateway', 'broker-sync'] });
  const metrics = await startMetricsServer({ port: cfg.metricsPort, registries: [registry] }).catch((err) => {
    log.error({ err: errorMessage(err), port: cfg.metricsPort }, 'metrics server failed to start; continuing without metrics');
    return undefined;
  });
  const role = new GatewayRole({
    cfg,
    log,
    local: new RestClient(localKubeConfig()),
    broker: new RestClient(brokerKubeConfig(cfg.broker)),
    createDriver: (ctx) => createDriver(cfg.cableDriver, ctx),
    healthCheckIP: () => healthCheckSource(cfg.clusterCidrs.map((c) => c.text)),
    natDiscovery: (local) => natDiscoveryPort(local, log.child({ localCluster: cfg.clusterId, node: cfg.nodeName })),
    health: async (local) => healthPort({ log: log.child({ localCluster: cfg.clusterId, node: cfg.nodeName }), intervalMs: cfg.healthCheck.intervalMs, maxLoss: cfg.healthCheck.maxPacketLossCount, sourceIP: local.healthCheckIP || undefined }),
    metrics: metricsPort(gm, { cluster: cfg.clusterId, hostname: cfg.nodeName, driver: cfg.cableDriver }),
    version,
  });
  // Register before start: a SIGTERM during a slow start still releases the lease.
  const running = runUntilSignal(log, 'shutting down: releasing the lease, leaving the data path for the next start', async () => {
    await role.stop();
    await metrics?.close();
  });
  await role.start();
  await running;
  return 0;
}
