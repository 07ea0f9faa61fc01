// Pure planners for the VXLAN cable: (desired, observed kernel state) -> a list of typed actions (the
// kernel adapter turns them into rtnetlink ops); they print as the equivalent `ip`/`bridge`/`sysctl`
// commands for logs and `hawser show`. Nothing here touches the system.
import { isIPv4 } from 'node:net';
import {
  HAWSER_RT_PROTO, RP_FILTER_LOOSE, VTEP_FIRST_OCTET, VTEP_PREFIX_LEN, VXLAN_IFACE, VXLAN_ROUTE_METRIC, VXLAN_RULE_PRIORITY,
  VXLAN_TABLE, VXLAN_VNI, ZERO_MAC,
} from './constants.js';

// ---- observed kernel state ----

export interface ObservedLink {
  name: string;
  /** `vxlan`, `veth`, ... (`''` for plain devices). */
  kind: string;
  vni?: number;
  port?: number;
  mtu: number;
  up: boolean;
  /** IPv4 addresses as `ip/prefix`. */
  addrs: string[];
}

export interface FdbEntry {
  mac: string;
  dst: string;
  /** Only when it differs from the device's port. */
  port?: number;
}

export interface RouteEntry {
  /** Canonical `a.b.c.d/n`. */
  dst: string;
  gateway?: string;
  dev?: string;
  /** The route's preferred source (`prefsrc`). */
  src?: string;
  protocol: number;
  metric: number;
}

export interface RuleEntry {
  priority: number;
  table: number;
  protocol?: number;
  /** True when the rule has selectors beyond priority/table (then it is not the plain rule we install). */
  selective: boolean;
}

export interface VxlanObserved {
  link?: ObservedLink;
  fdb: FdbEntry[];
  /** Routes of table 100. */
  routes: RouteEntry[];
  rules: RuleEntry[];
  rpFilter?: number;
}

// ---- desired state ----

export interface VxlanDevice {
  port: number;
  mtu: number;
  /** Our VTEP address (no prefix). */
  vtep: string;
}

export interface VxlanCable {
  cableName: string;
  /** The remote's VTEP (its private IP in 241/8). */
  remoteVtep: string;
  /** Where encapsulated packets go (NAT discovery's useIP). */
  useIP: string;
  /** The remote's VXLAN port when it differs from ours. */
  port?: number;
  /** IPv4 remote subnets, canonical. */
  subnets: string[];
  /** Every IP an FDB entry of this cable may point at (private, public, previous useIP). */
  candidateIPs: string[];
}

// ---- actions ----

export type VxlanAction =
  | { op: 'link-del'; why: string }
  | { op: 'link-add'; port: number; mtu: number }
  | { op: 'link-mtu'; mtu: number }
  | { op: 'addr-add'; cidr: string }
  | { op: 'addr-del'; cidr: string }
  | { op: 'link-up' }
  | { op: 'rule-add' }
  | { op: 'rule-del' }
  | { op: 'rp-filter' }
  | { op: 'fdb-add'; dst: string; port?: number }
  | { op: 'fdb-del'; mac: string; dst: string }
  | { op: 'route-replace'; dst: string; via: string; src: string }
  | { op: 'route-del'; dst: string; via?: string; dev?: string; metric: number };

export type Tool = 'ip' | 'bridge' | 'sysctl';

/** The command for one action, as words for its tool (`ip -batch` / `bridge -batch` lines, or sysctl). */
export function actionCommand(a: VxlanAction): { tool: Tool; words: string[] } {
  const proto = String(HAWSER_RT_PROTO);
  const table = String(VXLAN_TABLE);
  switch (a.op) {
    case 'link-del':
      return { tool: 'ip', words: ['link', 'del', VXLAN_IFACE] };
    case 'link-add':
      return { tool: 'ip', words: ['link', 'add', VXLAN_IFACE, 'mtu', String(a.mtu), 'type', 'vxlan', 'id', String(VXLAN_VNI), 'dstport', String(a.port)] };
    case 'link-mtu':
      return { tool: 'ip', words: ['link', 'set', 'dev', VXLAN_IFACE, 'mtu', String(a.mtu)] };
    case 'addr-add':
      return { tool: 'ip', words: ['addr', 'add', a.cidr, 'dev', VXLAN_IFACE] };
    case 'addr-del':
      return { tool: 'ip', words: ['addr', 'del', a.cidr, 'dev', VXLAN_IFACE] };
    case 'link-up':
      return { tool: 'ip', words: ['link', 'set', 'dev', VXLAN_IFACE, 'up'] };
    case 'rule-add':
      return { tool: 'ip', words: ['rule', 'add', 'pref', String(VXLAN_RULE_PRIORITY), 'lookup', table, 'protocol', proto] };
    case 'rule-del':
      return { tool: 'ip', words: ['rule', 'del', 'pref', String(VXLAN_RULE_PRIORITY), 'lookup', table, 'protocol', proto] };
    case 'rp-filter':
      return { tool: 'sysctl', words: [`net.ipv4.conf.${VXLAN_IFACE}.rp_filter=${RP_FILTER_LOOSE}`] };
    case 'fdb-add':
      return { tool: 'bridge', words: ['fdb', 'append', ZERO_MAC, 'dev', VXLAN_IFACE, 'dst', a.dst, ...(a.port ? ['port', String(a.port)] : [])] };
    case 'fdb-del':
      return { tool: 'bridge', words: ['fdb', 'del', a.mac, 'dev', VXLAN_IFACE, 'dst', a.dst] };
    case 'route-replace':
      return {
        tool: 'ip',
        words: ['route', 'replace', a.dst, 'via', a.via, 'dev', VXLAN_IFACE, 'src', a.src, 'table', table, 'proto', proto, 'metric', String(VXLAN_ROUTE_METRIC)],
      };
    case 'route-del':
      return {
        tool: 'ip',
        words: ['route', 'del', a.dst, ...(a.via ? ['via', a.via] : []), ...(a.dev ? ['dev', a.dev] : []), 'table', table, 'proto', proto, 'metric', String(a.metric)],
      };
  }
}

