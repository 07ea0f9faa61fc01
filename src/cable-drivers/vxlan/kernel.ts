// The VXLAN driver's adapter to the kernel: reads state with `ip -j` / `bridge -j` (parsers are pure and
// exported for tests) and applies plans with `ip -batch` / `bridge -batch` / `sysctl`, in the node's
// network namespace or in `netns` (tests, the lab). Consecutive actions of one tool go in one process.

import { exec } from '../../util/exec.js';
import { HawserError } from '../../util/errors.js';
import { FALLBACK_UNDERLAY_MTU, VXLAN_IFACE, VXLAN_TABLE } from './constants.js';
import { type FdbEntry, type ObservedLink, type RouteEntry, type RuleEntry, type Tool, type VxlanAction, type VxlanObserved, actionCommand } from './plan.js';

type Json = Record<string, unknown>;

function parseJsonList(text: string, what: string): Json[] {
  const t = text.trim();
  if (t === '') return [];
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch (err) {
    throw new HawserError('INVALID', `cannot parse ${what} output: ${(err as Error).message}`);
  }
  if (!Array.isArray(v)) throw new HawserError('INVALID', `${what} output is not a list`);
  return v.filter((x): x is Json => typeof x === 'object' && x !== null);
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);

/** `ip -j -d addr show dev X`: the link with its kind, VXLAN id/port and IPv4 addresses. */
export function parseLink(text: string): ObservedLink | undefined {
  const [l] = parseJsonList(text, 'ip -j -d addr show');
  if (!l || typeof l.ifname !== 'string') return undefined;
  const info = (l.linkinfo ?? {}) as Json;
  const data = (info.info_data ?? {}) as Json;
  const flags = Array.isArray(l.flags) ? l.flags : [];
  const addrs = (Array.isArray(l.addr_info) ? (l.addr_info as Json[]) : [])
    .filter((a) => a.family === 'inet' && typeof a.local === 'string')
    .map((a) => `${String(a.local)}/${String(a.prefixlen)}`);
  return {
    name: l.ifname,
    kind: str(info.info_kind) ?? '',
    vni: num(data.id),
    port: num(data.port),
    mtu: num(l.mtu) ?? 0,
    up: flags.includes('UP'),
    addrs,
  };
}

/** `bridge -j fdb show dev X`: forwarding entries with a remote destination. */
export function parseFdb(text: string): FdbEntry[] {
  return parseJsonList(text, 'bridge -j fdb show')
    .filter((e) => typeof e.mac === 'string' && typeof e.dst === 'string')
    .map((e) => {
      const out: FdbEntry = { mac: String(e.mac).toLowerCase(), dst: String(e.dst) };
      const port = num(e.port);
      if (port) out.port = port;
      return out;
    });
}

/** `ip -j route show table N` (IPv4): host routes print without /32, which we add. */
export function parseRoutes(text: string): RouteEntry[] {
  return parseJsonList(text, 'ip -j route show')
    .filter((r) => typeof r.dst === 'string' && r.dst !== 'default')
    .map((r) => {
      const d = String(r.dst);
      const out: RouteEntry = { dst: d.includes('/') ? d : `${d}/32`, protocol: str(r.protocol) ?? '', metric: num(r.metric) ?? 0 };
      if (typeof r.gateway === 'string') out.gateway = r.gateway;
      if (typeof r.dev === 'string') out.dev = r.dev;
      if (typeof r.prefsrc === 'string') out.src = r.prefsrc;
      return out;
    });
}

/** `ip -j -4 addr show`: (device, address) pairs. */
export function parseAddresses(text: string): Array<{ dev: string; ip: string }> {
  const out: Array<{ dev: string; ip: string }> = [];
  for (const l of parseJsonList(text, 'ip -j addr show')) {
    const info = Array.isArray(l.addr_info) ? (l.addr_info as unknown[]) : [];
    for (const a of info) {
      if (a && typeof a === 'object' && (a as Record<string, unknown>).family === 'inet' && typeof (a as Record<string, unknown>).local === 'string' && typeof l.ifname === 'string') {
        out.push({ dev: l.ifname, ip: (a as Record<string, unknown>).local as string });
      }
    }
  }
  return out;
}

const RULE_BASE_KEYS = new Set(['priority', 'table', 'protocol', 'src', 'flags']);

/** `ip -j rule show`. */
export function parseRules(text: string): RuleEntry[] {
  return parseJsonList(text, 'ip -j rule show').map((r) => ({
    priority: num(r.priority) ?? -1,
    table: str(r.table) ?? '',
    protocol: str(r.protocol),
    selective: r.src !== 'all' || Object.keys(r).some((k) => !RULE_BASE_KEYS.has(k)),
  }));
}

/** The MTU of the interface holding `ip`, else of the default route's interface (from `ip -j addr` / `ip -j route`). */
export function underlayMtu(addrJson: string, defaultRouteJson: string, ip: string): number {
  const links = parseJsonList(addrJson, 'ip -j addr show');
  const holder = links.find((l) => Array.isArray(l.addr_info) && (l.addr_info as Json[]).some((a) => a.local === ip));
  const mtuOf = (l: Json | undefined): number | undefined => (l ? num(l.mtu) : undefined);
  const viaHolder = mtuOf(holder);
  if (viaHolder) return viaHolder;
  const [def] = parseJsonList(defaultRouteJson, 'ip -j route show default');
  const viaDefault = def && typeof def.dev === 'string' ? mtuOf(links.find((l) => l.ifname === def.dev)) : undefined;
  return viaDefault ?? FALLBACK_UNDERLAY_MTU;
}

