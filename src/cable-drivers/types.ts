// The one interface every cable driver implements (the shape of Submariner's driver interface),
// and the connection state the engine reads back for Gateway status and metrics.
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

export interface CableDriver {
  readonly name: CableDriverName;
  /** Starts or adopts the data path (daemon, device). Idempotent; must not disturb working cables. */
  init(): Promise<void>;
  /** Keys this driver publishes in the local Endpoint's backend_config (e.g. WireGuard `publicKey`). */
  localBackendConfig(): Record<string, string>;
  /**
   * Ensures a cable to `remote` using the NAT decision. Idempotent: with an identical remote and
   * NAT decision it changes nothing. Throws a HawserError whose message says what to fix.
   */
  connect(remote: EndpointSpec, nat: NatInfo): Promise<void>;
  /** Removes the cable to `remote` (by cable name). Idempotent. */
  disconnect(remote: EndpointSpec): Promise<void>;
  /** The driver's observed connections, from the data path itself (not from memory). */
  connections(): Promise<ConnectionState[]>;
  /**
   * Optional: removes cables the data path has but this driver instance never connected (left by a
   * previous run for remotes that disappeared meanwhile). Called once after the first full reconcile.
   */
  sweep?(): Promise<void>;
  /** Removes everything this driver installed (uninstall). */
  cleanup(): Promise<void>;
  /** Stops the driver's own loops without touching the data path (so a restart can adopt it). */
  close(): Promise<void>;
}

export type DriverFactory = (ctx: DriverContext) => CableDriver;
