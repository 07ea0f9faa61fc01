// Route agent metrics (Submariner's route agent exports none): sync passes, errors, what it installed
// and the health of each remote endpoint as its RouteAgent status reports it.
import type { HealthChecks } from './health.js';
import { Counter, Gauge, type Registry } from 'prom-client';
import { reconcileErrorsCounter } from './gateway.js';
import { GaugeSeries, sampleValue } from './series.js';

export type RemoteEndpointStatus = 'connected' | 'connecting' | 'error' | 'none';

export interface RemoteEndpointSample {
  remoteCluster: string;
  remoteEndpointIP: string;
  status: RemoteEndpointStatus;
  rttSeconds?: number;
}

/** Kinds of objects the route agent installs and counts. */
export type InstalledKind = 'routes' | 'rules' | 'fdb_entries' | 'nft_rules' | 'ipset_entries';

export const ROUTE_AGENT_METRIC_NAMES = {
  syncIterations: 'hawser_route_agent_sync_iterations_total',
  lastSync: 'hawser_route_agent_last_sync_timestamp_seconds',
  remoteEndpoint: 'hawser_route_agent_remote_endpoint_status',
  remoteLatency: 'hawser_route_agent_remote_latency_seconds',
  installed: 'hawser_route_agent_installed',
  info: 'hawser_route_agent_info',
} as const;

/** The route agent resyncs every 30 s (routeagent/role.ts) besides reacting to changes. */
export const ROUTE_AGENT_RESYNC_PERIOD_MS = 30_000;

export class RouteAgentMetrics {
  private readonly syncIterations: Counter;
  private readonly lastSync: Gauge;
  private readonly remote: GaugeSeries<'remote_cluster' | 'remote_endpoint_ip' | 'status'>;
  private readonly latency: GaugeSeries<'remote_cluster' | 'remote_endpoint_ip'>;
  private readonly installed: GaugeSeries<'kind'>;
  private readonly reconcileErrors: Counter<'subsystem'>;
  private readonly syncLoop: { beat(): void } | undefined;

  /**
   * `health`: registers the reconcile loop (a resync every 30 s) as a health check. `cluster`/`hostname`:
   * `hawser_route_agent_info{local_cluster,local_hostname}` 1, the known-clusters series of the fleet alerts
   * (route agents run on every node, so a cluster whose gateways all vanished still has it).
   */
  constructor(registry: Registry, opts: { subsystems?: readonly string[]; health?: HealthChecks; cluster?: string; hostname?: string } = {}) {
    this.syncLoop = opts.health?.loop('route-agent-reconcile', ROUTE_AGENT_RESYNC_PERIOD_MS);
    const info = new Gauge({ name: ROUTE_AGENT_METRIC_NAMES.info, help: 'Always 1: the local cluster and node of this route agent', labelNames: ['local_cluster', 'local_hostname'], registers: [registry] });
    if (opts.cluster) info.set({ local_cluster: opts.cluster, local_hostname: opts.hostname ?? '' }, 1);
    this.syncIterations = new Counter({ name: ROUTE_AGENT_METRIC_NAMES.syncIterations, help: 'Completed route agent reconcile passes', registers: [registry] });
    this.lastSync = new Gauge({ name: ROUTE_AGENT_METRIC_NAMES.lastSync, help: 'Unix time of the last completed reconcile pass', registers: [registry] });
    this.remote = new GaugeSeries(new Gauge({
      name: ROUTE_AGENT_METRIC_NAMES.remoteEndpoint,
      help: 'Health of each remote endpoint as seen from this node (1 for its current status)',
      labelNames: ['remote_cluster', 'remote_endpoint_ip', 'status'],
      registers: [registry],
    }));
    this.latency = new GaugeSeries(new Gauge({
      name: ROUTE_AGENT_METRIC_NAMES.remoteLatency,
      help: 'Last round trip to the remote endpoint from this node, seconds',
      labelNames: ['remote_cluster', 'remote_endpoint_ip'],
      registers: [registry],
    }));
    this.installed = new GaugeSeries(new Gauge({
      name: ROUTE_AGENT_METRIC_NAMES.installed,
      help: 'Objects the route agent has installed on this node, by kind',
      labelNames: ['kind'],
      registers: [registry],
    }));
    this.reconcileErrors = reconcileErrorsCounter(registry);
    for (const s of opts.subsystems ?? []) this.reconcileErrors.inc({ subsystem: s }, 0);
  }

  /** A reconcile pass completed. */
  syncIteration(now: number = Date.now()): void {
    this.syncIterations.inc();
    this.syncLoop?.beat();
    this.lastSync.set(Math.floor(now / 1000));
  }

  reconcileError(subsystem: string): void {
    this.reconcileErrors.inc({ subsystem });
  }

  /** The full current set of remote endpoints; series of vanished ones are removed. */
  setRemoteEndpoints(eps: readonly RemoteEndpointSample[]): void {
    this.remote.publish(eps.map((e) => ({
      labels: { remote_cluster: e.remoteCluster, remote_endpoint_ip: e.remoteEndpointIP, status: e.status },
      value: 1,
    })));
    const latency: { labels: { remote_cluster: string; remote_endpoint_ip: string }; value: number }[] = [];
    for (const e of eps) {
      const v = sampleValue(e.rttSeconds);
      if (v !== undefined) latency.push({ labels: { remote_cluster: e.remoteCluster, remote_endpoint_ip: e.remoteEndpointIP }, value: v });
    }
    this.latency.publish(latency);
  }

  /** Counts of what is installed now; kinds left out are removed. */
  setInstalled(counts: Partial<Record<InstalledKind, number>>): void {
    const samples: { labels: { kind: string }; value: number }[] = [];
    for (const [kind, n] of Object.entries(counts)) {
      const v = sampleValue(n);
      if (v !== undefined) samples.push({ labels: { kind }, value: v });
    }
    this.installed.publish(samples);
  }
}
