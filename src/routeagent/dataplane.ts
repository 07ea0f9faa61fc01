// Applies a route agent plan: observe, diff, write only the difference (adds before deletes), keep going
// past a failure and report them all. Observed links/routes/rules/neighbours come from an RtnlCache kept
// current by rtnetlink notifications, so a reconcile reads memory and writes only what changed; a change
// to something of ours made behind our back (a deleted route or rule) is reported through `onDrift`.
// The nft table: a CIDR change is one set-element transaction against the sets last written (nfnetlink
// in this namespace, else an nft script); the table is listed only after a foreign change to it (its
// notification), a resync or a changed skeleton, and replaced whole only when its skeleton differs.
// sysctls have no events: they are re-read when their plan changed, after a full resync, and when the
// role marks the state stale (its slow drift timer). Uninstall removes what is ours by name and tag,
// with no memory of earlier runs.
import type { Logger } from '../log/index.js';
import { logger } from '../log/index.js';
import { NetlinkRtnl, RT_TABLE_MAIN, RTN_UNICAST, type LinkInfo, type OpOutcome, type RouteInfo, type Rtnl } from '../os/netlink.js';
import { addressesIn } from '../os/addresses.js';
import { RtnlCache, type RtnlCacheStats } from '../os/rtnl-cache.js';
import { LocalRtnlEvents, type RtnlEvent } from '../os/rtnl-events.js';
import { Nft, type NftFamily } from '../os/nft.js';
import { LocalSysctl, sysctlDisplayName, type Sysctl } from '../os/sysctl.js';
import { errorMessage, HawserError } from '../util/errors.js';
import { readIPv4Cidr, containsIP } from './cidr.js';
import { diffLinks, diffNetwork, type Stage, type StepKind } from './diff.js';
import { checkFirewall, elementDelta, firewallChange, firewallElements, firewallSkeleton, type ElementDelta, type FirewallElements } from './firewall.js';
import { NfnlSetElements } from './nft-elements.js';
import { changedRange, RouteKeys } from './route-index.js';
import { CABLE_ROUTE_PROTOS, NFT_FAMILY, NFT_TABLE, ROUTE_PROTO, SET_LOCAL, SET_REMOTE, VX_SUBMARINER, type ApplyReport, type PlannedRoute, type RouteAgentPlan, type UnderlayPath } from './types.js';

/** The nftables operations the dataplane needs (the real `Nft`, or a fake in tests). */
export interface NftPort {
  listTable(family: NftFamily, name: string, opts?: { terse?: boolean }): Promise<string | undefined>;
  run(script: string): Promise<void>;
  deleteTable(family: NftFamily, name: string): Promise<boolean>;
}

export interface RouteAgentDataplaneOptions {
  /** Network namespace to manage (tests, lab); default: this process's namespace. */
  netns?: string;
  log?: Logger;
  /**
   * Seams for tests; by default real adapters for `netns` are opened on first use (rtnetlink through an
   * event-kept RtnlCache). An injected `rtnl` is read as it is (no cache, no drift events).
   */
  rtnl?: Rtnl;
  sysctl?: Sysctl;
  nft?: NftPort;
  /** Something of ours changed in the kernel behind our back (or a full resync happened): reconcile soon. */
  onDrift?: (why: string) => void;
  /** Period of the cache's safety-net full dump (default 5 min). */
  resyncIntervalMs?: number;
}

export class RouteAgentApplyError extends HawserError {
  readonly report: ApplyReport;
  constructor(what: string, report: ApplyReport) {
    const n = report.failures.length;
    super('NETLINK', `${what}: ${n} failure${n === 1 ? '' : 's'}: ${report.failures.join('; ')}`);
    this.name = 'RouteAgentApplyError';
    this.report = report;
  }
}

export interface HostFacts {
  /** The interface holding the node IP, with its MTU (feeds `RouteAgentInput.mtu`). */
  nodeInterface?: { name: string; mtu: number };
  /** The interface holding an address from a local cluster CIDR (feeds `RouteAgentInput.cniInterface`). */
  cniInterface?: { name: string; ip: string };
}

