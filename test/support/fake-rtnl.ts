// The interpreting fake of the Rtnl door, shared by every subsystem's tests: it keeps state like the
// kernel would (links of any kind, addresses with labels, routes, rules, neighbours/FDB), refuses
// duplicate adds and deletes of missing objects, records every write, dumps its state as sorted text,
// and notifies subscribers of each change as rtnetlink would (so an RtnlCache can run on top of it).
import type { Sysctl } from '../../src/os/sysctl.js';
import type { AddrInfo, LinkInfo, NeighInfo, OpOutcome, RouteInfo, Rtnl, RtnlOp, RuleInfo } from '../../src/os/netlink.js';
import { describeOp, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE } from '../../src/os/netlink.js';
import type { EventHandlers, RtnlEvent, RtnlEventSource } from '../../src/os/rtnl-events.js';

export class FakeRtnl implements Rtnl {
  links_: LinkInfo[] = [];
  addrs: AddrInfo[] = [];
  neighs: NeighInfo[] = [];
  routes_: RouteInfo[] = [];
  rules_: RuleInfo[] = [];
  /** Every op applied (successful or not), in order, with its stage number. */
  log: { stage: number; op: RtnlOp }[] = [];
  /** Ops whose description matches are refused with this errno. */
  failOn: { pattern: RegExp; errno: string }[] = [];
  private stage = 0;
  private nextIndex = 10;

  async links(): Promise<LinkInfo[]> {
    return structuredClone(this.links_);
  }
  async addresses(): Promise<AddrInfo[]> {
    return structuredClone(this.addrs);
  }
  async routes(): Promise<RouteInfo[]> {
    return structuredClone(this.routes_);
  }
  async rules(): Promise<RuleInfo[]> {
    return structuredClone(this.rules_);
  }
  async neighbors(family: 'bridge' | 'inet'): Promise<NeighInfo[]> {
    return structuredClone(this.neighs.filter((n) => n.family === family));
  }
  async close(): Promise<void> {}

  addLink(l: Omit<LinkInfo, 'index'>): LinkInfo {
    const link = { ...l, index: this.nextIndex++ };
    this.links_.push(link);
    return link;
  }

  async apply(ops: readonly RtnlOp[]): Promise<OpOutcome[]> {
    this.stage++;
    const before = this.keyed();
    const out = ops.map((op): OpOutcome => {
      this.log.push({ stage: this.stage, op });
      const fail = this.failOn.find((f) => f.pattern.test(describeOp(op)));
      if (fail) return { ok: false, error: `${describeOp(op)}: ${fail.errno}`, errno: fail.errno };
      const errno = this.one(op);
      return errno ? { ok: false, error: `${describeOp(op)}: ${errno}`, errno } : { ok: true };
    });
    this.notify(before);
    return out;
  }

  // ---------- notifications, as the kernel would multicast them ----------

  private readonly subscribers = new Set<EventHandlers>();
  private lastKeyed: Map<string, RtnlEvent> | undefined;

  /** An event source over this fake: every change by `apply` (or announced with `changed()`) is notified. */
  events(): RtnlEventSource {
    let mine: EventHandlers | undefined;
    return {
      subscribe: async (h) => {
        mine = h;
        this.subscribers.add(h);
        this.lastKeyed = this.keyed();
      },
      barrier: async () => undefined,
      close: async () => {
        if (mine) this.subscribers.delete(mine);
      },
    };
  }

  /** Tests that edit the arrays directly call this to notify the differences since the last notification. */
  changed(): void {
    this.notify(this.lastKeyed ?? this.keyed());
  }

  /** Tells subscribers their notifications were lost (as ENOBUFS would). */
  overflow(): void {
    for (const h of this.subscribers) h.lost('fake ENOBUFS');
  }

  private keyed(): Map<string, RtnlEvent> {
    const m = new Map<string, RtnlEvent>();
    for (const l of this.links_) m.set(`link ${l.index}`, { kind: 'link', del: false, link: structuredClone(l) });
    for (const a of this.addrs) m.set(`addr ${a.ifindex} ${a.address}/${a.prefix}`, { kind: 'addr', del: false, addr: structuredClone(a) });
    for (const r of this.routes_) m.set(`route ${r.table} ${r.dst} ${r.metric ?? 0}`, { kind: 'route', del: false, route: structuredClone(r) });
    for (const r of this.rules_) m.set(`rule ${JSON.stringify(r)}`, { kind: 'rule', del: false, rule: structuredClone(r) });
    for (const n of this.neighs) m.set(`neigh ${n.family} ${n.ifindex} ${n.family === 'bridge' ? n.mac : ''} ${n.dst}`, { kind: 'neigh', del: false, neigh: structuredClone(n) });
    return m;
  }

