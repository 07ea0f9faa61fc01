// The one interface every cable driver implements, and the connection state the engine reads back for
// Gateway status and metrics. Drivers are declarative: set(cables) makes the data path carry exactly the
// given cables (observe → plan → apply), so adoption after a restart, drift repair and removal of what a
// previous run left are all decided by the driver's planner, never by the caller. Drivers run no periodic
// timer of their own: events (charon's VICI events, a daemon's exit) drive them, and the engine's resync
// (`set(cables, { resync: true })`) is the one safety net for drift nothing reported.
import type { Logger } from '../log/index.js';
import type { EndpointSpec } from '../k8s/resources.js';
import type { GatewayConfig, CableDriverName } from '../config/roles.js';

/** The NAT decision for one remote endpoint (from NAT discovery). */
export interface NatInfo {
  /** The remote IP to send to (its private or public IP). */
  useIP: string;
  /** Whether NAT sits between us (forces UDP encapsulation for IPsec). */
  useNAT: boolean;
}

/** One cable the engine wants: the remote Endpoint (keyed by its cable name) and how to reach it. */
export interface WantedCable {
  endpoint: EndpointSpec;
  nat: NatInfo;
}

/** What set() made of one wanted cable: in place (changed or already so), or why not (what to fix). */
export type CableOutcome = { ok: true; changed: boolean } | { ok: false; error: string };

/** Keys a driver publishes in the local Endpoint's backend_config (e.g. WireGuard `publicKey`). */
export type LocalBackendConfig = Record<string, string>;

export type ConnectionStatus = 'connecting' | 'connected' | 'error';

export interface ConnectionState {
  /** The remote endpoint's cable name: the key of a connection. */
  cableName: string;
  endpoint: EndpointSpec;
  status: ConnectionStatus;
  /** For `error`: what is wrong and what to fix. */
  statusMessage: string;
  usingIP: string;
  usingNAT: boolean;
  rxBytes?: number;
  txBytes?: number;
  /** Unix ms of the last handshake (WireGuard) or SA establishment (IPsec). */
  lastHandshakeMs?: number;
}

export interface DriverContext {
  config: GatewayConfig;
  /** This gateway's Endpoint as it will be published (without the driver's backend_config). */
  localEndpoint: EndpointSpec;
  log: Logger;
}

/** How a set() goes about it. */
export interface SetOptions {
  /**
   * The engine's periodic resync (engine.ts `DEFAULT_RESYNC_MS`, the only resync timer; drivers keep none):
   * read every cable back from the data path and repair what drifted without an event (a connection unloaded,
   * a peer or route removed behind our back), instead of trusting what this driver applied last. A driver
   * whose every set() observes the whole data path anyway (WireGuard, VXLAN) may ignore it.
   */
  resync?: boolean;
}

export interface CableDriver {
  readonly name: CableDriverName;
  /** Starts or adopts the data path (daemon, device) and observes what exists. Idempotent; disturbs no working cable. */
  init(): Promise<void>;
  localBackendConfig(): LocalBackendConfig;
  /**
   * Level-triggered and idempotent: afterwards the data path carries exactly `cables`. A cable whose state
   * already matches (also one a previous run left) is left alone, so a restart does not flap it; state of
   * ours that no wanted cable claims is removed; `set([])` removes every cable of ours. One outcome per
   * wanted cable name; a bad cable never stops the others. Rejects only when the data path cannot be
   * observed or changed at all (dead daemon, no device).
   */
  set(cables: readonly WantedCable[], opts?: SetOptions): Promise<Map<string, CableOutcome>>;
  /** The cables of the last set(), with their state read from the data path (not from memory). */
  connections(): Promise<ConnectionState[]>;
  /**
   * Registers the engine's callback for changes the driver makes or sees on its own (it restarted a dead
   * daemon and re-applied the cables): the engine observes the cables again, so their states are logged
   * without sampling.
   */
  onDataPathChange?(cb: () => void): void;
  /** Removes everything this driver installed, the device/daemon too (uninstall). */
  cleanup(): Promise<void>;
  /** Stops the driver's own loops without touching the data path (so a restart can adopt it). */
  close(): Promise<void>;
}