/** Pure: for each IPv4 address, the main table's unicast route to it (what the kernel would use without our rule). */
export function mainTablePaths(ips: readonly string[], routes: readonly RouteInfo[], links: readonly LinkInfo[]): UnderlayPath[] {
  const nameOf = new Map(links.map((l) => [l.index, l.name]));
  const main = routes.flatMap((r) => {
    if (r.family !== 4 || r.table !== RT_TABLE_MAIN || r.type !== RTN_UNICAST || r.protocol === ROUTE_PROTO) return [];
    const c = readIPv4Cidr(r.dst);
    return c.ok ? [{ r, c: c.cidr }] : [];
  });
  return ips.map((ip) => {
    let best: { r: RouteInfo; prefix: number } | undefined;
    for (const { r, c } of main) {
      if (!containsIP(c, ip)) continue;
      if (!best || c.prefix > best.prefix || (c.prefix === best.prefix && (r.metric ?? 0) < (best.r.metric ?? 0))) best = { r, prefix: c.prefix };
    }
    const p: UnderlayPath = { ip };
    const dev = best?.r.oif !== undefined ? nameOf.get(best.r.oif) : undefined;
    if (dev) p.dev = dev;
    if (dev && best?.r.gateway) p.via = best.r.gateway;
    return p;
  });
}

type Counts = Omit<ApplyReport, 'total' | 'durationMs' | 'failures'>;

/** Same route in the plan: the same object (the planner reuses them), or the same fields. */
function samePlannedRoute(a: PlannedRoute, b: PlannedRoute): boolean {
  return a === b || (a.dst === b.dst && a.table === b.table && a.dev === b.dev && a.via === b.via && a.src === b.src && a.onlink === b.onlink);
}

function emptyReport(): ApplyReport {
  return { links: 0, addresses: 0, fdb: 0, neighbors: 0, routes: 0, rules: 0, sysctls: 0, nft: 0, total: 0, durationMs: 0, failures: [] };
}

interface NftState {
  skeleton: string;
  /** The digest in the table comment: from our last whole-table write, kept through element deltas. */
  digest: string;
  /** The element lists the sets were last made from, so hold now (the next delta walks from them). */
  made: FirewallElements;
  trusted: boolean;
}

interface Adapters {
  rtnl: Rtnl;
  sysctl: Sysctl;
  nft: NftPort;
  cache?: RtnlCache;
  /** Element changes straight to nfnetlink (real nft only, in the agent's netns); else they go through `nft`. */
  elements?: NfnlSetElements;
}

const NFPROTO_IPV4 = 2;

/** The planned routes the kernel was made to match, and the devices and source addresses they use. */
interface RoutesMade {
  list: readonly PlannedRoute[];
  byKey: RouteKeys<PlannedRoute>;
  /** Names of the devices the routes go through (may hold some no longer used: that only costs a full diff). */
  devs: Set<string>;
  srcs: Set<string>;
}

function routesMade(list: readonly PlannedRoute[]): RoutesMade {
  const made: RoutesMade = { list, byKey: RouteKeys.of(list), devs: new Set(), srcs: new Set() };
  for (const r of list) {
    made.devs.add(r.dev);
    if (r.src) made.srcs.add(r.src);
  }
  return made;
}
/** Above this many routes to re-check, a full diff is as cheap and simpler to trust. */
const INCREMENTAL_LIMIT = 256;


export class RouteAgentDataplane {
  private readonly netns: string | undefined;
  private readonly log: Logger;
  private adapters: Promise<Adapters> | undefined;
  private readonly injected: Partial<Adapters>;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly onDrift: ((why: string) => void) | undefined;
  private readonly resyncIntervalMs: number | undefined;
  /** sysctl values read or written as planned since the state was last marked stale. */
  private readonly sysctlOk = new Map<string, string>();
  /** Optional sysctls already warned about (once per process). */
  private readonly optionalWarned = new Set<string>();
  /** The firewall plan the nft table was last found or made to match (without an event-kept cache). */
  private firewallOk: string | undefined;
  /**
   * With the cache: what hawser's nft table was last found or made to hold. While `trusted` (no foreign
   * change notified since, no resync) and the skeleton is unchanged, a CIDR change is one element
   * transaction computed against these sets, with no listing and no rendering of the table.
   */
  private nftState: NftState | undefined;
  /** Re-read sysctls and the nft table on the next reconcile (start, full resync, role's drift timer). */
  private stale = true;
  private vxIndex: number | undefined;
  /** Our own nft transaction is in flight: its notifications are not drift. */
  private ownNft = false;
  /**
   * The planned routes the kernel was last made to match (in plan order, and by `table dst`), for the
   * incremental route diff: with 1,000 routes present, a change of one CIDR compares only the routes
   * whose plan changed (found by one walk over both lists, see changedRange) plus those the kernel told
   * us changed, not all of them. Undefined: the next diff is a full one.
   */
  private routesOk: RoutesMade | undefined;
  /** `table dst` of every route notification since the last reconcile read them, but our own writes'. */
  private readonly routesTouched = new RouteKeys();

