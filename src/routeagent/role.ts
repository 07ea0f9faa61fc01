// The route-agent role on every node: watches Nodes and Endpoints, derives the RouteAgentInput (the active
// gateway is the node named by our cluster's local Endpoint) and hands it to the runner; writes this node's
// RouteAgent object (every 60 s, owned by our pod) with the health of each remote endpoint as seen from
// here: probed by one fping for all remotes, on non-gateway nodes only, every HEALTHCHECKINTERVAL × 60 s.
import { isIPv4 } from 'node:net';
import type { Logger } from '../log/index.js';
import type { CableDriverName, RouteAgentConfig } from '../config/roles.js';
import { errorMessage } from '../util/errors.js';
import type { Informer } from '../k8s/informer.js';
import { endpointInformer, nodeInformer } from '../k8s/informers.js';
import { parseNode, type Node } from '../k8s/node.js';
import { isApiError, resourcePath, type KubeObject, type RestClient } from '../k8s/rest.js';
import { CLUSTER_ID_LABEL, latencyRTTFromNs, metaToWire, SUBMARINER_GROUP, SUBMARINER_VERSION, type LatencyRTT, type Parsed } from '../k8s/submariner/common.js';
import { UPDATE_TIMESTAMP_ANNOTATION } from '../k8s/submariner/gateway.js';
import { backendKind, parseEndpoint, type Endpoint, type EndpointSpec } from '../k8s/submariner/endpoint.js';
import { parseRouteAgent, remoteEndpointToWire, routeAgentToWire, type RemoteEndpoint, type RouteAgentStatus } from '../k8s/submariner/routeagent.js';
import { SharedHealthChecker, type HealthTarget } from '../health/index.js';
import type { RouteAgentMetrics } from '../metrics/index.js';
import { RouteAgentDataplane } from './dataplane.js';
import { parseMssAnnotation } from './planner.js';
import { planCounts } from './plan-text.js';
import { RouteAgentRunner, type RunResult } from './runner.js';
import { MSS_ANNOTATION, type HostFacts, type NodeRef, type RouteAgentInput, type UnderlayPath } from './index.js';

export interface ClusterView {
  nodes: NodeRef[];
  thisNode?: Node;
  localEndpoint?: EndpointSpec;
  remoteEndpoints: EndpointSpec[];
}

function parsedOnly<T>(raw: readonly unknown[], parse: (o: unknown) => Parsed<T>): T[] {
  return raw.flatMap((o) => {
    const p = parse(o);
    return p.ok ? [p.value] : [];
  });
}

/** Pure: the cluster's objects as listed (raw), read through the wire model; objects that do not parse are left out. */
export function clusterView(nodes: readonly unknown[], endpoints: readonly unknown[], clusterId: string, nodeName: string): ClusterView {
  return clusterViewOf(parsedOnly(nodes, parseNode), parsedOnly(endpoints, parseEndpoint), clusterId, nodeName);
}

/** Pure: reads the cluster's Nodes and Endpoints into what the planner needs. */
export function clusterViewOf(nodes: readonly Node[], endpoints: readonly Endpoint[], clusterId: string, nodeName: string): ClusterView {
  const refs: NodeRef[] = [];
  let thisNode: Node | undefined;
  for (const n of nodes) {
    if (n.internalIP) refs.push({ name: n.meta.name, ip: n.internalIP });
    if (n.meta.name === nodeName) thisNode = n;
  }
  let localEndpoint: EndpointSpec | undefined;
  let localCreated = '';
  const remoteByCluster = new Map<string, { spec: EndpointSpec; created: string }>();
  for (const o of endpoints) {
    const created = o.meta.creationTimestamp;
    if (o.spec.clusterId === clusterId && !o.meta.labels[CLUSTER_ID_LABEL]) {
      if (!localEndpoint || created > localCreated) {
        localEndpoint = o.spec;
        localCreated = created;
      }
    } else if (o.spec.clusterId !== clusterId) {
      const cur = remoteByCluster.get(o.spec.clusterId);
      if (!cur || created > cur.created) remoteByCluster.set(o.spec.clusterId, { spec: o.spec, created });
    }
  }
  const remoteEndpoints = [...remoteByCluster.values()].map((r) => r.spec).sort((a, b) => a.clusterId.localeCompare(b.clusterId));
  return { nodes: refs.sort((a, b) => a.name.localeCompare(b.name)), thisNode, localEndpoint, remoteEndpoints };
}