/** One line per action, as the shell commands that apply it. */
export function planText(actions: readonly VxlanAction[]): string {
  return actions.map((a) => {
    const c = actionCommand(a);
    return c.tool === 'sysctl' ? `sysctl -w ${c.words.join(' ')}` : `${c.tool} ${c.words.join(' ')}`;
  }).join('\n');
}

// ---- helpers ----

/**
 * This node's CNI IP: the first IPv4 address inside a local cluster CIDR on any device but the tunnels
 * (what Submariner's cni.Discover finds). Undefined when there is none (yet).
 */
export function cniAddress(addrs: readonly { dev: string; ip: string }[], clusterCidrs: readonly { address: string; prefix: number }[]): string | undefined {
  const toInt = (ip: string): number => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  for (const a of addrs) {
    if (!isIPv4(a.ip) || a.dev === VXLAN_IFACE || a.dev === 'vx-submariner') continue;
    const n = toInt(a.ip);
    for (const c of clusterCidrs) {
      if (!isIPv4(c.address)) continue;
      const start = toInt(c.address);
      if (n >= start && n < start + 2 ** (32 - c.prefix)) return a.ip;
    }
  }
  return undefined;
}

/** The VTEP address for an endpoint IP: first octet replaced by 241. */
export function vtepFor(ip: string): string | undefined {
  if (!isIPv4(ip)) return undefined;
  return [VTEP_FIRST_OCTET, ...ip.split('.').slice(1)].join('.');
}

const isOurs = (r: RouteEntry): boolean => r.protocol === HAWSER_RT_PROTO;
const VTEP_NET_PREFIX = `${VTEP_FIRST_OCTET}.`;

export function isOurRule(r: RuleEntry): boolean {
  return r.priority === VXLAN_RULE_PRIORITY && r.table === VXLAN_TABLE && r.protocol === HAWSER_RT_PROTO && !r.selective;
}

/** What the device needs: created (or recreated if it is not our VXLAN), MTU, VTEP address, up, rule, rp_filter. */
export function planDevice(want: VxlanDevice, obs: VxlanObserved): VxlanAction[] {
  const out: VxlanAction[] = [];
  const cidr = `${want.vtep}/${VTEP_PREFIX_LEN}`;
  let link = obs.link;
  if (link && (link.kind !== 'vxlan' || link.vni !== VXLAN_VNI || link.port !== want.port)) {
    out.push({ op: 'link-del', why: `existing ${VXLAN_IFACE} is ${link.kind || 'not a VXLAN'} (vni ${link.vni ?? '-'}, port ${link.port ?? '-'})` });
    link = undefined;
  }
  if (!link) {
    out.push({ op: 'link-add', port: want.port, mtu: want.mtu }, { op: 'addr-add', cidr }, { op: 'link-up' });
  } else {
    if (link.mtu !== want.mtu) out.push({ op: 'link-mtu', mtu: want.mtu });
    // Stale VTEPs go first: deleting a primary address also deletes the secondaries of its subnet.
    for (const a of link.addrs) if (a !== cidr && a.startsWith(VTEP_NET_PREFIX)) out.push({ op: 'addr-del', cidr: a });
    if (!link.addrs.includes(cidr)) out.push({ op: 'addr-add', cidr });
    if (!link.up) out.push({ op: 'link-up' });
  }
  if (!obs.rules.some(isOurRule)) out.push({ op: 'rule-add' });
  if (obs.rpFilter !== RP_FILTER_LOOSE || !link) out.push({ op: 'rp-filter' });
  return out;
}

