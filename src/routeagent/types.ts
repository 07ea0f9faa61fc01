// The route agent's input, its plan (plain data that prints as text) and the names it owns.
import type { CableDriverName } from '../config/roles.js';
import {
  protocolsOf, ROUTE_AGENT_NFT_FAMILY, ROUTE_AGENT_NFT_TABLE, ROUTE_AGENT_ROUTE_PROTO, ROUTE_AGENT_RULE_PREF, ROUTE_AGENT_TABLE, VX_SUBMARINER as VX_NAME,
} from '../os/owned.js';
import { ROUTE_AGENT_VTEP_OCTET, VXLAN_OVERHEAD as OVERLAY_OVERHEAD } from '../net/vtep.js';

/** Submariner's names and numbers, kept so operators and their tooling see the same things. */
export const VX_SUBMARINER = VX_NAME;
export const VXLAN_VNI = 100;
export const VXLAN_PORT = 4800;
/** VXLAN (outer IPv4 + UDP + VXLAN + inner Ethernet) overhead subtracted from the host MTU. */
export const VXLAN_OVERHEAD = OVERLAY_OVERHEAD;
export const VTEP_PREFIX_OCTET = ROUTE_AGENT_VTEP_OCTET;
export const VTEP_CIDR = '240.0.0.0/8';
export const ROUTE_TABLE = ROUTE_AGENT_TABLE;
export const RULE_PREF = ROUTE_AGENT_RULE_PREF;
/**
 * rtnetlink protocol number on every route and rule the route agent installs: how uninstall and the
 * diff tell ours from everyone else's (not in /etc/iproute2/rt_protos; Submariner used 4 = static).
 */
export const ROUTE_PROTO = ROUTE_AGENT_ROUTE_PROTO;
/** Protocol numbers of the cable drivers' own routes (the gateway's, per os/owned.ts): hawser's, but not ours. */
export const CABLE_ROUTE_PROTOS: readonly number[] = protocolsOf('gateway');
export const NFT_FAMILY = ROUTE_AGENT_NFT_FAMILY;
export const NFT_TABLE = ROUTE_AGENT_NFT_TABLE;
export const SET_LOCAL = 'SUBMARINER-LOCALCIDRS';
export const SET_REMOTE = 'SUBMARINER-REMOTECIDRS';
export const CHAIN_POSTROUTING = 'SUBMARINER-POSTROUTING';
export const CHAIN_INPUT = 'SUBMARINER-INPUT';
export const CHAIN_FORWARD = 'SUBMARINER-FORWARD';
export const CHAIN_MSS = 'SUBMARINER-MSS';
/** Node annotation whose value forces the TCP MSS. */
export const MSS_ANNOTATION = 'submariner.io/tcp-clamp-mss';
/** Cable overhead used for MSS when the host MTU is known. */
export const CABLE_OVERHEAD: Readonly<Record<CableDriverName, number>> = { libreswan: 120, wireguard: 120, vxlan: 50 };
export const DEFAULT_HOST_MTU = 1500;

export interface NodeRef {
  name: string;
  ip: string;
}

export interface RouteAgentInput {
  nodeName: string;
  /** This node's InternalIP (the VXLAN underlay address). */
  nodeIP: string;
  /** Every node of the cluster (this one may be included). */
  nodes: readonly NodeRef[];
  /** The node running the active gateway, if any yet. */
  activeGateway?: { nodeName: string; nodeIP: string };
  localClusterCidrs: readonly string[];
  localServiceCidrs: readonly string[];
  /** Every remote cluster's cluster and service CIDRs. */
  remoteCidrs: readonly string[];
  cableDriver: CableDriverName;
  /**
   * On the active gateway, remote CIDRs are routed `dev <cableInterface> scope link` in table 150
   * (e.g. `submariner` for WireGuard, the default interface for IPsec). Leave unset when the cable
   * driver installs its own routes for the remote CIDRs.
   */
  cableInterface?: string;
  /** MTU of the node's default interface; vx-submariner gets this minus 50. Default 1500. */
  mtu?: number;
  /** A fixed TCP MSS (node annotation `submariner.io/tcp-clamp-mss`), wins over the computed one. */
  mssOverride?: number;
  /**
   * The interface holding this node's address from a cluster CIDR (cni0, flannel.1, ...): it gets
   * loose rp_filter, and its IP becomes the source of host traffic to remote clusters.
   */
  cniInterface?: { name: string; ip: string };
  /**
   * The remote gateways' addresses (each remote Endpoint's public and private IP) with the path the
   * main table gives this node to each (`dev`, and `via` unless directly connected). A remote CIDR that
   * contains its own gateway is legal (Submariner issue #1106): the gateway's address keeps its underlay
   * path here instead of being swallowed by the route for the CIDR.
   */
  remoteGateways?: readonly UnderlayPath[];
}

/** How the main table reaches one address: undefined `dev` when it has no route at all. */
export interface UnderlayPath {
  ip: string;
  dev?: string;
  via?: string;
}

export type NodeRole = 'gateway' | 'non-gateway' | 'no-gateway';

export interface PlannedLink {
  name: string;
  kind: 'vxlan';
  vni: number;
  port: number;
  local: string;
  mac: string;
  mtu: number;
  learning: false;
}

export interface PlannedAddress {
  dev: string;
  address: string;
  prefix: number;
}

/** A VXLAN FDB entry: frames for `mac` (all-zero = flood/default) go to the VTEP at `dst`. */
export interface PlannedFdb {
  dev: string;
  mac: string;
  dst: string;
}

/** A permanent ARP entry on vx-submariner. None are planned today (see the planner); kept so the diff removes old ones. */
export interface PlannedNeighbor {
  dev: string;
  ip: string;
  mac: string;
}

export interface PlannedRoute {
  table: number;
  dst: string;
  dev: string;
  via?: string;
  src?: string;
  onlink: boolean;
}

export interface PlannedRule {
  pref: number;
  table: number;
}

export interface PlannedSysctl {
  /** Slash path under /proc/sys. */
  path: string;
  value: string;
  /** A tuning, not a requirement: where it cannot be written (a read-only /proc/sys) it is logged once, not a failure. */
  optional?: boolean;
}

export type MssPolicy = { kind: 'pmtu' } | { kind: 'fixed'; value: number };

export interface PlannedFirewall {
  family: 'ip';
  table: string;
  nodeIP: string;
  localCidrs: string[];
  remoteCidrs: string[];
  vxlanPort: number;
  mss: MssPolicy;
}

export interface RouteAgentPlan {
  node: string;
  role: NodeRole;
  gateway?: NodeRef;
  links: PlannedLink[];
  addresses: PlannedAddress[];
  fdb: PlannedFdb[];
  neighbors: PlannedNeighbor[];
  routes: PlannedRoute[];
  rules: PlannedRule[];
  sysctls: PlannedSysctl[];
  firewall: PlannedFirewall;
  /** Inputs that were dropped or adjusted, in words an operator can act on. */
  warnings: string[];
}

/** Writes per kind made by one reconcile (0 everywhere = the kernel already matched the plan). */
export interface ApplyReport {
  links: number;
  addresses: number;
  fdb: number;
  neighbors: number;
  routes: number;
  rules: number;
  sysctls: number;
  nft: number;
  total: number;
  durationMs: number;
  /** One line per failed write or read; empty on success. */
  failures: string[];
}
