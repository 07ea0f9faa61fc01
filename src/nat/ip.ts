// IPv4 arithmetic for Globalnet: addresses as unsigned 32-bit integers, CIDRs as [base, size).
import { isIPv4 } from 'node:net';

export interface Ipv4Cidr {
  /** Canonical text, e.g. `242.0.0.0/16`. */
  text: string;
  base: number;
  prefix: number;
  /** Number of addresses, network and broadcast included. */
  size: number;
}

/** A dotted quad as an integer (the caller has validated it; this is on every hot path). */
export function ipToInt(ip: string): number {
  let n = 0;
  let part = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else part = part * 10 + (c - 48);
  }
  return n * 256 + part;
}

export function intToIp(n: number): string {
  return `${Math.floor(n / 16777216) % 256}.${Math.floor(n / 65536) % 256}.${Math.floor(n / 256) % 256}.${n % 256}`;
}

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
