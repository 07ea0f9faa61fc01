// Gateway metrics: Submariner's names, label sets and types (so dashboards and alerts keep working),
// plus hawser_* series for what operators miss. Connections are set level-triggered: every call
// gives the full set, and the series of connections that vanished are removed.
import type { HealthChecks } from './health.js';
import { Counter, Gauge, type Registry } from 'prom-client';
import { GaugeSeries, sampleValue, seriesKey, type Labels } from './series.js';

export type ConnectionStatus = 'connecting' | 'connected' | 'error';
export type HaStatus = 'active' | 'passive';

export const CONNECTION_STATUSES: readonly ConnectionStatus[] = ['connecting', 'connected', 'error'];

/** This gateway, as it appears in the `local_*` labels. */
export interface LocalGateway {
  /** Cluster ID (`local_cluster`). */
  cluster: string;
  /** Gateway node hostname (`local_hostname`). */
  hostname: string;
  /** The local Endpoint's public IP (`local_endpoint_ip`), as Submariner labels it; the private IP if there is none. */
  endpointIP: string;
  /** Cable driver name (`cable_driver`): `libreswan`, `wireguard` or `vxlan`. */
  driver: string;
}

/** One connection to a remote cluster, as the cable engine sees it now. */
export interface ConnectionSample {
  remoteCluster: string;
  remoteHostname: string;
  /** The remote Endpoint's public IP (`remote_endpoint_ip`), as Submariner labels it; the private IP if there is none. */
  remoteEndpointIP: string;
  status: ConnectionStatus;
  /** Bytes received on this cable since it was set up (absolute value, as the driver reports it). */
  rxBytes?: number;
  txBytes?: number;
  /** When the cable last became connected: Unix time in milliseconds (Date.now()). Defaults to when hawser first saw it connected. */
  establishedAt?: number;
  /** Last health-check round trip, seconds. */
  rttSeconds?: number;
  /** Fraction (0..1) of health-check probes lost over the health checker's recent window. */
  lossRatio?: number;
  /** Seconds since the last WireGuard handshake (or IKE SA rekey) on this cable. */
  lastHandshakeAgeSeconds?: number;
  /** Whether the health check can run on this cable (false: no healthCheckIP, no CNI address, ...). Omit when disabled. */
  healthCheckAvailable?: boolean;
}

export interface GatewayMetricsOptions {
  /** Identity for the gateway-level series (`hawser_gateway_active`, leader transitions, cable connects). */
  cluster?: string;
  hostname?: string;
  /** Cable driver, until setConnections says otherwise (labels the cable-connect counters). */
  driver?: string;
  /** Subsystems whose error counters start at 0, so that `increase()` sees the first error. */
  subsystems?: readonly string[];
  /** Registers the status-sync loop (every 5 s) as a health check: /healthz fails when it stops completing. */
  health?: HealthChecks;
}

/** The gateway writes its Gateway status every 5 s (gateway/role.ts). */
export const GATEWAY_STATUS_SYNC_PERIOD_MS = 5000;

const CABLE_LABELS = [
  'cable_driver', 'local_cluster', 'local_hostname', 'local_endpoint_ip',
  'remote_cluster', 'remote_hostname', 'remote_endpoint_ip',
] as const;
type CableLabel = (typeof CABLE_LABELS)[number];
type StatusLabel = CableLabel | 'status';

/** The hawser_* metric names, for dashboards, alerts and tests. */
export const GATEWAY_METRIC_NAMES = {
  syncIterations: 'submariner_gateway_sync_iterations',
  rxBytes: 'submariner_gateway_rx_bytes',
  txBytes: 'submariner_gateway_tx_bytes',
  connections: 'submariner_connections',
  connectionsShort: 'submariner_connections_short',
  establishedTimestamp: 'submariner_connection_established_timestamp',
  latencySeconds: 'submariner_connection_latency_seconds',
  lossRatio: 'hawser_connection_packet_loss_ratio',
  handshakeAge: 'hawser_connection_last_handshake_age_seconds',
  healthCheckAvailable: 'hawser_connection_health_check_available',
  cableConnects: 'hawser_cable_connects_total',
  gatewayActive: 'hawser_gateway_active',
  leaderTransitions: 'hawser_leader_transitions_total',
  reconcileErrors: 'hawser_reconcile_errors_total',
} as const;

