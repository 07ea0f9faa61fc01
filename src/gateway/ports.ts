// What the gateway role needs from the rest of the system, as narrow interfaces: the role is tested with
// fakes of these (test/gateway/role.test.ts); src/gateway/wiring.ts adapts the real modules to them.
import type { Logger } from '../log/index.js';
import type { GatewayConfig } from '../config/roles.js';
import type { EndpointSpec } from '../k8s/resources.js';
import type { CableStateChange, ConnectionView, Selection } from '../cable-drivers/engine.js';
import type { NatInfo } from '../cable-drivers/types.js';
import type { ConnectionHealth } from './status.js';

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
  /** A reason when the cable should be reported as error (too many consecutive losses). */
  unhealthy(cableName: string): string | undefined;
  /** Calls `cb` when a connection's verdict flips (healthy ⇄ unhealthy). */
  onVerdict(cb: (cableName: string) => void): void;
  stop(): Promise<void>;
}

export interface MetricsPort {
  /** The connections as the Gateway status shows them (the metrics may publish them later, when scraped). */
  update(local: EndpointSpec, conns: readonly ConnectionView[], health: (cable: string) => ConnectionHealth | undefined): void;
  /** A cable to `remoteCluster` became connected (hawser_cable_connects_total). */
  cableConnected(remoteCluster: string): void;
  syncIteration(): void;
  reconcileError(subsystem: string): void;
  leaderTransition(to: 'active' | 'passive'): void;
}

/** The keys the cable driver publishes in the local Endpoint's backend_config (e.g. WireGuard's publicKey). */
export type LocalBackendConfig = Record<string, string>;

/**
 * Cables as the role sees them: one object per gateway process, level-triggered. The role never talks to a
 * driver or the engine directly.
 */
export interface CablesPort {
  /** Starts the driver and adopts the cables a previous run left (restart without a flap). Retried by the role. */
  start(): Promise<LocalBackendConfig>;
  /** The remote Endpoints to have cables to (and the rejected ones, reported as error connections). */
  setWanted(sel: Selection): void;
  /** One pass towards the wanted set; returns the plan text (per-cable errors stay per cable). */
  reconcile(): Promise<string>;
  /** The connections as observed now (health verdicts applied); state changes are reported first (onState). */
  connections(): Promise<ConnectionView[]>;
  /** The health check's verdict on a cable flipped: its state is judged again (CablesContext.unhealthy). */
  healthChanged(cableName: string): void;
  /** When a failed cable is due again (epoch ms), if any. */
  nextRetryAt(): number | undefined;
  /** Removes every cable, including ones a previous run left: this gateway stops serving. */
  shutdown(): Promise<void>;
  /** Stops our own loops and leaves the data path (cables, daemons) as it is, for the next start to adopt. */
  stop(): Promise<void>;
}

export interface CablesContext {
  /** The config the driver runs with (a node label may have changed the cable port). */
  config: GatewayConfig;
  /** This gateway's Endpoint without the driver's backend_config. */
  localEndpoint: EndpointSpec;
  log: Logger;
  natFor: (remote: EndpointSpec) => NatInfo;
  /** A cable's state changed (the cable-state log writes it). */
  onState?: (change: CableStateChange) => void;
  /** The health check's verdict on a cable: why it counts as down, if it does. */
  unhealthy?: (cableName: string) => string | undefined;
}

export type CablesFactory = (ctx: CablesContext) => CablesPort;

/** The gateway Lease election as the role uses it (src/election/lease.ts's LeaderElector). */
export interface ElectorPort {
  readonly identity: string;
  /** The holder last seen. */
  readonly holder: string;
  /** Holds a live lease (fenced at the renew deadline). */
  isLeader(): boolean;
  start(): void;
  /** Stops; `release` hands the lease over at once, `holdForMs` keeps it for a restart in place. */
  stop(o?: { release?: boolean; holdForMs?: number }): Promise<void>;
  on(event: 'started', cb: () => void): unknown;
  on(event: 'stopped', cb: (why: string) => void): unknown;
  on(event: 'leader', cb: (holder: string) => void): unknown;
}
