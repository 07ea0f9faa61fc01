// The VXLAN driver's adapter to the kernel: links, addresses, FDB entries (with a per-remote NDA_PORT),
// routes and rules over rtnetlink and rp_filter through os/sysctl (src/os, in the node's namespace or
// `netns`), turning the planner's actions into typed ops. No process is started.
import { underlayMtu as underlayMtuOf } from '../../os/addresses.js';
import { describeOp, openRtnl, RT_SCOPE_UNIVERSE, type LinkInfo, type NeighInfo, type RouteInfo, type RuleInfo, type Rtnl, type RtnlOp } from '../../os/netlink.js';
import { openSysctl, type Sysctl } from '../../os/sysctl.js';
import { HawserError } from '../../util/errors.js';
import { HAWSER_RT_PROTO, RP_FILTER_LOOSE, VXLAN_IFACE, VXLAN_ROUTE_METRIC, VXLAN_RULE_PRIORITY, VXLAN_TABLE, VXLAN_VNI, ZERO_MAC } from './constants.js';
import { type FdbEntry, type ObservedLink, type RouteEntry, type RuleEntry, type VxlanAction, type VxlanObserved } from './plan.js';

/** Pure: the planner's view of the device's FDB: entries with a remote destination (port when it has its own). */
export function fdbEntries(neighs: readonly NeighInfo[], ifindex: number): FdbEntry[] {
  return neighs
    .filter((n) => n.family === 'bridge' && n.ifindex === ifindex && n.mac !== undefined && n.dst !== undefined)
    .map((n) => {
      const out: FdbEntry = { mac: n.mac!.toLowerCase(), dst: n.dst! };
      if (n.port) out.port = n.port;
      return out;
    });
}

/** Pure: the planner's view of table-100 routes (device names from the links). */
export function routeEntries(routes: readonly RouteInfo[], links: readonly LinkInfo[]): RouteEntry[] {
  const name = new Map(links.map((l) => [l.index, l.name]));
  return routes
    .filter((r) => r.family === 4 && r.table === VXLAN_TABLE && r.dst !== '0.0.0.0/0')
    .map((r) => {
      const out: RouteEntry = { dst: r.dst, protocol: r.protocol, metric: r.metric ?? 0 };
      if (r.gateway) out.gateway = r.gateway;
      const dev = r.oif !== undefined ? name.get(r.oif) : undefined;
      if (dev) out.dev = dev;
      if (r.prefsrc) out.src = r.prefsrc;
      return out;
    });
}

/** Pure: the planner's view of the IPv4 rules (a rule with any selector is not the plain one we install). */
export function ruleEntries(rules: readonly RuleInfo[]): RuleEntry[] {
  return rules.filter((r) => r.family === 4).map((r) => ({
    priority: r.pref,
    table: r.table,
    ...(r.protocol !== undefined ? { protocol: r.protocol } : {}),
    selective: Boolean(r.src || r.dst || r.fwmark || r.iifname || r.oifname),
  }));
}

export interface VxlanKernel {
  observe(): Promise<VxlanObserved>;
  /** Only FDB and routes (a cheaper observe for set()); linkPresent false when the device is missing. */
  observeCables(): Promise<Pick<VxlanObserved, 'fdb' | 'routes'> & { linkPresent: boolean }>;
  underlayMtu(privateIP: string): Promise<number>;
  /** This node's IPv4 addresses with their devices. */
  localAddresses(): Promise<Array<{ dev: string; ip: string }>>;
  apply(actions: readonly VxlanAction[]): Promise<void>;
  /** Releases sockets/workers (the kernel state stays). */
  close?(): Promise<void>;
}

const RP_FILTER_PATH = `net/ipv4/conf/${VXLAN_IFACE}/rp_filter`;
const DEVICE_ACTIONS = new Set<VxlanAction['op']>(['link-del', 'link-add', 'link-mtu', 'addr-add', 'addr-del', 'link-up']);
/** A removal whose object is already gone reached its goal. */
const gone = (op: RtnlOp, errno: string | undefined): boolean => (op.op === 'route-del' && errno === 'ESRCH') || ((op.op === 'rule-del' || op.op === 'neigh-del') && errno === 'ENOENT');