  private notify(before: Map<string, RtnlEvent>): void {
    const after = this.keyed();
    this.lastKeyed = after;
    if (this.subscribers.size === 0) return;
    const evs: RtnlEvent[] = [];
    for (const [k, e] of before) if (!after.has(k)) evs.push({ ...e, del: true } as RtnlEvent);
    for (const [k, e] of after) {
      const was = before.get(k);
      if (!was || JSON.stringify(was) !== JSON.stringify(e)) evs.push(e);
    }
    if (evs.length) for (const h of this.subscribers) h.events(evs);
  }

  private one(op: RtnlOp): string | undefined {
    switch (op.op) {
      case 'link-add': {
        if (this.links_.some((l) => l.name === op.link.name)) return 'EEXIST';
        // any kind (vxlan, wireguard, ...); the VXLAN attributes when given
        const spec = op.link as { name: string; kind: string; mtu?: number; up?: boolean; mac?: string; vxlan?: { vni: number; port: number; local?: string; learning?: boolean } };
        const link: Omit<LinkInfo, 'index'> = { name: spec.name, kind: spec.kind, mtu: spec.mtu ?? (spec.kind === 'wireguard' ? 1420 : 1500), up: spec.up ?? false };
        if (spec.kind !== 'wireguard') link.mac = spec.mac ?? '02:00:00:00:00:01';
        const v = spec.vxlan;
        if (v) link.vxlan = { vni: v.vni, port: v.port, local: v.local, learning: v.learning !== false };
        this.addLink(link);
        return undefined;
      }
      case 'link-set': {
        const l = this.links_.find((x) => x.index === op.index);
        if (!l) return 'ENODEV';
        if (op.mtu !== undefined) l.mtu = op.mtu;
        if (op.mac) l.mac = op.mac;
        if (op.up !== undefined) l.up = op.up;
        return undefined;
      }
      case 'link-del': {
        if (!this.links_.some((x) => x.index === op.index)) return 'ENODEV';
        // like the kernel: everything on the device goes with it
        this.links_ = this.links_.filter((x) => x.index !== op.index);
        this.addrs = this.addrs.filter((a) => a.ifindex !== op.index);
        this.neighs = this.neighs.filter((n) => n.ifindex !== op.index);
        this.routes_ = this.routes_.filter((r) => r.oif !== op.index);
        return undefined;
      }
      case 'addr-add':
        if (!this.links_.some((l) => l.index === op.ifindex)) return 'ENODEV';
        if (this.addrs.some((a) => a.ifindex === op.ifindex && a.address === op.address)) return 'EEXIST';
        {
          const a: AddrInfo & { label?: string } = { ifindex: op.ifindex, family: op.address.includes(':') ? 6 : 4, address: op.address, prefix: op.prefix };
          // an address label (e.g. `lo:hawser`) when the op carries one
          const label = (op as { label?: unknown }).label;
          if (typeof label === 'string') a.label = label;
          this.addrs.push(a);
        }
        return undefined;
      case 'addr-del': {
        const n = this.addrs.length;
        this.addrs = this.addrs.filter((a) => !(a.ifindex === op.ifindex && a.address === op.address && a.prefix === op.prefix));
        return n === this.addrs.length ? 'EADDRNOTAVAIL' : undefined;
      }
      case 'route-add':
      case 'route-replace': {
        const r = op.route;
        if (r.oif !== undefined && !this.links_.some((l) => l.index === r.oif)) return 'ENODEV';
        const i = this.routes_.findIndex((x) => x.table === r.table && x.dst === r.dst);
        if (i >= 0 && op.op === 'route-add') return 'EEXIST';
        const info: RouteInfo = { family: 4, table: r.table, dst: r.dst, protocol: r.protocol, scope: r.scope ?? (r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK), type: 1, onlink: r.onlink ?? false };
        if (r.gateway) info.gateway = r.gateway;
        if (r.oif !== undefined) info.oif = r.oif;
        if (r.prefsrc) info.prefsrc = r.prefsrc;
        if (i >= 0) this.routes_[i] = info;
        else this.routes_.push(info);
        return undefined;
      }
      case 'route-del': {
        const r = op.route;
        const i = this.routes_.findIndex((x) => x.table === r.table && x.dst === r.dst && (!r.protocol || x.protocol === r.protocol));
        if (i < 0) return 'ESRCH';
        this.routes_.splice(i, 1);
        return undefined;
      }
      case 'rule-add':
        if (this.rules_.some((x) => x.pref === op.rule.pref && x.table === op.rule.table && x.protocol === op.rule.protocol)) return 'EEXIST';
        this.rules_.push({ family: 4, pref: op.rule.pref, table: op.rule.table, action: 1, ...(op.rule.protocol !== undefined ? { protocol: op.rule.protocol } : {}) });
        return undefined;
      case 'rule-del': {
        const i = this.rules_.findIndex((x) => x.pref === op.rule.pref && x.table === op.rule.table && (op.rule.protocol === undefined || x.protocol === op.rule.protocol));
        if (i < 0) return 'ENOENT';
        this.rules_.splice(i, 1);
        return undefined;
      }
      default: {
        const n = op.neigh;
        if (!this.links_.some((l) => l.index === n.ifindex)) return 'ENODEV';
        const same = (x: NeighInfo): boolean =>
          x.family === n.family && x.ifindex === n.ifindex && (n.family === 'bridge' ? x.mac === n.mac && (op.op !== 'neigh-append' && op.op !== 'neigh-del' ? true : x.dst === n.dst) : x.dst === n.dst);
        const i = this.neighs.findIndex(same);
        if (op.op === 'neigh-del') {
          if (i < 0) return 'ENOENT';
          this.neighs.splice(i, 1);
          return undefined;
        }
        if (i >= 0 && op.op === 'neigh-add') return 'EEXIST';
        if (i >= 0 && op.op === 'neigh-append') return 'EEXIST';
        const entry: NeighInfo = { family: n.family, ifindex: n.ifindex, mac: n.mac, dst: n.dst, permanent: true, self: n.family === 'bridge' };
        // a VXLAN FDB entry keeps its own port and VNI (the kernel reports them when set)
        if (n.family === 'bridge' && n.port !== undefined) entry.port = n.port;
        if (n.family === 'bridge' && n.vni !== undefined) entry.vni = n.vni;
        if (i >= 0) this.neighs[i] = entry;
        else this.neighs.push(entry);
        return undefined;
      }
    }
  }

