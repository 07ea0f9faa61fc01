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
// Applying: set elements go to the kernel as nfnetlink batches (os/nftables/nfnl.ts: no text to parse),
// the table, chains and set declarations (and the two small interval sets) as libnftables text. A full
// resync never leaves a moment with empty maps: a missing table is created and then filled; an existing
// one whose declarations are those this process built has its point maps read back (one dump per map)
// and gets only the difference, in one transaction; any other table (one adopted at start, or changed
// behind our back) is replaced whole by one libnftables transaction (create-if-missing, delete,
// re-create), which is also the whole path when nfnetlink cannot be used.
// Later syncs send only element additions/deletions, also as one transaction; a failed incremental
// change falls back to a full resync.
//
// Drift: with watch(), nftables notifications from other processes are read as they come; an element
// deleted (or added) behind our back is put back (or removed) with one element transaction, without a
// listing or a full resync; a deleted set, chain or table gets a full resync.
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import type { Logger } from '../log/index.js';
import { Nft } from '../os/nft.js';
import { elementKey, NftMonitor, parseGeneration, type NftGeneration } from '../os/nftables/monitor.js';
import { errorMessage, HawserError, isHawserError } from '../util/errors.js';
import { GLOBALNET_NFT_TABLE } from '../os/owned.js';
import { ipv4ToInt } from '../net/cidr.js';
import { NfnlSocket } from '../os/nftables/nfnl-socket.js';
import { ipv4Bytes, ipv4RangeBytes, type NfElement, type NfElementOp, type NfIpv4Op } from '../os/nftables/nfnl.js';
import { natlessFlowTest } from './natless-flows.js';

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
  // Keys computed once: a comparator that parses both texts per comparison made rendering 50,000
  // elements cost more than libnftables' whole load.
  const keyed = [...m.entries()].map((e) => ({ e, k: sortKey(e[0]) }));
  keyed.sort((a, b) => a.k - b.k);
  return keyed.map((x) => x.e);
}

/** An address or CIDR as one number: address first, then a bare address before its CIDRs, narrower prefixes last. */
function sortKey(text: string): number {
  const slash = text.indexOf('/');
  if (slash < 0) return ipv4ToInt(text) * 64;
  return ipv4ToInt(text.slice(0, slash)) * 64 + 1 + Number(text.slice(slash + 1));
}

function keyOrder(a: string, b: string): number {
  return sortKey(a) - sortKey(b);
}

function setBlock(kind: 'set' | 'map', name: string, typeLine: string, flags: string | undefined, elements: string, size?: number): string {
  const lines = [`\t${kind} ${name} {`, `\t\ttype ${typeLine}`];
  if (flags) lines.push(`\t\tflags ${flags}`);
  if (size) lines.push(`\t\tsize ${size}`);
  if (elements) lines.push('\t\telements = {', elements, '\t\t}');
  lines.push('\t}');
  return lines.join('\n');
}

const MARK_HEX = `0x${GLOBALNET_MARK.toString(16).padStart(8, '0')}`;

/** Smallest declared size of a point map (an empty map's bucket heads: 16 KiB). */
export const MIN_MAP_SIZE = 1024;

/**
 * The declared `size` of a point map that is to hold `count` elements: a power of two, at least twice the
 * count. A declared size makes the kernel choose its fixed-bucket hash for 4-byte keys instead of the
 * resizable one, which halves the kernel's insertion work for a 50,000-element load
 * (bench/globalnet/set-backends.ts); its bucket heads are allocated once, at creation, for 4/3 of the size
 * (2 MiB at 131,072), and it refuses elements beyond the size (ENFILE). So the size has room to grow into,
 * and NftDataplane raises it before it is reached (see ensureCapacity).
 */
export function mapCapacity(count: number): number {
  let size = MIN_MAP_SIZE;
  while (size < count * 2) size *= 2;
  return size;
}