/** Pure: every address a remote gateway may be reached at (the cable uses the public or the private IP). */
export function remoteGatewayIPs(view: ClusterView): string[] {
  return [...new Set(view.remoteEndpoints.flatMap((e) => [e.publicIP, e.privateIP]).filter((ip): ip is string => typeof ip === 'string' && isIPv4(ip)))];
}

/** Pure: the planner input for this node (`remoteGateways`: the main table's path to each remote gateway IP). */
export function routeAgentInput(cfg: RouteAgentConfig, view: ClusterView, host: HostFacts, remoteGateways: readonly UnderlayPath[] = []): RouteAgentInput | { error: string } {
  const nodeIP = view.thisNode?.internalIP;
  if (!nodeIP) return { error: `node ${cfg.nodeName} has no IPv4 InternalIP in the API (status.addresses)` };
  const gw = view.localEndpoint;
  const gwNode = gw ? view.nodes.find((n) => n.name === gw.hostname) ?? view.nodes.find((n) => n.ip === gw.privateIP) : undefined;
  const driver: CableDriverName = (gw && backendKind(gw.backend)) || 'libreswan';
  const mssRaw = view.thisNode?.meta.annotations[MSS_ANNOTATION];
  const mss = mssRaw !== undefined ? parseMssAnnotation(mssRaw) : undefined;
  return {
    nodeName: cfg.nodeName,
    nodeIP,
    nodes: view.nodes,
    activeGateway: gwNode ? { nodeName: gwNode.name, nodeIP: gwNode.ip } : undefined,
    localClusterCidrs: cfg.clusterCidrs.map((c) => c.text),
    localServiceCidrs: cfg.serviceCidrs.map((c) => c.text),
    remoteCidrs: [...new Set(view.remoteEndpoints.flatMap((e) => e.subnets))],
    cableDriver: driver,
    mtu: host.nodeInterface?.mtu,
    mssOverride: typeof mss === 'number' ? mss : undefined,
    cniInterface: host.cniInterface,
    remoteGateways,
  };
}

function rttLastSeconds(h: { rtt?: { lastNs: number } } | undefined): number | undefined {
  return h?.rtt ? h.rtt.lastNs / 1e9 : undefined;
}

/** Submariner's route agent writes its RouteAgent every 60 s (routeagent_driver/main.go). */
export const ROUTE_AGENT_STATUS_INTERVAL_MS = 60_000;
/** Submariner pings from the route agent every SUBMARINER_HEALTHCHECKINTERVAL × 60 s (main.go PingInterval). */
export const ROUTE_AGENT_PING_FACTOR = 60;

export type RemoteStatus = 'connected' | 'connecting' | 'error' | 'none';

export interface RemoteHealthView {
  healthy: boolean;
  rtt?: { lastNs: number; minNs: number; avgNs: number; maxNs: number; stddevNs: number };
  /** Why it is unhealthy, in hawser's words. */
  reason?: string;
}

/**
 * Pure: one RouteAgent `status.remoteEndpoints` entry, with Submariner's statuses and messages
 * (routeagent_driver/handlers/healthchecker): disabled or on a gateway node `none`, no health-check IP
 * `none`, no probe result yet `connecting`, failing `error`, else `connected` with latencyRTT.
 */
