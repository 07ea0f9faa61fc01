// IPv4 arithmetic for Globalnet: addresses as unsigned 32-bit integers, CIDRs as [base, size).
import { isIPv4 } from 'node:net';
import { ipv4ToInt as ipToInt, intToIpv4 as intToIp } from '../net/cidr.js';

export interface Ipv4Cidr {
  /** Canonical text, e.g. `242.0.0.0/16`. */
  text: string;
  base: number;
  prefix: number;
  /** Number of addresses, network and broadcast included. */
  size: number;
}

// The integer forms are src/net's (one implementation for every subsystem).
export { ipv4ToInt as ipToInt, intToIpv4 as intToIp } from '../net/cidr.js';

export function isIpv4(s: string): boolean {
  return isIPv4(s);
}

/** Parses an IPv4 CIDR; host bits are cleared. Undefined for anything else (IPv6 included). */
export function parseIpv4Cidr(text: string): Ipv4Cidr | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(text.trim());
  if (!m || !isIPv4(m[1]!)) return undefined;
  const prefix = Number(m[2]);
  if (prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  const n = ipToInt(m[1]!);
  const base = n - (n % size);
  return { text: `${intToIp(base)}/${prefix}`, base, prefix, size };
}

export function cidrContains(c: Ipv4Cidr, ip: string): boolean {
  if (!isIPv4(ip)) return false;
  const n = ipToInt(ip);
  return n >= c.base && n < c.base + c.size;
}

export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}

/** Sorts IPv4 addresses numerically. */
export function sortIps(ips: Iterable<string>): string[] {
  return [...ips].sort((a, b) => ipToInt(a) - ipToInt(b));
}

/**
 * Drops invalid, duplicate and contained CIDRs (interval sets reject overlapping elements) and sorts the
 * rest by address.
 */
export function normalizeCidrs(texts: Iterable<string>): string[] {
  const cidrs = [...texts].map(parseIpv4Cidr).filter((c): c is Ipv4Cidr => c !== undefined);
  cidrs.sort((a, b) => a.base - b.base || a.prefix - b.prefix);
  const out: Ipv4Cidr[] = [];
  for (const c of cidrs) {
    const last = out[out.length - 1];
    if (last && c.base < last.base + last.size) continue; // inside the previous (sorted by base, wider first)
    out.push(c);
  }
  return out.map((c) => c.text);
}

/** `first-last` as nft writes an address range (also for a single address). */
export function ipRange(ips: readonly string[]): string {
  const sorted = sortIps(ips);
  return `${sorted[0]}-${sorted[sorted.length - 1]}`;
}
