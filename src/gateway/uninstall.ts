// SUBMARINER_UNINSTALL on the gateway: the cable driver's cleanup, this node's Gateway object and, if this
// node published it, the local Endpoint; the agent itself does not start.
import type { Logger } from '../log/index.js';
import type { GatewayConfig } from '../config/roles.js';
import { endpointObjectName, SUBMARINER_GROUP, SUBMARINER_VERSION } from '../k8s/resources.js';
import { parseNode } from '../k8s/node.js';
import { resourcePath, type RestClient } from '../k8s/rest.js';
import type { CableDriver, DriverContext } from '../cable-drivers/types.js';
import { buildLocalEndpoint } from './local-endpoint.js';

export interface UninstallOptions {
  cfg: GatewayConfig;
  log: Logger;
  local?: RestClient;
  createDriver: (ctx: DriverContext) => Promise<CableDriver>;
}

/**
 * SUBMARINER_UNINSTALL on the gateway: remove what the cable driver installed, this node's Gateway object
 * and, if this node published it, the local Endpoint; the agent does not start.
 */
export async function uninstallGateway(o: UninstallOptions): Promise<void> {
  const { cfg, log } = o;
  let privateIP = '0.0.0.0';
  if (o.local) {
    const node = await o.local.get(resourcePath('', 'v1', 'nodes', undefined, cfg.nodeName)).catch((err: unknown) => {
      log.warn({ err }, 'cannot read this node: the local Endpoint is left to the active gateway');
      return undefined;
    });
    const parsed = node ? parseNode(node) : undefined;
    privateIP = (parsed?.ok ? parsed.value.internalIP : undefined) ?? privateIP;
  }
  const local = buildLocalEndpoint(cfg, { name: cfg.nodeName, privateIP, labels: {} }, {});
  const driver = await o.createDriver({ config: cfg, localEndpoint: local, log });
  try {
    await driver.cleanup();
  } finally {
    await driver.close().catch((err: unknown) => log.warn({ err }, 'closing the cable driver failed'));
  }
  if (!o.local) return;
  const gw = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'gateways', cfg.namespace);
  await o.local.delete(`${gw}/${cfg.nodeName}`).catch((err: unknown) => log.debug({ err }, 'no Gateway object to delete'));
  if (privateIP !== '0.0.0.0') {
    const ep = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'endpoints', cfg.namespace);
    await o.local.delete(`${ep}/${endpointObjectName(cfg.clusterId, local.cableName)}`).catch((err: unknown) => log.debug({ err }, 'no local Endpoint to delete'));
  }
}
