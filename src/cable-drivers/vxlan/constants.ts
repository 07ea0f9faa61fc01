// The VXLAN cable driver's fixed names and numbers (Submariner's `vxlan` driver, for clusters on a
// trusted network: no encryption).
//
// Choices:
// - One device `vxlan-tunnel` (VNI 1000) listening on the local `udp-port` (default 4500); each remote
//   gateway gets an all-zero-MAC FDB entry (head-end replication: broadcast and unknown unicast, i.e.
//   ARP for the remote VTEP, go to every remote) pointing at the remote's NAT-discovered IP, with the
//   remote's own `udp-port` when it differs from ours.
// - VTEP addresses live in 241.0.0.0/8: the endpoint's private IP with its first octet replaced by 241
//   (Submariner's scheme, so a hawser gateway and a Submariner gateway interoperate). Two gateways whose
//   private IPs differ only in the first octet collide; connect() refuses that with a clear error.
// - Remote subnets are routed via the remote VTEP in table 100, looked up by a rule at priority 100,
//   with source = our VTEP. Routes and the rule carry protocol 104 (hawser's tag), so cleanup removes
//   exactly ours; the device itself is ours by name.
// - MTU = the underlay interface's MTU (the one holding our private IP, else the default route's) - 50.
// - rp_filter on the device is loose (2): replies from remote pods arrive on vxlan-tunnel while the
//   reverse path lookup may point elsewhere.
// - IPv4 only: IPv6 remote subnets are reported and skipped.
import { VXLAN_CABLE_IFNAME, VXLAN_CABLE_ROUTE_PROTO, VXLAN_CABLE_RULE_PREF, VXLAN_CABLE_TABLE } from '../../os/owned.js';

export const VXLAN_DRIVER_NAME = 'vxlan';
export const VXLAN_IFACE = VXLAN_CABLE_IFNAME;
export const VXLAN_VNI = 1000;
export const VXLAN_DEFAULT_PORT = 4500;
export const UDP_PORT_KEY = 'udp-port';
/** VXLAN over IPv4: outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD = 50;
export const VTEP_FIRST_OCTET = 241;
export const VTEP_PREFIX_LEN = 8;
export const VXLAN_TABLE = VXLAN_CABLE_TABLE;
export const VXLAN_RULE_PRIORITY = VXLAN_CABLE_RULE_PREF;
export const VXLAN_ROUTE_METRIC = 100;
/** hawser's route/rule protocol number (0x68 = 'h'), used to find what we installed. */
export const HAWSER_RT_PROTO = VXLAN_CABLE_ROUTE_PROTO;
export const ZERO_MAC = '00:00:00:00:00:00';
export const RP_FILTER_LOOSE = 2;
export const FALLBACK_UNDERLAY_MTU = 1500;
