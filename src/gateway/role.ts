// The gateway role: every gateway node keeps its driver warm; the one holding the Lease publishes its
// Endpoint, syncs with the broker and keeps one cable per remote cluster. Losing the Lease fences at once.
import { hostname } from 'node:os';
import { lookup } from 'node:dns/promises';
import type { Logger } from '../log/index.js';
import type { GatewayConfig } from '../config/roles.js';
import { errorMessage } from '../util/errors.js';
import { Backoff, sleep } from '../util/wait.js';
import { BrokerSync } from '../k8s/brokersync.js';
import { Debouncer, Informer } from '../k8s/informer.js';
import { clusterSpecToWire, endpointObjectName, endpointSpecToWire, parseEndpointSpec, SUBMARINER_GROUP, SUBMARINER_VERSION, type EndpointSpec } from '../k8s/resources.js';
import { isApiError, resourcePath, type KubeObject, type RestClient } from '../k8s/rest.js';
import { LeaderElector } from '../election/lease.js';
import { CableEngine, fallbackNat, selectRemoteEndpoints, type ConnectionView, type EndpointObject } from '../cable-drivers/engine.js';
import type { CableDriver, DriverContext, NatInfo } from '../cable-drivers/types.js';
import { buildGatewayObject, staleGateways, type ConnectionHealth } from './status.js';
import { buildLocalCluster, buildLocalEndpoint, nodeInternalIP, parsePublicIpResolver, type NodeFacts } from './local-endpoint.js';

export const GATEWAY_LEASE = 'submariner-gateway-lock';
export const POD_STATUS_LABEL = 'gateway.submariner.io/status';

/** NAT discovery as the role uses it (implemented in src/cable-drivers/natdiscovery). */
export interface NatDiscoveryPort {
  setLocal(ep: EndpointSpec): void;
  setRemotes(eps: readonly EndpointSpec[]): void;
  decision(cableName: string): NatInfo | undefined;
  onDecided(cb: () => void): void;
  stop(): Promise<void>;
}

/** Health checking as the role uses it (implemented in src/cable-drivers/healthcheck). */
export interface HealthPort {
  setTargets(targets: Array<{ cableName: string; targetIP: string }>): void;
  health(cableName: string): ConnectionHealth | undefined;
  /** True when the cable should be reported as error (too many consecutive losses). */
  unhealthy(cableName: string): string | undefined;
  stop(): Promise<void>;
}

export interface MetricsPort {
  update(local: EndpointSpec, conns: readonly ConnectionView[], health: (cable: string) => ConnectionHealth | undefined): void;
  syncIteration(): void;
  reconcileError(subsystem: string): void;
  leaderTransition(to: 'active' | 'passive'): void;
}

export interface GatewayDeps {
  cfg: GatewayConfig;
  log: Logger;
  local: RestClient;
  broker: RestClient;
  createDriver: (ctx: DriverContext) => Promise<CableDriver>;
  /** Addresses on this node, for the health-check source (pod-CIDR address). */
  healthCheckIP?: () => Promise<{ ip?: string; unavailable?: string }>;
  natDiscovery?: (local: EndpointSpec) => Promise<NatDiscoveryPort>;
  health?: (local: EndpointSpec) => Promise<HealthPort>;
  metrics?: MetricsPort;
  version: string;
}

export class GatewayRole {
  private driver: CableDriver | undefined;
  private engine: CableEngine | undefined;
  private localEndpoint: EndpointSpec | undefined;
  private elector: LeaderElector | undefined;
  private brokerSync: BrokerSync | undefined;
  private remoteInformer: Informer | undefined;
  private gatewayInformer: Informer | undefined;
  private nat: NatDiscoveryPort | undefined;
  private health: HealthPort | undefined;
  private reconciler: Debouncer | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private active = false;
  private statusError: string | undefined;
  private swept = false;
  private statusFailure = new Map<string, string>();
  private stopping = false;
  private readonly log: Logger;

