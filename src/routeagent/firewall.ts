// hawser's nftables table for the route agent, rendered from the plan (pure), and the check that
// tells whether the kernel's copy is the one we would write.
//
// Keeping local<->remote traffic un-masqueraded: an `accept` in our nat chain would NOT do it. Every
// nat base chain of a hook (nftables tables, iptables-nft and iptables-legacy `nat` alike) is called
// by the NAT core in priority order until one of them sets up a NAT binding for the connection; an
// accept sets none, so a later MASQUERADE still rewrites the packet. What works is to set up a binding
// first: `snat to ip saddr` at a priority before srcnat is an identity SNAT (the source stays as it
// is), the connection counts as source-NATed, and no later masquerade runs for it. Marks only work
// with CNIs that look for them, and notrack would break conntrack (NAT of service replies, stateful
// filters), so neither is used.
import { createHash } from 'node:crypto';
import { checkName, nftString, parseTableListing } from '../os/nft.js';
import { compareIpv4Cidr, readIPv4Cidr } from './cidr.js';
import { changedRange } from './route-index.js';
import type { Ipv4Cidr } from '../net/cidr.js';
import {
  CHAIN_FORWARD, CHAIN_INPUT, CHAIN_MSS, CHAIN_POSTROUTING, SET_LOCAL, SET_REMOTE, VTEP_CIDR, VX_SUBMARINER,
  type PlannedFirewall,
} from './types.js';

/** Before iptables' and CNIs' srcnat (100), so our identity SNAT binds first. */
export const NAT_PRIORITY = 'srcnat - 20';
const COMMENT_PREFIX = 'hawser route-agent plan=';

interface RenderedChain {
  name: string;
  header: string;
  rules: string[];
}

function chains(f: PlannedFirewall): RenderedChain[] {
  const L = `@${SET_LOCAL}`;
  const R = `@${SET_REMOTE}`;
  const mssSet = f.mss.kind === 'pmtu'
    ? 'tcp option maxseg size set rt mtu'
    : `tcp option maxseg size > ${f.mss.value} tcp option maxseg size set ${f.mss.value}`;
  return [
    {
      name: CHAIN_POSTROUTING,
      header: `type nat hook postrouting priority ${NAT_PRIORITY}; policy accept;`,
      rules: [
        `ip saddr ${VTEP_CIDR} oifname != ${nftString(VX_SUBMARINER)} ip daddr != ${R} snat ip to ${f.nodeIP} comment ${nftString('hawser: traffic from vx-submariner VTEPs leaves with the node IP')}`,
        `ip saddr ${L} ip daddr ${R} snat ip to ip saddr comment ${nftString('hawser: local to remote keeps its source (binds before any masquerade)')}`,
        `ip saddr ${R} ip daddr ${L} snat ip to ip saddr comment ${nftString('hawser: remote to local keeps its source (binds before any masquerade)')}`,
      ],
    },
    {
      name: CHAIN_INPUT,
      header: 'type filter hook input priority filter; policy accept;',
      // counters for diagnosis only: an accept here could not override another table's drop
      rules: [`udp dport ${f.vxlanPort} counter comment ${nftString('hawser: vx-submariner from other nodes')}`],
    },
    {
      name: CHAIN_FORWARD,
      header: 'type filter hook forward priority filter; policy accept;',
      rules: [
        `ip saddr ${L} ip daddr ${R} counter comment ${nftString('hawser: local to remote')}`,
        `ip saddr ${R} ip daddr ${L} counter comment ${nftString('hawser: remote to local')}`,
      ],
    },
    {
      name: CHAIN_MSS,
      header: 'type filter hook postrouting priority mangle; policy accept;',
      rules: [
        `ip saddr ${L} ip daddr ${R} tcp flags syn ${mssSet} comment ${nftString('hawser: MSS clamp local to remote')}`,
        `ip saddr ${R} ip daddr ${L} tcp flags syn ${mssSet} comment ${nftString('hawser: MSS clamp remote to local')}`,
      ],
    },
  ];
}

