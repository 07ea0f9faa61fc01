// The `globalnet` role: leader election gated on this node being the active gateway (src/election), the
// controller, the nftables applier and the metrics endpoint, assembled from config.
import type { KubeConfig } from '@kubernetes/client-node';
import { localAccess, type ClusterAccess } from '../k8s/access.js';
import type { GlobalnetConfig } from '../config/roles.js';
import { ActiveGatewayElection, alwaysLeader, type LeaderSignal } from '../election/active-gateway.js';
import { RestClient } from '../k8s/rest.js';
import { logger, type Logger } from '../log/index.js';
import { startMetricsServer, type MetricsServer } from '../metrics/server.js';
import { trackLeader } from '../metrics/leader.js';
import { GlobalnetController, type GlobalnetControllerOptions } from './controller.js';
import { createGlobalnetMetrics, type GlobalnetMetrics } from '../metrics/globalnet.js';
import { NftDataplane } from './nft.js';
import { findHealthCheckIP } from '../health/index.js';

export interface GlobalnetRoleOptions {
  kubeConfig?: ClusterAccess | KubeConfig;
  /** Program nftables in this network namespace (the lab); default: the current one. */
  netns?: string;
  /** `election` (default): Lease on the active gateway; `always`: lead unconditionally; or a signal. */
  leader?: 'election' | 'always' | LeaderSignal;
  log?: Logger;
  /** Serve /metrics on cfg.metricsPort (default true). */
  serveMetrics?: boolean;
  /** Default: a registry of the role's own, with process metrics and (given `version`) hawser_build_info. */
  metrics?: GlobalnetMetrics;
  /** hawser's version, for hawser_build_info. */
  version?: string;
  /** Passed to the controller (tests). */
  controller?: Pick<GlobalnetControllerOptions, 'debounceMs' | 'stopTimeoutMs' | 'resyncIntervalMs'>;
}

export interface RunningGlobalnet {
  controller: GlobalnetController;
  dataplane: NftDataplane;
  metricsPort?: number;
  stop(): Promise<void>;
}

export async function startGlobalnet(cfg: GlobalnetConfig, o: GlobalnetRoleOptions = {}): Promise<RunningGlobalnet> {
  const log = (o.log ?? logger()).child({ cluster: cfg.clusterId, node: cfg.nodeName });
  const client = new RestClient(o.kubeConfig ?? (await localAccess()));
  const dataplane = new NftDataplane({ netns: o.netns, log });
  const metrics = o.metrics ?? createGlobalnetMetrics(o.version);
  let election: ActiveGatewayElection | undefined;
  let leader: LeaderSignal;
  if (o.leader === 'always') leader = alwaysLeader();
  else if (o.leader && o.leader !== 'election') leader = o.leader;
  else {
    election = new ActiveGatewayElection({
      client, namespace: cfg.namespace, nodeName: cfg.nodeName, timings: cfg.election, log,
      // Runs only after election.start() below, when `controller` exists.
      onInactive: async () => {
        await controller.relinquish().catch((err: unknown) => log.warn({ err }, 'cannot remove the Globalnet nftables table'));
      },
    });
    leader = election;
  }
  trackLeader(metrics.registry, { component: 'globalnet', cluster: cfg.clusterId, hostname: cfg.nodeName }, () => leader.isLeader());
  // The node's CNI interface address: its global IP (the gateway's healthCheckIP) is DNATed to it.
  const cni = await findHealthCheckIP(cfg.clusterCidrs, { netns: o.netns });
  if ('unavailable' in cni) log.warn({ reason: cni.unavailable }, 'no CNI interface address: this gateway node gets no global IP for the health check');
  const controller = new GlobalnetController({
    client, namespace: cfg.namespace, clusterId: cfg.clusterId,
    nodeName: cfg.nodeName, ...('ip' in cni ? { cniIP: cni.ip } : {}),
    globalCidr: cfg.globalCidrs.find((c) => c.family === 4)?.text,
    localCidrs: [...cfg.clusterCidrs, ...cfg.serviceCidrs].filter((c) => c.family === 4).map((c) => c.text),
    leader, dataplane, metrics, log, ...(o.controller ?? {}),
  });
  let server: MetricsServer | undefined;
  if (o.serveMetrics ?? true) server = await startMetricsServer({ port: cfg.metricsPort, registries: [metrics.registry] });
  election?.start();
  // Drift behind our back is undone from nftables notifications; without them the periodic resync still repairs it.
  await dataplane.watch().catch((err: unknown) => log.warn({ err }, 'cannot follow nftables notifications'));
  await controller.start();
  log.info({ globalCidr: cfg.globalCidrs.map((c) => c.text), metricsPort: server?.port }, 'Globalnet started');
  return {
    controller,
    dataplane,
    ...(server ? { metricsPort: server.port } : {}),
    async stop() {
      await controller.stop();
      await election?.stop();
      await server?.close();
      dataplane.close();
    },
  };
}
