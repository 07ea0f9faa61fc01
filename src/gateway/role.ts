// The gateway role: every gateway node keeps its driver warm; the one holding the Lease publishes its
// Endpoint, syncs with the broker and keeps one cable per remote cluster. Losing the Lease fences at once.
import { hostname } from 'node:os';
import { isIPv4 } from 'node:net';
import type { Logger } from '../log/index.js';
import type { GatewayConfig } from '../config/roles.js';
import { errorMessage } from '../util/errors.js';
import { Backoff, sleep } from '../util/wait.js';
import { BrokerSync, canonical } from '../k8s/brokersync.js';
import { Debouncer, Informer } from '../k8s/informer.js';
import { clusterSpecToWire, endpointObjectName, endpointSpecToWire, parseEndpointSpec, SUBMARINER_GROUP, SUBMARINER_VERSION, type EndpointSpec } from '../k8s/resources.js';
import { isApiError, resourcePath, type KubeObject, type RestClient } from '../k8s/rest.js';
import { LeaderElector } from '../election/lease.js';
import { CableEngine, fallbackNat, selectRemoteEndpoints, type ConnectionView, type EndpointObject } from '../cable-drivers/engine.js';
import type { CableDriver, DriverContext, NatInfo } from '../cable-drivers/types.js';
import { fallbackDecision } from '../cable-drivers/natdiscovery/remote.js';
import { buildGatewayObject, staleGateways, type ConnectionHealth } from './status.js';
import { CableStateLog } from './cable-log.js';
import { NODE_GLOBAL_IP_ANNOTATION } from '../nat/desired.js';
import { buildLocalCluster, buildLocalEndpoint, nodeInternalIP, unpublishedSubnets, type NodeFacts } from './local-endpoint.js';
import {
  USING_LOAD_BALANCER_KEY, assessPublicIP, parseResolverChain, publicIpChainText, resolvePublicIP, systemResolveIO, usesLoadBalancerChain,
  type PublicIpResult, type ResolveIO,
} from './public-ip.js';

/** Submariner's PublicIPWatcher interval; an unresolved public IP is retried sooner. */
export const PUBLIC_IP_RECHECK_MS = 60_000;
export const PUBLIC_IP_RETRY_MS = 15_000;
/** The whole resolver chain gets this long at start (the gateway then starts with what it has and retries). */
const PUBLIC_IP_START_BUDGET_MS = 30_000;

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
  /** I/O of the public-IP resolvers (tests); default: HTTP(S), DNS and the Services of SUBMARINER_NAMESPACE. */
  publicIpIO?: ResolveIO;
  /** Re-resolution period of the public IP; default PUBLIC_IP_RECHECK_MS (PUBLIC_IP_RETRY_MS while unresolved). */
  publicIpRecheckMs?: number;
}

export interface PublicIpOutcome {
  ip: string;
  usingLoadBalancer: boolean;
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
  private publishTimer: NodeJS.Timeout | undefined;
  private leftoversFenced = false;
  private remoteSynced: Promise<void> | undefined;
  private fencing: Promise<void> | undefined;
  private reconciling = false;
  private observing = false;
  private cableTimer: NodeJS.Timeout | undefined;
  private readonly cableLog: CableStateLog;
  /** This node's CNI interface address: the health check's source (with Globalnet, not what we publish). */
  private cniIP: string | undefined;
  private readonly log: Logger;
  private readonly startedAtSeconds = Math.floor(Date.now() / 1000);
  private publicIpTimer: NodeJS.Timeout | undefined;
  /** NAT discovery could not start (or is not wired): Submariner's fallback rule decides every cable. */
  private natUnavailable: boolean;
  private lastPublicIpMessage: string | undefined;

