// The gateway role as a state machine: starting → standby ⇄ active (⇄ lapsed) → stopping → stopped. Every gateway node
// keeps its cable driver warm (standby); the one holding the Lease publishes its Endpoint, syncs with the
// broker and keeps one cable per remote cluster. `TRANSITIONS` is the whole behaviour: which event moves
// which state where, and what the move does; the class below is the table's actions. The work itself lives
// with the collaborators: node-facts.ts, endpoint-follow.ts (public and global IP), publisher.ts,
// status-writer.ts (the only Gateway writer) with status-view.ts (what it says), watches.ts (informers),
// services.ts (election, broker sync), pod-label.ts, cable-log.ts and the CablesPort (ports.ts).
import type { Logger } from '../log/index.js';
import { errorMessage } from '../util/errors.js';
import { Backoff } from '../util/wait.js';
import type { BrokerSync } from '../k8s/brokersync.js';
import { Debouncer } from '../k8s/informer.js';
import type { EndpointSpec } from '../k8s/submariner/endpoint.js';
import { selectRemoteEndpoints, type ConnectionView, type Selection } from '../cable-drivers/engine.js';
import type { NatInfo } from '../cable-drivers/types.js';
import { CableStateLog, type CableStateChange } from './cable-log.js';
import type { GatewayDeps } from './deps.js';
import { EndpointFollower } from './endpoint-follow.js';
import { buildLocalCluster, buildLocalEndpoint, driverConfig, unpublishedSubnets, type NodeFacts } from './local-endpoint.js';
import { NodeFactsReader, type StopDecision } from './node-facts.js';
import { NatChoice } from './nat-choice.js';
import { labelPod } from './pod-label.js';
import { publish } from './publisher.js';
import { gatewaySnapshot, serving, type RoleView } from './status-view.js';
import { Failures, StatusWriter } from './status-writer.js';
import { StateMachine, type Transition as GenericTransition } from './state-machine.js';
import { stopGateway } from './stop.js';
import { Timers } from './timers.js';
import { GatewayWatches } from './watches.js';
import { followElection, gatewayElector, roleCables, startBrokerSync, startHealth } from './services.js';
import { uninstallGateway, type UninstallOptions } from './uninstall.js';
import type { CablesPort, ElectorPort, HealthPort } from './ports.js';

export type { GatewayDeps } from './deps.js';

export { RESTART_GRACE_MS } from './stop.js';

export type GatewayState = 'starting' | 'standby' | 'active' | 'lapsed' | 'stopping' | 'stopped';
export type GatewayEvent =
  | 'driver-start-failed'
  | 'driver-started'
  | 'lease-acquired'
  | 'lease-lost'
  | 'renew-failed'
  | 'other-holder-seen'
  | 'lapse-expired'
  | 'endpoints-changed'
  | 'publish-failed'
  | 'sigterm'
  | 'stopped';
export type GatewayAction =
  | 'retry-driver-start'
  | 'begin-standby'
  | 'activate'
  | 'step-down'
  | 'deactivate'
  | 'reconcile'
  | 'retry-publish'
  | 'write-status'
  | 'stop';

export type Transition = GenericTransition<GatewayState, GatewayEvent, GatewayAction>;

const RUNNING: readonly GatewayState[] = ['starting', 'standby', 'active', 'lapsed'];