export function remoteEndpointStatus(e: EndpointSpec, o: { enabled: boolean; onGateway: boolean; health?: RemoteHealthView }): { status: RemoteStatus; remote: RemoteEndpoint & { spec: EndpointSpec }; entry: Record<string, unknown> } {
  let status: RemoteStatus;
  let statusMessage = '';
  let latencyRTT: LatencyRTT | undefined;
  if (!o.enabled) {
    status = 'none';
    statusMessage = 'Health check is not enabled';
  } else if (o.onGateway) {
    status = 'none';
    statusMessage = 'Health check is not performed on gateway nodes';
  } else if (!e.healthCheckIP) {
    status = 'none';
    statusMessage = 'Health checker IP is not configured';
  } else if (!o.health) {
    status = 'connecting';
  } else if (!o.health.healthy) {
    status = 'error';
    statusMessage = `Failed to successfully ping the remote endpoint IP ${JSON.stringify(e.healthCheckIP)}${o.health.reason ? `: ${o.health.reason}` : ''}`;
  } else if (o.health.rtt) {
    status = 'connected';
    latencyRTT = latencyRTTFromNs(o.health.rtt);
  } else {
    status = 'connecting';
  }
  const remote: RemoteEndpoint & { spec: EndpointSpec } = { spec: e, status, statusMessage, ...(latencyRTT ? { latencyRTT } : {}) };
  return { status, remote, entry: remoteEndpointToWire(remote) };
}

/** Pure: the owner reference that ties a RouteAgent to the pod that writes it (garbage-collected with it). */
export function podOwnerReference(pod: KubeObject | undefined): Record<string, unknown>[] | undefined {
  const uid = pod?.metadata.uid;
  if (!pod || typeof uid !== 'string' || !uid) return undefined;
  return [{ apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid }];
}

export interface RouteAgentRoleOptions {
  cfg: RouteAgentConfig;
  log: Logger;
  client: RestClient;
  metrics?: RouteAgentMetrics;
  version: string;
  netns?: string;
  /** How often the RouteAgent object is written; default 60 s as Submariner. */
  statusIntervalMs?: number;
  /** The health-check prober command (tests); default `fping`. */
  fpingCommand?: string;
}

export class RouteAgentRole {
  private readonly dataplane: RouteAgentDataplane;
  private readonly runner: RouteAgentRunner;
  private nodes: Informer<Node> | undefined;
  private endpoints: Informer<Endpoint> | undefined;
  private health: SharedHealthChecker | undefined;
  private onGateway: boolean | undefined;
  private ownerRefs: Record<string, unknown>[] | undefined;
  private ownerLooked = false;
  private ownerWarned = false;
  private healthTargets: HealthTarget[] = [];
  private host: HostFacts = {};
  private lastResult: RunResult | undefined;
  private inputError: string | undefined;
  private view: ClusterView | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private statusError: string | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private inSync = false;
  private readonly log: Logger;

  constructor(private readonly o: RouteAgentRoleOptions) {
    this.log = o.log.child({ cluster: o.cfg.clusterId, node: o.cfg.nodeName });
    // a change of ours made behind our back (route, rule, FDB, vx-submariner, our nft table) is put back
    // by a reconcile started from its notification, not by a periodic full dump
    this.dataplane = new RouteAgentDataplane({
      netns: o.netns,
      log: this.log,
      onDrift: (why) => {
        this.log.debug({ why }, 'kernel state of ours changed; reconciling');
        this.runner?.resync();
      },
    });
    this.runner = new RouteAgentRunner({
      dataplane: this.dataplane,
      log: this.log,
      onResult: (r) => {
        this.lastResult = r;
        this.health?.setTargets(this.healthTargets);
        if (r.error) o.metrics?.reconcileError('route-agent');
        else {
          o.metrics?.syncIteration();
          if (r.plan) o.metrics?.setInstalled(planCounts(r.plan));
          // On-call (and restart tests) need to see when a (re)started agent has the data path in sync.
          if (!this.inSync && r.plan && r.report && !r.report.failures.length) {
            this.inSync = true;
            this.log.info({ role: r.plan.role, writes: r.report.total }, 'route agent in sync after start');
          }
        }
      },
    });
  }

  private get ns(): string {
    return this.o.cfg.namespace;
  }