/** Set elements: CIDRs covered by another one are left out, so no auto-merge (which rewrites elements) is needed. */
export function setElements(cidrs: readonly string[]): string[] {
  const parsed: Ipv4Cidr[] = [];
  // the planner hands them over sorted: the sort is skipped then (it was most of the cost with 1,000)
  let sorted = true;
  for (const t of cidrs) {
    const r = readIPv4Cidr(t);
    if (!r.ok) continue;
    const last = parsed[parsed.length - 1];
    if (last && compareIpv4Cidr(last, r.cidr) > 0) sorted = false;
    parsed.push(r.cidr);
  }
  if (!sorted) parsed.sort(compareIpv4Cidr);
  const out: string[] = [];
  let coveredTo = -1;
  for (const c of parsed) {
    const end = c.base + c.size - 1;
    if (end <= coveredTo) continue;
    out.push(c.text);
    coveredTo = end;
  }
  return out;
}

/** Rules in hawser's table for this plan (for the `installed` metric). */
export function firewallRuleCount(f: PlannedFirewall): number {
  return chains(f).reduce((n, c) => n + c.rules.length, 0);
}

function setBlock(name: string, elements: readonly string[] | undefined): string {
  const list = elements?.length ? ` elements = { ${elements.join(', ')} };` : '';
  return `\tset ${name} { type ipv4_addr; flags interval;${list} }`;
}

function body(f: PlannedFirewall, withElements: boolean): string[] {
  const lines = [
    setBlock(SET_LOCAL, withElements ? setElements(f.localCidrs) : undefined),
    setBlock(SET_REMOTE, withElements ? setElements(f.remoteCidrs) : undefined),
  ];
  for (const c of chains(f)) {
    lines.push(`\tchain ${c.name} {`, `\t\t${c.header}`, ...c.rules.map((r) => `\t\t${r}`), '\t}');
  }
  return lines;
}

/** Short digest of everything we write (set elements included), kept in the table comment. */
export function firewallDigest(f: PlannedFirewall): string {
  return digestOf(f, body(f, true));
}

function digestOf(f: PlannedFirewall, lines: readonly string[]): string {
  return createHash('sha256').update(`${f.family} ${f.table}\n${lines.join('\n')}`).digest('hex').slice(0, 16);
}

/** One atomic transaction replacing hawser's table (created empty first so the delete never fails). */
export function renderFirewall(f: PlannedFirewall, lines: readonly string[] = body(f, true)): string {
  const t = `${f.family} ${checkName(f.table)}`;
  return [
    `table ${t}`,
    `delete table ${t}`,
    `table ${t} {`,
    `\tcomment ${nftString(COMMENT_PREFIX + digestOf(f, lines))}`,
    ...lines,
    '}',
    '',
  ].join('\n');
}

export type FirewallChange = { kind: 'none' } | { kind: 'replace'; why: string; script: string };

/**
 * Whether the table listed without its set elements (`nft -t list table`, cheap even with thousands of
 * CIDRs) is the one we would write: same digest in the comment, both sets there, every chain still
 * holding its rules (catches a flushed chain or a deleted rule; the digest covers the rest). Any
 * difference replaces the whole table in one transaction.
 */
export function firewallChange(f: PlannedFirewall, terseListing: string | undefined): FirewallChange {
  // the set elements are rendered once (for the digest and the script): they are what grows with CIDRs
  const lines = body(f, true);
  const replace = (why: string): FirewallChange => ({ kind: 'replace', why, script: renderFirewall(f, lines) });
  if (terseListing === undefined) return replace('absent');
  const t = parseTableListing(terseListing);
  if (t.comment !== COMMENT_PREFIX + digestOf(f, lines)) return replace('plan changed');
  if (!t.sets.has(SET_LOCAL) || !t.sets.has(SET_REMOTE)) return replace('a set is missing');
  const want = chains(f);
  if (t.chains.size !== want.length || !want.every((c) => t.chains.get(c.name)?.length === c.rules.length)) return replace('rules were changed');
  return { kind: 'none' };
}

/**
 * Everything in hawser's table except the set elements, as a key: while it stays the same, a change of
 * CIDRs is a set-element delta; when it changes, the whole table is replaced.
 */
export function firewallSkeleton(f: PlannedFirewall): string {
  return `${f.family} ${f.table} ${f.nodeIP} ${f.vxlanPort} ${f.mss.kind === 'fixed' ? f.mss.value : 'pmtu'}`;
}