/** The whole behaviour of the role. An event with no row for the current state is ignored. */
export const TRANSITIONS: readonly Transition[] = [
  { from: 'starting', on: 'driver-start-failed', to: 'starting', do: ['write-status', 'retry-driver-start'] },
  { from: 'starting', on: 'driver-started', to: 'standby', do: ['begin-standby', 'write-status'] },
  { from: 'standby', on: 'lease-acquired', to: 'active', do: ['activate', 'write-status'] },
  // Another node leads: a standby then carries no cable (`cableDuty`), so the ordinary reconcile removes
  // whatever cables this node's previous run left (fencing), and our Gateway says passive.
  { from: 'standby', on: 'other-holder-seen', to: 'standby', do: ['reconcile', 'write-status'] },
  { from: 'standby', on: 'endpoints-changed', to: 'standby', do: ['reconcile'] },
  { from: 'active', on: 'endpoints-changed', to: 'active', do: ['reconcile'] },
  { from: 'active', on: 'publish-failed', to: 'active', do: ['retry-publish'] },
  // Fencing: a gateway that sees another holder stops serving at once.
  { from: 'active', on: 'lease-lost', to: 'standby', do: ['deactivate', 'write-status'] },
  // A missed renewal steps down (passive, no broker sync, Endpoint left as it is); the cables stay up for
  // the grace (HAWSER_LEASE_LAPSE_GRACE, config/roles.ts `leaseLapseGraceMs`) unless another holder is seen,
  // and winning the lease back resumes without a flap.
  // Local route agents follow the published Endpoint and remote clusters the broker's, so cables kept by a
  // lapsed gateway carry traffic only while no other gateway has taken over.
  { from: 'active', on: 'renew-failed', to: 'lapsed', do: ['step-down', 'write-status'] },
  { from: 'lapsed', on: 'lease-acquired', to: 'active', do: ['activate', 'write-status'] },
  { from: 'lapsed', on: 'other-holder-seen', to: 'standby', do: ['deactivate', 'write-status'] },
  { from: 'lapsed', on: 'lease-lost', to: 'standby', do: ['deactivate', 'write-status'] },
  { from: 'lapsed', on: 'lapse-expired', to: 'standby', do: ['deactivate', 'write-status'] },
  ...RUNNING.map((from): Transition => ({ from, on: 'sigterm', to: 'stopping', do: ['stop'] })),
  { from: 'stopping', on: 'stopped', to: 'stopped', do: [] },
];

const NO_CABLES: Selection = { wanted: [], rejected: [] };

/** What this gateway does with its cables now: carry the selection, carry none, or leave them as they are. */
export type CableDuty = 'selection' | 'none' | 'leave';

/**
 * Pure. Fencing: only the holder of a live lease carries the selected cables; a standby that knows another
 * holder carries none (what its previous run left goes by the same reconcile). Nothing is decided while the
 * holder is unknown (or is this node): a restart in place keeps its data path until it has renewed its own
 * lease. A lapsed gateway keeps its cables for the grace; a starting or stopping one leaves them to start/stop.
 */
export function cableDuty(now: { state: GatewayState; leading: boolean; otherHolder: boolean }): CableDuty {
  if (now.state === 'active' && now.leading) return 'selection';
  if (now.state === 'standby' && now.otherHolder) return 'none';
  return 'leave';
}

export class GatewayRole {
  private readonly machine: StateMachine<GatewayState, GatewayEvent, GatewayAction>;
  private stoppingFrom: GatewayState | undefined;
  /** Set once a SIGTERM decided to hand over: from then on the Gateway says passive. */
  private handingOver = false;
  private readonly log: Logger;
  private readonly failures: Failures;
  private readonly facts: NodeFactsReader;
  private readonly status: StatusWriter;
  private readonly cableLog: CableStateLog;
  private readonly follower: EndpointFollower;
  private readonly nat: NatChoice;
  private readonly timers = new Timers();
  private readonly driverBackoff: Backoff;
  private nodeFacts: NodeFacts | undefined;
  private cables: CablesPort | undefined;
  private localEndpoint: EndpointSpec | undefined;
  private elector: ElectorPort | undefined;
  private brokerSync: BrokerSync | undefined;
  private watches: GatewayWatches | undefined;
  private health: HealthPort | undefined;
  private reconciler: Debouncer | undefined;
  /** The elector has said who holds the lease at least once (no "passive" is written before that). */
  private electionSettled = false;
  /** The other holder the last empty-set reconcile was logged for (one line per holder, not per pass). */
  private standbyFor: string | undefined;
  /** Counts lapses, so a grace timer of an earlier lapse cannot end a later one. */
  private lapses = 0;
  private reportedActive = false;
  private ready: { promise: Promise<void>; resolve: () => void };
  /** Decided on SIGTERM (for the log, tests and the caller). */
  stopDecision: StopDecision | undefined;