  constructor(private readonly d: GatewayDeps) {
    this.log = d.log.child({ cluster: d.cfg.clusterId, node: d.cfg.nodeName, driver: d.cfg.cableDriver });
  }

  get isActive(): boolean {
    return this.active;
  }

  private fail(key: string, message: string | undefined): void {
    if (message) this.statusFailure.set(key, message);
    else this.statusFailure.delete(key);
  }

  private get ns(): string {
    return this.d.cfg.namespace;
  }

  /** Node facts from the Node object; retried until the API answers. */
  private async nodeFacts(): Promise<NodeFacts> {
    const backoff = new Backoff(500, 10_000);
    for (;;) {
      try {
        const node = await this.d.local.get(resourcePath('', 'v1', 'nodes', undefined, this.d.cfg.nodeName));
        const privateIP = nodeInternalIP(node);
        if (!privateIP) throw new Error(`node ${this.d.cfg.nodeName} has no IPv4 InternalIP in status.addresses`);
        // Submariner reads `gateway.submariner.io/*` from node labels and annotations (values like
        // `ipv4:1.2.3.4` cannot be label values, so public-ip is usually an annotation).
        const labels = { ...(node.metadata.labels ?? {}), ...(node.metadata.annotations ?? {}) };
        const facts: NodeFacts = { name: this.d.cfg.nodeName, privateIP, labels };
        const pub = labels['gateway.submariner.io/public-ip'];
        if (pub) facts.publicIP = await this.resolvePublicIP(pub);
        const hc = this.d.healthCheckIP ? await this.d.healthCheckIP() : {};
        facts.healthCheckIP = hc.ip;
        this.fail('healthcheck-ip', hc.unavailable ? `health checking unavailable: ${hc.unavailable}` : undefined);
        this.fail('node', undefined);
        return facts;
      } catch (err) {
        const msg = `cannot read node facts: ${errorMessage(err)}`;
        this.fail('node', msg);
        this.log.error({ err: errorMessage(err) }, 'cannot read this node from the API; retrying');
        await sleep(backoff.next());
      }
    }
  }

  private async resolvePublicIP(v: string): Promise<string | undefined> {
    const r = parsePublicIpResolver(v);
    if ('error' in r) {
      this.fail('public-ip', r.error);
      return undefined;
    }
    try {
      if (r.kind === 'ipv4') return r.value;
      if (r.kind === 'dns') return (await lookup(r.value, { family: 4 })).address;
      this.fail('public-ip', `public-ip resolver ${r.kind}: is not supported by hawser yet; use ipv4:<ip> or dns:<name>`);
    } catch (err) {
      this.fail('public-ip', `cannot resolve public-ip ${v}: ${errorMessage(err)}`);
    }
    return undefined;
  }