/** Counter of reconcile errors by subsystem; shared by every role's metrics in one registry. */
export function reconcileErrorsCounter(registry: Registry): Counter<'subsystem'> {
  const existing = registry.getSingleMetric(GATEWAY_METRIC_NAMES.reconcileErrors);
  if (existing instanceof Counter) return existing as Counter<'subsystem'>;
  return new Counter({
    name: GATEWAY_METRIC_NAMES.reconcileErrors,
    help: 'Reconcile passes that ended in an error, by subsystem',
    labelNames: ['subsystem'],
    registers: [registry],
  });
}

export class GatewayMetrics {
  private readonly syncIterations: Counter;
  private readonly connections: GaugeSeries<StatusLabel>;
  private readonly connectionsShort: GaugeSeries<'cable_driver' | 'status'>;
  private readonly rx: GaugeSeries<CableLabel>;
  private readonly tx: GaugeSeries<CableLabel>;
  private readonly established: GaugeSeries<CableLabel>;
  private readonly latency: GaugeSeries<CableLabel>;
  private readonly loss: GaugeSeries<CableLabel>;
  private readonly handshakeAge: GaugeSeries<CableLabel>;
  private readonly healthCheck: GaugeSeries<CableLabel>;
  private readonly cableConnects: Counter<'cable_driver' | 'local_cluster' | 'remote_cluster'>;
  private readonly gatewayActive: Gauge<'local_cluster' | 'local_hostname'>;
  private readonly leaderTransitions: Counter<'local_cluster' | 'local_hostname' | 'role'>;
  private readonly reconcileErrors: Counter<'subsystem'>;
  private readonly syncLoop: { beat(): void } | undefined;

  private readonly cluster: string;
  private readonly hostname: string;
  private driver = '';
  /** Per cable (labels key): status last seen and when it became connected (Unix seconds). */
  private cables = new Map<string, { status: ConnectionStatus; establishedSec?: number }>();
  /** Remote clusters in the last setConnections, with the labels of their cable-connect counters. */
  private remoteClusters = new Map<string, Labels<'cable_driver' | 'local_cluster' | 'remote_cluster'>>();

