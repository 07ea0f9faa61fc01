// The route agent's view of net/cidr.ts (the one IPv4 address/CIDR module): the names its planner, diff
// and firewall use, and a reader that turns a bad CIDR from the API into a reason instead of an exception.
import { compareCidr as compareAny, compareIp, contains, ipv4ToInt, overlaps as overlapsAny, parseCidr, type Cidr, type Ipv4Cidr } from '../net/cidr.js';

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

/** `cidr` carries its numeric range (base, size), so containment and overlap checks parse nothing. */
export type CidrResult = { ok: true; cidr: Ipv4Cidr } | { ok: false; why: string };

/** Results of texts read before: each plan reads every remote CIDR again, and they mostly repeat. Read-only. */
const readBefore = new Map<string, CidrResult>();
const READ_BEFORE_MAX = 100_000;

/** Parses one IPv4 CIDR from the API; anything else is a reason, never an exception. */
export function readIPv4Cidr(text: string): CidrResult {
  if (typeof text !== 'string') return { ok: false, why: 'not a CIDR' };
  let r = readBefore.get(text);
  if (r === undefined) {
    const c = parseCidr(text);
    r = !c ? { ok: false, why: 'not a CIDR' } : c.family !== 4 ? { ok: false, why: 'IPv6 is not handled by the route agent yet' } : { ok: true, cidr: c as Ipv4Cidr };
    if (readBefore.size >= READ_BEFORE_MAX) readBefore.clear();
    readBefore.set(text, r);
  }
  return r;
}

/** IPv4 order by number, then wider first (compareCidr's order, on the numbers already parsed). */
export function compareIpv4Cidr(a: Ipv4Cidr, b: Ipv4Cidr): number {
  return a.base - b.base || a.prefix - b.prefix;
}

/** Whether two parsed IPv4 CIDRs share an address. */
export function overlapsIpv4(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}