  async start(): Promise<void> {
    const facts = await this.nodeFacts();
    const base = buildLocalEndpoint(this.d.cfg, facts, {});
    // Warm standby: every gateway node brings its driver up; taking over is publishing + connecting.
    const backoff = new Backoff(1000, 15_000);
    for (;;) {
      try {
        // A node label `gateway.submariner.io/udp-port` sets the port the cable listens on, as in Submariner.
        const labelPort = Number(base.backendConfig['udp-port']);
        const config = Number.isInteger(labelPort) && labelPort > 0 && labelPort < 65536 ? { ...this.d.cfg, ipsec: { ...this.d.cfg.ipsec, nattPort: labelPort } } : this.d.cfg;
        this.driver = await this.d.createDriver({ config, localEndpoint: base, log: this.log.child({ driver: this.d.cfg.cableDriver }) });
        await this.driver.init();
        this.fail('driver', undefined);
        break;
      } catch (err) {
        const msg = `cable driver ${this.d.cfg.cableDriver} failed to start: ${errorMessage(err)}`;
        this.fail('driver', msg);
        this.log.error({ err: errorMessage(err) }, 'cable driver failed to start; retrying');
        await this.writeGateway().catch(() => undefined);
        if (this.stopping) return;
        await sleep(backoff.next());
      }
    }
    this.localEndpoint = buildLocalEndpoint(this.d.cfg, facts, this.driver.localBackendConfig());
    this.log.info({ endpoint: this.localEndpoint.cableName, privateIP: this.localEndpoint.privateIP, publicIP: this.localEndpoint.publicIP }, 'gateway ready (standing by for the lease)');
    this.engine = new CableEngine({
      driver: this.driver,
      localEndpoint: this.localEndpoint,
      log: this.log,
      natFor: (e) => this.natFor(e),
    });
    // Adopt what a previous hawser left (restart without a flap); a passive gateway removes it below.
    try {
      this.engine.adopt(await this.driver.connections());
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'cannot read existing cables to adopt them');
    }
    if (this.d.natDiscovery) this.nat = await this.d.natDiscovery(this.localEndpoint).catch((err) => {
      this.log.error({ err: errorMessage(err) }, 'NAT discovery failed to start; using the fallback NAT decision');
      return undefined;
    });
    this.nat?.onDecided(() => this.reconciler?.trigger());
    if (this.d.cfg.healthCheck.enabled && this.d.health) this.health = await this.d.health(this.localEndpoint).catch((err) => {
      this.fail('health', `health checking unavailable: ${errorMessage(err)}`);
      return undefined;
    });