  async start(): Promise<void> {
    // parsed once per version at the edge; an object that does not parse is counted and logged once there
    this.nodes = nodeInformer({ client: this.o.client, log: this.log });
    this.endpoints = endpointInformer({ client: this.o.client, namespace: this.ns, log: this.log });
    const hc = this.o.cfg.healthCheck;
    if (hc.enabled) {
      // one prober for every remote, Submariner's cadence: SUBMARINER_HEALTHCHECKINTERVAL × 60 s
      const intervalMs = hc.intervalMs * ROUTE_AGENT_PING_FACTOR;
      this.health = new SharedHealthChecker({ log: this.log.child({ sub: 'health-check' }), intervalMs, maxLoss: hc.maxPacketLossCount, netns: this.o.netns, fpingCommand: this.o.fpingCommand });
      this.log.info({ intervalMs, maxLoss: hc.maxPacketLossCount }, 'route agent health check: non-gateway nodes probe every remote endpoint');
    }
    for (const inf of [this.nodes, this.endpoints]) inf.on('change', () => void this.update());
    await Promise.all([this.nodes.start(), this.endpoints.start()]);
    await this.update();
    this.syncStatus();
    this.statusTimer = setInterval(() => this.syncStatus(), this.o.statusIntervalMs ?? ROUTE_AGENT_STATUS_INTERVAL_MS);
    // Drift without notifications (sysctls): re-read on a slow timer; routes, rules and nft come by events.
    this.resyncTimer = setInterval(() => {
      this.dataplane.markStale();
      this.runner.resync();
    }, 30_000);
  }

  private async update(): Promise<void> {
    if (!this.nodes?.hasSynced || !this.endpoints?.hasSynced) return;
    this.view = clusterViewOf(this.nodes.list(), this.endpoints.list(), this.o.cfg.clusterId, this.o.cfg.nodeName);
    const nodeIP = this.view.thisNode?.internalIP;
    if (nodeIP && !this.host.nodeInterface) {
      this.host = await this.dataplane.discoverHost(nodeIP, this.o.cfg.clusterCidrs.map((c) => c.text)).catch((err) => {
        this.log.warn({ err }, 'cannot read this node\'s interfaces');
        return {};
      });
    }
    const gwIPs = remoteGatewayIPs(this.view);
    const paths = await this.dataplane.underlayPaths(gwIPs).catch((err) => {
      this.log.warn({ err }, 'cannot read the main table\'s routes to the remote gateways');
      return [];
    });
    const input = routeAgentInput(this.o.cfg, this.view, this.host, paths);
    if ('error' in input) {
      if (this.inputError !== input.error) this.log.error({ err: input.error }, 'cannot plan routes');
      this.inputError = input.error;
      return;
    }
    this.inputError = undefined;
    this.runner.update(input);
    // Only non-gateway nodes probe (the gateway's own health check covers its cables), as Submariner.
    const onGateway = input.activeGateway !== undefined && input.activeGateway.nodeName === this.o.cfg.nodeName;
    const remotes = onGateway ? [] : this.view.remoteEndpoints.filter((e) => e.healthCheckIP);
    // applied once the data path for them has been reconciled (onResult): with a 60 s period, a first
    // probe sent before the routes exist would leave the status at `connecting` for a whole minute
    this.healthTargets = remotes.map((e) => ({ cableName: e.cableName, targetIP: e.healthCheckIP, sourceIP: this.host.cniInterface?.ip }));
    if (this.inSync) this.health?.setTargets(this.healthTargets);
    const was = this.onGateway;
    this.onGateway = onGateway;
    // a transition is reported at once (Submariner syncs on TransitionToGateway), the rest every interval
    if (was !== undefined && was !== onGateway) this.syncStatus();
  }

  private syncStatus(): void {
    void this.writeStatus().then(() => (this.statusError = undefined), (err) => {
      const msg = errorMessage(err);
      if (msg !== this.statusError) this.log.warn({ err: msg }, 'writing the RouteAgent status failed');
      this.statusError = msg;
    });
  }

