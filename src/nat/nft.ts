// Globalnet's data plane in hawser's own nftables table, built on maps so that adding or removing one
// mapping is one element change instead of one rule per address (Submariner's iptables design).
//
// Egress (postrouting at srcnat - 30: before the route agent's identity SNAT at srcnat - 20, which would
// otherwise bind local->remote connections first; Submariner likewise jumps to its globalnet egress chain
// at the top of SUBMARINER-POSTROUTING): traffic to a remote cluster's global CIDR is marked
// 0xC0000 (Submariner's globalnet mark) and SNATed by the first map that has its source address, in
// Submariner's precedence order: PODS (GlobalEgressIP with podSelector) > HDLS-PODS (headless Service pods,
// whose ingress IP doubles as egress) > HDLS-EPS > NS (GlobalEgressIP for a whole namespace) > CLUSTER
// (ClusterGlobalEgressIP, keyed by the local cluster/service CIDRs). A map lookup that misses ends that
// rule and evaluation goes on to the next one, so rule order is the precedence.
// Several global IPs: map values are `first-last` ranges; the kernel's NAT picks one address per
// connection by hashing the source and destination addresses (no NF_NAT_RANGE_PERSISTENT), so a pod keeps
// one global IP per peer and different peers/pods spread over the range.
//
// Ingress (prerouting): DNAT from a global IP to its target (headless pod, endpoints address, or a
// ClusterIP). The chain sits just after kube-proxy's (dstnat + 10): for a ClusterIP export kube-proxy
// already translates the global IP through the internal Service's externalIPs, and the first NAT chain
// that translates a connection ends NAT lookups for it; ours is the fallback for the other targets.
//
// Applying: the first sync and every resync replace the whole table in one `nft -f -` transaction
// (create-if-missing, delete, re-create: no moment with a half-built table); later syncs send only element
// additions/deletions, also as one transaction. A failed incremental change falls back to a full resync.
import type { Logger } from '../log/index.js';
import { errorMessage, HawserError, isHawserError } from '../util/errors.js';
import { exec } from '../util/exec.js';
import { GLOBALNET_NFT_TABLE } from '../os/owned.js';

export const NFT_TABLE = GLOBALNET_NFT_TABLE;
export const GLOBALNET_MARK = 0xc0000;

/** Maps keyed by one IPv4 address (source pod/endpoint IP) whose values are global `first-last` ranges, in precedence order. */
export const EGRESS_POINT_MAPS = ['egress_pods', 'egress_hdls_pods', 'egress_hdls_eps', 'egress_ns'] as const;
export type EgressPointMap = (typeof EGRESS_POINT_MAPS)[number];

/** Everything the table holds; the planner builds it, the applier makes the kernel match it. */
export interface Dataplane {
  /** Remote clusters' global CIDRs (normalized: no overlaps). */
  remoteGlobalCidrs: string[];
  egressPods: Map<string, string>;
  egressHdlsPods: Map<string, string>;
  egressHdlsEps: Map<string, string>;
  egressNs: Map<string, string>;
  /** Local CIDR (normalized) -> cluster egress range. */
  egressCluster: Map<string, string>;
  /** Global IP -> target IP. */
  ingress: Map<string, string>;
}

export function emptyDataplane(): Dataplane {
  return {
    remoteGlobalCidrs: [],
    egressPods: new Map(),
    egressHdlsPods: new Map(),
    egressHdlsEps: new Map(),
    egressNs: new Map(),
    egressCluster: new Map(),
    ingress: new Map(),
  };
}

export function cloneDataplane(d: Dataplane): Dataplane {
  return {
    remoteGlobalCidrs: [...d.remoteGlobalCidrs],
    egressPods: new Map(d.egressPods),
    egressHdlsPods: new Map(d.egressHdlsPods),
    egressHdlsEps: new Map(d.egressHdlsEps),
    egressNs: new Map(d.egressNs),
    egressCluster: new Map(d.egressCluster),
    ingress: new Map(d.ingress),
  };
}

const POINT_MAP_FIELDS: ReadonlyArray<[EgressPointMap | 'ingress', keyof Dataplane]> = [
  ['egress_pods', 'egressPods'],
  ['egress_hdls_pods', 'egressHdlsPods'],
  ['egress_hdls_eps', 'egressHdlsEps'],
  ['egress_ns', 'egressNs'],
  ['ingress', 'ingress'],
];

function pointMap(d: Dataplane, field: keyof Dataplane): Map<string, string> {
  return d[field] as Map<string, string>;
}

/** Elements in a stable order (by key), one per line. */
function elementLines(entries: Iterable<[string, string]> | Iterable<string>, indent: string): string {
  const items: string[] = [];
  for (const e of entries) items.push(typeof e === 'string' ? e : `${e[0]} : ${e[1]}`);
  return items.map((x) => indent + x).join(',\n');
}

