// WireGuard device state as observed (complete values) and as desired (optional fields: undefined means
// "leave alone"), shared by the userspace (UAPI) and kernel (generic netlink) back ends.
// Keys are base64 text (as `wg` prints them) at this API; each back end converts to its wire form.

export type DeviceType = 'userspace' | 'kernel';

/** One peer as the device reports it. */
export interface Peer {
  publicKey: string;
  /** The all-zero key when none is set. */
  presharedKey: string;
  /** `ip:port` or `[ip6]:port`; undefined when the peer has no endpoint yet. */
  endpoint?: string;
  /** Seconds; 0 = off. */
  persistentKeepaliveIntervalSec: number;
  /** Unix ms of the last completed handshake; 0 = never. */
  lastHandshakeMs: number;
  rxBytes: number;
  txBytes: number;
  /** Canonical CIDR text, in the device's order. */
  allowedIPs: string[];
  protocolVersion: number;
}

/** A device as it is now. */
export interface Device {
  name: string;
  type: DeviceType;
  /** Undefined when the device has no private key. */
  privateKey?: string;
  publicKey?: string;
  listenPort: number;
  /** 0 = off. */
  fwmark: number;
  peers: Peer[];
}

/** Desired change to one peer (wgctrl-go's PeerConfig). */
export interface PeerConfig {
  publicKey: string;
  /** Remove this peer (other fields are ignored). */
  remove?: boolean;
  /** Only change the peer if it exists already; never create it. */
  updateOnly?: boolean;
  /** Set; the all-zero key clears it. */
  presharedKey?: string;
  endpoint?: string;
  /** Seconds; 0 turns it off. */
  persistentKeepaliveIntervalSec?: number;
  /** Drop the peer's allowed IPs before adding `allowedIPs` (an empty list then clears them). */
  replaceAllowedIPs?: boolean;
  allowedIPs?: string[];
}

/** Desired change to a device (wgctrl-go's Config). */
export interface Config {
  /** Set; the all-zero key clears it. */
  privateKey?: string;
  /** 0 lets the device choose a port. */
  listenPort?: number;
  /** 0 clears it. */
  fwmark?: number;
  /** Remove every peer not in `peers` (all of them when `peers` is empty). */
  replacePeers?: boolean;
  peers?: PeerConfig[];
}

/** A WireGuard control back end (userspace UAPI or kernel netlink). */
export interface WgClient {
  readonly type: DeviceType;
  /** Devices this back end can see. */
  devices(): Promise<Device[]>;
  /** One device; throws HawserError NOT_FOUND when this back end does not have it. */
  device(name: string): Promise<Device>;
  configureDevice(name: string, cfg: Config): Promise<void>;
  close(): Promise<void>;
}