/** The elements of both sets, as written (CIDRs covered by another left out). */
export interface FirewallElements {
  local: readonly string[];
  remote: readonly string[];
}

/**
 * The last list given per set and the elements it gave. `exact`: no CIDR was left out, so the elements
 * are the list itself; a next list that differs from it in one place only needs that place checked.
 */
interface ElementsMemo {
  from: readonly string[];
  to: readonly string[];
  exact: boolean;
}
const lastElements: { local: ElementsMemo; remote: ElementsMemo } = { local: { from: [], to: [], exact: true }, remote: { from: [], to: [], exact: true } };

const sameText = (a: string, b: string): boolean => a === b;

/**
 * Whether cidrs[from-1 .. to] (what changed, with a neighbour either side) are canonical IPv4 CIDRs in
 * increasing order that do not overlap: then a list that was its own element list still is.
 */
function disjointAround(cidrs: readonly string[], from: number, to: number): boolean {
  let prev: Ipv4Cidr | undefined;
  for (let i = Math.max(0, from - 1); i <= Math.min(to, cidrs.length - 1); i++) {
    const r = readIPv4Cidr(cidrs[i]!);
    // an element is the canonical text: a list that is its own element list holds only those
    if (!r.ok || r.cidr.text !== cidrs[i]) return false;
    if (prev && prev.base + prev.size > r.cidr.base) return false;
    prev = r.cidr;
  }
  return true;
}

/**
 * setElements with memory of the last list: an unchanged list gives the very array it gave before (so
 * `elementDelta` can skip that set), and a list with nothing covered that changed in one place is
 * checked only there and is its own element list.
 */
function elementsOf(which: 'local' | 'remote', cidrs: readonly string[]): readonly string[] {
  const last = lastElements[which];
  if (last.from === cidrs) return last.to;
  const { from, prevTo, nextTo } = changedRange(last.from, cidrs, sameText);
  if (from === prevTo && from === nextTo) {
    lastElements[which] = { ...last, from: cidrs };
    return last.to;
  }
  if (last.exact && disjointAround(cidrs, from, nextTo)) {
    lastElements[which] = { from: cidrs, to: cidrs, exact: true };
    return cidrs;
  }
  const to = setElements(cidrs);
  lastElements[which] = { from: cidrs, to, exact: to.length === cidrs.length && to.every((e, i) => e === cidrs[i]) };
  return to;
}

/** Both sets' elements; an unchanged CIDR list gives the very array it gave before (so `elementDelta` can skip that set). */
export function firewallElements(f: PlannedFirewall): FirewallElements {
  return { local: elementsOf('local', f.localCidrs), remote: elementsOf('remote', f.remoteCidrs) };
}

/** nft prints a /32 element as a bare address: back to the CIDR text we write. */
export function listedElement(printed: string): string {
  return printed.includes('/') ? printed : `${printed}/32`;
}

export interface ElementDelta {
  /** One transaction: deletes first (a covering CIDR replaces the ones it covers; interval sets refuse overlaps), then adds. */
  script: string;
  /** One line per set and verb, for logs and dry runs. */
  steps: string[];
  changed: number;
  /** Per set, what goes and what comes (to keep a copy of the sets current without rebuilding it). */
  local: { add: string[]; del: string[] };
  remote: { add: string[]; del: string[] };
}

/**
 * The element changes that take the sets from `have` to `want`; undefined when they already match.
 * With `unchanged` (the lists `have` was made from), a set is compared by one walk over the old and the
 * new list (see changedRange) and only where they differ: no set is built, and the same array again
 * costs nothing. Without it, one set lookup per element, with no rendering of the table.
 */
