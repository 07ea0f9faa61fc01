// Every kind of node state hawser installs, named once: link names, rtnetlink route protocols, routing
// tables and rule priorities, nft tables, address labels, daemons and paths. The subsystems' constants
// files re-export these names; `hawser uninstall` (install/owned.ts re-exports the registry), the route
// agent's diff ("ours or a cable's?") and `diagnose` read the same registry.

export type Owner = 'route-agent' | 'gateway' | 'globalnet';

// ---- route agent (Submariner's names and numbers, so operators' tooling sees the same things) ----
export const VX_SUBMARINER = 'vx-submariner';
/** Protocol number on every route and rule the route agent installs (not in /etc/iproute2/rt_protos). */
export const ROUTE_AGENT_ROUTE_PROTO = 147;
export const ROUTE_AGENT_TABLE = 150;
export const ROUTE_AGENT_RULE_PREF = 150;
export const ROUTE_AGENT_NFT_FAMILY = 'ip';
export const ROUTE_AGENT_NFT_TABLE = 'hawser';

// ---- cable drivers (gateway) ----
export const WIREGUARD_IFNAME = 'submariner';
export const WIREGUARD_ROUTE_PROTO = 119;
export const WIREGUARD_ROUTE_TABLE = 150;
export const WIREGUARD_RULE_PREF = 150;
export const VXLAN_CABLE_IFNAME = 'vxlan-tunnel';
export const VXLAN_CABLE_ROUTE_PROTO = 104;
export const VXLAN_CABLE_TABLE = 100;
export const VXLAN_CABLE_RULE_PREF = 100;
/** Label of the service-CIDR source addresses lent to charon's kernel-libipsec on `lo`. */
export const IPSEC_SOURCE_ADDRESS_LABEL = 'lo:hawser';

// ---- Globalnet ----
export const GLOBALNET_NFT_FAMILY = 'ip';
export const GLOBALNET_NFT_TABLE = 'hawser-globalnet';

export interface OwnedLink { name: string; owner: Owner; what: string }
export interface OwnedProtocol { proto: number; owner: Owner; what: string }
export interface OwnedTable { table: number; rulePref: number; owner: Owner; what: string }
export interface OwnedNftTable { family: string; name: string; owner: Owner }
export interface OwnedAddressLabel { dev: string; label: string; owner: Owner; what: string }
export interface OwnedDaemon {
  name: string;
  /** PID file, relative to HAWSER_STATE_DIR. */
  pidFile: string;
  /** Must appear in /proc/PID/cmdline, or the PID is someone else's (reused) and left alone. */
  cmdline: string;
  owner: Owner;
  what: string;
}
export interface OwnedPath { path: string; base: 'state' | 'absolute'; owner: Owner; what: string }

export interface OwnedNodeState {
  links: readonly OwnedLink[];
  /** Routes and rules carrying these rtnetlink protocol numbers, in any table. */
  protocols: readonly OwnedProtocol[];
  /** Routing tables and the priority of the rule that looks each up (shared tables appear once per owner). */
  tables: readonly OwnedTable[];
  nftTables: readonly OwnedNftTable[];
  addressLabels: readonly OwnedAddressLabel[];
  /** Stopped (SIGTERM, then SIGKILL) before their devices go: charon removes its SAs and policies. */
  daemons: readonly OwnedDaemon[];
  paths: readonly OwnedPath[];
}

export const OWNED_NODE_STATE: OwnedNodeState = {
  links: [
    { name: VX_SUBMARINER, owner: 'route-agent', what: 'VXLAN to the active gateway (VNI 100, port 4800)' },
    { name: WIREGUARD_IFNAME, owner: 'gateway', what: 'WireGuard cable device (kernel or wireguard-go TUN)' },
    { name: VXLAN_CABLE_IFNAME, owner: 'gateway', what: 'VXLAN cable device (VNI 1000)' },
  ],
  protocols: [
    { proto: ROUTE_AGENT_ROUTE_PROTO, owner: 'route-agent', what: 'routes in table 150 and the pref 150 rule' },
    { proto: WIREGUARD_ROUTE_PROTO, owner: 'gateway', what: 'WireGuard cable routes (table 150) and its rule' },
    { proto: VXLAN_CABLE_ROUTE_PROTO, owner: 'gateway', what: 'VXLAN cable routes (table 100) and the pref 100 rule' },
  ],
  tables: [
    { table: ROUTE_AGENT_TABLE, rulePref: ROUTE_AGENT_RULE_PREF, owner: 'route-agent', what: 'routes to remote clusters via vx-submariner or the cable' },
    { table: WIREGUARD_ROUTE_TABLE, rulePref: WIREGUARD_RULE_PREF, owner: 'gateway', what: 'WireGuard cable routes (the same table as the route agent, as Submariner)' },
    { table: VXLAN_CABLE_TABLE, rulePref: VXLAN_CABLE_RULE_PREF, owner: 'gateway', what: 'VXLAN cable routes' },
  ],
  nftTables: [
    { family: ROUTE_AGENT_NFT_FAMILY, name: ROUTE_AGENT_NFT_TABLE, owner: 'route-agent' },
    { family: GLOBALNET_NFT_FAMILY, name: GLOBALNET_NFT_TABLE, owner: 'globalnet' },
  ],
  addressLabels: [
    { dev: 'lo', label: IPSEC_SOURCE_ADDRESS_LABEL, owner: 'gateway', what: "service-CIDR source addresses lent to charon's kernel-libipsec" },
  ],
  daemons: [
    { name: 'charon', pidFile: 'ipsec/charon.pid', cmdline: 'charon', owner: 'gateway', what: 'IPsec IKE daemon (its SAs and policies go with it)' },
    { name: 'wireguard-go', pidFile: `wireguard/${WIREGUARD_IFNAME}.pid`, cmdline: 'wireguard-go', owner: 'gateway', what: 'userspace WireGuard' },
  ],
  paths: [
    { path: 'ipsec', base: 'state', owner: 'gateway', what: "charon's config, VICI socket, PID file and log" },
    { path: 'wireguard', base: 'state', owner: 'gateway', what: 'wireguard-go PID/log and the cable↔peer state file' },
    { path: `/var/run/wireguard/${WIREGUARD_IFNAME}.sock`, base: 'absolute', owner: 'gateway', what: "wireguard-go's UAPI socket" },
  ],
};

/** Route protocols of an owner (e.g. the cable drivers' = the gateway's). */
export function protocolsOf(owner: Owner): number[] {
  return OWNED_NODE_STATE.protocols.filter((p) => p.owner === owner).map((p) => p.proto);
}

/** Whether a route/rule protocol number is one of hawser's, and whose. */
export function ownerOfProtocol(proto: number | undefined): Owner | undefined {
  return OWNED_NODE_STATE.protocols.find((p) => p.proto === proto)?.owner;
}