export interface VxlanKernel {
  observe(): Promise<VxlanObserved>;
  /** Only FDB and routes (a cheaper observe for connect/disconnect); undefined link when the device is missing. */
  observeCables(): Promise<Pick<VxlanObserved, 'fdb' | 'routes'> & { linkPresent: boolean }>;
  underlayMtu(privateIP: string): Promise<number>;
  /** This node's IPv4 addresses with their devices. */
  localAddresses(): Promise<Array<{ dev: string; ip: string }>>;
  apply(actions: readonly VxlanAction[]): Promise<void>;
}

export class IpVxlanKernel implements VxlanKernel {
  constructor(private readonly netns?: string) {}

  /** `ip`/`bridge` switch namespaces themselves (`-n`), a third of the cost of `ip netns exec`. */
  private run(cmd: string, args: string[], input?: string): ReturnType<typeof exec> {
    if (this.netns && (cmd === 'ip' || cmd === 'bridge')) return exec(cmd, ['-n', this.netns, ...args], { input, allowFailure: true });
    return exec(cmd, args, { netns: this.netns, input, allowFailure: true });
  }

  private async fdbAndRoutes(): Promise<{ fdb: FdbEntry[]; routes: RouteEntry[]; linkPresent: boolean }> {
    const [fdb, routes] = await Promise.all([
      this.run('bridge', ['-j', 'fdb', 'show', 'dev', VXLAN_IFACE]),
      this.run('ip', ['-j', '-4', 'route', 'show', 'table', String(VXLAN_TABLE)]),
    ]);
    if (routes.code !== 0 && !/FIB table does not exist|table.*not exist/i.test(routes.stderr)) {
      throw new HawserError('EXEC', `ip route show table ${VXLAN_TABLE} failed: ${routes.stderr.trim()}`);
    }
    const linkPresent = fdb.code === 0;
    return { fdb: linkPresent ? parseFdb(fdb.stdout) : [], routes: routes.code === 0 ? parseRoutes(routes.stdout) : [], linkPresent };
  }

  async observeCables(): Promise<Pick<VxlanObserved, 'fdb' | 'routes'> & { linkPresent: boolean }> {
    return this.fdbAndRoutes();
  }

  async observe(): Promise<VxlanObserved> {
    const [link, rules, rp, cables] = await Promise.all([
      this.run('ip', ['-j', '-d', 'addr', 'show', 'dev', VXLAN_IFACE]),
      this.run('ip', ['-j', '-4', 'rule', 'show']),
      this.run('sysctl', ['-n', `net.ipv4.conf.${VXLAN_IFACE}.rp_filter`]),
      this.fdbAndRoutes(),
    ]);
    if (rules.code !== 0) throw new HawserError('EXEC', `ip rule show failed: ${rules.stderr.trim()}`);
    const out: VxlanObserved = { fdb: cables.fdb, routes: cables.routes, rules: parseRules(rules.stdout) };
    if (link.code === 0) out.link = parseLink(link.stdout);
    const rpv = Number(rp.stdout.trim());
    if (rp.code === 0 && Number.isInteger(rpv)) out.rpFilter = rpv;
    return out;
  }

  async underlayMtu(privateIP: string): Promise<number> {
    const [addrs, def] = await Promise.all([this.run('ip', ['-j', 'addr', 'show']), this.run('ip', ['-j', '-4', 'route', 'show', 'default'])]);
    return underlayMtu(addrs.stdout, def.stdout, privateIP);
  }

  async localAddresses(): Promise<Array<{ dev: string; ip: string }>> {
    const r = await this.run('ip', ['-j', '-4', 'addr', 'show']);
    if (r.code !== 0) throw new HawserError('EXEC', `ip addr show failed: ${r.stderr.trim()}`);
    return parseAddresses(r.stdout);
  }

  /**
   * Applies in order; consecutive actions of one tool share a process. Stops at the first failing group.
   * FDB entries and routes do not depend on each other, so a plan of only those runs both tools at once.
   */
  async apply(actions: readonly VxlanAction[]): Promise<void> {
    const independent = actions.every((a) => a.op.startsWith('fdb-') || a.op.startsWith('route-'));
    if (independent && actions.some((a) => a.op.startsWith('fdb-')) && actions.some((a) => a.op.startsWith('route-'))) {
      await Promise.all([this.applyInOrder(actions.filter((a) => a.op.startsWith('fdb-'))), this.applyInOrder(actions.filter((a) => a.op.startsWith('route-')))]);
      return;
    }
    await this.applyInOrder(actions);
  }

  private async applyInOrder(actions: readonly VxlanAction[]): Promise<void> {
    const groups: Array<{ tool: Tool; lines: string[][] }> = [];
    for (const a of actions) {
      const c = actionCommand(a);
      const last = groups.at(-1);
      if (last && last.tool === c.tool) last.lines.push(c.words);
      else groups.push({ tool: c.tool, lines: [c.words] });
    }
    for (const g of groups) {
      let r;
      if (g.tool === 'sysctl') r = await this.run('sysctl', ['-q', '-w', ...g.lines.flat()]);
      else r = await this.run(g.tool, ['-batch', '-'], g.lines.map((w) => w.join(' ')).join('\n') + '\n');
      if (r.code !== 0) {
        const text = g.lines.map((w) => `${g.tool} ${w.join(' ')}`).join('; ');
        throw new HawserError('EXEC', `applying VXLAN changes failed (${text}): ${(r.stderr || r.stdout).trim()}`);
      }
    }
  }
}

