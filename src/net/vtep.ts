// The VXLAN overlay arithmetic shared by the route agent (vx-submariner, VTEPs in 240.0.0.0/8) and the
// VXLAN cable (vxlan-tunnel, VTEPs in 241.0.0.0/8): a VTEP address derived from an underlay IPv4 address
// by replacing its first octet (no coordination needed), a MAC derived from all four octets, and the
// all-zero FDB entries that flood (head-end replicate) to each remote VTEP.
import { isIPv4 } from 'node:net';
import { HawserError } from '../util/errors.js';

/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14): subtracted from the underlay MTU. */
export const VXLAN_OVERHEAD = 50;
/** The all-zero MAC of flood (default-destination) FDB entries. */
export const ZERO_MAC = '00:00:00:00:00:00';
/** First octet of the route agent's VTEPs (Submariner's vx-submariner). */
export const ROUTE_AGENT_VTEP_OCTET = 240;
/** First octet of the VXLAN cable's VTEPs. */
export const VXLAN_CABLE_VTEP_OCTET = 241;

/** The VTEP for an underlay address: its first octet replaced; undefined unless `ip` is IPv4. */
export function vtepAddress(ip: string, firstOctet: number): string | undefined {
  if (!isIPv4(ip)) return undefined;
  return `${firstOctet}${ip.slice(ip.indexOf('.'))}`;
}

/** As vtepAddress, but a non-IPv4 address is an error (a planner input that must have been validated). */
export function vtepIP(nodeIP: string, firstOctet: number): string {
  const v = vtepAddress(nodeIP, firstOctet);
  if (!v) throw new HawserError('INVALID', `not an IPv4 node address: ${JSON.stringify(nodeIP)}`);
  return v;
}

/**
 * The VTEP MAC: 02:68 (locally administered, unicast; 0x68 = 'h') followed by all four octets of the
 * node IP, so distinct node IPs never share a MAC (Submariner #4024 came from a lossy derivation).
 */
export function vtepMac(nodeIP: string): string {
  if (!isIPv4(nodeIP)) throw new HawserError('INVALID', `not an IPv4 node address: ${JSON.stringify(nodeIP)}`);
  return ['02', '68', ...nodeIP.split('.').map((x) => Number(x).toString(16).padStart(2, '0'))].join(':');
}

export interface FloodEntry {
  dev: string;
  mac: string;
  /** Underlay address of the remote VTEP. */
  dst: string;
}

/** One all-zero FDB entry per remote underlay address (appended, one per destination), in the given order. */
export function floodFdb(dev: string, remoteIPs: readonly string[]): FloodEntry[] {
  return [...new Set(remoteIPs)].map((dst) => ({ dev, mac: ZERO_MAC, dst }));
}
