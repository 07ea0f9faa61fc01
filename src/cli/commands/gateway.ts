// `hawser gateway`: the gateway engine DaemonSet role, configured from Submariner's environment.
// The engine's modules load only after the arguments are checked (`--help` stays quick and light).
import { UsageError } from '../usage.js';
import { hawserVersion } from './version.js';

export const USAGE = `usage: hawser gateway

Runs the gateway engine (on submariner.io/gateway=true nodes) until SIGTERM/SIGINT. Configured from the
environment, as Submariner's gateway pod: SUBMARINER_NAMESPACE, SUBMARINER_CLUSTERID, SUBMARINER_CLUSTERCIDR,
SUBMARINER_SERVICECIDR, SUBMARINER_CABLEDRIVER, SUBMARINER_NATENABLED, SUBMARINER_HEALTHCHECK*, NODE_NAME,
CE_IPSEC_PSK / CE_IPSEC_*, BROKER_K8S_APISERVER, BROKER_K8S_APISERVERTOKEN, BROKER_K8S_REMOTENAMESPACE,
BROKER_K8S_CA, BROKER_K8S_INSECURE; the local cluster from KUBECONFIG or the pod's ServiceAccount.`;

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (argv.length) throw new UsageError(`unexpected argument ${JSON.stringify(argv[0])}`);
  const [{ gatewayConfigFromEnv }, { initLogger, registerSecret }, { brokerAccess, localAccess }, { RestClient }, { GatewayRole }, wiring, { createRegistry, defaultHealth, GatewayMetrics, startMetricsServer }, { runUntilSignal }] = await Promise.all([
    import('../../config/roles.js'),
    import('../../log/index.js'),
    import('../../k8s/access.js'),
    import('../../k8s/rest.js'),
    import('../../gateway/role.js'),
    import('../../gateway/wiring.js'),
    import('../../metrics/index.js'),
    import('../lifecycle.js'),
  ]);
  const { createDriver, healthCheckSource, healthPort, metricsPort, natDiscoveryPort } = wiring;
  const cfg = gatewayConfigFromEnv(process.env);
  registerSecret(cfg.ipsec.psk);
  registerSecret(cfg.broker.token);
  const log = initLogger({ component: 'gateway', base: { cluster: cfg.clusterId, node: cfg.nodeName }, level: cfg.debug || cfg.ipsec.debug ? 'debug' : undefined });
  const version = hawserVersion();
  if (cfg.uninstall) {
    // SUBMARINER_UNINSTALL=true (Submariner operator's uninstall): clean up instead of running the agent.
    await GatewayRole.uninstall({ cfg, log, local: new RestClient(await localAccess()), createDriver: (ctx) => createDriver(cfg.cableDriver, ctx) });
    log.info({ node: cfg.nodeName, driver: cfg.cableDriver }, 'gateway uninstalled: cable driver state, Gateway object and local Endpoint removed');
    return 0;
  }
  log.info({ cluster: cfg.clusterId, node: cfg.nodeName, driver: cfg.cableDriver, version, psk: cfg.ipsec.pskSource, brokerToken: cfg.broker.tokenSource }, 'hawser gateway starting');
  const registry = createRegistry({ component: 'gateway', version });
  const gm = new GatewayMetrics(registry, { cluster: cfg.clusterId, hostname: cfg.nodeName, driver: cfg.cableDriver, subsystems: ['gateway', 'broker-sync'], health: defaultHealth() });
  const gatewayMetrics = metricsPort(gm, { cluster: cfg.clusterId, hostname: cfg.nodeName, driver: cfg.cableDriver });
  // The connection series are published when scraped (every reader of the registry starts with this call).
  const metricsOf = registry.getMetricsAsArray.bind(registry);
  registry.getMetricsAsArray = () => {
    gatewayMetrics.publish();
    return metricsOf();
  };
  const metrics = await startMetricsServer({ port: cfg.metricsPort, registries: [registry] }).catch((err: unknown) => {
    log.error({ err, port: cfg.metricsPort }, 'metrics server failed to start; continuing without metrics');
    return undefined;
  });
  const role = new GatewayRole({
    cfg,
    log,
    local: new RestClient(await localAccess()),
    broker: new RestClient(brokerAccess(cfg.broker)),
    createDriver: (ctx) => createDriver(cfg.cableDriver, ctx),
    healthCheckIP: () => healthCheckSource(cfg.clusterCidrs.map((c) => c.text)),
    natDiscovery: (local) => natDiscoveryPort(local, log.child({ localCluster: cfg.clusterId, node: cfg.nodeName })),
    health: async (local) => healthPort({ log: log.child({ localCluster: cfg.clusterId, node: cfg.nodeName }), intervalMs: cfg.healthCheck.intervalMs, maxLoss: cfg.healthCheck.maxPacketLossCount, sourceIP: local.healthCheckIP || undefined }),
    metrics: gatewayMetrics,
    version,
  });
  // Register before start: a SIGTERM during a slow start still releases the lease.
  const running = runUntilSignal(log, 'shutting down: handing over (node going away) or keeping the lease and data path for a restart in place', async () => {
    await role.stop();
    await metrics?.close();
  });
  await role.start();
  await running;
  return 0;
}