export class RtnlVxlanKernel implements VxlanKernel {
  private rtnl: Rtnl | undefined;
  private sysctl: Sysctl | undefined;

  constructor(private readonly netns?: string, injected: { rtnl?: Rtnl; sysctl?: Sysctl } = {}) {
    this.rtnl = injected.rtnl;
    this.sysctl = injected.sysctl;
  }

  private async nl(): Promise<Rtnl> {
    this.rtnl ??= await openRtnl({ netns: this.netns });
    return this.rtnl;
  }

  private async sc(): Promise<Sysctl> {
    this.sysctl ??= await openSysctl({ netns: this.netns });
    return this.sysctl;
  }

  private async fdb(link: LinkInfo | undefined): Promise<FdbEntry[]> {
    if (!link) return [];
    return fdbEntries(await (await this.nl()).neighbors('bridge'), link.index);
  }

  async observeCables(): Promise<Pick<VxlanObserved, 'fdb' | 'routes'> & { linkPresent: boolean }> {
    const rtnl = await this.nl();
    const [links, routes] = await Promise.all([rtnl.links(), rtnl.routes()]);
    const link = links.find((l) => l.name === VXLAN_IFACE);
    return { fdb: await this.fdb(link), routes: routeEntries(routes, links), linkPresent: link !== undefined };
  }

  async observe(): Promise<VxlanObserved> {
    const rtnl = await this.nl();
    const [links, addrs, routes, rules, rp] = await Promise.all([rtnl.links(), rtnl.addresses(), rtnl.routes(), rtnl.rules(), (await this.sc()).get(RP_FILTER_PATH)]);
    const l = links.find((x) => x.name === VXLAN_IFACE);
    const out: VxlanObserved = { fdb: await this.fdb(l), routes: routeEntries(routes, links), rules: ruleEntries(rules) };
    if (l) {
      const link: ObservedLink = {
        name: l.name,
        kind: l.kind ?? '',
        mtu: l.mtu,
        up: l.up,
        addrs: addrs.filter((a) => a.ifindex === l.index && a.family === 4).map((a) => `${a.address}/${a.prefix}`),
      };
      if (l.vxlan) {
        link.vni = l.vxlan.vni;
        link.port = l.vxlan.port;
      }
      out.link = link;
    }
    const rpv = Number(rp);
    if (rp !== undefined && Number.isInteger(rpv)) out.rpFilter = rpv;
    return out;
  }

  async underlayMtu(privateIP: string): Promise<number> {
    return underlayMtuOf(await this.nl(), privateIP);
  }

  async localAddresses(): Promise<Array<{ dev: string; ip: string }>> {
    const rtnl = await this.nl();
    const [links, addrs] = await Promise.all([rtnl.links(), rtnl.addresses()]);
    const name = new Map(links.map((l) => [l.index, l.name]));
    return addrs.filter((a) => a.family === 4).map((a) => ({ dev: name.get(a.ifindex) ?? `if${a.ifindex}`, ip: a.address }));
  }

  /**
   * Applies in the planner's order. A device action (link, address) runs alone: the next one may need the
   * index it created, and removing the link takes its routes with it. Between device actions, FDB entries
   * go first (one netlink batch), then the rule, rp_filter and route ops in one batch. Throws at the
   * first failing group, naming every failed op; a route or rule already gone counts as removed.
   */
  async apply(actions: readonly VxlanAction[]): Promise<void> {
    const rtnl = await this.nl();
    let links = await rtnl.links();
    const index = (name: string): number | undefined => links.find((l) => l.name === name)?.index;
    const need = (): number => {
      const i = index(VXLAN_IFACE);
      if (i === undefined) throw new HawserError('NETLINK', `${VXLAN_IFACE} does not exist`);
      return i;
    };
    let segment: VxlanAction[] = [];
    const flush = async (): Promise<void> => {
      const rest = segment;
      segment = [];
      if (rest.length === 0) return;
      const fdb = rest.filter((x) => x.op.startsWith('fdb-'));
      const rp = rest.some((x) => x.op === 'rp-filter');
      const ops = rest.filter((x) => !x.op.startsWith('fdb-') && x.op !== 'rp-filter').map((a) => this.tableOp(a, need, index));
      // FDB first: a route into the device attracts traffic at once, and an ARP for the remote VTEP sent
      // before its FDB entry exists is dropped (the kernel retries only after a second).
      await this.run(fdb.map((a) => this.fdbOp(a, need)));
      await Promise.all([this.run(ops), rp ? (await this.sc()).set(RP_FILTER_PATH, String(RP_FILTER_LOOSE)) : Promise.resolve()]);
    };
    for (const a of actions) {
      if (!DEVICE_ACTIONS.has(a.op)) {
        segment.push(a);
        continue;
      }
      await flush();
      await this.run([this.deviceOp(a, need)]);
      if (a.op === 'link-add' || a.op === 'link-del') links = await rtnl.links();
    }
    await flush();
  }

