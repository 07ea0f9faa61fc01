// IPv4 addresses and CIDRs as plain values: parse, format, contain, overlap, order, nth address.
// Dependency-free (ground floor). Every value carries a family tag so IPv6 can be added beside it;
// the arithmetic below is IPv4 only and says so by returning undefined/false for IPv6.
import { isIP, isIPv4 } from 'node:net';

export type Family = 4 | 6;

export interface Cidr {
  /** Canonical text, host bits cleared, e.g. `10.0.0.0/16`. */
  text: string;
  /** Network address text. */
  address: string;
  prefix: number;
  family: Family;
}

/** An IPv4 CIDR with its numeric range: `[base, base + size)`. */
export interface Ipv4Cidr extends Cidr {
  family: 4;
  base: number;
  /** Number of addresses, network and broadcast included. */
  size: number;
}

/** A dotted quad as an unsigned integer. The caller has validated it (hot paths call this per route). */
export function ipv4ToInt(ip: string): number {
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

export function intToIpv4(n: number): string {
  return `${Math.floor(n / 16777216) % 256}.${Math.floor(n / 65536) % 256}.${Math.floor(n / 256) % 256}.${n % 256}`;
}

export function familyOf(ip: string): Family | undefined {
  const f = isIP(ip);
  return f === 4 || f === 6 ? f : undefined;
}

const CIDR_RE = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/;

/** Parses a CIDR (a bare address is /32 or /128 with `allowBare`); host bits are cleared. */
export function parseCidr(text: string, opts: { allowBare?: boolean } = {}): Cidr | undefined {
  const t = typeof text === 'string' ? text.trim() : '';
  let address: string;
  let prefix: number;
  const m = CIDR_RE.exec(t);
  if (m) {
    address = m[1]!;
    prefix = Number(m[2]);
  } else if (opts.allowBare && familyOf(t)) {
    address = t;
    prefix = familyOf(t) === 4 ? 32 : 128;
  } else return undefined;
  const family = familyOf(address);
  if (family === 4) return prefix > 32 ? undefined : v4(ipv4ToInt(address), prefix);
  if (family === 6) {
    if (prefix > 128) return undefined;
    const a = address.toLowerCase();
    return { text: `${a}/${prefix}`, address: a, prefix, family: 6 };
  }
  return undefined;
}

/** An IPv4 CIDR only; undefined for IPv6 or bad text. */
export function parseIpv4Cidr(text: string, opts: { allowBare?: boolean } = {}): Ipv4Cidr | undefined {
  const c = parseCidr(text, opts);
  return c && c.family === 4 ? (c as Ipv4Cidr) : undefined;
}

function v4(n: number, prefix: number): Ipv4Cidr {
  const size = 2 ** (32 - prefix);
  const base = n - (n % size);
  const address = intToIpv4(base);
  return { text: `${address}/${prefix}`, address, prefix, family: 4, base, size };
}

/** The numeric view of an IPv4 Cidr value built elsewhere (e.g. config's Cidr). */
export function asIpv4(c: Cidr): Ipv4Cidr | undefined {
  if (c.family !== 4) return undefined;
  if ('base' in c) return c as Ipv4Cidr;
  return v4(ipv4ToInt(c.address), c.prefix);
}

export function formatCidr(c: Pick<Cidr, 'address' | 'prefix'>): string {
  return `${c.address}/${c.prefix}`;
}

/** IPv4 containment of an address; false for IPv6 or malformed input. */
export function contains(c: Cidr, ip: string): boolean {
  const a = asIpv4(c);
  if (!a || !isIPv4(ip)) return false;
  const n = ipv4ToInt(ip);
  return n >= a.base && n < a.base + a.size;
}

/** True when `inner` lies wholly inside `outer` (IPv4). */
export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  const o = asIpv4(outer);
  const i = asIpv4(inner);
  return !!o && !!i && i.base >= o.base && i.base + i.size <= o.base + o.size;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const x = asIpv4(a);
  const y = asIpv4(b);
  return !!x && !!y && x.base < y.base + y.size && y.base < x.base + x.size;
}

export function network(c: Cidr): string {
  return c.address;
}

/** The last address of an IPv4 CIDR; undefined for IPv6. */
export function broadcast(c: Cidr): string | undefined {
  const a = asIpv4(c);
  return a ? intToIpv4(a.base + a.size - 1) : undefined;
}

/** The n-th address (0 = network); undefined outside the CIDR or for IPv6. */
export function nthAddress(c: Cidr, n: number): string | undefined {
  const a = asIpv4(c);
  if (!a || !Number.isInteger(n) || n < 0 || n >= a.size) return undefined;
  return intToIpv4(a.base + n);
}

/** Orders IPv4 before IPv6, then by address, then wider first. */
export function compareCidr(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.family === 4) return ipv4ToInt(a.address) - ipv4ToInt(b.address) || a.prefix - b.prefix;
  return a.address < b.address ? -1 : a.address > b.address ? 1 : a.prefix - b.prefix;
}

export function compareIp(a: string, b: string): number {
  const fa = familyOf(a) ?? 0;
  const fb = familyOf(b) ?? 0;
  if (fa !== fb) return fa - fb;
  if (fa === 4) return ipv4ToInt(a) - ipv4ToInt(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

export function sortCidrs<T extends Cidr>(cidrs: Iterable<T>): T[] {
  return [...cidrs].sort(compareCidr);
}

export function sortIps(ips: Iterable<string>): string[] {
  return [...ips].sort(compareIp);
}

/** Drops invalid, duplicate and contained IPv4 CIDRs and sorts the rest (texts in, texts out). */
export function normalizeCidrs(texts: Iterable<string>): string[] {
  const cidrs = sortCidrs([...texts].map((t) => parseIpv4Cidr(t)).filter((c): c is Ipv4Cidr => c !== undefined));
  const out: Ipv4Cidr[] = [];
  for (const c of cidrs) {
    const last = out[out.length - 1];
    if (last && c.base < last.base + last.size) continue;
    out.push(c);
  }
  return out.map((c) => c.text);
}

/** Parses a list of CIDR texts, keeping the good ones (and the bad ones aside for a warning). */
export function parseCidrs(texts: readonly (string | Cidr)[]): { cidrs: Cidr[]; bad: string[] } {
  const cidrs: Cidr[] = [];
  const bad: string[] = [];
  for (const t of texts) {
    if (typeof t !== 'string') cidrs.push(t);
    else {
      const c = parseCidr(t);
      if (c) cidrs.push(c);
      else bad.push(t);
    }
  }
  return { cidrs, bad };
}