    this.reconciler = new Debouncer(() => this.reconcile(), 10, (err) => {
      this.d.metrics?.reconcileError('gateway');
      this.log.error({ err: errorMessage(err) }, 'reconcile failed');
    });
    // Remote endpoints arrive in the local namespace (copied from the broker by whichever gateway is active).
    this.remoteInformer = new Informer({ client: this.d.local, path: resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'endpoints', this.ns), log: this.log });
    this.remoteInformer.on('change', () => this.reconciler?.trigger());
    void this.remoteInformer.start().catch(() => undefined);
    this.gatewayInformer = new Informer({ client: this.d.local, path: resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'gateways', this.ns), log: this.log });
    void this.gatewayInformer.start().catch(() => undefined);

    this.elector = new LeaderElector({
      client: this.d.local,
      namespace: this.ns,
      name: GATEWAY_LEASE,
      identity: `${this.d.cfg.nodeName || hostname()}-submariner-gateway`,
      timings: this.d.cfg.election,
      log: this.log,
    });
    this.elector.on('started', () => void this.becomeActive());
    this.elector.on('leader', (holder: string) => {
      // Another gateway is active: cables left by an earlier run of this node must go (fencing).
      if (holder && holder !== this.elector?.identity && !this.active && this.engine?.appliedCount) void this.engine.disconnectAll();
    });
    this.elector.on('stopped', () => void this.becomePassive());
    this.elector.start();
    this.statusTimer = setInterval(() => void this.writeGateway().then(() => (this.statusError = undefined), (err) => {
      const msg = errorMessage(err);
      if (msg !== this.statusError) this.log.warn({ err: msg }, 'writing the Gateway status failed');
      this.statusError = msg;
    }), 5000);
    await this.writeGateway().catch(() => undefined);
    await this.labelPod('passive');
  }

  private natFor(e: EndpointSpec): NatInfo {
    return this.nat?.decision(e.cableName) ?? fallbackNat(this.localEndpoint!, e);
  }

  private async becomeActive(): Promise<void> {
    if (this.active || this.stopping) return;
    this.active = true;
    this.d.metrics?.leaderTransition('active');
    this.log.info({ endpoint: this.localEndpoint?.cableName }, 'this gateway is now ACTIVE');
    await this.publishLocal().catch((err) => this.log.error({ err: errorMessage(err) }, 'publishing the local Endpoint failed; will retry'));
    this.brokerSync = new BrokerSync({
      local: this.d.local,
      broker: this.d.broker,
      localNamespace: this.ns,
      brokerNamespace: this.d.cfg.broker.remoteNamespace,
      clusterId: this.d.cfg.clusterId,
      log: this.log.child({ sub: 'broker-sync' }),
    });
    await this.brokerSync.start();
    this.reconciler?.trigger(0);
    void this.writeGateway().catch(() => undefined);
    void this.labelPod('active');
  }

  private async becomePassive(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    this.d.metrics?.leaderTransition('passive');
    this.log.info('this gateway is now PASSIVE: removing its cables');
    const bs = this.brokerSync;
    this.brokerSync = undefined;
    await this.engine?.disconnectAll();
    this.health?.setTargets([]);
    await bs?.stop();
    void this.writeGateway().catch(() => undefined);
    void this.labelPod('passive');
  }

  /** Creates/updates our Endpoint and Cluster and removes our cluster's other (stale) local Endpoints. */
  private async publishLocal(): Promise<void> {
    const ep = this.localEndpoint!;
    const epPath = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'endpoints', this.ns);
    const name = endpointObjectName(ep.clusterId, ep.cableName);
    await this.upsert(epPath, name, { apiVersion: `${SUBMARINER_GROUP}/${SUBMARINER_VERSION}`, kind: 'Endpoint', metadata: { name, namespace: this.ns }, spec: endpointSpecToWire(ep) });
    const clPath = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'clusters', this.ns);
    await this.upsert(clPath, this.d.cfg.clusterId, { apiVersion: `${SUBMARINER_GROUP}/${SUBMARINER_VERSION}`, kind: 'Cluster', metadata: { name: this.d.cfg.clusterId, namespace: this.ns }, spec: clusterSpecToWire(buildLocalCluster(this.d.cfg)) });
    const { items } = await this.d.local.list(epPath);
    for (const o of items) {
      const spec = o.spec as { cluster_id?: unknown } | undefined;
      if (o.metadata.name !== name && spec?.cluster_id === this.d.cfg.clusterId && !o.metadata.labels?.['submariner-io/clusterID']) {
        await this.d.local.delete(`${epPath}/${o.metadata.name}`);
        this.log.info({ endpoint: o.metadata.name }, 'removed the previous active gateway\'s Endpoint');
      }
    }
  }

  private async upsert(collection: string, name: string, obj: KubeObject): Promise<void> {
    const existing = await this.d.local.getOrUndefined(`${collection}/${name}`);
    if (!existing) await this.d.local.create(collection, obj);
    else if (JSON.stringify(existing.spec) !== JSON.stringify(obj.spec)) await this.d.local.replace(`${collection}/${name}`, { ...obj, metadata: { ...existing.metadata } });
  }

  private remoteEndpoints(): EndpointObject[] {
    const out: EndpointObject[] = [];
    for (const o of this.remoteInformer?.list() ?? []) {
      const p = parseEndpointSpec(o.spec);
      if (!p.ok) {
        this.log.warn({ endpoint: o.metadata.name, err: p.error }, 'ignoring an invalid Endpoint');
        continue;
      }
      out.push({ name: o.metadata.name, creationTimestamp: o.metadata.creationTimestamp ?? '', spec: p.value });
    }
    return out;
  }

  private async reconcile(): Promise<void> {
    if (!this.engine || !this.localEndpoint) return;
    const sel = selectRemoteEndpoints(this.remoteEndpoints(), this.d.cfg.clusterId, this.d.cfg.cableDriver);
    this.nat?.setRemotes(sel.wanted);
    // Fencing: only a gateway that holds a live lease configures cables.
    if (!this.elector?.isLeader()) {
      if (this.active) await this.becomePassive();
      return;
    }
    this.engine.setWanted(sel);
    await this.engine.reconcile();
    if (!this.swept && this.driver?.sweep && this.remoteInformer?.hasSynced) {
      // Once per start, after the first full pass: remove cables a previous run left for vanished remotes.
      await this.driver.sweep().catch((err) => this.log.warn({ err: errorMessage(err) }, 'sweeping stale cables failed'));
      this.swept = true;
    }
    this.d.metrics?.syncIteration();
    this.health?.setTargets(sel.wanted.filter((e) => e.healthCheckIP).map((e) => ({ cableName: e.cableName, targetIP: e.healthCheckIP })));
    const next = this.engine.nextRetryAt();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (next !== undefined) this.retryTimer = setTimeout(() => this.reconciler?.trigger(), Math.max(50, next - Date.now()));
  }

  async connections(): Promise<ConnectionView[]> {
    if (!this.engine || !this.active) return [];
    const conns = await this.engine.connections();
    return conns.map((c) => {
      const bad = this.health?.unhealthy(c.cableName);
      return bad && c.status === 'connected' ? { ...c, status: 'error' as const, statusMessage: bad } : c;
    });
  }

  private async writeGateway(): Promise<void> {
    if (!this.localEndpoint && !this.statusFailure.size) return;
    const conns = await this.connections();
    const health = (c: string): ConnectionHealth | undefined => this.health?.health(c);
    if (this.localEndpoint) this.d.metrics?.update(this.localEndpoint, conns, health);
    const nowSeconds = Date.now() / 1000;
    const obj = buildGatewayObject({
      hostname: this.d.cfg.nodeName,
      namespace: this.ns,
      haStatus: this.active ? 'active' : 'passive',
      localEndpoint: this.localEndpoint ?? buildLocalEndpoint(this.d.cfg, { name: this.d.cfg.nodeName, privateIP: '0.0.0.0', labels: {} }, {}),
      connections: conns,
      health,
      statusFailure: [...this.statusFailure.values()].join('; '),
      version: this.d.version,
      nowSeconds,
    });
    const collection = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'gateways', this.ns);
    const existing = this.gatewayInformer?.get(this.ns, this.d.cfg.nodeName) ?? (await this.d.local.getOrUndefined(`${collection}/${this.d.cfg.nodeName}`));
    try {
      if (existing) await this.d.local.replace(`${collection}/${this.d.cfg.nodeName}`, { ...obj, metadata: { ...existing.metadata, annotations: { ...existing.metadata.annotations, ...obj.metadata.annotations } } });
      else await this.d.local.create(collection, obj);
    } catch (err) {
      // A stale cached resourceVersion: read fresh and try once more.
      if (!isApiError(err, 409)) throw err;
      const fresh = await this.d.local.get(`${collection}/${this.d.cfg.nodeName}`);
      await this.d.local.replace(`${collection}/${this.d.cfg.nodeName}`, { ...obj, metadata: { ...fresh.metadata, annotations: { ...fresh.metadata.annotations, ...obj.metadata.annotations } } });
    }
    if (this.active && this.gatewayInformer) {
      for (const name of staleGateways(this.gatewayInformer.list(), nowSeconds, this.d.cfg.nodeName)) {
        await this.d.local.delete(`${collection}/${name}`);
        this.log.info({ gateway: name }, 'removed a stale Gateway object (not updated for 15 s)');
      }
    }
  }

  private async labelPod(status: 'active' | 'passive'): Promise<void> {
    const { podName, podNamespace } = this.d.cfg;
    if (!podName) return;
    try {
      await this.d.local.patch(resourcePath('', 'v1', 'pods', podNamespace ?? this.ns, podName), { metadata: { labels: { [POD_STATUS_LABEL]: status } } }, 'merge');
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'could not label the gateway pod');
    }
  }

  /** Graceful stop: release the lease (a standby takes over at once), leave the data path for adoption. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.statusTimer) clearInterval(this.statusTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.reconciler?.close();
    await this.elector?.stop();
    await this.brokerSync?.stop();
    this.active = false;
    await this.writeGateway().catch(() => undefined);
    await this.nat?.stop();
    await this.health?.stop();
    await this.remoteInformer?.stop();
    await this.gatewayInformer?.stop();
    await this.driver?.close();
  }
}