  constructor(registry: Registry, opts: GatewayMetricsOptions = {}) {
    this.cluster = opts.cluster ?? '';
    this.hostname = opts.hostname ?? '';
    this.driver = opts.driver ?? '';
    this.syncLoop = opts.health?.loop('gateway-status-sync', GATEWAY_STATUS_SYNC_PERIOD_MS);
    const labelNames = [...CABLE_LABELS];
    const gauge = <L extends string>(name: string, help: string, names: L[]): Gauge<L> =>
      new Gauge({ name, help, labelNames: names, registers: [registry] });

    // Submariner's name has no _total suffix; kept for drop-in dashboards.
    this.syncIterations = new Counter({ name: GATEWAY_METRIC_NAMES.syncIterations, help: 'Gateway status synchronization passes', registers: [registry] });
    this.rx = new GaugeSeries(gauge(GATEWAY_METRIC_NAMES.rxBytes, 'Bytes received on each cable (by cable driver and cable)', labelNames));
    this.tx = new GaugeSeries(gauge(GATEWAY_METRIC_NAMES.txBytes, 'Bytes sent on each cable (by cable driver and cable)', labelNames));
    this.connections = new GaugeSeries(gauge(GATEWAY_METRIC_NAMES.connections, 'Connections to remote clusters with their current status (by cable driver and cable)', [...labelNames, 'status']));
    this.connectionsShort = new GaugeSeries(gauge(GATEWAY_METRIC_NAMES.connectionsShort, 'Number of connections per cable driver and status', ['cable_driver', 'status']));
    this.established = new GaugeSeries(gauge(GATEWAY_METRIC_NAMES.establishedTimestamp, 'Unix time the cable last became connected (by cable driver and cable)', labelNames));
    this.latency = new GaugeSeries(gauge(GATEWAY_METRIC_NAMES.latencySeconds, 'Last health-check round trip in seconds (by cable driver and cable)', labelNames));
    this.loss = new GaugeSeries(gauge(GATEWAY_METRIC_NAMES.lossRatio, 'Fraction of health-check probes lost over the recent window (0..1)', labelNames));
    this.handshakeAge = new GaugeSeries(gauge(GATEWAY_METRIC_NAMES.handshakeAge, 'Seconds since the last handshake on the cable', labelNames));
    this.healthCheck = new GaugeSeries(gauge(GATEWAY_METRIC_NAMES.healthCheckAvailable, '1 when the health check can probe the cable, 0 when it cannot (no health-check IP or CNI address)', labelNames));
    this.cableConnects = new Counter({
      name: GATEWAY_METRIC_NAMES.cableConnects,
      help: 'Times a cable to the remote cluster was (re)established',
      labelNames: ['cable_driver', 'local_cluster', 'remote_cluster'],
      registers: [registry],
    });
    this.gatewayActive = gauge(GATEWAY_METRIC_NAMES.gatewayActive, '1 while this gateway holds the leader Lease (HA status active), else 0', ['local_cluster', 'local_hostname']);
    this.leaderTransitions = new Counter({
      name: GATEWAY_METRIC_NAMES.leaderTransitions,
      help: 'HA status changes of this gateway, by the status taken',
      labelNames: ['local_cluster', 'local_hostname', 'role'],
      registers: [registry],
    });
    this.reconcileErrors = reconcileErrorsCounter(registry);

    // Start known series at zero: a gateway is passive until elected, and increase() needs a baseline.
    this.gatewayActive.set(this.identity(), 0);
    for (const role of ['active', 'passive'] as const) this.leaderTransitions.inc({ ...this.identity(), role }, 0);
    for (const s of opts.subsystems ?? []) this.reconcileErrors.inc({ subsystem: s }, 0);
  }

  /**
   * The full current set of connections. Series of connections not in `conns` (and of a previous
   * local identity) are removed; a connection keeps one `submariner_connections` series, for its
   * current status. Calling it again with the same input changes nothing.
   */
  setConnections(local: LocalGateway, conns: readonly ConnectionSample[], now: number = Date.now()): void {
    this.driver = local.driver;
    const byKey = new Map<string, { labels: Labels<CableLabel>; c: ConnectionSample }>();
    for (const c of conns) {
      const labels = cableLabels(local, c);
      byKey.set(seriesKey(labels), { labels, c }); // a duplicate entry: the last one wins
    }

    const cables = new Map<string, { status: ConnectionStatus; establishedSec?: number }>();
    const statusSeries: { labels: Labels<StatusLabel>; value: number }[] = [];
    const rx: { labels: Labels<CableLabel>; value: number }[] = [];
    const tx: typeof rx = [];
    const established: typeof rx = [];
    const latency: typeof rx = [];
    const loss: typeof rx = [];
    const handshake: typeof rx = [];
    const healthCheck: typeof rx = [];
    const short = new Map<string, number>();

    for (const [key, { labels, c }] of byKey) {
      const prev = this.cables.get(key);
      let establishedSec = prev?.establishedSec;
      if (c.establishedAt !== undefined && Number.isFinite(c.establishedAt) && c.establishedAt > 0) {
        establishedSec = Math.floor(c.establishedAt / 1000);
      } else if (c.status === 'connected' && prev?.status !== 'connected') {
        establishedSec = Math.floor(now / 1000);
      }
      cables.set(key, { status: c.status, establishedSec });

      statusSeries.push({ labels: { ...labels, status: c.status }, value: 1 });
      short.set(c.status, (short.get(c.status) ?? 0) + 1);
      const add = (list: typeof rx, v: number | undefined): void => {
        const value = sampleValue(v);
        if (value !== undefined) list.push({ labels, value });
      };
      add(rx, c.rxBytes);
      add(tx, c.txBytes);
      add(established, establishedSec);
      add(latency, c.rttSeconds);
      add(loss, c.lossRatio === undefined ? undefined : Math.min(1, c.lossRatio));
      add(handshake, c.lastHandshakeAgeSeconds);
      if (c.healthCheckAvailable !== undefined) healthCheck.push({ labels, value: c.healthCheckAvailable ? 1 : 0 });
    }
    this.cables = cables;

    this.connections.publish(statusSeries);
    this.connectionsShort.publish([...short].map(([status, n]) => ({ labels: { cable_driver: local.driver, status }, value: n })));
    this.rx.publish(rx);
    this.tx.publish(tx);
    this.established.publish(established);
    this.latency.publish(latency);
    this.loss.publish(loss);
    this.handshakeAge.publish(handshake);
    this.healthCheck.publish(healthCheck);
    this.syncRemoteClusters(new Set([...byKey.values()].map((v) => v.c.remoteCluster)));
  }