  /** The pod we run in, once, for the owner reference (POD_NAME/POD_NAMESPACE from the downward API). */
  private async podOwner(): Promise<Record<string, unknown>[] | undefined> {
    if (this.ownerLooked) return this.ownerRefs;
    const { podName, podNamespace } = this.o.cfg;
    if (!podName) {
      this.ownerLooked = true;
      return undefined;
    }
    try {
      const pod = await this.o.client.getOrUndefined(resourcePath('', 'v1', 'pods', podNamespace ?? this.ns, podName));
      this.ownerRefs = podOwnerReference(pod);
      this.ownerLooked = true;
      if (!this.ownerRefs) this.log.warn({ pod: podName }, 'our pod is not in the API (or has no uid); the RouteAgent object gets no owner reference');
    } catch (err) {
      // RBAC without `get pods`, or the API is down: retried on the next write, logged once
      if (!this.ownerWarned) this.log.warn({ pod: podName, err }, 'cannot read our pod; the RouteAgent object gets no owner reference yet');
      this.ownerWarned = true;
    }
    return this.ownerRefs;
  }

  private async writeStatus(): Promise<void> {
    const remotes = this.view?.remoteEndpoints ?? [];
    const enabled = this.o.cfg.healthCheck.enabled;
    const onGateway = this.onGateway ?? false;
    const rows = remotes.map((e) => {
      const h = this.health?.stats(e.cableName);
      // no probe outcome yet: connecting
      const health: RemoteHealthView | undefined = h && h.sent > 0 ? { healthy: h.healthy, ...(h.rtt ? { rtt: h.rtt } : {}), ...(this.health?.unhealthyReason(e.cableName) ? { reason: this.health.unhealthyReason(e.cableName) } : {}) } : undefined;
      return remoteEndpointStatus(e, { enabled, onGateway, health });
    });
    this.o.metrics?.setRemoteEndpoints(remotes.map((e, i) => ({
      remoteCluster: e.clusterId,
      remoteEndpointIP: e.publicIP || e.privateIP,
      status: rows[i]!.status,
      rttSeconds: rttLastSeconds(this.health?.stats(e.cableName)),
    })));
    const failures = [this.inputError, this.lastResult?.error?.message, ...(this.lastResult?.plan?.warnings ?? [])].filter((x): x is string => Boolean(x));
    const ownerReferences = await this.podOwner();
    // a live signal for `hawser show`/`diagnose` (as the Gateway's): a stopped agent's object goes stale
    const annotations = { [UPDATE_TIMESTAMP_ANNOTATION]: String(Math.floor(Date.now() / 1000)) };
    const status: RouteAgentStatus = { remoteEndpoints: rows.map((r) => r.remote), statusFailure: failures.join('; '), version: this.o.version };
    const obj = routeAgentToWire({ name: this.o.cfg.nodeName, namespace: this.ns, annotations, status, ...(ownerReferences ? { ownerReferences } : {}) });
    const path = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'routeagents', this.ns);
    const raw = await this.o.client.getOrUndefined(`${path}/${this.o.cfg.nodeName}`);
    const existing = raw ? parseRouteAgent(raw) : undefined;
    try {
      if (existing?.ok) {
        const meta = metaToWire(existing.value.meta);
        await this.o.client.replace(`${path}/${this.o.cfg.nodeName}`, { ...obj, metadata: { ...meta, name: this.o.cfg.nodeName, annotations: { ...existing.value.meta.annotations, ...annotations }, ...(ownerReferences ? { ownerReferences } : {}) } });
      } else await this.o.client.create(path, obj);
    } catch (err) {
      if (!isApiError(err, 409)) throw err;
    }
  }

  /** Stops the loops; the data path stays (a restart adopts it without dropping a packet). */
  async stop(): Promise<void> {
    if (this.statusTimer) clearInterval(this.statusTimer);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.runner.stop();
    await this.health?.stop();
    await this.nodes?.stop();
    await this.endpoints?.stop();
    await this.dataplane.close();
  }

  /** `--uninstall`: removes exactly what the route agent installed, and this node's RouteAgent object. */
  static async uninstall(o: { cfg: RouteAgentConfig; log: Logger; client?: RestClient; netns?: string }): Promise<void> {
    const dp = new RouteAgentDataplane({ netns: o.netns, log: o.log });
    try {
      await dp.uninstall();
    } finally {
      await dp.close();
    }
    if (o.client) {
      await o.client.delete(resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'routeagents', o.cfg.namespace, o.cfg.nodeName)).catch((err) => o.log.warn({ err }, 'could not delete the RouteAgent object'));
    }
  }
}
