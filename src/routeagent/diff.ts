// Pure diff between the plan and what the kernel reports: ordered stages of rtnetlink writes.
// Only objects that are ours by name or tag are compared (our link, entries on it, routes and rules
// with our protocol number); everything else in the kernel is invisible here and never touched.
import type { AddrInfo, LinkInfo, NeighInfo, RouteInfo, RouteSpec, RtnlOp, RuleInfo } from '../os/netlink.js';
import { RT_SCOPE_LINK, RT_SCOPE_UNIVERSE } from '../os/netlink.js';
import { CABLE_ROUTE_PROTOS, ROUTE_PROTO, type PlannedLink, type PlannedRoute, type RouteAgentPlan } from './types.js';
import { RouteKeys } from './route-index.js';
import { ZERO_MAC } from './vtep.js';

export type StepKind = 'links' | 'addresses' | 'fdb' | 'neighbors' | 'routes' | 'rules';

export interface Step {
  kind: StepKind;
  op: RtnlOp;
  /** What the step does, for logs, failures and dry runs. */
  text: string;
}

/** Steps of one stage run concurrently; stages run in order. */
export type Stage = Step[];

export interface NetworkObserved {
  links: LinkInfo[];
  addresses: AddrInfo[];
  fdb: NeighInfo[];
  neighbors: NeighInfo[];
  routes: RouteInfo[];
  rules: RuleInfo[];
}

export interface DiffResult {
  stages: Stage[];
  /** Planned objects that cannot be written yet (e.g. a missing device), one line each. */
  blocked: string[];
}

/** Link changes come first and alone: recreating a link drops everything on it, so the rest is diffed after. */
export function diffLinks(plan: RouteAgentPlan, links: readonly LinkInfo[]): DiffResult {
  const del: Step[] = [];
  const add: Step[] = [];
  const set: Step[] = [];
  for (const want of plan.links) {
    const have = links.find((l) => l.name === want.name);
    const spec = { name: want.name, kind: want.kind, vxlan: { vni: want.vni, port: want.port, local: want.local, learning: want.learning }, mtu: want.mtu, mac: want.mac, up: true } as const;
    const addText = (): string => `link add ${want.name} type vxlan id ${want.vni} dstport ${want.port} local ${want.local} nolearning address ${want.mac} mtu ${want.mtu} up`;
    if (!have) {
      add.push({ kind: 'links', op: { op: 'link-add', link: spec }, text: addText() });
      continue;
    }
    const why = immutableMismatch(want, have);
    if (why) {
      del.push({ kind: 'links', op: { op: 'link-del', index: have.index }, text: `link del ${want.name} (${why})` });
      add.push({ kind: 'links', op: { op: 'link-add', link: spec }, text: addText() });
      continue;
    }
    const change: { mtu?: number; mac?: string; up?: boolean } = {};
    if (have.mtu !== want.mtu) change.mtu = want.mtu;
    if (have.mac !== want.mac) change.mac = want.mac;
    if (!have.up) change.up = true;
    if (Object.keys(change).length) {
      const parts = [change.mtu !== undefined ? `mtu ${change.mtu}` : '', change.mac ? `address ${change.mac}` : '', change.up ? 'up' : ''].filter(Boolean);
      set.push({ kind: 'links', op: { op: 'link-set', index: have.index, ...change }, text: `link set ${want.name} ${parts.join(' ')}` });
    }
  }
  return { stages: [del, [...add, ...set]].filter((s) => s.length > 0), blocked: [] };
}

function immutableMismatch(want: PlannedLink, have: LinkInfo): string | undefined {
  if (have.kind !== 'vxlan' || !have.vxlan) return `is ${have.kind ?? 'not a vxlan'} device`;
  const v = have.vxlan;
  if (v.vni !== want.vni) return `vni ${v.vni} != ${want.vni}`;
  if (v.port !== want.port) return `dstport ${v.port} != ${want.port}`;
  if ((v.local ?? '') !== want.local) return `local ${v.local ?? 'unset'} != ${want.local}`;
  if (v.learning !== want.learning) return 'learning is on';
  return undefined;
}