/** The declared size of every point map for `d`'s element counts. */
export function capacitiesFor(d: Dataplane): Map<string, number> {
  return new Map(POINT_MAP_FIELDS.map(([set, field]) => [set, mapCapacity(pointMap(d, field).size)]));
}

/** The nft type line of a point map. */
function pointMapType(set: string): string {
  return set === 'ingress' ? 'ipv4_addr : ipv4_addr' : 'ipv4_addr : interval ipv4_addr';
}

/**
 * The whole table as one transaction: create-if-missing, delete, re-create with every element. Point maps
 * are declared with `sizes` (default: room for twice `d`'s counts, see mapCapacity).
 */
export function renderRuleset(d: Dataplane, sizes: ReadonlyMap<string, number> = capacitiesFor(d)): string {
  const el = (m: Map<string, string>): string => elementLines(sortedEntries(m), '\t\t\t');
  const point = (set: EgressPointMap | 'ingress', m: Map<string, string>): string => setBlock('map', set, pointMapType(set), undefined, el(m), sizes.get(set));
  const parts = [
    `add table ip ${NFT_TABLE}`,
    `delete table ip ${NFT_TABLE}`,
    `table ip ${NFT_TABLE} {`,
    setBlock('set', 'remote_global_cidrs', 'ipv4_addr', 'interval', elementLines([...d.remoteGlobalCidrs].sort(keyOrder), '\t\t\t')),
    point('egress_pods', d.egressPods),
    point('egress_hdls_pods', d.egressHdlsPods),
    point('egress_hdls_eps', d.egressHdlsEps),
    point('egress_ns', d.egressNs),
    setBlock('map', 'egress_cluster', 'ipv4_addr : interval ipv4_addr', 'interval', el(d.egressCluster)),
    point('ingress', d.ingress),
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

/** Only the interval sets' elements (the point maps empty): what is created as text before the maps are filled. */
function skeletonOf(d: Dataplane): Dataplane {
  return { ...emptyDataplane(), remoteGlobalCidrs: d.remoteGlobalCidrs, egressCluster: d.egressCluster };
}

/** A point map's value as the kernel stores it, in one canonical text (`a-b` for ranges, `a` for addresses). */
function canonicalValue(set: string, value: string): string {
  if (set === 'ingress') return value;
  return value.includes('-') ? value : `${value}-${value}`;
}

function pointElement(set: string, key: string, value?: string): NfElement {
  return {
    key: ipv4Bytes(key),
    ...(value === undefined ? {} : { data: set === 'ingress' ? ipv4Bytes(value) : ipv4RangeBytes(value) }),
    text: value === undefined ? key : `${key} : ${value}`,
  };
}

const POINT_SETS: ReadonlySet<string> = new Set([...EGRESS_POINT_MAPS, 'ingress']);

/**
 * Every point-map element of `d` as packed add ops, unsorted (the kernel does not care; sorting 50,000
 * keys costs more than sending them): the texts are parsed straight into the batch buffer.
 */
function fillOps(d: Dataplane): NfIpv4Op[] {
  const out: NfIpv4Op[] = [];
  for (const [set, field] of POINT_MAP_FIELDS) {
    const m = pointMap(d, field);
    if (!m.size) continue;
    out.push({ op: 'add', family: 'ip', table: NFT_TABLE, set, ipv4: { keys: [...m.keys()], values: [...m.values()], range: set !== 'ingress' } });
  }
  return out;
}

/** The changes as nfnetlink element ops, or undefined when one of them is not a point-map element change. */
export function elementOps(changes: readonly NftChange[]): NfElementOp[] | undefined {
  const out: NfElementOp[] = [];
  const ref = (set: string): { family: 'ip'; table: string; set: string } => ({ family: 'ip', table: NFT_TABLE, set });
  for (const c of changes) {
    if (c.op === 'replace-set' || !POINT_SETS.has(c.set)) return undefined;
    if (c.op === 'delete') out.push({ op: 'delete', ...ref(c.set), elements: c.keys.map((k) => pointElement(c.set, k)) });
    else out.push({ op: 'add', ...ref(c.set), elements: c.elements.map(([k, v]) => pointElement(c.set, k, v)) });
  }
  return out;
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

/** One element of a point map set to `value`, or removed when `value` is undefined. */
export interface ElementUpdate {
  set: EgressPointMap | 'ingress';
  key: string;
  value?: string;
}

const POINT_FIELD = new Map<string, keyof Dataplane>(POINT_MAP_FIELDS);

/** The element changes (deletes first, then adds) that `updates` make to `applied`; no-ops dropped. */
export function planElementUpdates(applied: Dataplane, updates: readonly ElementUpdate[]): NftChange[] {
  const del = new Map<string, string[]>();
  const add = new Map<string, [string, string][]>();
  const seen = new Set<string>();
  // The last update of a key wins (callers may send several for one address).
  for (let i = updates.length - 1; i >= 0; i--) {
    const u = updates[i]!;
    const id = `${u.set} ${u.key}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const have = pointMap(applied, POINT_FIELD.get(u.set)!).get(u.key);
    if (have === u.value) continue;
    if (have !== undefined) (del.get(u.set) ?? del.set(u.set, []).get(u.set)!).push(u.key);
    if (u.value !== undefined) (add.get(u.set) ?? add.set(u.set, []).get(u.set)!).push([u.key, u.value]);
  }
  return [
    ...[...del].map(([set, keys]): NftChange => ({ op: 'delete', set, keys })),
    ...[...add].map(([set, elements]): NftChange => ({ op: 'add', set, elements })),
  ];
}

function applyElementUpdates(d: Dataplane, updates: readonly ElementUpdate[]): void {
  for (const u of updates) {
    const m = pointMap(d, POINT_FIELD.get(u.set)!);
    if (u.value === undefined) m.delete(u.key);
    else m.set(u.key, u.value);
  }
}

/** New contents of the interval sets for applyDelta (absent: unchanged). */
export interface IntervalUpdate {
  remoteGlobalCidrs?: readonly string[];
  egressCluster?: ReadonlyMap<string, string>;
}

/** Runs one nft transaction (a seam for tests; by default `Nft.run`). */
export type NftRunner = (script: string) => Promise<void>;

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

/** Each point map's element count after `changes` (deletes of present keys, adds of absent ones) on `applied`. */
function countsAfter(applied: Dataplane, changes: readonly NftChange[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of changes) {
    const field = c.op === 'replace-set' ? undefined : POINT_FIELD.get(c.set);
    if (!field || c.op === 'replace-set') continue;
    const n = out.get(c.set) ?? pointMap(applied, field).size;
    out.set(c.set, n + (c.op === 'add' ? c.elements.length : -c.keys.length));
  }
  return out;
}

/** What the applier has done since it was made (tests and the bench assert on these). */
export interface DataplaneCounters {
  full: number;
  incremental: number;
  /** Element transactions that undid changes made behind our back. */
  repairs: number;
  /** Full resyncs caused by drift (a set, chain or the table deleted, or notifications lost). */
  driftResyncs: number;
}

const SET_FIELDS = new Map<string, keyof Dataplane>([...POINT_MAP_FIELDS, ['egress_cluster', 'egressCluster'], ['remote_global_cidrs', 'remoteGlobalCidrs']]);

/**
 * Keeps the kernel's table equal to the last desired Dataplane. It remembers what it applied, so a sync
 * sends only the difference; `invalidate()` (or any failure) makes the next sync a full replacement.
 * Emits `repaired` ({ repairs }) and `resynced` (reason) after fixing drift.
 */
export class NftDataplane extends EventEmitter {
  private applied: Dataplane | undefined;
  private readonly nft: Nft;
  private readonly run: NftRunner;
  private lock: Promise<unknown> = Promise.resolve();
  private monitor: NftMonitor | undefined;
  /** PIDs that committed our transactions (the in-process library: this process; else workers/binaries). */
  private readonly ourPids = new Set<number>();
  readonly counters: DataplaneCounters = { full: 0, incremental: 0, repairs: 0, driftResyncs: 0 };
  /** How the last full resync went: table created then filled, element diff, or whole-table text replace. */
  lastFull: 'created' | 'diff' | 'replaced' | undefined;
  /** The element writer: undefined until first needed, null when elements go as libnftables text. */
  private sock: NfnlSocket | null | undefined;
  /** The declarations (nfnetlink fingerprint) of the table as this process last built it. */
  private skeleton: string | undefined;
  /** Declared size of each point map in the kernel's table (known once this process built or grew it). */
  private readonly declared = new Map<string, number>();
  /** The size each point map was created with: its fixed hash's buckets were allocated for that. */
  private readonly createdWith = new Map<string, number>();
  /** Point maps grown in place, and tables replaced to get more buckets (tests and the bench). */
  readonly growth = { inPlace: 0, replaced: 0 };

  /**
   * `elements`: 'nfnetlink' (default, unless `run` is given) sends element changes as nfnetlink batches;
   * 'text' sends everything as libnftables text (the fallback, and the bench's comparison).
   */
  constructor(private readonly opts: { netns?: string; nft?: Nft; run?: NftRunner; log?: Logger; elements?: 'nfnetlink' | 'text' } = {}) {
    super();
    if (opts.run || opts.elements === 'text') this.sock = null;
    this.nft = opts.nft ?? new Nft({ netns: opts.netns });
    this.run = opts.run ?? (async (script) => {
      await this.nft.run(script);
      const pid = this.nft.committerPid;
      if (pid !== undefined) this.notePid(pid);
    });
  }

  /** The nfnetlink element writer's batches, messages and bytes sent (benches); undefined on the text path. */
  get writerStats(): Readonly<{ batches: number; messages: number; bytes: number; lastBatchBytes: number }> | undefined {
    return this.sock ? { ...this.sock.stats } : undefined;
  }

  /** What the last successful transaction left in the kernel (undefined before the first). */
  get current(): Dataplane | undefined {
    return this.applied;
  }

  invalidate(): void {
    this.applied = undefined;
  }

  /**
   * Makes the kernel match `desired`, which the applier keeps as its record of the kernel (no copy of
   * 50,000 elements per change): callers hand over a Dataplane they no longer mutate (plans are fresh).
   */
  sync(desired: Dataplane): Promise<SyncResult> {
    return this.locked(() => this.syncNow(desired));
  }

  /**
   * The incremental path: sets (or, with no value, removes) single elements of the point maps on top of
   * what was applied, as one transaction, without diffing the rest. Updates equal to the applied state are
   * dropped. The applied record is changed in place on success; on failure it is dropped (the next sync
   * replaces the whole table) and the error is thrown.
   */
  applyDelta(updates: readonly ElementUpdate[], intervals: IntervalUpdate = {}): Promise<SyncResult> {
    return this.locked(async () => {
      const applied = this.applied;
      if (!applied) throw new HawserError('NFT', 'no table applied yet: an element change needs a full sync first');
      const changes = planElementUpdates(applied, updates);
      const rg = intervals.remoteGlobalCidrs ? [...intervals.remoteGlobalCidrs].sort(keyOrder) : undefined;
      const replaced: NftChange[] = [];
      if (rg && !sameList([...applied.remoteGlobalCidrs].sort(keyOrder), rg)) replaced.push({ op: 'replace-set', set: 'remote_global_cidrs', kind: 'set', keys: rg });
      const cl = intervals.egressCluster;
      if (cl && !sameMap(applied.egressCluster, new Map(cl))) replaced.push({ op: 'replace-set', set: 'egress_cluster', kind: 'map', elements: sortedEntries(new Map(cl)) });
      changes.unshift(...replaced);
      if (changes.length === 0) return { mode: 'none', changes: 0 };
      const target = (): Dataplane => {
        const t = cloneDataplane(applied);
        applyElementUpdates(t, updates);
        if (rg) t.remoteGlobalCidrs = rg;
        if (cl) t.egressCluster = new Map(cl);
        return t;
      };
      try {
        await this.applyChanges(changes, countsAfter(applied, changes), target);
      } catch (err) {
        this.applied = undefined;
        throw err;
      }
      applyElementUpdates(applied, updates);
      if (rg) applied.remoteGlobalCidrs = rg;
      if (cl) applied.egressCluster = new Map(cl);
      this.counters.incremental++;
      return { mode: 'incremental', changes: changeCount(changes) };
    });
  }

  fullResync(desired: Dataplane): Promise<SyncResult> {
    return this.locked(() => this.fullResyncNow(desired));
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  private notePid(pid: number): void {
    this.ourPids.add(pid);
    if (this.ourPids.size > 64) this.ourPids.delete(this.ourPids.values().next().value!);
  }

  /** The kernel names the committing thread; the library may run on one of our threads (large scripts). */
  private isOurs(pid: number): boolean {
    if (this.ourPids.has(pid)) return true;
    for (const p of this.ourPids) if (existsSync(`/proc/${p}/task/${pid}`)) return true;
    return false;
  }

  private async syncNow(desired: Dataplane): Promise<SyncResult> {
    if (!this.applied) return this.fullResyncNow(desired);
    const changes = planChanges(this.applied, desired);
    if (changes.length === 0) return { mode: 'none', changes: 0 };
    try {
      await this.applyChanges(changes, countsAfter(this.applied, changes), () => desired);
      this.applied = desired;
      this.counters.incremental++;
      return { mode: 'incremental', changes: changeCount(changes) };
    } catch (err) {
      // The kernel differs from what we think (someone edited the table, or it was removed): rebuild it.
      this.opts.log?.warn({ err }, 'incremental nftables update failed; replacing the whole table');
      return this.fullResyncNow(desired);
    }
  }

  /**
   * Deletes the conntrack entries of connections that crossed this node before the table's NAT was in place
   * (natless-flows.ts), so their next packet is NATed. Resolves with how many; 0 without nfnetlink.
   */
  async clearNatlessFlows(remoteGlobalCidrs: readonly string[], ownGlobalCidr: string | undefined): Promise<number> {
    const sock = this.elementWriter();
    if (!sock) return 0;
    const test = natlessFlowTest(remoteGlobalCidrs, ownGlobalCidr);
    if (!test) return 0;
    const stale = await sock.dumpConntrack(test);
    return stale.length ? sock.deleteConntrack(stale) : 0;
  }

  /** The nfnetlink element writer, opened on first use; null (one warning) when it cannot be had. */
  private elementWriter(): NfnlSocket | null {
    if (this.sock !== undefined) return this.sock;
    const s = NfnlSocket.open(this.opts.netns);
    if ('unavailable' in s) {
      this.opts.log?.warn({ err: s.unavailable }, 'nfnetlink unavailable: nftables set elements go as libnftables text (slower loads)');
      this.sock = null;
    } else {
      this.sock = s;
      this.notePid(process.pid);
    }
    return this.sock;
  }

  /**
   * One transaction: nfnetlink when every change is a point-map element change, else libnftables text.
   * `counts`: each changed point map's element count afterwards, so a map about to outgrow its declared
   * size is grown first (or the table replaced by `target()`, which then is the whole change).
   */
  private async applyChanges(changes: readonly NftChange[], counts: ReadonlyMap<string, number>, target: () => Dataplane): Promise<void> {
    if ((await this.ensureCapacity(counts, target)) === 'replaced') return;
    const sock = this.elementWriter();
    const ops = sock ? elementOps(changes) : undefined;
    if (sock && ops) await sock.commit(ops);
    else await this.run(renderChanges(changes));
  }

  private async fullResyncNow(desired: Dataplane): Promise<SyncResult> {
    this.applied = undefined;
    const sock = this.elementWriter();
    if (!sock) {
      await this.replaceWhole(desired);
      this.lastFull = 'replaced';
    } else {
      // libnftables reads every element even for a terse listing (~0.5 s of CPU at 50,000): compare the
      // kernel's declarations over nfnetlink instead, with those of the table this process built
      const fp = await sock.fingerprint('ip', NFT_TABLE);
      if (fp === undefined) {
        // nothing to keep: the skeleton (with the small interval sets, point maps sized for `desired`),
        // then every element in one batch
        const sizes = capacitiesFor(desired);
        await this.run(renderRuleset(skeletonOf(desired), sizes));
        this.noteCreated(sizes);
        this.skeleton = await sock.fingerprint('ip', NFT_TABLE);
        await sock.commit(fillOps(desired));
        this.lastFull = 'created';
      } else if (fp === this.skeleton) {
        await this.run(renderChanges([
          { op: 'replace-set', set: 'remote_global_cidrs', kind: 'set', keys: [...desired.remoteGlobalCidrs].sort(keyOrder) },
          { op: 'replace-set', set: 'egress_cluster', kind: 'map', elements: sortedEntries(desired.egressCluster) },
        ]));
        const observed = await this.observePointMaps(sock, desired);
        const changes = planChanges(observed, desired);
        if ((await this.ensureCapacity(countsAfter(observed, changes), () => desired)) !== 'replaced') {
          const ops = elementOps(changes)!;
          if (ops.length) await sock.commit(ops);
        }
        this.lastFull = 'diff';
      } else {
        // a table from before this process started (adopted once), or one changed behind our back
        this.opts.log?.info({ table: NFT_TABLE, adopted: this.skeleton === undefined }, 'replacing the Globalnet nftables table whole');
        await this.replaceWhole(desired);
        this.lastFull = 'replaced';
      }
    }
    this.applied = desired;
    this.counters.full++;
    return { mode: 'full', changes: elementCount(desired) };
  }

  /** The whole table as `d` in one libnftables transaction, point maps sized for `d`. */
  private async replaceWhole(d: Dataplane): Promise<void> {
    const sizes = capacitiesFor(d);
    await this.run(renderRuleset(d, sizes));
    this.noteCreated(sizes);
    if (this.sock) this.skeleton = await this.sock.fingerprint('ip', NFT_TABLE);
  }

  private noteCreated(sizes: ReadonlyMap<string, number>): void {
    for (const [set, size] of sizes) {
      this.declared.set(set, size);
      this.createdWith.set(set, size);
    }
  }

  /**
   * Makes room for `counts` (elements per point map after a change) before the change is sent. A map
   * whose count would pass its declared size gets a new size (mapCapacity) in place: one small
   * libnftables transaction that only raises the limit (read back over nfnetlink: kernels without set
   * size updates keep the old one), so nothing on the data path changes until the elements follow. The
   * kernel keeps the buckets it allocated at creation, so once a map would hold more than four times its
   * creation size, the table is replaced whole by `target()` instead (one transaction, sized afresh):
   * lookups never walk long bucket chains. The same replacement is the way when the size cannot be
   * raised in place (or read back: the text path). Returns 'replaced' when the table was replaced (the
   * change is then done).
   */
  private async ensureCapacity(counts: ReadonlyMap<string, number>, target: () => Dataplane): Promise<'ok' | 'replaced'> {
    const grow: [string, number][] = [];
    for (const [set, n] of counts) {
      const have = this.declared.get(set);
      if (have === undefined || n <= have) continue;
      const size = mapCapacity(n);
      if (size > 4 * (this.createdWith.get(set) ?? have)) {
        this.opts.log?.info({ table: NFT_TABLE, set, elements: n, createdWith: this.createdWith.get(set) }, 'a Globalnet map outgrew the buckets it was created with; replacing the table with larger maps');
        await this.replaceWhole(target());
        this.growth.replaced++;
        return 'replaced';
      }
      grow.push([set, size]);
    }
    if (!grow.length) return 'ok';
    const sock = this.sock;
    if (sock) {
      await this.run(grow.map(([set, size]) => `add map ip ${NFT_TABLE} ${set} { type ${pointMapType(set)}; size ${size}; }`).join('\n') + '\n');
      // kernels before set-size updates accept the declaration and keep the old size: check, else replace
      const now = await sock.setSizes('ip', NFT_TABLE);
      const kept = grow.filter(([set, size]) => (now.get(set) ?? 0) < size);
      if (kept.length) {
        this.opts.log?.info({ table: NFT_TABLE, sets: kept.map(([set]) => set) }, 'this kernel cannot raise a map\'s size in place; replacing the Globalnet table with larger maps');
        await this.replaceWhole(target());
        this.growth.replaced++;
        return 'replaced';
      }
    } else {
      // without nfnetlink there is no cheap read-back of the size: grow by replacing the table
      await this.replaceWhole(target());
      this.growth.replaced++;
      return 'replaced';
    }
    for (const [set, size] of grow) this.declared.set(set, size);
    // the declared size is part of the declarations' fingerprint
    this.skeleton = await sock.fingerprint('ip', NFT_TABLE);
    this.growth.inPlace += grow.length;
    this.opts.log?.info({ table: NFT_TABLE, sizes: Object.fromEntries(grow) }, 'raised the declared size of Globalnet maps');
    return 'ok';
  }

  /** The kernel's point maps (one dump each), with `like`'s interval sets: what a diff needs. */
  private async observePointMaps(sock: NfnlSocket, like: Dataplane): Promise<Dataplane> {
    const d = skeletonOf(like);
    for (const [set, field] of POINT_MAP_FIELDS) {
      const have = pointMap(d, field);
      const want = pointMap(like, field);
      const { keys, values } = await sock.dumpIpv4Elements({ family: 'ip', table: NFT_TABLE, set });
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        let v = values[i]!;
        // the kernel holds a one-address range as a-a; a desired value may be written either way
        const w = want.get(k);
        if (w !== undefined && w !== v && canonicalValue(set, w) === v) v = w;
        have.set(k, v);
      }
    }
    return d;
  }

  /**
   * Follows nftables notifications and undoes foreign changes to our table (see the header). Resolves
   * once the subscription is live (proven by a no-op transaction of ours being seen).
   */
  async watch(): Promise<void> {
    if (this.monitor) return;
    const m = new NftMonitor({ netns: this.opts.netns });
    this.monitor = m;
    m.on('generation', (g: NftGeneration) => {
      void this.locked(() => this.onGeneration(g)).catch((err: unknown) => this.opts.log?.warn({ err }, 'cannot repair the Globalnet nftables table'));
    });
    m.on('lost', (why: string) => {
      this.opts.log?.warn({ err: why }, 'nftables notifications lost; replacing the whole table');
      void this.locked(() => this.driftResync(why)).catch((err: unknown) => this.opts.log?.warn({ err }, 'cannot rebuild the Globalnet nftables table'));
    });
    let unavailable = false;
    m.on('unavailable', (why: string) => {
      unavailable = true;
      this.opts.log?.warn({ err: why }, 'no nftables notifications: drift is repaired by the periodic resync only');
    });
    m.start();
    // A transaction that changes nothing still commits a generation: seeing ours proves we listen.
    for (let attempt = 0; attempt < 3 && !unavailable; attempt++) {
      const seen = m.nextGenerationBy(undefined, 2000);
      await this.locked(() => this.run(`add table ip ${NFT_TABLE}-probe\ndelete table ip ${NFT_TABLE}-probe\n`));
      if (await seen) return;
    }
    if (!unavailable) this.opts.log?.warn('nftables notifications not seen; drift is repaired by the periodic resync only');
  }

  /** Stops following notifications and frees the nftables context. */
  close(): void {
    this.monitor?.stop();
    this.monitor = undefined;
    this.nft.close();
    this.sock?.close();
    this.sock = undefined;
  }

  private async onGeneration(g: NftGeneration): Promise<void> {
    if (!this.applied || g.pid === undefined || this.isOurs(g.pid)) return;
    const missing = new Map<string, Set<string>>();
    const extra = new Map<string, Set<string>>();
    const touchedIntervals = new Set<string>();
    let structural: string | undefined;
    for (const e of parseGeneration(g)) {
      if (e.family !== 'ip' || e.table !== NFT_TABLE) continue;
      if (e.object !== 'element') {
        if (e.op === 'delete' || e.object === 'rule' || e.object === 'chain') structural ??= `${e.op} ${e.object} ${e.name ?? ''} by ${g.process ?? '?'} (pid ${g.pid})`;
        continue;
      }
      const set = e.name ?? '';
      const field = SET_FIELDS.get(set);
      if (!field) continue;
      if (field === 'remoteGlobalCidrs' || field === 'egressCluster') {
        touchedIntervals.add(set);
        continue;
      }
      const want = pointMap(this.applied, field);
      for (const printed of e.elements ?? []) {
        const k = elementKey(printed);
        const miss = missing.get(set) ?? new Set<string>();
        const ext = extra.get(set) ?? new Set<string>();
        missing.set(set, miss);
        extra.set(set, ext);
        if (e.op === 'delete') {
          ext.delete(k);
          if (want.has(k)) miss.add(k);
        } else {
          miss.delete(k);
          if (!want.has(k)) ext.add(k);
        }
      }
    }
    if (structural) {
      await this.driftResync(structural);
      return;
    }
    const changes: NftChange[] = [];
    for (const set of touchedIntervals) {
      if (set === 'remote_global_cidrs') changes.push({ op: 'replace-set', set, kind: 'set', keys: [...this.applied.remoteGlobalCidrs].sort(keyOrder) });
      else changes.push({ op: 'replace-set', set, kind: 'map', elements: sortedEntries(this.applied.egressCluster) });
    }
    for (const [set, keys] of extra) if (keys.size) changes.push({ op: 'delete', set, keys: [...keys] });
    for (const [set, keys] of missing) {
      const want = pointMap(this.applied, SET_FIELDS.get(set)!);
      if (keys.size) changes.push({ op: 'add', set, elements: [...keys].map((k) => [k, want.get(k)!]) });
    }
    if (!changes.length) return;
    const applied = this.applied;
    try {
      await this.applyChanges(changes, countsAfter(applied, changes), () => applied);
      this.counters.repairs++;
      this.opts.log?.info({ changes: changeCount(changes), by: g.process, pid: g.pid }, 'undid a change made to the Globalnet nftables table behind our back');
      this.emit('repaired', { changes: changeCount(changes) });
    } catch (err) {
      await this.driftResync(`repair failed: ${errorMessage(err)}`);
    }
  }

  private async driftResync(why: string): Promise<void> {
    if (!this.applied) return;
    this.opts.log?.warn({ reason: why }, 'the Globalnet nftables table changed behind our back; replacing it');
    await this.fullResyncNow(this.applied);
    this.counters.driftResyncs++;
    this.emit('resynced', why);
  }

  /** Removes hawser's table (absent is fine). */
  remove(): Promise<void> {
    return this.locked(async () => {
      this.applied = undefined;
      this.declared.clear();
      this.createdWith.clear();
      try {
        await this.run(`add table ip ${NFT_TABLE}\ndelete table ip ${NFT_TABLE}\n`);
      } catch (err) {
        if (isHawserError(err, 'NFT')) throw err;
        throw new HawserError('NFT', `cannot remove table ip ${NFT_TABLE}: ${errorMessage(err)}`, { cause: err });
      }
    });
  }
}
