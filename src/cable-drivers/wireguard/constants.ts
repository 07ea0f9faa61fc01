// The WireGuard cable's names and numbers (Submariner's `wireguard` driver, plus hawser's tags).
//
// Choices:
// - The device is named `submariner` and listens on our `udp-port` (CE_IPSEC_NATTPORT, default 4500).
// - Routes to remote subnets go `dev submariner` in table 150, carrying protocol 119 ('w'): the driver
//   owns exactly the routes on its device with that protocol, and cleanup removes exactly those. The
//   route agent (protocol 147) leaves `cableInterface` unset for WireGuard so the two never both route a
//   remote subnet in table 150.
// - Table 150 is used through a `pref 150 lookup 150` rule. Whoever comes first adds it: the driver only
//   adds one (tagged protocol 119) when no rule looks up table 150, and removes only its own.
// - The device has no address. Routes carry `src` = our address inside the cluster CIDRs (the CNI
//   interface's, as the route agent does), so traffic the gateway itself sends to remote pods (health
//   checks) leaves with a pod-network source that the remote's allowed IPs accept.
import { WIREGUARD_IFNAME as OWNED_WG_IFNAME, WIREGUARD_ROUTE_PROTO as OWNED_WG_PROTO, WIREGUARD_ROUTE_TABLE as OWNED_WG_TABLE, WIREGUARD_RULE_PREF } from '../../os/owned.js';
export const WIREGUARD_IFNAME = OWNED_WG_IFNAME;
export const DEFAULT_LISTEN_PORT = 4500;
export const WIREGUARD_ROUTE_TABLE = OWNED_WG_TABLE;
export const WIREGUARD_RULE_PRIORITY = WIREGUARD_RULE_PREF;
export const WIREGUARD_ROUTE_PROTO = OWNED_WG_PROTO;
export const KEEPALIVE_SEC = 10;
/** backend_config keys (exact spelling as Submariner's). */
export const PUBLIC_KEY_KEY = 'publicKey';
export const INTERFACE_NAME_KEY = 'interface-name';
export const UDP_PORT_KEY = 'udp-port';
/** A handshake younger than this counts as connected (WireGuard re-handshakes every 2 min under traffic). */
export const LIVE_HANDSHAKE_MS = 180_000;
/** Without any handshake this long after a peer was configured, the cable is an `error`. */
export const DEFAULT_HANDSHAKE_GRACE_MS = 20_000;

/** Submariner's WireGuard PSK text when CE_IPSEC_PSK is unset (its driver's envconfig default). */
export const SUBMARINER_DEFAULT_PSK_TEXT = 'default psk';
