// VTEP addressing on vx-submariner, derived from a node's IP so that no coordination is needed.
import { isIPv4 } from 'node:net';
import { HawserError } from '../util/errors.js';
import { VTEP_PREFIX_OCTET } from './types.js';

function octets(nodeIP: string): number[] {
  if (!isIPv4(nodeIP)) throw new HawserError('INVALID', `not an IPv4 node address: ${JSON.stringify(nodeIP)}`);
  return nodeIP.split('.').map(Number);
}

/**
 * Submariner's VTEP address: the node IP with its first octet replaced by 240 (in 240.0.0.0/8).
 * Two nodes whose IPs differ only in the first octet share one; the planner reports that.
 */
export function vtepIP(nodeIP: string): string {
  const [, b, c, d] = octets(nodeIP);
  return `${VTEP_PREFIX_OCTET}.${b}.${c}.${d}`;
}

/**
 * The VTEP MAC: 02:68 (locally administered, unicast; 0x68 = 'h') followed by all four octets of the
 * node IP, so distinct node IPs can never share a MAC (Submariner #4024 came from a lossy derivation).
 */
export function vtepMac(nodeIP: string): string {
  const o = octets(nodeIP);
  return ['02', '68', ...o.map((x) => x.toString(16).padStart(2, '0'))].join(':');
}

export const ZERO_MAC = '00:00:00:00:00:00';