  constructor(private readonly d: GatewayDeps) {
    // `cluster` is left for the remote cluster of a cable line; this gateway's own is `localCluster`.
    this.log = d.log.child({ localCluster: d.cfg.clusterId, node: d.cfg.nodeName, driver: d.cfg.cableDriver });
    this.machine = new StateMachine(TRANSITIONS, 'starting', {
      log: this.log,
      run: (a) => this.act(a),
      entered: (t) => {
        if (t.to === 'stopping') this.stoppingFrom = t.from;
      },
    });
    this.cableLog = new CableStateLog(this.log);
    this.driverBackoff = new Backoff(d.driverRetryMs ?? 1000, 15_000);
    this.failures = new Failures(this.log, d.metrics, () => this.status.markDirty());
    this.nat = new NatChoice({ discovery: d.natDiscovery, failures: this.failures, onDecided: () => this.reconciler?.trigger() });
    this.facts = new NodeFactsReader({ cfg: d.cfg, client: d.local, log: this.log, failures: this.failures, healthCheckIP: d.healthCheckIP, publicIpIO: d.publicIpIO });
    this.status = new StatusWriter({
      client: d.local, namespace: d.cfg.namespace, nodeName: d.cfg.nodeName, version: d.version, log: this.log, failures: this.failures, metrics: d.metrics,
      snapshot: () => gatewaySnapshot(this.view(), {
        localEndpoint: this.localEndpoint,
        placeholder: () => buildLocalEndpoint(d.cfg, { name: d.cfg.nodeName, privateIP: '0.0.0.0', labels: {} }, {}),
        connections: () => this.connections(),
        health: (c) => this.health?.health(c),
      }),
      leading: () => this.elector?.isLeader() ?? false,
      gateways: () => this.watches?.otherGateways() ?? [],
      debounceMs: d.statusDebounceMs, refreshMs: d.statusRefreshMs,
    });
    this.follower = new EndpointFollower({
      facts: this.facts, failures: this.failures, log: this.log,
      current: () => this.localEndpoint,
      update: async (next) => {
        this.localEndpoint = next;
        this.nat.setLocal(next);
        await this.ensurePublished();
      },
      publicIpRecheckMs: d.publicIpRecheckMs,
      followGlobalIP: d.cfg.globalCidrs.length > 0 && d.cfg.healthCheck.enabled,
    });
    let resolve = (): void => undefined;
    const promise = new Promise<void>((r) => (resolve = r));
    this.ready = { promise, resolve };
  }

  get currentState(): GatewayState {
    return this.machine.state;
  }

  /** Every transition taken, as `from --event--> to` (tests read it). */
  get transcript(): readonly string[] {
    return this.machine.transcript;
  }

  private get state(): GatewayState {
    return this.machine.state;
  }

  private fire(ev: GatewayEvent): Promise<void> {
    return this.machine.fire(ev);
  }

  private async act(a: GatewayAction): Promise<void> {
    try {
      await this.runAction(a);
      this.failures.clear(`action:${a}`);
    } catch (err) {
      this.failures.set(`action:${a}`, `${a} failed: ${errorMessage(err)}`);
    }
  }

  private async runAction(a: GatewayAction): Promise<void> {
    switch (a) {
      case 'retry-driver-start':
        return this.timers.after(this.driverBackoff.next(), () => void this.startCables());
      case 'begin-standby':
        return this.beginStandby();
      case 'activate':
        return this.activate();
      case 'step-down':
        return this.stepDown();
      case 'deactivate':
        return this.deactivate();
      case 'reconcile':
        return this.reconciler?.trigger();
      case 'retry-publish':
        return this.timers.after(1000, () => void this.ensurePublished());
      case 'write-status':
        return this.status.markDirty();
      case 'stop':
        return this.stopAll();
    }
  }

  /** Resolves once the role stands by (or stops); SIGTERM during a slow start is handled by `stop`. */
  async start(): Promise<void> {
    for (const w of this.d.cfg.warnings) this.log.warn(w);
    const v6 = unpublishedSubnets(this.d.cfg);
    if (v6.length) this.log.warn({ subnets: v6 }, 'IPv6 cluster/service CIDRs are not published in the Endpoint: hawser has no IPv6 cables yet (a peer would try an IPv6 cable and fail)');
    this.nodeFacts = await this.facts.readUntil(() => this.state === 'starting');
    if (this.state !== 'starting' || !this.nodeFacts) return;
    const base = buildLocalEndpoint(this.d.cfg, this.nodeFacts, {});
    this.cables = roleCables(this.d, {
      config: driverConfig(this.d.cfg, base), localEndpoint: base, log: this.log, natFor: (e: EndpointSpec) => this.natFor(e),
      // A state change is logged at once and shown in the Gateway soon after.
      onState: (c: CableStateChange) => {
        this.cableLog.write(c);
        if (c.to === 'connected') this.d.metrics?.cableConnected(c.cluster);
        this.status.markDirty();
      },
      unhealthy: (cable: string) => this.health?.unhealthy(cable),
    });
    await this.startCables();
    await this.ready.promise;
  }

