// Does a FORWARD chain (nftables, or iptables-nft, which shows in the same ruleset) drop forwarded traffic
// between pods and remote clusters? Docker sets the iptables FORWARD policy to DROP; Calico ends its
// cali-FORWARD with drops for unknown traffic. Pure: works on `nft list ruleset` text.
import type { CheckResult } from './checks.js';

export interface NftChain { family: string; table: string; name: string; hook?: string; policy?: string; rules: string[] }

/** Chains of an `nft list ruleset` listing, with their hook, policy and rule lines. */
export function parseRuleset(text: string): NftChain[] {
  const chains: NftChain[] = [];
  let family = '';
  let table = '';
  let cur: NftChain | undefined;
  let depth = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const t = /^table (\S+) (\S+) \{$/.exec(line);
    if (t && depth === 0) {
      family = t[1]!;
      table = t[2]!;
      depth = 1;
      continue;
    }
    const c = /^chain (\S+) \{$/.exec(line);
    if (c && depth === 1) {
      cur = { family, table, name: c[1]!, rules: [] };
      chains.push(cur);
      depth = 2;
      continue;
    }
    if (line.endsWith('{')) {
      depth++;
      continue;
    }
    if (line === '}') {
      depth--;
      if (depth === 1) cur = undefined;
      continue;
    }
    if (!cur || depth !== 2 || !line) continue;
    const h = /^type \S+ hook (\S+) .*?(?:policy (\S+);)?$/.exec(line);
    if (h) {
      cur.hook = h[1]!;
      if (h[2]) cur.policy = h[2];
      continue;
    }
    cur.rules.push(line);
  }
  return chains;
}

/** An accept rule that lets some of our traffic through: it names a relevant CIDR or interface. */
function acceptsOurs(rule: string, needles: readonly string[]): boolean {
  return /\baccept\b/.test(rule) && needles.some((n) => rule.includes(n));
}

/** Unconditional drop at the end of a chain (`counter drop`, `drop`, iptables-nft's `counter packets 0 bytes 0 drop`). */
function isBareDrop(rule: string): boolean {
  return /^(counter( packets \d+ bytes \d+)? )?(drop|reject)\b/.test(rule);
}

/**
 * One finding: ✗ when a forward base chain drops by policy (or ends in a bare drop) and none of its rules
 * accepts traffic naming the cluster's or the remote clusters' CIDRs, vx-submariner or the cable interface.
 */
export function forwardPolicyCheck(ruleset: string, o: { localCidrs: readonly string[]; remoteCidrs: readonly string[] }): CheckResult {
  const needles = [...o.localCidrs, ...o.remoteCidrs, 'vx-submariner', '"submariner"', 'ipsec0'];
  const blocking = parseRuleset(ruleset).filter((c) => c.hook === 'forward' && !c.table.startsWith('hawser'))
    .filter((c) => c.policy === 'drop' || (c.rules.length > 0 && isBareDrop(c.rules[c.rules.length - 1]!)))
    .filter((c) => !c.rules.some((r) => acceptsOurs(r, needles)));
  if (!blocking.length) return { name: 'FORWARD policy', verdict: 'ok', detail: 'no forward chain drops forwarded traffic by default' };
  const where = blocking.map((c) => `${c.family} ${c.table} ${c.name} (${c.policy === 'drop' ? 'policy drop' : 'ends in drop'})`).join(', ');
  const cidrs = [...o.remoteCidrs, ...o.localCidrs];
  const example = cidrs[0] ?? '<remote CIDR>';
  return {
    name: 'FORWARD policy',
    verdict: 'fail',
    detail: `${where} drops forwarded packets and accepts none naming ${cidrs.length ? cidrs.join(', ') : 'the cluster CIDRs'}, vx-submariner or the cable: pod traffic to and from remote clusters is dropped on this node`,
    fix: `accept forwarding for the remote and local CIDRs before the drop, e.g. \`iptables -I FORWARD -s ${example} -j ACCEPT\` and \`iptables -I FORWARD -d ${example} -j ACCEPT\` for each CIDR (nft: \`nft insert rule ${blocking[0]!.family} ${blocking[0]!.table} ${blocking[0]!.name} ip saddr ${example} accept\`), or set the policy back to accept (Docker sets DROP: \`iptables -P FORWARD ACCEPT\`)`,
  };
}