  private deviceOp(a: VxlanAction, need: () => number): RtnlOp {
    switch (a.op) {
      case 'link-del':
        return { op: 'link-del', index: need() };
      case 'link-add':
        return { op: 'link-add', link: { name: VXLAN_IFACE, kind: 'vxlan', vxlan: { vni: VXLAN_VNI, port: a.port }, mtu: a.mtu } };
      case 'link-mtu':
        return { op: 'link-set', index: need(), mtu: a.mtu };
      case 'link-up':
        return { op: 'link-set', index: need(), up: true };
      case 'addr-add':
      case 'addr-del': {
        const [address = '', prefix = '32'] = a.cidr.split('/');
        return { op: a.op, ifindex: need(), address, prefix: Number(prefix) };
      }
      default:
        throw new HawserError('INVALID', `not a device action: ${a.op}`);
    }
  }

  private tableOp(a: VxlanAction, need: () => number, index: (name: string) => number | undefined): RtnlOp {
    const rule = { pref: VXLAN_RULE_PRIORITY, table: VXLAN_TABLE, protocol: HAWSER_RT_PROTO, family: 4 as const };
    switch (a.op) {
      case 'rule-add':
        return { op: 'rule-add', rule };
      case 'rule-del':
        return { op: 'rule-del', rule };
      case 'route-replace':
        return { op: 'route-replace', route: { table: VXLAN_TABLE, dst: a.dst, gateway: a.via, oif: need(), prefsrc: a.src, protocol: HAWSER_RT_PROTO, scope: RT_SCOPE_UNIVERSE, metric: VXLAN_ROUTE_METRIC } };
      case 'route-del': {
        const oif = a.dev ? index(a.dev) : undefined;
        return { op: 'route-del', route: { table: VXLAN_TABLE, dst: a.dst, protocol: HAWSER_RT_PROTO, ...(a.via ? { gateway: a.via } : {}), ...(oif !== undefined ? { oif } : {}), ...(a.metric ? { metric: a.metric } : {}) } };
      }
      default:
        throw new HawserError('INVALID', `not a table action: ${a.op}`);
    }
  }

  private async run(ops: readonly RtnlOp[]): Promise<void> {
    if (ops.length === 0) return;
    const outcomes = await (await this.nl()).apply(ops);
    const failed = outcomes.flatMap((o, i) => (o.ok || gone(ops[i]!, o.errno) ? [] : [`${describeOp(ops[i]!)}: ${o.errno ?? o.error}`]));
    if (failed.length) throw new HawserError('NETLINK', `applying VXLAN changes failed: ${failed.join('; ')}`);
  }

  /** `bridge fdb append 00:00:00:00:00:00 dev vxlan-tunnel dst IP [port P]` / `bridge fdb del MAC dev vxlan-tunnel dst IP`. */
  private fdbOp(a: VxlanAction, need: () => number): RtnlOp {
    switch (a.op) {
      case 'fdb-add':
        return { op: 'neigh-append', neigh: { family: 'bridge', ifindex: need(), mac: ZERO_MAC, dst: a.dst, ...(a.port ? { port: a.port } : {}) } };
      case 'fdb-del':
        return { op: 'neigh-del', neigh: { family: 'bridge', ifindex: need(), mac: a.mac, dst: a.dst } };
      default:
        throw new HawserError('INVALID', `not an FDB action: ${a.op}`);
    }
  }

  async close(): Promise<void> {
    await this.rtnl?.close().catch(() => undefined);
    await this.sysctl?.close().catch(() => undefined);
    this.rtnl = undefined;
    this.sysctl = undefined;
  }
}
