// Globalnet's one address format of its own: nft's `first-last` range of a set of global IPs. Addresses
// and CIDRs themselves (parse, contain, overlap, order, integer forms) are src/net's.
import { sortIps } from '../net/cidr.js';

/** `first-last` as nft writes an address range (also for a single address). */
export function ipRange(ips: readonly string[]): string {
  const sorted = sortIps(ips);
  return `${sorted[0]}-${sorted[sorted.length - 1]}`;
}
