// What hawser owns, in one place: every kind of node state the roles install and every cluster object they
// write. `hawser uninstall` removes exactly these and nothing else; the route agent's diff and `diagnose`
// can read the same list (a follow-up: they still use their own constants, which this module imports so
// the names cannot drift apart).
import { SOURCE_ADDRESS_LABEL } from '../cable-drivers/ipsec/source-addresses.js';
import { HAWSER_RT_PROTO as VXLAN_ROUTE_PROTO, VXLAN_IFACE } from '../cable-drivers/vxlan/constants.js';
import { WIREGUARD_IFNAME, WIREGUARD_ROUTE_PROTO } from '../cable-drivers/wireguard/constants.js';
import { NFT_TABLE as GLOBALNET_NFT_TABLE } from '../nat/nft.js';
import { NODE_GLOBAL_IP_ANNOTATION } from '../nat/desired.js';
import { CLUSTER_EGRESS_NAME, INTERNAL_SERVICE_FINALIZER, INTERNAL_SERVICE_LABEL } from '../nat/resources.js';
import { NFT_FAMILY, NFT_TABLE as ROUTE_AGENT_NFT_TABLE, ROUTE_PROTO, VX_SUBMARINER } from '../routeagent/types.js';

export type Owner = 'route-agent' | 'gateway' | 'globalnet';

export interface OwnedLink { name: string; owner: Owner; what: string }
export interface OwnedProtocol { proto: number; owner: Owner; what: string }
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
    { name: VXLAN_IFACE, owner: 'gateway', what: 'VXLAN cable device (VNI 1000)' },
  ],
  protocols: [
    { proto: ROUTE_PROTO, owner: 'route-agent', what: 'routes in table 150 and the pref 150 rule' },
    { proto: WIREGUARD_ROUTE_PROTO, owner: 'gateway', what: 'WireGuard cable routes (table 150) and its rule' },
    { proto: VXLAN_ROUTE_PROTO, owner: 'gateway', what: 'VXLAN cable routes (table 100) and the pref 100 rule' },
  ],
  nftTables: [
    { family: NFT_FAMILY, name: ROUTE_AGENT_NFT_TABLE, owner: 'route-agent' },
    { family: 'ip', name: GLOBALNET_NFT_TABLE, owner: 'globalnet' },
  ],
  addressLabels: [
    { dev: 'lo', label: SOURCE_ADDRESS_LABEL, owner: 'gateway', what: "service-CIDR source addresses lent to charon's kernel-libipsec" },
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

/** A kind of object hawser writes into a cluster at run time (not the manifests, which carry app.kubernetes.io/part-of=hawser). */
export interface OwnedObjects {
  group: string;
  version: string;
  plural: string;
  /** 'hawser' = the agents' namespace (SUBMARINER_NAMESPACE); 'all' = every namespace; 'cluster' = cluster-scoped. */
  scope: 'hawser' | 'all' | 'cluster';
  /** Only these names (else every object of the kind in scope). */
  names?: readonly string[];
  /** Only objects carrying this label (any value). */
  labelKey?: string;
  /** Finalizers of ours to remove before deleting. */
  finalizers?: readonly string[];
  owner: Owner;
  what: string;
}

export const OWNED_CLUSTER_OBJECTS: readonly OwnedObjects[] = [
  { group: 'submariner.io', version: 'v1', plural: 'endpoints', scope: 'hawser', owner: 'gateway', what: 'local Endpoint and remote copies from the broker' },
  { group: 'submariner.io', version: 'v1', plural: 'clusters', scope: 'hawser', owner: 'gateway', what: 'local Cluster and remote copies' },
  { group: 'submariner.io', version: 'v1', plural: 'gateways', scope: 'hawser', owner: 'gateway', what: 'one Gateway per gateway node' },
  { group: 'submariner.io', version: 'v1', plural: 'routeagents', scope: 'hawser', owner: 'route-agent', what: 'one RouteAgent per node' },
  { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', scope: 'hawser', names: ['submariner-gateway-lock', 'submariner-globalnet-lock'], owner: 'gateway', what: 'leader election' },
  { group: 'submariner.io', version: 'v1', plural: 'globalingressips', scope: 'all', owner: 'globalnet', what: 'global IPs of exported Services and pods' },
  { group: 'submariner.io', version: 'v1', plural: 'clusterglobalegressips', scope: 'cluster', names: [CLUSTER_EGRESS_NAME], owner: 'globalnet', what: 'the default cluster egress IPs' },
  { group: '', version: 'v1', plural: 'services', scope: 'all', labelKey: INTERNAL_SERVICE_LABEL, finalizers: [INTERNAL_SERVICE_FINALIZER], owner: 'globalnet', what: 'internal Services behind exported ones' },
];

/** Node annotations hawser writes (removed from every Node). */
export const OWNED_NODE_ANNOTATIONS: readonly string[] = [NODE_GLOBAL_IP_ANNOTATION];

/** Label every object of hawser's manifests carries. */
export const PART_OF_LABEL = 'app.kubernetes.io/part-of';
export const PART_OF_VALUE = 'hawser';
