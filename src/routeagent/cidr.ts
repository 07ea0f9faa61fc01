// The route agent's view of net/cidr.ts (the one IPv4 address/CIDR module): the names its planner, diff
// and firewall use, and a reader that turns a bad CIDR from the API into a reason instead of an exception.
import { compareCidr as compareAny, compareIp, contains, ipv4ToInt, overlaps as overlapsAny, parseCidr, type Cidr } from '../net/cidr.js';

export { ipv4ToInt };

export function overlaps(a: Cidr, b: Cidr): boolean {
  return overlapsAny(a, b);
}

export function containsIP(c: Cidr, ip: string): boolean {
  return contains(c, ip);
}

export function compareCidr(a: Cidr, b: Cidr): number {
  return compareAny(a, b);
}

export function compareIP(a: string, b: string): number {
  return compareIp(a, b);
}

export type CidrResult = { ok: true; cidr: Cidr } | { ok: false; why: string };

/** Parses one IPv4 CIDR from the API; anything else is a reason, never an exception. */
export function readIPv4Cidr(text: string): CidrResult {
  const c = typeof text === 'string' ? parseCidr(text) : undefined;
  if (!c) return { ok: false, why: 'not a CIDR' };
  if (c.family !== 4) return { ok: false, why: 'IPv6 is not handled by the route agent yet' };
  return { ok: true, cidr: { text: c.text, address: c.address, prefix: c.prefix, family: 4 } };
}