  constructor(opts: RouteAgentDataplaneOptions = {}) {
    this.netns = opts.netns;
    this.log = opts.log ?? logger().child({ component: 'route-agent' });
    this.injected = { rtnl: opts.rtnl, sysctl: opts.sysctl, nft: opts.nft };
    this.onDrift = opts.onDrift;
    this.resyncIntervalMs = opts.resyncIntervalMs;
  }

  /** The next reconcile re-reads what has no change notifications (sysctls, the nft table). */
  markStale(): void {
    this.stale = true;
  }

  /** Counters of the event-kept cache (undefined with an injected Rtnl or before first use). */
  async cacheStats(): Promise<RtnlCacheStats | undefined> {
    const a = await this.adapters?.catch(() => undefined);
    return a?.cache ? { ...a.cache.stats } : undefined;
  }

  /**
   * Keeps the incremental route diff honest: route notifications name the keys to re-check; anything
   * that may remove routes without one each (a link or address going, a resync) makes the next diff full.
   */
  private noteRouteEvents(evs: readonly RtnlEvent[], cause: 'events' | 'resync'): void {
    if (cause === 'resync') {
      this.routesOk = undefined;
      return;
    }
    for (const e of evs) {
      if (e.kind === 'route') {
        // our own write is as planned once acknowledged: only someone else's change needs a second look
        if (e.own) continue;
        this.routesTouched.set(e.route.table, e.route.dst, true);
        // a burst of notifications (someone flushed a table) costs one full diff, not a huge set
        if (this.routesTouched.size > INCREMENTAL_LIMIT) this.routesOk = undefined;
      } else if (e.kind === 'link') {
        // IPv4 drops the routes through a device deleted or set down with no notification per route;
        // other link changes (a pod's veth, counters, operstate of a device we do not route through) leave ours
        const ok = this.routesOk;
        if (ok && (e.del || !e.link.up) && (ok.devs.has(e.link.name) || e.link.index === this.vxIndex)) this.routesOk = undefined;
      } else if (e.kind === 'addr' && e.del) {
        // and the routes preferring a source address that went away
        if (this.routesOk?.srcs.has(e.addr.address)) this.routesOk = undefined;
      }
    }
  }

  /**
   * Whether a batch of notifications touches anything the route agent owns or takes over, made by
   * someone else (our own writes' notifications are no drift; their side effects still apply).
   */
  private relevant(evs: readonly RtnlEvent[]): string | undefined {
    let why: string | undefined;
    for (const e of evs) {
      switch (e.kind) {
        case 'nft':
          // '*': notifications overflowed, any table may have changed
          if (((e.table === NFT_TABLE && e.family === NFPROTO_IPV4) || e.table === '*') && !this.ownNft) {
            this.firewallOk = undefined;
            if (this.nftState) this.nftState.trusted = false;
            why ??= `nft table ${NFT_FAMILY} ${NFT_TABLE} changed`;
          }
          break;
        case 'link':
          if (e.link.name === VX_SUBMARINER || e.link.index === this.vxIndex) {
            // a recreated device starts with default sysctls
            this.sysctlOk.clear();
            this.vxIndex = e.del ? undefined : e.link.index;
            if (!e.own) why ??= `link ${VX_SUBMARINER} ${e.del ? 'deleted' : 'changed'}`;
          } else if (e.del) this.sysctlOk.clear();
          break;
        case 'route':
          if (!e.own && why === undefined && (e.route.protocol === ROUTE_PROTO || (CABLE_ROUTE_PROTOS as readonly number[]).includes(e.route.protocol))) why = `route ${e.route.dst} table ${e.route.table} ${e.del ? 'deleted' : 'changed'}`;
          break;
        case 'rule':
          if (!e.own && e.rule.protocol === ROUTE_PROTO) why ??= `rule pref ${e.rule.pref} ${e.del ? 'deleted' : 'changed'}`;
          break;
        case 'addr':
          if (!e.own && e.addr.ifindex === this.vxIndex) why ??= `address ${e.addr.address} on ${VX_SUBMARINER} ${e.del ? 'deleted' : 'changed'}`;
          break;
        case 'neigh':
          if (!e.own && e.neigh.ifindex === this.vxIndex && e.neigh.permanent) why ??= `${e.neigh.family === 'bridge' ? 'fdb' : 'neighbor'} entry on ${VX_SUBMARINER} ${e.del ? 'deleted' : 'changed'}`;
          break;
      }
    }
    return why;
  }