/** Everything but links: adds and replaces first (addresses, then FDB/ARP, then routes/rules), deletes last in reverse. */
export function diffNetwork(plan: RouteAgentPlan, obs: NetworkObserved): DiffResult {
  const blocked: string[] = [];
  const index = new Map(obs.links.map((l) => [l.name, l.index]));
  const nameOf = new Map(obs.links.map((l) => [l.index, l.name]));
  const ours = new Set(plan.links.map((l) => l.name));
  const ourIdx = new Set([...ours].map((n) => index.get(n)).filter((i): i is number => i !== undefined));

  const addAddr: Step[] = [];
  const delAddr: Step[] = [];
  const addNeigh: Step[] = [];
  const delNeigh: Step[] = [];
  const addRoute: Step[] = [];
  const delRoute: Step[] = [];

  // addresses on our links
  const wantAddr = new Map<string, { dev: string; address: string; prefix: number }>();
  for (const a of plan.addresses) wantAddr.set(`${a.dev} ${a.address}/${a.prefix}`, a);
  const haveAddr = new Set<string>();
  for (const a of obs.addresses) {
    if (a.family !== 4 || !ourIdx.has(a.ifindex)) continue;
    const key = `${nameOf.get(a.ifindex)} ${a.address}/${a.prefix}`;
    haveAddr.add(key);
    if (!wantAddr.has(key)) delAddr.push({ kind: 'addresses', op: { op: 'addr-del', ifindex: a.ifindex, address: a.address, prefix: a.prefix }, text: `address del ${a.address}/${a.prefix} dev ${nameOf.get(a.ifindex)}` });
  }
  for (const [key, a] of wantAddr) {
    if (haveAddr.has(key)) continue;
    const ifindex = index.get(a.dev);
    if (ifindex === undefined) {
      blocked.push(`address ${a.address}/${a.prefix}: device ${a.dev} does not exist`);
      continue;
    }
    addAddr.push({ kind: 'addresses', op: { op: 'addr-add', ifindex, address: a.address, prefix: a.prefix }, text: `address add ${a.address}/${a.prefix} dev ${a.dev}` });
  }

  // FDB: all-zero entries are one per destination (appended); unicast ones are one per MAC (replaced)
  const haveFdb = obs.fdb.filter((n) => n.family === 'bridge' && n.permanent && ourIdx.has(n.ifindex) && n.mac && n.dst);
  const wantFdbKeys = new Set(plan.fdb.map((f) => `${f.dev} ${f.mac} ${f.dst}`));
  const haveFdbKeys = new Set(haveFdb.map((n) => `${nameOf.get(n.ifindex)} ${n.mac} ${n.dst}`));
  for (const f of plan.fdb) {
    if (haveFdbKeys.has(`${f.dev} ${f.mac} ${f.dst}`)) continue;
    const ifindex = index.get(f.dev);
    if (ifindex === undefined) {
      blocked.push(`fdb ${f.mac} dst ${f.dst}: device ${f.dev} does not exist`);
      continue;
    }
    const zero = f.mac === ZERO_MAC;
    addNeigh.push({
      kind: 'fdb',
      op: { op: zero ? 'neigh-append' : 'neigh-replace', neigh: { family: 'bridge', ifindex, mac: f.mac, dst: f.dst } },
      text: `fdb ${zero ? 'append' : 'replace'} ${f.mac} dst ${f.dst} dev ${f.dev}`,
    });
  }
  const unicastWanted = new Set(plan.fdb.filter((f) => f.mac !== ZERO_MAC).map((f) => `${f.dev} ${f.mac}`));
  for (const n of haveFdb) {
    const dev = nameOf.get(n.ifindex)!;
    if (wantFdbKeys.has(`${dev} ${n.mac} ${n.dst}`)) continue;
    // a unicast MAC we still want is moved by its replace above; deleting it after would undo that
    if (n.mac !== ZERO_MAC && unicastWanted.has(`${dev} ${n.mac}`)) continue;
    delNeigh.push({ kind: 'fdb', op: { op: 'neigh-del', neigh: { family: 'bridge', ifindex: n.ifindex, mac: n.mac!, dst: n.dst! } }, text: `fdb del ${n.mac} dst ${n.dst} dev ${dev}` });
  }

  // permanent ARP entries for peer VTEPs
  const haveArp = new Map<string, NeighInfo>();
  for (const n of obs.neighbors) {
    if (n.family === 'inet' && n.permanent && ourIdx.has(n.ifindex) && n.dst) haveArp.set(`${nameOf.get(n.ifindex)} ${n.dst}`, n);
  }
  const wantArp = new Set<string>();
  for (const w of plan.neighbors) {
    const key = `${w.dev} ${w.ip}`;
    wantArp.add(key);
    if (haveArp.get(key)?.mac === w.mac) continue;
    const ifindex = index.get(w.dev);
    if (ifindex === undefined) {
      blocked.push(`neighbor ${w.ip}: device ${w.dev} does not exist`);
      continue;
    }
    addNeigh.push({ kind: 'neighbors', op: { op: 'neigh-replace', neigh: { family: 'inet', ifindex, mac: w.mac, dst: w.ip } }, text: `neighbor replace ${w.ip} lladdr ${w.mac} dev ${w.dev}` });
  }
  for (const [key, n] of haveArp) {
    if (wantArp.has(key)) continue;
    delNeigh.push({ kind: 'neighbors', op: { op: 'neigh-del', neigh: { family: 'inet', ifindex: n.ifindex, mac: n.mac ?? '00:00:00:00:00:00', dst: n.dst! } }, text: `neighbor del ${n.dst} dev ${nameOf.get(n.ifindex)}` });
  }

  // A route re-pointed to another gateway VTEP (a failover): drop an ARP entry learned earlier for that
  // VTEP before the routes move. A Submariner gateway recreates vx-submariner with a new random MAC when
  // it takes over, so that entry may name a MAC nobody owns any more, and the kernel would keep using it
  // through DELAY and unicast probes (~8 s); without it the first packet resolves afresh in one round trip.
  // (routes indexed by table, then destination: a failover diffs 1,000 of them, with no key text each)
  const haveRoutes = new RouteKeys<RouteInfo>();
  for (const r of obs.routes) if (r.protocol === ROUTE_PROTO && r.family === 4) haveRoutes.set(r.table, r.dst, r);
  const repointed = new Set<string>();

  // routes carrying our protocol number, in any table (haveRoutes above)
  // A cable driver's routes (hawser's own, other protocol) left on a node that is no longer the active
  // gateway (its gateway process crashed) would block ours with EEXIST: take those over by replacing them.
  const cableRoutes = new RouteKeys<RouteInfo>();
  if (plan.role !== 'gateway') for (const r of obs.routes) if (r.family === 4 && (CABLE_ROUTE_PROTOS as readonly number[]).includes(r.protocol)) cableRoutes.set(r.table, r.dst, r);
  const wantRoutes = new RouteKeys();
  for (const w of plan.routes) {
    wantRoutes.set(w.table, w.dst, true);
    const mine = haveRoutes.get(w.table, w.dst);
    if (mine && w.via && ours.has(w.dev) && mine.gateway !== w.via) repointed.add(w.via);
    if (mine && routeMatches(w, mine, nameOf)) continue;
    const have = mine ?? cableRoutes.get(w.table, w.dst);
    const oif = index.get(w.dev);
    if (oif === undefined) {
      blocked.push(`route ${w.dst} table ${w.table}: device ${w.dev} does not exist`);
      continue;
    }
    const route: RouteSpec = { table: w.table, dst: w.dst, oif, protocol: ROUTE_PROTO, scope: w.via ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK, onlink: w.onlink };
    if (w.via) route.gateway = w.via;
    if (w.src) route.prefsrc = w.src;
    // replace is atomic: a failover re-points a route without a moment of no route
    addRoute.push(new RouteWrite(have ? 'route-replace' : 'route-add', route, w));
  }
  haveRoutes.forEach((table, dst, r) => {
    if (wantRoutes.has(table, dst)) return;
    const route: RouteSpec = { table: r.table, dst: r.dst, protocol: ROUTE_PROTO, scope: r.scope, type: r.type };
    if (r.oif) route.oif = r.oif;
    if (r.gateway) route.gateway = r.gateway;
    delRoute.push({ kind: 'routes', op: { op: 'route-del', route }, text: `route del ${r.dst} table ${r.table}` });
  });

  for (const n of obs.neighbors) {
    if (n.family !== 'inet' || n.permanent || !ourIdx.has(n.ifindex) || !n.dst || !repointed.has(n.dst)) continue;
    addNeigh.push({ kind: 'neighbors', op: { op: 'neigh-del', neigh: { family: 'inet', ifindex: n.ifindex, mac: n.mac ?? ZERO_MAC, dst: n.dst } }, text: `neighbor del ${n.dst} dev ${nameOf.get(n.ifindex)} (learned before the failover; resolve afresh)` });
  }

  // rules carrying our protocol number
  const haveRules = obs.rules.filter((r) => r.protocol === ROUTE_PROTO && r.family === 4);
  const ruleKey = (pref: number, table: number): string => `${pref} ${table}`;
  const plainRule = (r: RuleInfo): boolean => !r.src && !r.dst && !r.fwmark && !r.iifname && !r.oifname;
  const haveRuleKeys = new Set(haveRules.filter(plainRule).map((r) => ruleKey(r.pref, r.table)));
  const wantRuleKeys = new Set(plan.rules.map((r) => ruleKey(r.pref, r.table)));
  for (const w of plan.rules) {
    if (haveRuleKeys.has(ruleKey(w.pref, w.table))) continue;
    addRoute.push({ kind: 'rules', op: { op: 'rule-add', rule: { pref: w.pref, table: w.table, protocol: ROUTE_PROTO } }, text: `rule add pref ${w.pref} lookup ${w.table}` });
  }
  for (const r of haveRules) {
    if (plainRule(r) && wantRuleKeys.has(ruleKey(r.pref, r.table))) continue;
    const rule = { pref: r.pref, table: r.table, protocol: ROUTE_PROTO, ...(r.src ? { src: r.src } : {}), ...(r.dst ? { dst: r.dst } : {}) };
    delRoute.push({ kind: 'rules', op: { op: 'rule-del', rule }, text: `rule del pref ${r.pref} lookup ${r.table}` });
  }

  const stages = [addAddr, addNeigh, addRoute, delRoute, delNeigh, delAddr].filter((s) => s.length > 0);
  return { stages, blocked };
}

function routeMatches(w: PlannedRoute, have: RouteInfo, nameOf: ReadonlyMap<number, string>): boolean {
  return (
    (have.oif !== undefined ? nameOf.get(have.oif) : undefined) === w.dev &&
    (have.gateway ?? '') === (w.via ?? '') &&
    (have.prefsrc ?? '') === (w.src ?? '') &&
    have.onlink === w.onlink &&
    (have.metric ?? 0) === 0
  );
}

/** A route write whose text is made only when asked for (logs, failures, dry runs): a failover makes 1,000. */
class RouteWrite implements Step {
  readonly kind = 'routes';
  readonly op: RtnlOp;
  constructor(op: 'route-add' | 'route-replace', route: RouteSpec, private readonly planned: PlannedRoute) {
    this.op = { op, route };
  }
  get text(): string {
    return `route ${this.op.op === 'route-replace' ? 'replace' : 'add'} ${plannedRouteText(this.planned)}`;
  }
}

function plannedRouteText(r: PlannedRoute): string {
  return `${r.dst}${r.via ? ` via ${r.via}` : ''} dev ${r.dev}${r.onlink ? ' onlink' : ''}${r.src ? ` src ${r.src}` : ''} table ${r.table}`;
}