  /** One pass of the Gateway status sync (Submariner counts these every 5 s). */
  syncIteration(): void {
    this.syncIterations.inc();
    this.syncLoop?.beat();
  }

  reconcileError(subsystem: string): void {
    this.reconcileErrors.inc({ subsystem });
  }

  /** This gateway took `role` (elected: `active`; lost or released the Lease: `passive`). */
  leaderTransition(role: HaStatus): void {
    this.leaderTransitions.inc({ ...this.identity(), role });
    this.gatewayActive.set(this.identity(), role === 'active' ? 1 : 0);
  }

  /**
   * A cable to `remoteCluster` was (re)established. The counter lives as long as the cluster is in
   * the connection set: the next setConnections without it removes the series.
   */
  cableConnect(remoteCluster: string): void {
    const labels = this.connectLabels(remoteCluster);
    this.cableConnects.inc(labels);
    if (!this.remoteClusters.has(remoteCluster)) this.remoteClusters.set(remoteCluster, labels);
  }

  private syncRemoteClusters(present: Set<string>): void {
    for (const cluster of present) {
      const labels = this.connectLabels(cluster);
      const prev = this.remoteClusters.get(cluster);
      if (prev && seriesKey(prev) !== seriesKey(labels)) this.cableConnects.remove(prev);
      this.cableConnects.inc(labels, 0);
      this.remoteClusters.set(cluster, labels);
    }
    // A remote cluster that left the set: its counter goes too (a rejoin starts again from 0).
    for (const [cluster, labels] of this.remoteClusters) {
      if (!present.has(cluster)) {
        this.cableConnects.remove(labels);
        this.remoteClusters.delete(cluster);
      }
    }
  }

  private connectLabels(remoteCluster: string): Labels<'cable_driver' | 'local_cluster' | 'remote_cluster'> {
    return { cable_driver: this.driver, local_cluster: this.cluster, remote_cluster: remoteCluster };
  }

  private identity(): Labels<'local_cluster' | 'local_hostname'> {
    return { local_cluster: this.cluster, local_hostname: this.hostname };
  }
}

function cableLabels(local: LocalGateway, c: ConnectionSample): Labels<CableLabel> {
  return {
    cable_driver: local.driver,
    local_cluster: local.cluster,
    local_hostname: local.hostname,
    local_endpoint_ip: local.endpointIP,
    remote_cluster: c.remoteCluster,
    remote_hostname: c.remoteHostname,
    remote_endpoint_ip: c.remoteEndpointIP,
  };
}