/**
 * One cable: its FDB entry and its routes. Touches only what belongs to this cable: FDB entries for its
 * candidate IPs that no other cable uses, and our routes via its VTEP or for its subnets. `routeSrc` is
 * the routes' source address: this node's CNI IP, as Submariner's cable/vxlan sets it, so host-network
 * traffic to remote pods carries an address the remote cluster routes back (a 241/8 VTEP source would
 * only be answerable by the remote gateway itself).
 */
export function planCable(c: VxlanCable, routeSrc: string, obs: VxlanObserved, ipsOfOtherCables: ReadonlySet<string>): VxlanAction[] {
  const out: VxlanAction[] = [];
  const zero = obs.fdb.filter((e) => e.mac === ZERO_MAC);
  const current = zero.find((e) => e.dst === c.useIP);
  if (current && (current.port ?? 0) !== (c.port ?? 0)) out.push({ op: 'fdb-del', mac: ZERO_MAC, dst: c.useIP });
  if (!current || (current.port ?? 0) !== (c.port ?? 0)) out.push({ op: 'fdb-add', dst: c.useIP, ...(c.port ? { port: c.port } : {}) });
  // Entries (ours and kernel-learned remote MACs) still pointing at this remote's other addresses.
  for (const e of obs.fdb) {
    if (e.dst !== c.useIP && c.candidateIPs.includes(e.dst) && !ipsOfOtherCables.has(e.dst)) out.push({ op: 'fdb-del', mac: e.mac, dst: e.dst });
  }
  const want = new Set(c.subnets);
  for (const dst of c.subnets) {
    const ok = obs.routes.some((r) => r.dst === dst && r.gateway === c.remoteVtep && r.dev === VXLAN_IFACE && isOurs(r) && r.metric === VXLAN_ROUTE_METRIC && r.src === routeSrc);
    if (!ok) out.push({ op: 'route-replace', dst, via: c.remoteVtep, src: routeSrc });
  }
  for (const r of obs.routes) {
    if (!isOurs(r)) continue;
    const viaThis = r.gateway === c.remoteVtep;
    const forThis = want.has(r.dst);
    // Ours via this VTEP for a subnet it no longer has; or ours for one of its subnets at another metric.
    if ((viaThis && !forThis) || (forThis && r.metric !== VXLAN_ROUTE_METRIC)) {
      out.push({ op: 'route-del', dst: r.dst, via: r.gateway, dev: r.dev, metric: r.metric });
    }
  }
  return out;
}

/** Removes one cable: FDB entries to its IPs, learned ones too (unless another cable uses the IP), and our routes via its VTEP. */
export function planDisconnect(remoteVtep: string, candidateIPs: readonly string[], obs: VxlanObserved, ipsOfOtherCables: ReadonlySet<string>): VxlanAction[] {
  const out: VxlanAction[] = [];
  for (const e of obs.fdb) {
    if (candidateIPs.includes(e.dst) && !ipsOfOtherCables.has(e.dst)) out.push({ op: 'fdb-del', mac: e.mac, dst: e.dst });
  }
  for (const r of obs.routes) {
    if (isOurs(r) && r.gateway === remoteVtep) out.push({ op: 'route-del', dst: r.dst, via: r.gateway, dev: r.dev, metric: r.metric });
  }
  return out;
}

/**
 * After a restart: FDB entries to addresses no known cable uses and our routes via VTEPs no known cable
 * has (remote clusters that went away while we were down).
 */
export function planSweep(knownVteps: ReadonlySet<string>, knownIPs: ReadonlySet<string>, obs: Pick<VxlanObserved, 'fdb' | 'routes'>): VxlanAction[] {
  const out: VxlanAction[] = [];
  for (const e of obs.fdb) if (!knownIPs.has(e.dst)) out.push({ op: 'fdb-del', mac: e.mac, dst: e.dst });
  for (const r of obs.routes) {
    if (isOurs(r) && r.dev === VXLAN_IFACE && (!r.gateway || !knownVteps.has(r.gateway))) out.push({ op: 'route-del', dst: r.dst, via: r.gateway, dev: r.dev, metric: r.metric });
  }
  return out;
}

/** Everything the driver installed: our routes in table 100, our rule, the device (its FDB goes with it). */
export function planCleanup(obs: VxlanObserved): VxlanAction[] {
  const out: VxlanAction[] = [];
  for (const r of obs.routes) if (isOurs(r)) out.push({ op: 'route-del', dst: r.dst, via: r.gateway, dev: r.dev, metric: r.metric });
  for (const r of obs.rules) if (isOurRule(r)) out.push({ op: 'rule-del' });
  if (obs.link?.kind === 'vxlan') out.push({ op: 'link-del', why: 'cleanup' });
  return out;
}
