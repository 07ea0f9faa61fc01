// The observed kernel state of one namespace kept in memory by rtnetlink notifications: a full dump
// on start, on lost notifications (ENOBUFS, socket error, worker restart) and on a slow timer; in
// between, every read is served from memory and every write is followed by the notifications it
// caused, so a reconcile costs work proportional to what changed and a no-op reconcile makes no
// syscall. It is an Rtnl itself: the route agent's diff reads it exactly as it would read dumps.
import type { Logger } from '../log/index.js';
import type { AddrInfo, LinkInfo, NeighInfo, OpOutcome, RouteInfo, Rtnl, RtnlOp, RuleInfo } from './netlink.js';
import type { RtnlEvent, RtnlEventSource } from './rtnl-events.js';

/** Default period of the safety-net full resync. */
export const RESYNC_INTERVAL_MS = 5 * 60_000;

export interface RtnlCacheStats {
  /** Full dumps taken (start, lost notifications, timer, explicit). */
  fullDumps: number;
  /** Notifications applied. */
  events: number;
  /** Times notifications were reported lost. */
  lost: number;
  lastResync?: { reason: string; at: number; ms: number };
}

export interface RtnlCacheOptions {
  /** Safety-net resync period; 0 turns it off (tests). Default 5 min. */
  resyncIntervalMs?: number;
  log?: Logger;
}

/**
 * Ops written before their notifications are read: ~750 bytes of socket buffer each, so a slice fits the
 * ~425 KB a notification socket gets at the default net.core.rmem_max.
 */
export const WRITE_SLICE = 256;

type ChangeListener = (evs: readonly RtnlEvent[], cause: 'events' | 'resync') => void;

/** IPv6 keeps one route per device for the same prefix and metric (fe80::/64 on every link): the device is part of its key. */
const routeKey = (r: Pick<RouteInfo, 'table' | 'dst' | 'metric'> & { family?: 4 | 6; oif?: number }): string =>
  r.family === 6 ? `${r.table} ${r.dst} ${r.metric ?? 0} ${r.oif ?? 0}` : `${r.table} ${r.dst} ${r.metric ?? 0}`;
/** The kernel keeps rules apart that differ in protocol alone (the route agent's and the WireGuard driver's `pref 150 lookup 150`). */
const ruleKey = (r: RuleInfo): string => `${r.family} ${r.pref} ${r.table} ${r.action} ${r.protocol ?? ''} ${r.src ?? ''} ${r.dst ?? ''} ${r.fwmark ?? ''} ${r.iifname ?? ''} ${r.oifname ?? ''}`;
const addrKey = (a: AddrInfo): string => `${a.ifindex} ${a.address}/${a.prefix}`;
const neighKey = (n: NeighInfo): string => (n.family === 'bridge' ? `b ${n.ifindex} ${n.mac ?? ''} ${n.dst ?? ''}` : `i ${n.ifindex} ${n.dst ?? ''}`);

export class RtnlCache implements Rtnl {
  private links_ = new Map<number, LinkInfo>();
  private addrs = new Map<string, AddrInfo>();
  private routes_ = new Map<string, RouteInfo>();
  private rules_ = new Map<string, RuleInfo>();
  private neighs = new Map<string, NeighInfo>();
  /** Notifications that arrive while a dump runs, replayed on top of it. */
  private buffered: RtnlEvent[] | undefined;
  private syncing: Promise<void> | undefined;
  private again: string | undefined;
  private synced = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<ChangeListener>();
  private closed = false;
  readonly stats: RtnlCacheStats = { fullDumps: 0, events: 0, lost: 0 };

  constructor(
    private readonly rtnl: Rtnl,
    private readonly source: RtnlEventSource,
    private readonly opts: RtnlCacheOptions = {},
  ) {}

  /** Subscribes first, then dumps (so nothing between the two is missed). */
  async start(): Promise<void> {
    await this.source.subscribe({ events: (evs) => this.onEvents(evs), lost: (why) => this.onLost(why) });
    await this.resync('start');
    const every = this.opts.resyncIntervalMs ?? RESYNC_INTERVAL_MS;
    if (every > 0) {
      this.timer = setInterval(() => void this.resync('periodic').catch(() => undefined), every);
      this.timer.unref();
    }
  }

