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
import { compareCidr, ipv4ToInt, readIPv4Cidr } from './cidr.js';
import type { Cidr } from '../net/cidr.js';
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

/** CIDR texts parsed before: the sets are re-rendered on every change and their CIDRs mostly repeat. */
const parsedCidrs = new Map<string, Cidr | null>();
const PARSED_CIDRS_MAX = 100_000;

function parsedCidr(text: string): Cidr | undefined {
  let c = parsedCidrs.get(text);
  if (c === undefined) {
    const r = readIPv4Cidr(text);
    c = r.ok ? r.cidr : null;
    if (parsedCidrs.size >= PARSED_CIDRS_MAX) parsedCidrs.clear();
    parsedCidrs.set(text, c);
  }
  return c ?? undefined;
}

/** Set elements: CIDRs covered by another one are left out, so no auto-merge (which rewrites elements) is needed. */
export function setElements(cidrs: readonly string[]): string[] {
  const parsed = cidrs.flatMap((t) => {
    const c = parsedCidr(t);
    return c ? [c] : [];
  });
  parsed.sort(compareCidr);
  const out: string[] = [];
  let coveredTo = -1;
  for (const c of parsed) {
    const start = ipv4ToInt(c.address);
    const end = start + 2 ** (32 - c.prefix) - 1;
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
