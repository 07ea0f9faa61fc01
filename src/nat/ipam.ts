// Global IP address management over one cluster's global CIDR (pure, no I/O).
//
// Submariner's rules: a single address is the highest free one; a block of n is the lowest contiguous
// free run (SNAT to a block is one `first-last` range). Network and broadcast addresses are never handed
// out. The resources' status is the source of truth: `Ipam.fromClaims` rebuilds the allocation from the
// statuses of the resources that exist now, so addresses of resources deleted while hawser was down are
// free by construction (Submariner #2388), and a conflict between two statuses keeps the older resource's
// claim and rejects the other, which the planner re-allocates (Submariner #4122).
import { HawserError } from '../util/errors.js';
import { isIPv4 as isIpv4 } from 'node:net';
import { intToIpv4 as intToIp, ipv4ToInt as ipToInt, parseIpv4Cidr, type Ipv4Cidr } from '../net/cidr.js';

export type ClaimRejection =
  | { reason: 'invalid'; ip: string }
  | { reason: 'out-of-cidr'; ip: string }
  | { reason: 'duplicate'; ip: string }
  | { reason: 'not-contiguous' }
  | { reason: 'conflict'; ip: string; heldBy: string };

/** IPs an owner's status says it holds. */
export interface Claim {
  /** Stable owner key, e.g. `GlobalEgressIP/ns/name`. */
  owner: string;
  /** RFC 3339 creation time: the older resource wins a conflict. */
  createdAt: string;
  ips: readonly string[];
  /** Blocks must be contiguous (SNAT uses one range). */
  contiguous?: boolean;
}

export interface RejectedClaim {
  claim: Claim;
  why: ClaimRejection;
}

export class Ipam {
  readonly cidr: Ipv4Cidr;
  /** First usable address (network + 1). */
  private readonly first: number;
  /** Usable addresses (network and broadcast excluded). */
  readonly size: number;
  /** Owner index + 1 per usable address; 0 = free. */
  private readonly slots: Int32Array;
  private readonly ownerNames: string[] = [];
  private readonly ownerIndex = new Map<string, number>();
  private readonly held = new Map<string, number[]>();
  private free: number;
  /** Every slot above `topHint` is taken (scan start for single addresses). */
  private topHint: number;
  /** Every slot below `lowHint` is taken (scan start for blocks). */
  private lowHint = 0;

  constructor(cidr: string) {
    const c = parseIpv4Cidr(cidr);
    if (!c) throw new HawserError('INVALID', `global CIDR ${JSON.stringify(cidr)} is not an IPv4 CIDR (expected e.g. 242.0.0.0/16)`);
    if (c.size < 4) throw new HawserError('INVALID', `global CIDR ${c.text} is too small (a /30 or larger is needed)`);
    this.cidr = c;
    this.first = c.base + 1;
    this.size = c.size - 2;
    this.slots = new Int32Array(this.size);
    this.free = this.size;
    this.topHint = this.size - 1;
  }

  /** Rebuilds from status claims: older claims first; a claim is reserved whole or rejected whole. */
  static fromClaims(cidr: string, claims: readonly Claim[]): { ipam: Ipam; rejected: RejectedClaim[] } {
    const ipam = new Ipam(cidr);
    const rejected: RejectedClaim[] = [];
    const ordered = sortByAge(claims, (c) => c.createdAt, (c) => c.owner);
    for (const claim of ordered) {
      const why = ipam.reserve(claim.owner, claim.ips, claim.contiguous ?? false);
      if (why) rejected.push({ claim, why });
    }
    return { ipam, rejected };
  }

  get available(): number {
    return this.free;
  }

  get allocated(): number {
    return this.size - this.free;
  }

  /** The owner holding `ip`, if any. */
  ownerOf(ip: string): string | undefined {
    const i = this.slotOf(ip);
    if (i === undefined) return undefined;
    const o = this.slots[i]!;
    return o === 0 ? undefined : this.ownerNames[o - 1];
  }

  ipsOf(owner: string): string[] {
    return (this.held.get(owner) ?? []).map((i) => intToIp(this.first + i));
  }

  /** Owners and their addresses, in insertion order. */
  *entries(): IterableIterator<[string, string[]]> {
    for (const owner of this.held.keys()) yield [owner, this.ipsOf(owner)];
  }

  /**
   * Allocates `n` addresses to `owner` (who must hold none): one address from the top, or the lowest
   * contiguous run of n. Undefined when the CIDR cannot satisfy it.
   */
  allocate(owner: string, n: number): string[] | undefined {
    if (!Number.isInteger(n) || n < 1) throw new HawserError('INVALID', `cannot allocate ${n} addresses`);
    if (this.held.has(owner)) throw new HawserError('EXISTS', `${owner} already holds global IPs; release them first`);
    if (n > this.free) return undefined;
    const start = n === 1 ? this.findTop() : this.findBlock(n);
    if (start === undefined) return undefined;
    const slots: number[] = [];
    for (let i = start; i < start + n; i++) slots.push(i);
    this.take(owner, slots);
    return slots.map((i) => intToIp(this.first + i));
  }