  /** One attempt at the driver (warm standby: every gateway node has it up; taking over is publish + connect). */
  private async startCables(): Promise<void> {
    if (this.state !== 'starting' || !this.cables || !this.nodeFacts) return;
    try {
      const backend = await this.cables.start();
      this.localEndpoint = buildLocalEndpoint(this.d.cfg, this.nodeFacts, backend);
      this.failures.clear('driver');
      await this.fire('driver-started');
    } catch (err) {
      this.failures.set('driver', `cable driver ${this.d.cfg.cableDriver} failed to start: ${errorMessage(err)}`);
      await this.fire('driver-start-failed');
    }
  }

  private async beginStandby(): Promise<void> {
    const local = this.localEndpoint!;
    this.log.info({ endpoint: local.cableName, privateIP: local.privateIP, publicIP: local.publicIP }, 'gateway ready (standing by for the lease)');
    this.health = await startHealth(this.d, local, this.facts.cniIP, this.failures);
    this.health?.onVerdict((cable) => this.cables?.healthChanged(cable));
    this.reconciler = new Debouncer(() => this.reconcile(), 10, (err) => this.failures.set('reconcile', `reconcile failed: ${errorMessage(err)}`));
    this.watches = new GatewayWatches({ client: this.d.local, namespace: this.d.cfg.namespace, nodeName: this.d.cfg.nodeName, log: this.log, onEndpointsChanged: () => void this.fire('endpoints-changed') });
    const elector = gatewayElector(this.d, this.log);
    this.elector = elector;
    followElection(elector, {
      event: (ev) => void this.fire(ev),
      settled: () => (this.electionSettled = true),
      changed: () => this.status.markDirty(),
    });
    // Whatever the API does meanwhile, say something after one lease duration.
    this.timers.after(this.d.cfg.election.leaseDurationMs, () => {
      this.electionSettled = true;
      this.status.markDirty();
    });
    elector.start();
    this.status.start();
    this.follower.start();
    this.ready.resolve();
    void this.labelPod('passive');
  }

  /** The leader-transition metric counts each change once (a lapse and the deactivation after it are one). */
  private reportPassive(): void {
    if (!this.reportedActive) return;
    this.reportedActive = false;
    this.d.metrics?.leaderTransition('passive');
  }

  private activate(): void {
    this.reportedActive = true;
    this.d.metrics?.leaderTransition('active');
    this.log.debug({ endpoint: this.localEndpoint?.cableName }, 'this gateway is now ACTIVE');
    // Everything at once: the remote Endpoints are already in our informer, so the cables come up while
    // our Endpoint is published and the broker sync starts.
    this.reconciler?.trigger(0);
    if (this.localEndpoint) void this.nat.start(this.localEndpoint, () => this.state === 'active').then(() => this.reconciler?.trigger());
    this.brokerSync = startBrokerSync(this.d, this.log, this.failures);
    void this.ensurePublished();
    void this.labelPod('active');
  }

  /** Missed renewal: passive and out of the broker sync at once, cables kept for the grace (see TRANSITIONS). */
  private async stepDown(): Promise<void> {
    this.reportPassive();
    const lapse = ++this.lapses;
    const graceMs = this.d.cfg.leaseLapseGraceMs;
    this.log.warn({ graceMs }, 'could not renew the gateway lease in time: passive, keeping the cables up until another gateway takes the lease or the grace ends');
    this.status.markDirty(0);
    this.timers.after(graceMs, () => {
      if (lapse === this.lapses) void this.fire('lapse-expired');
    });
    const bs = this.brokerSync;
    this.brokerSync = undefined;
    await bs?.stop();
    void this.labelPod('passive');
  }

  private async deactivate(): Promise<void> {
    this.reportPassive();
    this.log.debug('this gateway is now PASSIVE: removing its cables');
    // Says passive at once (the status writer runs in parallel with the removal): never two active.
    this.status.markDirty(0);
    const bs = this.brokerSync;
    this.brokerSync = undefined;
    await this.shutdownCables();
    this.health?.setTargets([]);
    await this.nat.stop();
    await bs?.stop();
    void this.labelPod('passive');
  }

  private async shutdownCables(): Promise<void> {
    try {
      await this.cables?.shutdown();
      this.failures.clear('cables-shutdown');
    } catch (err) {
      this.failures.set('cables-shutdown', `removing cables failed: ${errorMessage(err)}`);
    }
  }