  /** Called with every batch of notifications applied, and after each full resync. */
  onChange(fn: ChangeListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Replaces the model from a full dump; concurrent calls share one dump (plus one more if asked during it). */
  resync(reason: string): Promise<void> {
    if (this.syncing) {
      this.again ??= reason;
      return this.syncing;
    }
    this.syncing = this.dumpAll(reason).finally(() => {
      this.syncing = undefined;
      const next = this.again;
      this.again = undefined;
      if (next && !this.closed) void this.resync(next).catch(() => undefined);
    });
    return this.syncing;
  }

  private async dumpAll(reason: string): Promise<void> {
    const t0 = performance.now();
    this.buffered = [];
    try {
      const [links, addrs, routes, rules, fdb, neigh] = await Promise.all([
        this.rtnl.links(), this.rtnl.addresses(), this.rtnl.routes(), this.rtnl.rules(), this.rtnl.neighbors('bridge'), this.rtnl.neighbors('inet'),
      ]);
      this.links_ = new Map(links.map((l) => [l.index, l]));
      this.addrs = new Map(addrs.map((a) => [addrKey(a), a]));
      this.routes_ = new Map(routes.map((r) => [routeKey(r), r]));
      this.rules_ = new Map(rules.map((r) => [ruleKey(r), r]));
      this.neighs = new Map([...fdb, ...neigh].map((n) => [neighKey(n), n]));
      const queued = this.buffered;
      this.buffered = undefined;
      for (const e of queued) this.applyEvent(e);
      this.synced = true;
      this.stats.fullDumps++;
      this.stats.lastResync = { reason, at: Date.now(), ms: performance.now() - t0 };
      this.opts.log?.debug({ reason, ms: Math.round(this.stats.lastResync.ms * 10) / 10, routes: this.routes_.size }, 'rtnetlink cache resynced from a full dump');
      this.emit([], 'resync');
    } catch (err) {
      this.buffered = undefined;
      this.opts.log?.warn({ reason, err }, 'rtnetlink cache: full dump failed');
      throw err;
    }
  }

  private onEvents(evs: RtnlEvent[]): void {
    if (this.closed) return;
    if (this.buffered) {
      this.buffered.push(...evs);
      return;
    }
    for (const e of evs) this.applyEvent(e);
    this.emit(evs, 'events');
  }

  private onLost(why: string): void {
    if (this.closed) return;
    this.stats.lost++;
    this.opts.log?.warn({ err: why }, 'rtnetlink notifications lost; resyncing from a full dump');
    void this.resync(`lost: ${why}`).catch(() => undefined);
  }

  private emit(evs: readonly RtnlEvent[], cause: 'events' | 'resync'): void {
    for (const fn of this.listeners) {
      try {
        fn(evs, cause);
      } catch (err) {
        this.opts.log?.warn({ err }, 'rtnetlink cache listener failed');
      }
    }
  }

  private applyEvent(e: RtnlEvent): void {
    this.stats.events++;
    switch (e.kind) {
      case 'nft':
        return;
      case 'link': {
        const was = this.links_.get(e.link.index);
        if (e.del) {
          this.links_.delete(e.link.index);
          this.dropOnLink(e.link.index, true);
        } else {
          this.links_.set(e.link.index, e.link);
          // IPv4 flushes routes through a device set down without a notification per route
          if (was?.up && !e.link.up) this.dropOnLink(e.link.index, false);
        }
        return;
      }
      case 'addr': {
        const k = addrKey(e.addr);
        if (e.del) {
          this.addrs.delete(k);
          // routes preferring a source that is gone are flushed silently as well
          if (![...this.addrs.values()].some((a) => a.address === e.addr.address)) {
            for (const [rk, r] of this.routes_) if (r.prefsrc === e.addr.address) this.routes_.delete(rk);
          }
        } else {
          const a: AddrInfo = { ifindex: e.addr.ifindex, family: e.addr.family, address: e.addr.address, prefix: e.addr.prefix };
          if (e.addr.label !== undefined) (a as AddrInfo & { label?: string }).label = e.addr.label;
          this.addrs.set(k, a);
        }
        return;
      }
      case 'route':
        if (e.del) this.routes_.delete(routeKey(e.route));
        else this.routes_.set(routeKey(e.route), e.route);
        return;
      case 'rule':
        if (e.del) this.rules_.delete(ruleKey(e.rule));
        else this.rules_.set(ruleKey(e.rule), e.rule);
        return;
      case 'neigh':
        if (e.del) this.neighs.delete(neighKey(e.neigh));
        else this.neighs.set(neighKey(e.neigh), e.neigh);
        return;
    }
  }

  private dropOnLink(index: number, gone: boolean): void {
    for (const [k, r] of this.routes_) if (r.oif === index) this.routes_.delete(k);
    if (!gone) return;
    for (const [k, a] of this.addrs) if (a.ifindex === index) this.addrs.delete(k);
    for (const [k, n] of this.neighs) if (n.ifindex === index) this.neighs.delete(k);
  }

  private async ready(): Promise<void> {
    if (this.syncing) await this.syncing;
    if (!this.synced) await this.resync('read before the first dump');
  }

  async links(): Promise<LinkInfo[]> {
    await this.ready();
    return [...this.links_.values()];
  }
  async addresses(): Promise<AddrInfo[]> {
    await this.ready();
    return [...this.addrs.values()];
  }
  async routes(): Promise<RouteInfo[]> {
    await this.ready();
    return [...this.routes_.values()];
  }
  /**
   * The route to `dst` in `table` with metric 0 (one map lookup): what an incremental diff reads instead
   * of copying every route. Call after `sync()`.
   */
  routeAt(table: number, dst: string): RouteInfo | undefined {
    return this.routes_.get(routeKey({ table, dst }));
  }

  async rules(): Promise<RuleInfo[]> {
    await this.ready();
    return [...this.rules_.values()];
  }
  async neighbors(family: 'bridge' | 'inet'): Promise<NeighInfo[]> {
    await this.ready();
    return [...this.neighs.values()].filter((n) => n.family === family);
  }

  /** Takes in every notification the kernel queued before now (what a reconcile does first). */
  async sync(): Promise<void> {
    await this.source.barrier();
    await this.ready();
  }

  /**
   * Writes through, then waits for the notifications of those writes so the next read sees them. A long
   * list goes in slices, each slice's notifications read before the next is written: the kernel queues
   * them all inside the write, and a thousand at once would overflow a default-sized socket buffer.
   */
  async apply(ops: readonly RtnlOp[]): Promise<OpOutcome[]> {
    if (ops.length === 0) return [];
    if (ops.length <= WRITE_SLICE) {
      const out = await this.rtnl.apply(ops);
      await this.source.barrier();
      return out;
    }
    const out: OpOutcome[] = [];
    for (let i = 0; i < ops.length; i += WRITE_SLICE) {
      for (const o of await this.rtnl.apply(ops.slice(i, i + WRITE_SLICE))) out.push(o);
      await this.source.barrier();
    }
    return out;
  }

  /** Stops the timer and the subscription; the underlying Rtnl is closed too. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.source.close();
    await this.rtnl.close();
  }
}

/** A started cache for this namespace (in-process) or for `netns` (through one worker for dumps, writes and notifications). */
export async function openRtnlCache(opts: RtnlCacheOptions & { netns?: string } = {}): Promise<RtnlCache> {
  let cache: RtnlCache;
  if (opts.netns) {
    const { NetnsWorker } = await import('./nsworker.js');
    const w = await NetnsWorker.start(opts.netns);
    cache = new RtnlCache(w.rtnl(), w.events(), opts);
  } else {
    const [{ NetlinkRtnl }, { LocalRtnlEvents }] = await Promise.all([import('./netlink.js'), import('./rtnl-events.js')]);
    cache = new RtnlCache(new NetlinkRtnl(), new LocalRtnlEvents(), opts);
  }
  try {
    await cache.start();
  } catch (err) {
    await cache.close().catch(() => undefined);
    throw err;
  }
  return cache;
}