  /** Makes the kernel match `plan`; resolves with the write counts, rejects with RouteAgentApplyError (carrying them) on any failure. */
  reconcile(plan: RouteAgentPlan): Promise<ApplyReport> {
    return this.serial(async () => {
      const { report } = await this.run(plan, false);
      if (report.failures.length) throw new RouteAgentApplyError('route agent reconcile', report);
      return report;
    });
  }

  /** Dry run: the writes `reconcile(plan)` would make now, one line each (for `hawser show`/`diagnose`). */
  pending(plan: RouteAgentPlan): Promise<string[]> {
    return this.serial(async () => (await this.run(plan, true)).steps);
  }

  /** Removes vx-submariner, routes and rules carrying our protocol number (147) in any table, and table ip hawser. */
  uninstall(): Promise<void> {
    return this.serial(async () => {
      const report = emptyReport();
      const t0 = performance.now();
      const { rtnl, nft, cache } = await this.open();
      if (cache) await cache.sync();
      this.stale = true;
      this.firewallOk = undefined;
      this.nftState = undefined;
      this.sysctlOk.clear();
      try {
        if (await nft.deleteTable(NFT_FAMILY, NFT_TABLE)) report.nft++;
      } catch (err) {
        report.failures.push(`nft delete table ${NFT_FAMILY} ${NFT_TABLE}: ${errorMessage(err)}`);
      }
      try {
        const link = (await rtnl.links()).find((l) => l.name === VX_SUBMARINER);
        if (link) await this.stage(rtnl, [[{ kind: 'links', op: { op: 'link-del', index: link.index }, text: `link del ${VX_SUBMARINER}` }]], report);
        // routes through other devices (the cable) and rules survive the link
        const [routes, rules] = await Promise.all([rtnl.routes(), rtnl.rules()]);
        const stage: Stage = [];
        for (const r of routes) {
          if (r.protocol !== ROUTE_PROTO) continue;
          const route = { table: r.table, dst: r.dst, protocol: ROUTE_PROTO, scope: r.scope, type: r.type, ...(r.oif ? { oif: r.oif } : {}), ...(r.gateway ? { gateway: r.gateway } : {}) };
          stage.push({ kind: 'routes', op: { op: 'route-del', route }, text: `route del ${r.dst} table ${r.table}` });
        }
        for (const r of rules) {
          // by protocol only: the WireGuard driver may hold its own `pref 150 lookup 150` (protocol 119)
          if (r.protocol !== ROUTE_PROTO) continue;
          const rule = { pref: r.pref, table: r.table, protocol: ROUTE_PROTO, family: r.family, ...(r.src ? { src: r.src } : {}), ...(r.dst ? { dst: r.dst } : {}) };
          stage.push({ kind: 'rules', op: { op: 'rule-del', rule }, text: `rule del pref ${r.pref} lookup ${r.table}` });
        }
        await this.stage(rtnl, [stage], report);
      } catch (err) {
        report.failures.push(`netlink: ${errorMessage(err)}`);
      }
      report.durationMs = performance.now() - t0;
      this.log.info({ writes: report.total, failures: report.failures.length }, 'route agent uninstalled');
      if (report.failures.length) throw new RouteAgentApplyError('route agent uninstall', report);
    });
  }

  /** Facts the planner needs from this host: the node interface's MTU and the CNI interface. */
  async discoverHost(nodeIP: string, clusterCidrs: readonly string[]): Promise<HostFacts> {
    const { rtnl } = await this.open();
    const [links, addrs] = await Promise.all([rtnl.links(), rtnl.addresses()]);
    const byIndex = new Map(links.map((l) => [l.index, l]));
    const facts: HostFacts = {};
    const nodeAddr = addrs.find((a) => a.family === 4 && a.address === nodeIP);
    const nodeLink = nodeAddr ? byIndex.get(nodeAddr.ifindex) : undefined;
    if (nodeLink) facts.nodeInterface = { name: nodeLink.name, mtu: nodeLink.mtu };
    // one "my address in the cluster CIDR" lookup for every subsystem (os/addresses); never our own VTEP device
    const cni = (await addressesIn({ links: async () => links, addresses: async () => addrs }, clusterCidrs)).find((a) => a.family === 4 && a.ifname !== VX_SUBMARINER);
    if (cni) facts.cniInterface = { name: cni.ifname, ip: cni.address };
    return facts;
  }