  /** Publishes our Endpoint and Cluster while we lead; a failure retries in 1 s (publish-failed). */
  private async ensurePublished(): Promise<void> {
    if (this.state !== 'active' || !this.localEndpoint) return;
    try {
      await publish({ client: this.d.local, cfg: this.d.cfg, local: this.localEndpoint, cluster: buildLocalCluster(this.d.cfg), log: this.log });
      this.failures.clear('publish');
    } catch (err) {
      this.failures.set('publish', `publishing the local Endpoint failed: ${errorMessage(err)}`);
      await this.fire('publish-failed');
    }
  }

  private natFor(e: EndpointSpec): NatInfo {
    return this.nat.decision(this.localEndpoint!, e);
  }

  private duty(): CableDuty {
    const holder = this.elector?.holder ?? '';
    return cableDuty({ state: this.state, leading: this.elector?.isLeader() ?? false, otherHolder: holder !== '' && holder !== this.elector?.identity });
  }

  private async reconcile(): Promise<void> {
    if (!this.cables || !this.localEndpoint || !this.watches) return;
    // Carrying no cable needs no Endpoint cache: a standby fences at once, even while the cache syncs.
    if (this.duty() === 'none') await this.applyCables(NO_CABLES);
    // Never select from an empty cache: it would remove the cables adopted from the previous run.
    await this.watches.endpointsSynced;
    const sel = selectRemoteEndpoints(this.watches.remoteEndpoints(), this.d.cfg.clusterId, this.d.cfg.cableDriver);
    this.nat.setRemotes(sel.wanted);
    if (this.duty() === 'selection') await this.applyCables(sel);
  }

  /** Hands `wanted` to the cables in one level-triggered pass, and follows up (health targets, retries, status). */
  private async applyCables(wanted: Selection): Promise<void> {
    const cables = this.cables!;
    cables.setWanted(wanted);
    await cables.reconcile();
    const holder = this.elector?.holder ?? '';
    if (wanted === NO_CABLES && this.standbyFor !== holder) {
      this.standbyFor = holder;
      this.log.info({ holder }, 'another gateway holds the lease: this standby carries no cables (any a previous run left were removed)');
    }
    this.failures.clear('reconcile');
    this.health?.setTargets(wanted.wanted.filter((e) => e.healthCheckIP).map((e) => ({ cableName: e.cableName, targetIP: e.healthCheckIP })));
    const next = cables.nextRetryAt();
    if (next !== undefined) this.timers.after(Math.max(50, next - Date.now()), () => this.reconciler?.trigger());
    this.status.markDirty();
  }

  private view(): RoleView {
    return {
      state: this.state, stoppingFrom: this.stoppingFrom, handingOver: this.handingOver, electionSettled: this.electionSettled,
      problems: this.failures.size > 0, hasEndpoint: this.localEndpoint !== undefined,
    };
  }

  /** The connections as the Gateway shows them (none unless serving). */
  async connections(): Promise<ConnectionView[]> {
    if (!this.cables || !serving(this.view())) return [];
    return this.cables.connections();
  }

  private labelPod(status: 'active' | 'passive'): Promise<void> {
    return labelPod({ client: this.d.local, failures: this.failures, podName: this.d.cfg.podName, podNamespace: this.d.cfg.podNamespace ?? this.d.cfg.namespace }, status);
  }

  /** SIGTERM: hand over or restart in place (node-facts.ts `decideStop`), then stop. */
  async stop(): Promise<void> {
    this.ready.resolve();
    await this.fire('sigterm');
  }

  private async stopAll(): Promise<void> {
    this.timers.clear();
    this.follower.stop();
    this.reconciler?.close();
    const bs = this.brokerSync;
    this.brokerSync = undefined;
    await stopGateway({
      d: this.d, log: this.log, facts: this.facts, status: this.status, nat: this.nat, elector: this.elector, brokerSync: bs, health: this.health,
      watches: this.watches, cables: this.cables, wasActive: this.stoppingFrom === 'active' || this.stoppingFrom === 'lapsed', shutdownCables: () => this.shutdownCables(), reportPassive: () => this.reportPassive(),
      decided: (decision) => {
        this.stopDecision = decision;
        this.handingOver = decision.kind === 'hand-over';
      },
    });
    void this.fire('stopped');
  }

  /** SUBMARINER_UNINSTALL on the gateway (uninstall.ts). */
  static uninstall(o: UninstallOptions): Promise<void> {
    return uninstallGateway(o);
  }
}