  constructor(private readonly d: GatewayDeps) {
    // `cluster` is left for the remote cluster of a cable line; this gateway's own is `localCluster`.
    this.log = d.log.child({ localCluster: d.cfg.clusterId, node: d.cfg.nodeName, driver: d.cfg.cableDriver });
    this.cableLog = new CableStateLog(this.log);
    this.natUnavailable = d.natDiscovery === undefined;
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
        const facts: NodeFacts = { name: this.d.cfg.nodeName, privateIP, labels, startedAtSeconds: this.startedAtSeconds };
        const pub = await this.resolvePublicIP(labels, privateIP, PUBLIC_IP_START_BUDGET_MS);
        facts.publicIP = pub.ip;
        facts.usingLoadBalancer = pub.usingLoadBalancer;
        const hc = this.d.healthCheckIP ? await this.d.healthCheckIP() : {};
        this.cniIP = hc.ip;
        // With Globalnet the CNI address lies in a CIDR every cluster shares: publish the node's global IP
        // (allocated by globalnet, DNATed to the CNI address) instead, once it exists.
        facts.healthCheckIP = this.globalnet ? nodeGlobalIP(node) : hc.ip;
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

  /**
   * The public IP as Submariner resolves it (node label/annotation, SUBMARINER_PUBLICIP, default api: list;
   * AIR_GAPPED_DEPLOYMENT), said in the log and the Gateway status when it is empty or the private IP.
   */
  async resolvePublicIP(labels: Readonly<Record<string, string>>, privateIP: string, budgetMs: number): Promise<PublicIpOutcome> {
    const { text, source } = publicIpChainText(labels, this.d.cfg.publicIP);
    const usingLoadBalancer = usesLoadBalancerChain(text);
    const parsed = parseResolverChain(text);
    let result: PublicIpResult;
    if (!parsed.ok) {
      result = { ip: '', failures: [parsed.error] };
    } else {
      const io = this.d.publicIpIO ?? systemResolveIO((name) => this.d.local.get(resourcePath('', 'v1', 'services', this.ns, name)));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<PublicIpResult>((resolve) => {
        timer = setTimeout(() => resolve({ ip: '', failures: [`no resolver answered within ${budgetMs / 1000} s`] }), budgetMs);
      });
      result = await Promise.race([resolvePublicIP(parsed.resolvers, io, { airGapped: this.d.cfg.airGapped }), deadline]);
      clearTimeout(timer);
    }
    const a = assessPublicIP(result, privateIP, source, text);
    this.fail('public-ip', a.status);
    if (a.message !== this.lastPublicIpMessage) {
      this.log[a.level]({ publicIP: result.ip, source, airGapped: this.d.cfg.airGapped, failures: result.failures.length ? result.failures : undefined }, a.message);
      this.lastPublicIpMessage = a.message;
    }
    return { ip: result.ip, usingLoadBalancer };
  }

  /** Submariner's PublicIPWatcher: re-resolve periodically and republish the Endpoint when it changed. */
  private schedulePublicIpCheck(): void {
    if (this.stopping) return;
    const unresolved = !this.localEndpoint?.publicIP;
    const every = this.d.publicIpRecheckMs ?? (unresolved ? PUBLIC_IP_RETRY_MS : PUBLIC_IP_RECHECK_MS);
    this.publicIpTimer = setTimeout(() => {
      void this.recheckPublicIP().catch((err) => this.log.warn({ err: errorMessage(err) }, 'public IP re-resolution failed')).finally(() => this.schedulePublicIpCheck());
    }, every);
  }

  private async recheckPublicIP(): Promise<void> {
    if (!this.localEndpoint || this.stopping) return;
    const node = await this.d.local.get(resourcePath('', 'v1', 'nodes', undefined, this.d.cfg.nodeName));
    const labels = { ...(node.metadata.labels ?? {}), ...(node.metadata.annotations ?? {}) };
    const pub = await this.resolvePublicIP(labels, this.localEndpoint.privateIP, PUBLIC_IP_START_BUDGET_MS);
    const ep = this.localEndpoint;
    const hadLb = ep.backendConfig[USING_LOAD_BALANCER_KEY] === 'true';
    if (pub.ip === ep.publicIP && pub.usingLoadBalancer === hadLb) return;
    const backendConfig = { ...ep.backendConfig };
    if (pub.usingLoadBalancer) backendConfig[USING_LOAD_BALANCER_KEY] = 'true';
    else delete backendConfig[USING_LOAD_BALANCER_KEY];
    this.localEndpoint = { ...ep, publicIP: pub.ip, publicIPs: pub.ip ? [pub.ip] : [], backendConfig };
    this.log.info({ endpoint: ep.cableName, from: ep.publicIP, to: pub.ip }, 'public IP changed: updating the local Endpoint');
    this.nat?.setLocal(this.localEndpoint);
    if (this.active) await this.publishLocal();
  }

  /**
   * SUBMARINER_UNINSTALL on the gateway: remove what the cable driver installed, this node's Gateway object
   * and, if this node published it, the local Endpoint; the agent does not start.
   */
  static async uninstall(o: { cfg: GatewayConfig; log: Logger; local?: RestClient; createDriver: (ctx: DriverContext) => Promise<CableDriver> }): Promise<void> {
    const { cfg, log } = o;
    let privateIP = '0.0.0.0';
    if (o.local) {
      const node = await o.local.get(resourcePath('', 'v1', 'nodes', undefined, cfg.nodeName)).catch(() => undefined);
      privateIP = (node && nodeInternalIP(node)) ?? privateIP;
    }
    const local = buildLocalEndpoint(cfg, { name: cfg.nodeName, privateIP, labels: {} }, {});
    const driver = await o.createDriver({ config: cfg, localEndpoint: local, log });
    try {
      await driver.cleanup();
    } finally {
      await driver.close().catch(() => undefined);
    }
    if (!o.local) return;
    const gw = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'gateways', cfg.namespace);
    await o.local.delete(`${gw}/${cfg.nodeName}`).catch((err) => log.debug({ err: errorMessage(err) }, 'no Gateway object to delete'));
    if (privateIP !== '0.0.0.0') {
      const ep = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'endpoints', cfg.namespace);
      await o.local.delete(`${ep}/${endpointObjectName(cfg.clusterId, local.cableName)}`).catch((err) => log.debug({ err: errorMessage(err) }, 'no local Endpoint to delete'));
    }
  }

  async start(): Promise<void> {
    for (const w of this.d.cfg.warnings) this.log.warn(w);
    const v6 = unpublishedSubnets(this.d.cfg);
    if (v6.length) this.log.warn({ subnets: v6 }, 'IPv6 cluster/service CIDRs are not published in the Endpoint: hawser has no IPv6 cables yet (a peer would try an IPv6 cable and fail)');
    const facts = await this.nodeFacts();
    const base = buildLocalEndpoint(this.d.cfg, facts, {});
    // Warm standby: every gateway node brings its driver up; taking over is publishing + connecting.
    const backoff = new Backoff(1000, 15_000);
    for (;;) {
      try {
        // A node label `gateway.submariner.io/udp-port` sets the port the cable listens on, as in Submariner.
        const labelPort = Number(base.backendConfig['udp-port']);
        const config = Number.isInteger(labelPort) && labelPort > 0 && labelPort < 65536 ? { ...this.d.cfg, ipsec: { ...this.d.cfg.ipsec, nattPort: labelPort } } : this.d.cfg;
        this.driver = await this.d.createDriver({ config, localEndpoint: base, log: this.log });
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
      // The engine logs `cable removed` itself: the state log must not log that removal again.
      onEvent: (ev) => void (ev.kind === 'disconnected' && this.cableLog.forget(ev.endpoint.cableName)),
    });
    // Adopt what a previous hawser left (restart without a flap); a passive gateway removes it below.
    try {
      this.engine.adopt(await this.driver.connections());
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'cannot read existing cables to adopt them');
    }
    const healthLocal = this.globalnet ? { ...this.localEndpoint, healthCheckIP: this.cniIP ?? '' } : this.localEndpoint;
    if (this.d.cfg.healthCheck.enabled && this.d.health) this.health = await this.d.health(healthLocal).catch((err) => {
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
    this.remoteSynced = this.remoteInformer.start();
    this.remoteSynced.catch(() => undefined);
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
      if (!holder || holder === this.elector?.identity) return;
      // Another gateway is active: cables left by an earlier run of this node must go (fencing), and our
      // Gateway object must say passive as soon as the API answers again (e.g. after a partition).
      this.fencing = this.fenceLeftovers().catch((err) => this.log.warn({ err: errorMessage(err) }, 'removing cables left by the previous run failed'));
      if (!this.active) void this.writeGateway().catch(() => undefined);
    });
    this.elector.on('stopped', () => void this.becomePassive());
    this.elector.start();
    this.statusTimer = setInterval(() => {
      void this.writeGateway().then(() => (this.statusError = undefined), (err) => {
        const msg = errorMessage(err);
        if (msg !== this.statusError) this.log.warn({ err: msg }, 'writing the Gateway status failed');
        this.statusError = msg;
      });
      void this.refreshGlobalHealthCheckIP().catch((err) => this.log.debug({ err: errorMessage(err) }, 'cannot read this node\'s global IP'));
    }, 5000);
    this.cableTimer = setInterval(() => void this.observeCables(), 1000);
    this.schedulePublicIpCheck();
    await this.writeGateway().catch(() => undefined);
    await this.labelPod('passive');
  }

  private natFor(e: EndpointSpec): NatInfo {
    const decided = this.nat?.decision(e.cableName);
    if (decided) return decided;
    // Discovery still probing: unlike Submariner (which waits), hawser connects at once on a provisional guess.
    // That guess also counts our own SUBMARINER_NATENABLED, the likelier truth for this side, so that the
    // answer a moment later rarely changes it (a reconnect). Once discovery gives up, its decision is
    // Submariner's fallback rule (the remote's flags only: natdiscovery/remote.ts); when discovery cannot run
    // at all, that rule directly.
    return this.natUnavailable ? fallbackDecision(e) : fallbackNat(this.localEndpoint!, e);
  }

  private async becomeActive(): Promise<void> {
    if (this.active || this.stopping) return;
    this.active = true;
    this.d.metrics?.leaderTransition('active');
    // The elector logs the leader change at info ('became the leader', with why): one line for on-call.
    this.log.debug({ endpoint: this.localEndpoint?.cableName }, 'this gateway is now ACTIVE');
    // Everything at once: the remote Endpoints are already in our informer, so the cables come up while
    // our Endpoint is published and the broker sync starts; the Gateway status says active (and marks a
    // stale 'active' Gateway of a vanished node passive) right away.
    this.reconciler?.trigger(0);
    void this.writeGateway().catch(() => undefined);
    void this.startNatDiscovery();
    this.brokerSync = new BrokerSync({
      local: this.d.local,
      broker: this.d.broker,
      localNamespace: this.ns,
      brokerNamespace: this.d.cfg.broker.remoteNamespace,
      clusterId: this.d.cfg.clusterId,
      log: this.log.child({ sub: 'broker-sync' }),
    });
    const syncing = this.brokerSync.start();
    await this.ensurePublished();
    await syncing;
    void this.labelPod('active');
  }

  /**
   * NAT discovery runs on the active gateway only: a standby behind the same NAT answering probes from
   * the same port would confuse remote gateways (UNKNOWN_DST_ENDPOINT).
   */
  private async startNatDiscovery(): Promise<void> {
    if (!this.d.natDiscovery || this.nat || !this.localEndpoint) return;
    try {
      const nat = await this.d.natDiscovery(this.localEndpoint);
      if (!this.active) return void (await nat.stop());
      this.nat = nat;
      nat.onDecided(() => this.reconciler?.trigger());
      this.reconciler?.trigger();
    } catch (err) {
      this.natUnavailable = true;
      this.reconciler?.trigger();
      this.log.error({ err: errorMessage(err) }, 'NAT discovery failed to start; using the fallback NAT decision');
    }
  }

  /** Publishes our Endpoint and Cluster while we lead; retried until it works (or we stop leading). */
  private async ensurePublished(): Promise<void> {
    if (this.publishTimer) clearTimeout(this.publishTimer);
    this.publishTimer = undefined;
    if (!this.active || this.stopping) return;
    try {
      await this.publishLocal();
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'publishing the local Endpoint failed; retrying in 1 s');
      this.publishTimer = setTimeout(() => void this.ensurePublished(), 1000);
    }
  }

  private async becomePassive(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    // Graceful stop releases the lease too. Alone, keep the data path so the next start adopts it without a
    // flap; with a live standby (it takes the released lease at once) our cables go first: never two active.
    if (this.stopping && !this.standbyAlive()) {
      if (this.publishTimer) clearTimeout(this.publishTimer);
      return;
    }
    this.d.metrics?.leaderTransition('passive');
    this.log.debug('this gateway is now PASSIVE: removing its cables');
    if (this.publishTimer) clearTimeout(this.publishTimer);
    const bs = this.brokerSync;
    this.brokerSync = undefined;
    // Say passive at once (in parallel with the removal), so the Gateway objects never show two active.
    void this.writeGateway().catch(() => undefined);
    await this.engine?.disconnectAll();
    this.health?.setTargets([]);
    const nat = this.nat;
    this.nat = undefined;
    await nat?.stop();
    await bs?.stop();
    void this.labelPod('passive');
  }

  /** Another gateway node reported its status within the last 15 s (it can take over). */
  private standbyAlive(): boolean {
    const gws = this.gatewayInformer?.list() ?? [];
    const stale = new Set(staleGateways(gws, Date.now() / 1000, this.d.cfg.nodeName));
    return gws.some((o) => o.metadata.name !== this.d.cfg.nodeName && !stale.has(o.metadata.name));
  }

  /**
   * A restarted gateway that finds another one active removes what its previous run left: cables the
   * driver adopted, and peers it cannot list (WireGuard keeps an adopted device's peers for a while),
   * by disconnecting every remote cluster's Endpoint. Once per start.
   */
  private async fenceLeftovers(): Promise<void> {
    if (this.leftoversFenced || this.active || this.stopping || !this.engine || !this.driver) return;
    this.leftoversFenced = true;
    await this.remoteSynced?.catch(() => undefined);
    if (this.active || this.stopping) return;
    const remotes = this.remoteEndpoints().map((e) => e.spec).filter((e) => e.clusterId !== this.d.cfg.clusterId);
    const adopted = this.engine.appliedCount;
    await this.engine.disconnectAll();
    for (const ep of remotes) {
      if (this.active) return;
      await this.driver.disconnect(ep).catch((err) => this.log.warn({ cable: ep.cableName, err: errorMessage(err) }, 'removing a cable left by the previous run failed'));
    }
    this.log.info({ holder: this.elector?.holder, adopted, remotes: remotes.length }, 'another gateway is active: removed cables this node\'s previous run may have left');
  }

  /** Creates/updates our Endpoint and Cluster and removes our cluster's other (stale) local Endpoints. */
  private get globalnet(): boolean {
    return this.d.cfg.globalCidrs.length > 0;
  }

  /** With Globalnet, follows the node's global IP (globalnet allocates it after we start) into our Endpoint. */
  private async refreshGlobalHealthCheckIP(): Promise<void> {
    if (!this.globalnet || !this.localEndpoint || !this.d.cfg.healthCheck.enabled) return;
    const ip = nodeGlobalIP(await this.d.local.get(resourcePath('', 'v1', 'nodes', undefined, this.d.cfg.nodeName))) ?? '';
    if (ip === this.localEndpoint.healthCheckIP) return;
    this.localEndpoint = { ...this.localEndpoint, healthCheckIP: ip, healthCheckIPs: ip ? [ip] : [] };
    this.log.info({ healthCheckIP: ip }, 'health-check IP is now this node\'s global IP');
    if (this.active) await this.publishLocal();
  }

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
    else if (canonical(existing.spec) !== canonical(obj.spec)) await this.d.local.replace(`${collection}/${name}`, { ...obj, metadata: { ...existing.metadata } });
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

  /** Feeds the cable state log (one info line per state change); skipped mid-reconcile and when stopping. */
  private async observeCables(): Promise<void> {
    if (this.observing || this.reconciling || this.stopping) return;
    this.observing = true;
    try {
      const conns = await this.connections();
      if (!this.reconciling && !this.stopping) this.cableLog.observe(conns);
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'cannot read the cable states');
    } finally {
      this.observing = false;
    }
  }

  private async reconcile(): Promise<void> {
    this.reconciling = true;
    try {
      await this.reconcileOnce();
    } finally {
      this.reconciling = false;
    }
  }

  private async reconcileOnce(): Promise<void> {
    if (!this.engine || !this.localEndpoint) return;
    const sel = selectRemoteEndpoints(this.remoteEndpoints(), this.d.cfg.clusterId, this.d.cfg.cableDriver);
    this.nat?.setRemotes(sel.wanted);
    // Fencing: only a gateway that holds a live lease configures cables.
    if (!this.elector?.isLeader()) {
      if (this.active) await this.becomePassive();
      return;
    }
    // A removal of leftovers started while we were passive must not undo the cables we make now.
    await this.fencing;
    this.engine.setWanted(sel);
    await this.engine.reconcile();
    // Changes a reconcile makes (an error that clears on the next retry) may be shorter than the poll.
    this.cableLog.observe(await this.connections());
    if (!this.swept && this.driver?.sweep && this.remoteInformer?.hasSynced) {
      // Once per start, after the first full pass: remove cables a previous run left for vanished remotes.
      await this.driver.sweep().catch((err) => this.log.warn({ err: errorMessage(err) }, 'sweeping stale cables failed'));
      this.swept = true;
    }
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
    const collection = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'gateways', this.ns);
    const path = `${collection}/${this.d.cfg.nodeName}`;
    const health = (c: string): ConnectionHealth | undefined => this.health?.health(c);
    let fresh: KubeObject | undefined;
    for (let attempt = 1; ; attempt++) {
      const conns = await this.connections();
      if (this.localEndpoint) this.d.metrics?.update(this.localEndpoint, conns, health);
      const existing = fresh ?? this.gatewayInformer?.get(this.ns, this.d.cfg.nodeName) ?? (await this.d.local.getOrUndefined(path));
      // Built right before it is sent, from the state as it is now: a write never carries a stale haStatus
      // (a write that raced another one gets 409 and is rebuilt).
      const active = this.active;
      const obj = buildGatewayObject({
        hostname: this.d.cfg.nodeName,
        namespace: this.ns,
        haStatus: active ? 'active' : 'passive',
        localEndpoint: this.localEndpoint ?? buildLocalEndpoint(this.d.cfg, { name: this.d.cfg.nodeName, privateIP: '0.0.0.0', labels: {} }, {}),
        connections: active ? conns : [],
        health,
        statusFailure: [...this.statusFailure.values()].join('; '),
        version: this.d.version,
        nowSeconds: Date.now() / 1000,
      });
      try {
        if (existing) await this.d.local.replace(path, { ...obj, metadata: { ...existing.metadata, annotations: { ...existing.metadata.annotations, ...obj.metadata.annotations } } });
        else await this.d.local.create(collection, obj);
      } catch (err) {
        // A stale cached resourceVersion (or the active gateway marked us passive): read fresh, rebuild, retry.
        if (!isApiError(err, 409) || attempt >= 3) throw err;
        fresh = await this.d.local.getOrUndefined(path);
        continue;
      }
      // Our state changed while the write was in flight: write again so the object ends up right.
      if (this.active === active || attempt >= 3) break;
      fresh = await this.d.local.getOrUndefined(path);
    }
    // One Gateway status sync, on every gateway (passive ones too): HawserGatewaySyncStalled watches it.
    this.d.metrics?.syncIteration();
    if (this.active && this.elector?.isLeader() && this.gatewayInformer) {
      const nowSeconds = Date.now() / 1000;
      const stale = staleGateways(this.gatewayInformer.list(), nowSeconds, this.d.cfg.nodeName);
      for (const name of stale) {
        await this.d.local.delete(`${collection}/${name}`);
        this.log.info({ gateway: name }, 'removed a stale Gateway object (not updated for 15 s)');
      }
      for (const o of this.gatewayInformer.list()) {
        if (o.metadata.name !== this.d.cfg.nodeName && !stale.includes(o.metadata.name)) await this.markPassive(collection, o);
      }
    }
  }

  /**
   * Another node's Gateway saying active is the last report of a gateway that lost the lease without
   * telling (crash, partition): we hold the lease, so it is passive. It overwrites this when it comes back.
   */
  private async markPassive(collection: string, o: KubeObject): Promise<void> {
    const status = (typeof o.status === 'object' && o.status !== null ? o.status : {}) as Record<string, unknown>;
    if (status.haStatus !== 'active') return;
    const name = o.metadata.name;
    const write = (cur: KubeObject): Promise<KubeObject> => this.d.local.replace(`${collection}/${name}`, {
      ...cur,
      status: { ...(cur.status as object), haStatus: 'passive', connections: [], statusFailure: `not active: the gateway lease is held by ${this.d.cfg.nodeName}` },
    });
    try {
      await write(o).catch(async (err: unknown) => {
        if (!isApiError(err, 409)) throw err;
        const cur = await this.d.local.getOrUndefined(`${collection}/${name}`);
        const st = (cur?.status ?? {}) as Record<string, unknown>;
        if (cur && st.haStatus === 'active' && this.elector?.isLeader()) await write(cur);
      });
      this.log.info({ gateway: name }, 'marked another node\'s Gateway passive: it said active, but this gateway holds the lease');
    } catch (err) {
      this.log.warn({ gateway: name, err: errorMessage(err) }, 'cannot mark a stale active Gateway passive; retrying with the next status write');
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
    if (this.cableTimer) clearInterval(this.cableTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.publicIpTimer) clearTimeout(this.publicIpTimer);
    this.reconciler?.close();
    // Stop serving before the lease is handed over (cables removed, broker sync stopped), so the standby
    // that takes the released lease is never active alongside us.
    await this.becomePassive();
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

/** The node's Globalnet global IP (annotation `submariner.io/globalIp`), if valid. */
function nodeGlobalIP(node: KubeObject): string | undefined {
  const v = node.metadata.annotations?.[NODE_GLOBAL_IP_ANNOTATION];
  return typeof v === 'string' && isIPv4(v) ? v : undefined;
}