  /** Writes since the last call, as text. */
  takeWrites(): string[] {
    const out = this.log.map((l) => describeOp(l.op));
    this.log = [];
    return out;
  }

  dump(): string {
    const name = (i: number | undefined): string => this.links_.find((l) => l.index === i)?.name ?? `#${i}`;
    const lines = [
      ...this.links_.map((l) => `link ${l.name} ${l.kind ?? ''} mtu ${l.mtu} ${l.up ? 'up' : 'down'} ${l.mac ?? ''}`),
      ...this.addrs.map((a) => `addr ${a.address}/${a.prefix} dev ${name(a.ifindex)}`),
      ...this.neighs.map((n) => `${n.family === 'bridge' ? 'fdb' : 'neigh'} ${n.mac} ${n.dst} dev ${name(n.ifindex)}`),
      ...this.routes_.map((r) => `route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${name(r.oif)} table ${r.table} proto ${r.protocol}${r.onlink ? ' onlink' : ''}${r.prefsrc ? ` src ${r.prefsrc}` : ''}`),
      ...this.rules_.map((r) => `rule ${r.pref} lookup ${r.table} proto ${r.protocol ?? 0}`),
    ];
    return lines.sort().join('\n');
  }
}

/** The sysctl fake: per-link entries (rp_filter, ARP retrans_time_ms) exist only for links the Rtnl fake has, with the kernel's defaults. */
export class FakeSysctl implements Sysctl {
  values = new Map<string, string>([['net/ipv4/ip_forward', '0']]);
  writes: string[] = [];
  constructor(private readonly rtnl: FakeRtnl) {}
  async get(path: string): Promise<string | undefined> {
    const m = /^net\/ipv4\/(?:conf\/([^/]+)\/rp_filter|neigh\/([^/]+)\/retrans_time_ms)$/.exec(path);
    const link = m?.[1] ?? m?.[2];
    if (link && !this.rtnl.links_.some((l) => l.name === link)) return undefined;
    return this.values.get(path) ?? (m ? (m[1] ? '0' : '1000') : undefined);
  }
  async set(path: string, value: string): Promise<void> {
    this.writes.push(`${path}=${value}`);
    this.values.set(path, value);
  }
  async close(): Promise<void> {}
}
