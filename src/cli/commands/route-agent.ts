// `hawser route-agent [--uninstall]`: the route agent DaemonSet role (every node).
// The agent's modules load only after the arguments are checked (`--help` stays quick and light).
import { parseArgs } from 'node:util';
import { hawserVersion } from './version.js';

export const USAGE = `usage: hawser route-agent [--uninstall]

Runs the route agent (every node) until SIGTERM/SIGINT; --uninstall removes vx-submariner, the table 150
routes and rules and the hawser nft table, then exits. Configured from the environment, as Submariner's
route agent pod: SUBMARINER_NAMESPACE, SUBMARINER_CLUSTERID, SUBMARINER_CLUSTERCIDR, SUBMARINER_SERVICECIDR,
SUBMARINER_HEALTHCHECK*, NODE_NAME; the cluster from KUBECONFIG or the pod's ServiceAccount.`;

export async function run(argv: string[]): Promise<number> {
  // a bad flag throws; main turns it into one usage line and exit 2
  const { values } = parseArgs({ args: argv, options: { uninstall: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [{ routeAgentConfigFromEnv }, { initLogger }, { localAccess }, { RestClient }, { RouteAgentRole }, { createRegistry, defaultHealth, RouteAgentMetrics, startMetricsServer }, { runUntilSignal }] = await Promise.all([
    import('../../config/roles.js'),
    import('../../log/index.js'),
    import('../../k8s/access.js'),
    import('../../k8s/rest.js'),
    import('../../routeagent/role.js'),
    import('../../metrics/index.js'),
    import('../lifecycle.js'),
  ]);
  const cfg = routeAgentConfigFromEnv(process.env, { uninstall: values.uninstall ?? false });
  const log = initLogger({ component: 'route-agent', base: { cluster: cfg.clusterId, node: cfg.nodeName }, level: cfg.debug ? 'debug' : undefined });
  const version = hawserVersion();
  for (const w of cfg.warnings) log.warn(w);
  // --uninstall or SUBMARINER_UNINSTALL=true (Submariner operator's uninstall).
  const uninstall = cfg.uninstall;
  let client: InstanceType<typeof RestClient> | undefined;
  try {
    client = new RestClient(await localAccess());
  } catch (err) {
    if (!uninstall) throw err;
    log.warn({ err }, 'no API access; uninstalling the data path only');
  }
  if (uninstall) {
    await RouteAgentRole.uninstall({ cfg, log, client });
    log.info({ node: cfg.nodeName }, 'route agent uninstalled: vx-submariner, table 150 routes/rules and the hawser nft table removed');
    return 0;
  }
  log.info({ cluster: cfg.clusterId, node: cfg.nodeName, version }, 'hawser route agent starting');
  const registry = createRegistry({ component: 'route-agent', version });
  const metrics = new RouteAgentMetrics(registry, { subsystems: ['route-agent'], health: defaultHealth(), cluster: cfg.clusterId, hostname: cfg.nodeName });
  const server = await startMetricsServer({ port: cfg.metricsPort, registries: [registry] }).catch((err: unknown) => {
    log.error({ err, port: cfg.metricsPort }, 'metrics server failed to start; continuing without metrics');
    return undefined;
  });
  const role = new RouteAgentRole({ cfg, log, client: client!, metrics, version });
  const running = runUntilSignal(log, 'shutting down; routes stay in place for the next start', async () => {
    await role.stop();
    await server?.close();
  });
  await role.start();
  await running;
  return 0;
}
