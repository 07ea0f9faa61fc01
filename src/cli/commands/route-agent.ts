// `hawser route-agent [--uninstall]`: the route agent DaemonSet role (every node).
import { parseArgs } from 'node:util';
import { routeAgentConfigFromEnv } from '../../config/roles.js';
import { initLogger } from '../../log/index.js';
import { localKubeConfig } from '../../k8s/client.js';
import { RestClient } from '../../k8s/rest.js';
import { RouteAgentRole } from '../../routeagent/role.js';
import { createRegistry, RouteAgentMetrics, startMetricsServer } from '../../metrics/index.js';
import { errorMessage } from '../../util/errors.js';
import { runUntilSignal } from '../lifecycle.js';
import { hawserVersion } from './version.js';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { uninstall: { type: 'boolean', default: false } } });
  const cfg = routeAgentConfigFromEnv(process.env, { uninstall: values.uninstall });
  const log = initLogger({ component: 'route-agent', level: cfg.debug ? 'debug' : undefined });
  const version = hawserVersion();
  for (const w of cfg.warnings) log.warn(w);
  // --uninstall or SUBMARINER_UNINSTALL=true (Submariner operator's uninstall).
  const uninstall = cfg.uninstall;
  let client: RestClient | undefined;
  try {
    client = new RestClient(localKubeConfig());
  } catch (err) {
    if (!uninstall) throw err;
    log.warn({ err: errorMessage(err) }, 'no API access; uninstalling the data path only');
  }
  if (uninstall) {
    await RouteAgentRole.uninstall({ cfg, log, client });
    log.info({ node: cfg.nodeName }, 'route agent uninstalled: vx-submariner, table 150 routes/rules and the hawser nft table removed');
    return 0;
  }
  log.info({ cluster: cfg.clusterId, node: cfg.nodeName, version }, 'hawser route agent starting');
  const registry = createRegistry({ component: 'route-agent', version });
  const metrics = new RouteAgentMetrics(registry, { subsystems: ['route-agent'] });
  const server = await startMetricsServer({ port: cfg.metricsPort, registries: [registry] }).catch((err) => {
    log.error({ err: errorMessage(err), port: cfg.metricsPort }, 'metrics server failed to start; continuing without metrics');
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
