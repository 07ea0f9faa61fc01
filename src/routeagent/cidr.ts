// IPv4 prefix arithmetic for the planner: overlap, containment, stable ordering.
import { parseCidr, type Cidr } from '../config/parse.js';

export function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

function range(c: Cidr): [number, number] {
  const start = ipv4ToInt(c.address);
  return [start, start + 2 ** (32 - c.prefix) - 1];
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const [a0, a1] = range(a);
  const [b0, b1] = range(b);
  return a0 <= b1 && b0 <= a1;
}

export function containsIP(c: Cidr, ip: string): boolean {
  const [s, e] = range(c);
  const n = ipv4ToInt(ip);
  return n >= s && n <= e;
}

export function compareCidr(a: Cidr, b: Cidr): number {
  return ipv4ToInt(a.address) - ipv4ToInt(b.address) || a.prefix - b.prefix;
}

export function compareIP(a: string, b: string): number {
  return ipv4ToInt(a) - ipv4ToInt(b);
}

export type CidrResult = { ok: true; cidr: Cidr } | { ok: false; why: string };

/** Parses one IPv4 CIDR from the API; anything else is a reason, never an exception. */
export function readIPv4Cidr(text: string): CidrResult {
  const c = typeof text === 'string' ? parseCidr(text) : undefined;
  if (!c) return { ok: false, why: 'not a CIDR' };
  if (c.family !== 4) return { ok: false, why: 'IPv6 is not handled by the route agent yet' };
  return { ok: true, cidr: c };
}