export function elementDelta(
  f: PlannedFirewall, have: { local: ReadonlySet<string>; remote: ReadonlySet<string> } | undefined, want: FirewallElements, unchanged?: { local?: readonly string[]; remote?: readonly string[] },
): ElementDelta | undefined {
  const t = `${f.family} ${checkName(f.table)}`;
  const dels: string[] = [];
  const adds: string[] = [];
  const steps: string[] = [];
  let changed = 0;
  const out: Pick<ElementDelta, 'local' | 'remote'> = { local: { add: [], del: [] }, remote: { add: [], del: [] } };
  for (const [name, h, w, o, same] of [[SET_LOCAL, have?.local, want.local, out.local, unchanged?.local], [SET_REMOTE, have?.remote, want.remote, out.remote, unchanged?.remote]] as const) {
    let add: string[];
    let del: string[];
    if (same) {
      // `have` is known to hold exactly `same`: the same array again means no change, without looking
      if (w === same) continue;
      ({ add, del } = listChange(same, w));
    } else if (h) {
      const wanted = new Set(w);
      add = w.filter((e) => !h.has(e));
      del = [];
      if (add.length || h.size !== wanted.size) for (const e of h) if (!wanted.has(e)) del.push(e);
    } else {
      throw new Error('elementDelta: neither the sets held nor the lists they were made from');
    }
    if (del.length) {
      dels.push(`delete element ${t} ${name} { ${del.join(', ')} }`);
      steps.push(`nft delete element ${t} ${name} { ${del.join(', ')} }`);
    }
    if (add.length) {
      adds.push(`add element ${t} ${name} { ${add.join(', ')} }`);
      steps.push(`nft add element ${t} ${name} { ${add.join(', ')} }`);
    }
    changed += del.length + add.length;
    o.add = add;
    o.del = del;
  }
  if (changed === 0) return undefined;
  return { script: [...dels, ...adds, ''].join('\n'), steps, changed, ...out };
}

/** What goes and what comes from one element list to the next (each without repeats): only the changed range is looked at. */
export function listChange(prev: readonly string[], next: readonly string[]): { add: string[]; del: string[] } {
  const { from, prevTo, nextTo } = changedRange(prev, next, sameText);
  const was = new Set<string>();
  for (let i = from; i < prevTo; i++) was.add(prev[i]!);
  const is = new Set<string>();
  for (let i = from; i < nextTo; i++) is.add(next[i]!);
  const add: string[] = [];
  for (let i = from; i < nextTo; i++) if (!was.has(next[i]!)) add.push(next[i]!);
  const del: string[] = [];
  for (let i = from; i < prevTo; i++) if (!is.has(prev[i]!)) del.push(prev[i]!);
  return { add, del };
}

export type FirewallCheck =
  /** `digest`: what the script puts in the table comment. */
  | { kind: 'replace'; why: string; script: string; digest: string }
  /** The table is ours with the planned rules; its sets hold these elements (as written, /32 included). */
  | { kind: 'elements'; have: { local: Set<string>; remote: Set<string> }; digest: string };

/**
 * Checks a full listing (set elements included) of hawser's table against the plan. Its comment must
 * carry the digest of this plan, or `knownDigest` (the digest of a table this process wrote with the same
 * skeleton and then changed by element deltas); every chain must hold its rules. Then only the elements
 * are left to compare, which the caller turns into one element transaction.
 */
export function checkFirewall(f: PlannedFirewall, listing: string | undefined, knownDigest?: string): FirewallCheck {
  const lines = body(f, true);
  const planned = digestOf(f, lines);
  const replace = (why: string): FirewallCheck => ({ kind: 'replace', why, script: renderFirewall(f, lines), digest: planned });
  if (listing === undefined) return replace('absent');
  const t = parseTableListing(listing);
  const digest = t.comment?.startsWith(COMMENT_PREFIX) ? t.comment.slice(COMMENT_PREFIX.length) : undefined;
  if (digest === undefined || (digest !== knownDigest && digest !== planned)) return replace('plan changed');
  const local = t.sets.get(SET_LOCAL);
  const remote = t.sets.get(SET_REMOTE);
  if (!local || !remote) return replace('a set is missing');
  const want = chains(f);
  if (t.chains.size !== want.length || !want.every((c) => t.chains.get(c.name)?.length === c.rules.length)) return replace('rules were changed');
  // a range (`a-b`) is no element we write: someone else put it there, and only a rewrite takes it out cleanly
  if (local.some((e) => e.includes('-')) || remote.some((e) => e.includes('-'))) return replace('a set holds a range hawser did not write');
  return { kind: 'elements', have: { local: new Set(local.map(listedElement)), remote: new Set(remote.map(listedElement)) }, digest };
}

