// Interpreting fakes of the OS adapters: they keep state like the kernel would, refuse duplicate adds
// and deletes of missing objects, record every write, and dump their state as sorted text.
import type { AddrInfo, LinkInfo, NeighInfo, OpOutcome, RouteInfo, Rtnl, RtnlOp, RuleInfo } from '../../src/os/netlink.js';
import { describeOp, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE } from '../../src/os/netlink.js';
import type { Sysctl } from '../../src/os/sysctl.js';
import type { NftPort } from '../../src/routeagent/dataplane.js';
import type { NftFamily } from '../../src/os/nft.js';

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
    return ops.map((op) => {
      this.log.push({ stage: this.stage, op });
      const fail = this.failOn.find((f) => f.pattern.test(describeOp(op)));
      if (fail) return { ok: false, error: `${describeOp(op)}: ${fail.errno}`, errno: fail.errno };
      const errno = this.one(op);
      return errno ? { ok: false, error: `${describeOp(op)}: ${errno}`, errno } : { ok: true };
    });
  }

  private one(op: RtnlOp): string | undefined {
    switch (op.op) {
      case 'link-add': {
        if (this.links_.some((l) => l.name === op.link.name)) return 'EEXIST';
        if (op.link.kind !== 'vxlan') {
          this.addLink({ name: op.link.name, kind: op.link.kind, mtu: op.link.mtu ?? 1420, up: op.link.up ?? false });
          return undefined;
        }
        const v = op.link.vxlan;
        this.addLink({ name: op.link.name, kind: 'vxlan', mtu: op.link.mtu ?? 1500, up: op.link.up ?? false, mac: op.link.mac ?? '02:00:00:00:00:01', vxlan: { vni: v.vni, port: v.port, local: v.local, learning: v.learning !== false } });
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
        this.addrs.push({ ifindex: op.ifindex, family: 4, address: op.address, prefix: op.prefix, ...(op.label ? { label: op.label } : {}) });
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

export class FakeSysctl implements Sysctl {
  values = new Map<string, string>([['net/ipv4/ip_forward', '0']]);
  writes: string[] = [];
  constructor(private readonly rtnl: FakeRtnl) {}
  async get(path: string): Promise<string | undefined> {
    const m = /^net\/ipv4\/conf\/([^/]+)\/rp_filter$/.exec(path);
    if (m && !this.rtnl.links_.some((l) => l.name === m[1])) return undefined;
    return this.values.get(path) ?? (m ? '0' : undefined);
  }
  async set(path: string, value: string): Promise<void> {
    this.writes.push(`${path}=${value}`);
    this.values.set(path, value);
  }
  async close(): Promise<void> {}
}

export class FakeNft implements NftPort {
  tables = new Map<string, string>();
  scripts: string[] = [];
  /** nft prints what it was given closely enough for the listing parser. */
  async listTable(family: NftFamily, name: string): Promise<string | undefined> {
    return this.tables.get(`${family} ${name}`);
  }
  async run(script: string): Promise<void> {
    this.scripts.push(script);
    const m = /^table (\S+) (\S+) \{$/m.exec(script);
    if (!m) throw new Error('fake nft: no table body in script');
    const start = script.indexOf(m[0]);
    this.tables.set(`${m[1]} ${m[2]}`, script.slice(start));
  }
  async deleteTable(family: NftFamily, name: string): Promise<boolean> {
    return this.tables.delete(`${family} ${name}`);
  }
}