function sortedEntries(m: Map<string, string>): [string, string][] {
  return [...m.entries()].sort((a, b) => keyOrder(a[0], b[0]));
}

function keyOrder(a: string, b: string): number {
  const pa = a.split(/[./]/).map(Number);
  const pb = b.split(/[./]/).map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? -1) - (pb[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

function setBlock(kind: 'set' | 'map', name: string, typeLine: string, flags: string | undefined, elements: string): string {
  const lines = [`\t${kind} ${name} {`, `\t\ttype ${typeLine}`];
  if (flags) lines.push(`\t\tflags ${flags}`);
  if (elements) lines.push('\t\telements = {', elements, '\t\t}');
  lines.push('\t}');
  return lines.join('\n');
}

const MARK_HEX = `0x${GLOBALNET_MARK.toString(16).padStart(8, '0')}`;

/** The whole table as one transaction: create-if-missing, delete, re-create with every element. */
export function renderRuleset(d: Dataplane): string {
  const el = (m: Map<string, string>): string => elementLines(sortedEntries(m), '\t\t\t');
  const parts = [
    `add table ip ${NFT_TABLE}`,
    `delete table ip ${NFT_TABLE}`,
    `table ip ${NFT_TABLE} {`,
    setBlock('set', 'remote_global_cidrs', 'ipv4_addr', 'interval', elementLines([...d.remoteGlobalCidrs].sort(keyOrder), '\t\t\t')),
    setBlock('map', 'egress_pods', 'ipv4_addr : interval ipv4_addr', undefined, el(d.egressPods)),
    setBlock('map', 'egress_hdls_pods', 'ipv4_addr : interval ipv4_addr', undefined, el(d.egressHdlsPods)),
    setBlock('map', 'egress_hdls_eps', 'ipv4_addr : interval ipv4_addr', undefined, el(d.egressHdlsEps)),
    setBlock('map', 'egress_ns', 'ipv4_addr : interval ipv4_addr', undefined, el(d.egressNs)),
    setBlock('map', 'egress_cluster', 'ipv4_addr : interval ipv4_addr', 'interval', el(d.egressCluster)),
    setBlock('map', 'ingress', 'ipv4_addr : ipv4_addr', undefined, el(d.ingress)),
    [
      '\tchain egress {',
      '\t\ttype nat hook postrouting priority srcnat - 30; policy accept;',
      '\t\tip daddr != @remote_global_cidrs return',
      `\t\tmeta mark set meta mark | ${MARK_HEX}`,
      ...EGRESS_POINT_MAPS.map((m) => `\t\tsnat ip to ip saddr map @${m}`),
      '\t\tsnat ip to ip saddr map @egress_cluster',
      '\t}',
    ].join('\n'),
    [
      '\tchain ingress {',
      '\t\ttype nat hook prerouting priority dstnat + 10; policy accept;',
      '\t\tdnat ip to ip daddr map @ingress',
      '\t}',
    ].join('\n'),
    '}',
  ];
  return parts.join('\n') + '\n';
}

/** One change to one set/map; a transaction is a list of these. */
export type NftChange =
  | { op: 'delete'; set: string; keys: string[] }
  | { op: 'add'; set: string; elements: [string, string][] }
  | { op: 'replace-set'; set: string; kind: 'set'; keys: string[] }
  | { op: 'replace-set'; set: string; kind: 'map'; elements: [string, string][] };

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameMap(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/**
 * Element changes turning `applied` into `desired`. Point maps change element by element (a changed value
 * is a delete plus an add); the small interval sets are flushed and refilled (interval elements cannot be
 * updated in place).
 */
export function planChanges(applied: Dataplane, desired: Dataplane): NftChange[] {
  const out: NftChange[] = [];
  const deletes: NftChange[] = [];
  const adds: NftChange[] = [];
  const rg = [...desired.remoteGlobalCidrs].sort(keyOrder);
  if (!sameList([...applied.remoteGlobalCidrs].sort(keyOrder), rg)) out.push({ op: 'replace-set', set: 'remote_global_cidrs', kind: 'set', keys: rg });
  if (!sameMap(applied.egressCluster, desired.egressCluster)) {
    out.push({ op: 'replace-set', set: 'egress_cluster', kind: 'map', elements: sortedEntries(desired.egressCluster) });
  }
  for (const [set, field] of POINT_MAP_FIELDS) {
    const have = pointMap(applied, field);
    const want = pointMap(desired, field);
    const del: string[] = [];
    const add: [string, string][] = [];
    for (const [k, v] of have) {
      const w = want.get(k);
      if (w === undefined) del.push(k);
      else if (w !== v) {
        del.push(k);
        add.push([k, w]);
      }
    }
    for (const [k, w] of want) if (!have.has(k)) add.push([k, w]);
    if (del.length) deletes.push({ op: 'delete', set, keys: del.sort(keyOrder) });
    if (add.length) adds.push({ op: 'add', set, elements: add.sort((a, b) => keyOrder(a[0], b[0])) });
  }
  // Deletions first: a changed value is removed before it is re-added in the same transaction.
  return [...out, ...deletes, ...adds];
}

/** The transaction text for `changes` (empty string when there is nothing to do). */
export function renderChanges(changes: readonly NftChange[]): string {
  const lines: string[] = [];
  const t = `ip ${NFT_TABLE}`;
  for (const c of changes) {
    switch (c.op) {
      case 'delete':
        lines.push(`delete element ${t} ${c.set} { ${c.keys.join(', ')} }`);
        break;
      case 'add':
        lines.push(`add element ${t} ${c.set} { ${c.elements.map(([k, v]) => `${k} : ${v}`).join(', ')} }`);
        break;
      case 'replace-set':
        lines.push(`flush ${c.kind} ${t} ${c.set}`);
        if (c.kind === 'set' && c.keys.length) lines.push(`add element ${t} ${c.set} { ${c.keys.join(', ')} }`);
        if (c.kind === 'map' && c.elements.length) lines.push(`add element ${t} ${c.set} { ${c.elements.map(([k, v]) => `${k} : ${v}`).join(', ')} }`);
        break;
    }
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}

/** Runs one nft transaction (the script on stdin). */
export type NftRunner = (script: string) => Promise<void>;

/** `nft -f -`, in `netns` if given; errors name what failed and what to install. */
export function nftRunner(netns?: string): NftRunner {
  return async (script) => {
    try {
      await exec('nft', ['-f', '-'], { netns, input: script, timeoutMs: 60_000 });
    } catch (err) {
      const msg = errorMessage(err);
      if (/ENOENT/.test(msg)) throw new HawserError('NFT', 'nft is not installed (install the Debian package nftables)', { cause: err });
      throw new HawserError('NFT', `nft transaction failed: ${msg.split('\n').slice(0, 6).join(' | ')}`, { cause: err });
    }
  };
}

export interface SyncResult {
  mode: 'full' | 'incremental' | 'none';
  /** Element-level changes sent (full: every element). */
  changes: number;
}

function elementCount(d: Dataplane): number {
  return d.remoteGlobalCidrs.length + POINT_MAP_FIELDS.reduce((n, [, f]) => n + pointMap(d, f).size, 0) + d.egressCluster.size;
}

function changeCount(cs: readonly NftChange[]): number {
  let n = 0;
  for (const c of cs) n += c.op === 'delete' ? c.keys.length : c.op === 'add' ? c.elements.length : c.kind === 'set' ? c.keys.length : c.elements.length;
  return n;
}

/**
 * Keeps the kernel's table equal to the last desired Dataplane. It remembers what it applied, so a sync
 * sends only the difference; `invalidate()` (or any failure) makes the next sync a full replacement.
 */
export class NftDataplane {
  private applied: Dataplane | undefined;
  private readonly run: NftRunner;

  constructor(private readonly opts: { netns?: string; run?: NftRunner; log?: Logger } = {}) {
    this.run = opts.run ?? nftRunner(opts.netns);
  }

  /** What the last successful transaction left in the kernel (undefined before the first). */
  get current(): Dataplane | undefined {
    return this.applied;
  }

  invalidate(): void {
    this.applied = undefined;
  }

  async sync(desired: Dataplane): Promise<SyncResult> {
    if (!this.applied) return this.fullResync(desired);
    const changes = planChanges(this.applied, desired);
    if (changes.length === 0) return { mode: 'none', changes: 0 };
    try {
      await this.run(renderChanges(changes));
      this.applied = cloneDataplane(desired);
      return { mode: 'incremental', changes: changeCount(changes) };
    } catch (err) {
      // The kernel differs from what we think (someone edited the table, or it was removed): rebuild it.
      this.opts.log?.warn({ err: errorMessage(err) }, 'incremental nftables update failed; replacing the whole table');
      return this.fullResync(desired);
    }
  }

  async fullResync(desired: Dataplane): Promise<SyncResult> {
    this.applied = undefined;
    await this.run(renderRuleset(desired));
    this.applied = cloneDataplane(desired);
    return { mode: 'full', changes: elementCount(desired) };
  }

  /** Removes hawser's table (absent is fine). */
  async remove(): Promise<void> {
    this.applied = undefined;
    try {
      await this.run(`add table ip ${NFT_TABLE}\ndelete table ip ${NFT_TABLE}\n`);
    } catch (err) {
      if (isHawserError(err, 'NFT')) throw err;
      throw new HawserError('NFT', `cannot remove table ip ${NFT_TABLE}: ${errorMessage(err)}`, { cause: err });
    }
  }
}