  /** The main table's path to each address (longest prefix, lowest metric), ignoring our own routes. */
  async underlayPaths(ips: readonly string[]): Promise<UnderlayPath[]> {
    if (!ips.length) return [];
    const { rtnl } = await this.open();
    const [links, routes] = await Promise.all([rtnl.links(), rtnl.routes()]);
    return mainTablePaths(ips, routes, links);
  }

  /** Ends the netns worker, if one was started. */
  async close(): Promise<void> {
    if (!this.adapters) return;
    const a = await this.adapters.catch(() => undefined);
    this.adapters = undefined;
    if (!a) return;
    a.elements?.close();
    if (a.rtnl !== this.injected.rtnl) await a.rtnl.close();
    if (a.sysctl !== this.injected.sysctl) await a.sysctl.close();
    this.stale = true;
    this.firewallOk = undefined;
    this.nftState = undefined;
    this.sysctlOk.clear();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private open(): Promise<Adapters> {
    this.adapters ??= (async (): Promise<Adapters> => {
      let { rtnl, sysctl } = this.injected;
      let cache: RtnlCache | undefined;
      const cacheOpts = { log: this.log, resyncIntervalMs: this.resyncIntervalMs };
      if ((!rtnl || !sysctl) && this.netns) {
        const { NetnsWorker } = await import('../os/nsworker.js');
        const w = await NetnsWorker.start(this.netns);
        if (!rtnl) cache = new RtnlCache(w.rtnl(), w.events(), cacheOpts);
        sysctl ??= w.sysctl();
      } else if (!rtnl) {
        cache = new RtnlCache(new NetlinkRtnl(), new LocalRtnlEvents(), cacheOpts);
      }
      if (cache) {
        try {
          await cache.start();
        } catch (err) {
          await cache.close().catch(() => undefined);
          if (sysctl && sysctl !== this.injected.sysctl) await sysctl.close().catch(() => undefined);
          throw err;
        }
        cache.onChange((evs, cause) => {
          const why = cause === 'resync' ? 'full resync' : this.relevant(evs);
          if (cause === 'resync') this.stale = true;
          this.noteRouteEvents(evs, cause);
          if (why) this.onDrift?.(why);
        });
        rtnl = cache;
      }
      const elements = cache && !this.injected.nft ? this.openElements() : undefined;
      return { rtnl: rtnl!, sysctl: sysctl ?? new LocalSysctl(), nft: this.injected.nft ?? new Nft({ netns: this.netns }), cache, ...(elements ? { elements } : {}) };
    })();
    // a failed start is retried on the next call
    this.adapters.catch(() => {
      this.adapters = undefined;
    });
    return this.adapters;
  }

  /** The nfnetlink element writer for our namespace; without it element changes go through `nft` text. */
  private openElements(): NfnlSetElements | undefined {
    const w = NfnlSetElements.open(this.netns);
    if ('unavailable' in w) {
      this.log.warn({ err: w.unavailable }, 'nft element changes go through nft text: no nfnetlink socket');
      return undefined;
    }
    return w;
  }

  private async run(plan: RouteAgentPlan, dryRun: boolean): Promise<{ report: ApplyReport; steps: string[] }> {
    const t0 = performance.now();
    const report = emptyReport();
    const steps: string[] = [];
    const { rtnl, sysctl, nft, cache, elements } = await this.open();
    // take in every notification queued before now (changes by others included); then reads are memory
    if (cache) await cache.sync();
    const full = dryRun || this.stale;

    // nftables is independent of the links and routes: run it alongside (its steps are listed last)
    const firewallSteps: string[] = [];
    const firewall = this.firewall(plan, nft, cache, elements, dryRun, full, report, firewallSteps);

    let links: LinkInfo[] | undefined;
    try {
      links = await rtnl.links();
      this.vxIndex = links.find((l) => l.name === VX_SUBMARINER)?.index;
      const ld = diffLinks(plan, links);
      if (dryRun) steps.push(...ld.stages.flat().map((s) => s.text));
      if (ld.stages.length && !dryRun) {
        await this.stage(rtnl, ld.stages, report);
        links = await rtnl.links();
        this.vxIndex = links.find((l) => l.name === VX_SUBMARINER)?.index;
      }
    } catch (err) {
      report.failures.push(`netlink: ${errorMessage(err)}`);
    }

    // with the links in place, the rest of the network and the sysctls (rp_filter needs vx-submariner) go together
    const networkSteps: string[] = [];
    const network = async (): Promise<void> => {
      if (!links) return;
      try {
        // incremental: only routes whose plan changed or that the kernel notified; full after any doubt
        const ok = this.routesOk;
        const scope = cache && !full && ok ? this.routeScope(plan.routes, ok, cache) : undefined;
        this.routesTouched.clear();
        if (!dryRun) this.routesOk = undefined;
        const [addresses, fdb, neighbors, routes, rules] = await Promise.all([
          rtnl.addresses(), rtnl.neighbors('bridge'), rtnl.neighbors('inet'), scope ? scope.observed : rtnl.routes(), rtnl.rules(),
        ]);
        const nd = diffNetwork(scope ? { ...plan, routes: scope.planned } : plan, { links, addresses, fdb, neighbors, routes, rules });
        if (dryRun) networkSteps.push(...nd.stages.flat().map((s) => s.text));
        report.failures.push(...nd.blocked);
        if (!dryRun) {
          const failuresBefore = report.failures.length;
          await this.stage(rtnl, nd.stages, report);
          if (report.failures.length === failuresBefore && nd.blocked.length === 0) {
            const made = scope && ok ? scope.apply(ok, plan.routes) : routesMade(plan.routes);
            this.routesOk = made;
            if (cache) this.settleTouched(made.byKey, cache, links);
          }
        }
      } catch (err) {
        report.failures.push(`netlink: ${errorMessage(err)}`);
      }
    };
    const sysctlSteps: string[] = [];
    const sysctls = (): Promise<void[]> =>
      Promise.all(
        plan.sysctls.map(async (s) => {
          if (cache && !full && this.sysctlOk.get(s.path) === s.value) return;
          const name = sysctlDisplayName(s.path);
          this.sysctlOk.delete(s.path);
          try {
            const have = await sysctl.get(s.path);
            if (have === undefined) {
              report.failures.push(`sysctl ${name}: not present (is the device there?)`);
            } else if (have !== s.value) {
              sysctlSteps.push(`sysctl ${name}=${s.value} (was ${have})`);
              if (!dryRun) {
                await sysctl.set(s.path, s.value);
                this.count(report, 'sysctls');
                this.sysctlOk.set(s.path, s.value);
              }
            } else {
              this.sysctlOk.set(s.path, s.value);
            }
          } catch (err) {
            if (!s.optional) report.failures.push(`sysctl ${name}=${s.value}: ${errorMessage(err)}`);
            else {
              // not retried until the next full resync
              this.sysctlOk.set(s.path, s.value);
              const line = `cannot set ${name}=${s.value} (a tuning; the route agent works without it)`;
              if (this.optionalWarned.has(s.path)) this.log.debug({ err: errorMessage(err) }, line);
              else this.log.warn({ err: errorMessage(err) }, line);
              this.optionalWarned.add(s.path);
            }
          }
        }),
      );
    await Promise.all([network(), sysctls()]);
    steps.push(...networkSteps, ...sysctlSteps.sort());

    await firewall;
    steps.push(...firewallSteps);
    report.durationMs = performance.now() - t0;
    if (!dryRun && report.failures.length === 0) this.stale = false;
    if (!dryRun) {
      const fields = { role: plan.role, gateway: plan.gateway?.name, writes: report.total, ms: Math.round(report.durationMs * 10) / 10, failures: report.failures.length };
      if (report.failures.length) this.log.warn({ ...fields, err: report.failures.join('; ') }, 'route agent reconcile had failures');
      else if (report.total > 0) this.log.info(fields, 'route agent reconciled');
      else this.log.debug(fields, 'route agent already in sync');
    }
    return { report, steps };
  }

  /**
   * The routes an incremental diff must look at: those whose plan differs from what was last made to
   * match, plus those notified since; and how to bring the index of planned routes up to this plan once
   * they are written. Undefined when a full diff is as cheap (a large change).
   */
  private routeScope(next: readonly PlannedRoute[], ok: RoutesMade, cache: RtnlCache):
    { planned: PlannedRoute[]; observed: RouteInfo[]; apply: (made: RoutesMade, list: readonly PlannedRoute[]) => RoutesMade } | undefined {
    const prev = ok.list;
    const { from, prevTo, nextTo } = changedRange(prev, next, samePlannedRoute);
    if (prevTo - from + (nextTo - from) + this.routesTouched.size > INCREMENTAL_LIMIT) return undefined;
    const gone = new RouteKeys();
    for (let i = from; i < prevTo; i++) gone.set(prev[i]!.table, prev[i]!.dst, true);
    const came = new RouteKeys<PlannedRoute>();
    for (let i = from; i < nextTo; i++) came.set(next[i]!.table, next[i]!.dst, next[i]!);
    const keys = new RouteKeys();
    this.routesTouched.forEach((table, dst) => keys.set(table, dst, true));
    gone.forEach((table, dst) => keys.set(table, dst, true));
    came.forEach((table, dst) => keys.set(table, dst, true));
    const planned: PlannedRoute[] = [];
    const observed: RouteInfo[] = [];
    keys.forEach((table, dst) => {
      // outside the changed range a route is planned as it was last made
      const want = came.get(table, dst) ?? (gone.has(table, dst) ? undefined : ok.byKey.get(table, dst));
      if (want) planned.push(want);
      const route = cache.routeAt(table, dst);
      if (route) observed.push(route);
    });
    const apply = (made: RoutesMade, list: readonly PlannedRoute[]): RoutesMade => {
      gone.forEach((table, dst) => made.byKey.delete(table, dst));
      came.forEach((table, dst, r) => {
        made.byKey.set(table, dst, r);
        made.devs.add(r.dev);
        if (r.src) made.srcs.add(r.src);
      });
      return { ...made, list };
    };
    return { planned, observed, apply };
  }

  /**
   * The notifications of our own writes are in (the cache's apply waits for them): keys whose route is
   * now as planned need no second look, so the reconcile after a big change stays incremental. A key
   * someone else changed meanwhile still differs from the plan and stays.
   */
  private settleTouched(byKey: RouteKeys<PlannedRoute>, cache: RtnlCache, links: readonly LinkInfo[]): void {
    if (this.routesTouched.size === 0) return;
    const nameOf = new Map(links.map((l) => [l.index, l.name]));
    for (const [table, dst] of this.routesTouched.entries()) {
      const want = byKey.get(table, dst);
      const have = cache.routeAt(table, dst);
      const settled = want
        ? have !== undefined && have.protocol === ROUTE_PROTO && (have.oif !== undefined ? nameOf.get(have.oif) : undefined) === want.dev &&
          (have.gateway ?? '') === (want.via ?? '') && (have.prefsrc ?? '') === (want.src ?? '') && have.onlink === want.onlink
        : have === undefined || have.protocol !== ROUTE_PROTO;
      if (settled) this.routesTouched.delete(table, dst);
    }
  }

  /** The nft table is listed only when its plan changed or the state is stale (without the cache: every time). */
  private async firewall(plan: RouteAgentPlan, nft: NftPort, cache: RtnlCache | undefined, elements: NfnlSetElements | undefined, dryRun: boolean, full: boolean, report: ApplyReport, steps: string[]): Promise<void> {
    if (cache) return this.firewallByDelta(plan, nft, cache, elements, dryRun, full, report, steps);
    const f = plan.firewall;
    const key = JSON.stringify(f);
    if (!dryRun) this.firewallOk = undefined;
    try {
      const change = firewallChange(f, await nft.listTable(f.family, f.table, { terse: true }));
      if (change.kind !== 'none') {
        steps.push(`nft replace table ${f.family} ${f.table} (${change.why})`);
        if (dryRun) return;
        await this.ownNftRun(nft, change.script, cache);
        report.nft++;
        report.total++;
      }
      if (!dryRun) this.firewallOk = key;
    } catch (err) {
      report.failures.push(`nft table ${f.family} ${f.table}: ${errorMessage(err)}`);
    }
  }

  /**
   * With change notifications: a CIDR change is one `add/delete element` transaction against the sets
   * last written (no listing, no rendering). The table is listed, elements included, only after a foreign
   * change to it, a resync, a changed skeleton or a failed delta; it is replaced whole only when its
   * skeleton (comment, sets, rules) is not the planned one.
   */
  private async firewallByDelta(plan: RouteAgentPlan, nft: NftPort, cache: RtnlCache, elements: NfnlSetElements | undefined, dryRun: boolean, full: boolean, report: ApplyReport, steps: string[]): Promise<void> {
    const f = plan.firewall;
    const skeleton = firewallSkeleton(f);
    const want = firewallElements(f);
    const st = this.nftState;
    if (!full && st?.trusted && st.skeleton === skeleton) {
      const d = elementDelta(f, undefined, want, st.made);
      if (!d) {
        st.made = want;
        return;
      }
      steps.push(...d.steps);
      if (dryRun) return;
      try {
        await this.ownElementChange(nft, elements, f.table, d, cache);
        st.made = want;
        report.nft++;
        report.total++;
        return;
      } catch (err) {
        // the sets were not what we thought (an element changed before its notification came): look
        steps.length -= d.steps.length;
        this.log.warn({ err: errorMessage(err) }, 'nft element change refused; checking the whole table');
      }
    }
    if (!dryRun && this.nftState) this.nftState.trusted = false;
    try {
      const known = st && st.skeleton === skeleton ? st.digest : undefined;
      const check = checkFirewall(f, await nft.listTable(f.family, f.table), known);
      if (check.kind === 'replace') {
        steps.push(`nft replace table ${f.family} ${f.table} (${check.why})`);
        if (dryRun) return;
        await this.ownNftRun(nft, check.script, cache);
        this.setNftState(skeleton, check.digest, want);
        report.nft++;
        report.total++;
        return;
      }
      const d = elementDelta(f, check.have, want);
      if (d) {
        steps.push(...d.steps);
        if (dryRun) return;
        await this.ownElementChange(nft, elements, f.table, d, cache);
        report.nft++;
        report.total++;
      }
      if (!dryRun) this.setNftState(skeleton, check.digest, want);
    } catch (err) {
      report.failures.push(`nft table ${f.family} ${f.table}: ${errorMessage(err)}`);
    }
  }

  private setNftState(skeleton: string, digest: string, want: FirewallElements): void {
    this.nftState = { skeleton, digest, made: want, trusted: true };
  }

  /** One element transaction: straight to nfnetlink when we can, else as an nft script. */
  private async ownElementChange(nft: NftPort, elements: NfnlSetElements | undefined, table: string, d: ElementDelta, cache: RtnlCache): Promise<void> {
    if (!elements) return this.ownNftRun(nft, d.script, cache);
    this.ownNft = true;
    try {
      await elements.apply(table, [{ set: SET_LOCAL, ...d.local }, { set: SET_REMOTE, ...d.remote }]);
      await cache.sync();
    } finally {
      this.ownNft = false;
    }
  }

  /** Our own transaction: its notifications are in (and ignored) before we listen to nft changes again. */
  private async ownNftRun(nft: NftPort, script: string, cache: RtnlCache | undefined): Promise<void> {
    this.ownNft = true;
    try {
      await nft.run(script);
      await cache?.sync();
    } finally {
      this.ownNft = false;
    }
  }

  private async stage(rtnl: Rtnl, stages: readonly Stage[], report: ApplyReport): Promise<void> {
    for (const stage of stages) {
      if (stage.length === 0) continue;
      let outcomes: OpOutcome[];
      try {
        outcomes = await rtnl.apply(stage.map((s) => s.op));
      } catch (err) {
        report.failures.push(...stage.map((s) => `${s.text}: ${errorMessage(err)}`));
        continue;
      }
      // one log object per write only when someone reads them (a failover makes 1,000 writes)
      const debug = this.log.isLevelEnabled('debug');
      stage.forEach((s, i) => {
        const o = outcomes[i];
        if (o?.ok) {
          this.count(report, s.kind);
          if (debug) this.log.debug({ step: s.text }, 'route agent write');
        } else {
          report.failures.push(`${s.text}: ${o && !o.ok ? (o.errno ?? o.error) : 'no result'}`);
        }
      });
    }
  }

  private count(report: ApplyReport, kind: StepKind | keyof Counts): void {
    report[kind]++;
    report.total++;
  }
}