  /** Reserves exactly `ips` for `owner` (all or nothing); returns why not, or undefined on success. */
  reserve(owner: string, ips: readonly string[], contiguous = false): ClaimRejection | undefined {
    if (this.held.has(owner)) throw new HawserError('EXISTS', `${owner} already holds global IPs; release them first`);
    const slots: number[] = [];
    const seen = new Set<number>();
    for (const ip of ips) {
      if (!isIpv4(ip)) return { reason: 'invalid', ip };
      const i = this.slotOf(ip);
      if (i === undefined) return { reason: 'out-of-cidr', ip };
      if (seen.has(i)) return { reason: 'duplicate', ip };
      seen.add(i);
      const o = this.slots[i]!;
      if (o !== 0) return { reason: 'conflict', ip, heldBy: this.ownerNames[o - 1]! };
      slots.push(i);
    }
    if (slots.length === 0) return undefined;
    if (contiguous) {
      const sorted = [...slots].sort((a, b) => a - b);
      if (sorted[sorted.length - 1]! - sorted[0]! !== sorted.length - 1) return { reason: 'not-contiguous' };
    }
    this.take(owner, slots);
    return undefined;
  }

  /** Frees everything `owner` holds; returns the freed addresses. */
  release(owner: string): string[] {
    const slots = this.held.get(owner);
    if (!slots) return [];
    for (const i of slots) {
      this.slots[i] = 0;
      if (i > this.topHint) this.topHint = i;
      if (i < this.lowHint) this.lowHint = i;
    }
    this.free += slots.length;
    this.held.delete(owner);
    return slots.map((i) => intToIp(this.first + i));
  }

  /** Length of the longest free contiguous run (for exhaustion messages). */
  largestFreeRun(): number {
    let best = 0;
    let run = 0;
    for (let i = 0; i < this.size; i++) {
      if (this.slots[i] === 0) {
        run++;
        if (run > best) best = run;
      } else run = 0;
    }
    return best;
  }

  private slotOf(ip: string): number | undefined {
    if (!isIpv4(ip)) return undefined;
    const i = ipToInt(ip) - this.first;
    return i >= 0 && i < this.size ? i : undefined;
  }

  private ownerId(owner: string): number {
    let id = this.ownerIndex.get(owner);
    if (id === undefined) {
      this.ownerNames.push(owner);
      id = this.ownerNames.length;
      this.ownerIndex.set(owner, id);
    }
    return id;
  }

  private take(owner: string, slots: number[]): void {
    const id = this.ownerId(owner);
    for (const i of slots) this.slots[i] = id;
    this.free -= slots.length;
    this.held.set(owner, slots);
  }

  private findTop(): number | undefined {
    let i = this.topHint;
    while (i >= 0 && this.slots[i] !== 0) i--;
    this.topHint = i;
    return i >= 0 ? i : undefined;
  }

  private findBlock(n: number): number | undefined {
    while (this.lowHint < this.size && this.slots[this.lowHint] !== 0) this.lowHint++;
    let runStart = this.lowHint;
    for (let i = this.lowHint; i < this.size; i++) {
      if (this.slots[i] !== 0) {
        runStart = i + 1;
        continue;
      }
      if (i - runStart + 1 === n) return runStart;
    }
    return undefined;
  }
}

function ageMs(createdAt: string): number {
  const t = Date.parse(createdAt);
  return Number.isNaN(t) ? Infinity : t;
}

/** Oldest first (unparsable times last), then by key: the order conflicts and allocations follow. */
export function sortByAge<T>(xs: readonly T[], createdAt: (x: T) => string, key: (x: T) => string): T[] {
  const keyed = xs.map((x) => ({ x, t: ageMs(createdAt(x)), k: key(x) }));
  keyed.sort((a, b) => (a.t !== b.t ? (a.t < b.t ? -1 : 1) : a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  return keyed.map((e) => e.x);
}

/** Human text for a rejected claim, for status conditions and logs. */
export function describeRejection(why: ClaimRejection, cidr: string): string {
  switch (why.reason) {
    case 'invalid':
      return `${JSON.stringify(why.ip)} is not an IPv4 address`;
    case 'out-of-cidr':
      return `${why.ip} is outside the global CIDR ${cidr}`;
    case 'duplicate':
      return `${why.ip} is listed twice`;
    case 'not-contiguous':
      return 'the addresses are not one contiguous range';
    case 'conflict':
      return `${why.ip} is also claimed by the older ${why.heldBy}`;
  }
}
