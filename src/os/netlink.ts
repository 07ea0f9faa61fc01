// rtnetlink adapter: links (incl. VXLAN), addresses, routes, rules, neighbours/FDB as plain typed values.
// One socket per network namespace: in-process for the current one, a worker process for another one
// (a netlink socket belongs to the namespace it was opened in, and Node cannot setns()).
import { isIP } from 'node:net';
import { createRtNetlink, ifla, rt, type RtNetlinkSocket } from 'netlink';
import { HawserError } from '../util/errors.js';
import { RtnlBatchWriter } from './rtnl-batch.js';

export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;

export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RTN_UNICAST = 1;
export const FR_ACT_TO_TBL = 1;
const RTNH_F_ONLINK = 4;

// ---------- observed values ----------

export interface VxlanInfo {
  vni: number;
  port: number;
  local?: string;
  learning: boolean;
  /** ifindex of the underlay device, when pinned. */
  link?: number;
}

export interface LinkInfo {
  index: number;
  name: string;
  kind?: string;
  mtu: number;
  up: boolean;
  mac?: string;
  vxlan?: VxlanInfo;
}

export interface AddrInfo {
  ifindex: number;
  family: 4 | 6;
  address: string;
  prefix: number;
  /** IFA_LABEL (IPv4): the interface name, or an alias such as `lo:hawser` that marks an address as ours. */
  label?: string;
}

export interface RouteInfo {
  family: 4 | 6;
  table: number;
  /** CIDR text; `0.0.0.0/0` for a default route. */
  dst: string;
  gateway?: string;
  oif?: number;
  prefsrc?: string;
  protocol: number;
  scope: number;
  type: number;
  onlink: boolean;
  metric?: number;
}

export interface RuleInfo {
  family: 4 | 6;
  pref: number;
  table: number;
  action: number;
  protocol?: number;
  src?: string;
  dst?: string;
  fwmark?: number;
  iifname?: string;
  oifname?: string;
}

export interface NeighInfo {
  family: 'bridge' | 'inet' | 'inet6';
  ifindex: number;
  mac?: string;
  /** IP of the neighbour, or for a VXLAN FDB entry the remote VTEP. */
  dst?: string;
  permanent: boolean;
  /** NTF_SELF: the entry lives in the device's own FDB (VXLAN), not a bridge's. */
  self: boolean;
  /** VXLAN FDB: the remote's UDP port (NDA_PORT), when the entry names one. */
  port?: number;
  /** VXLAN FDB: the remote's VNI (NDA_VNI), when the entry names one. */
  vni?: number;
}

// ---------- wanted values and operations ----------

export interface VxlanSpec {
  vni: number;
  port: number;
  local?: string;
  learning?: boolean;
  /** ifindex of the underlay device. */
  link?: number;
}

export interface LinkSpec {
  name: string;
  kind: 'vxlan';
  vxlan: VxlanSpec;
  mtu?: number;
  mac?: string;
  up?: boolean;
}

/** A kernel WireGuard device (keys and peers are configured over WireGuard's own netlink family). */
export interface WireguardLinkSpec {
  name: string;
  kind: 'wireguard';
  mtu?: number;
  up?: boolean;
}

export interface RouteSpec {
  table: number;
  dst: string;
  gateway?: string;
  oif?: number;
  prefsrc?: string;
  protocol: number;
  scope?: number;
  type?: number;
  onlink?: boolean;
  metric?: number;
}

export interface RuleSpec {
  pref: number;
  table: number;
  protocol?: number;
  src?: string;
  dst?: string;
  family?: 4 | 6;
}

export interface NeighSpec {
  family: 'bridge' | 'inet';
  ifindex: number;
  mac: string;
  dst: string;
  /** VXLAN FDB only (NDA_PORT): the remote's UDP port when it differs from the device's. */
  port?: number;
  /** VXLAN FDB only (NDA_VNI): the remote's VNI when it differs from the device's. */
  vni?: number;
}

export type RtnlOp =
  | { op: 'link-add'; link: LinkSpec | WireguardLinkSpec }
  | { op: 'link-set'; index: number; mtu?: number; mac?: string; up?: boolean }
  | { op: 'link-del'; index: number }
  /** `label` (IPv4 only) must be the interface name or start with it and a colon (`lo:hawser`). */
  | { op: 'addr-add' | 'addr-del'; ifindex: number; address: string; prefix: number; label?: string }
  | { op: 'route-add' | 'route-replace' | 'route-del'; route: RouteSpec }
  | { op: 'rule-add' | 'rule-del'; rule: RuleSpec }
  /** `neigh-append` adds one more entry for the same MAC (VXLAN all-zero FDB head-end replication). */
  | { op: 'neigh-add' | 'neigh-replace' | 'neigh-append' | 'neigh-del'; neigh: NeighSpec };

export type OpOutcome = { ok: true } | { ok: false; error: string; errno?: string };

/** The rtnetlink operations hawser uses; one real implementation per namespace kind and fakes in tests. */
export interface Rtnl {
  links(): Promise<LinkInfo[]>;
  addresses(): Promise<AddrInfo[]>;
  routes(): Promise<RouteInfo[]>;
  rules(): Promise<RuleInfo[]>;
  neighbors(family: 'bridge' | 'inet'): Promise<NeighInfo[]>;
  /**
   * Runs every op in order (batched: many requests per syscall) and reports each outcome in order; never
   * rejects for one op. A failed op carries the op's describe() text and the errno name.
   */
  apply(ops: readonly RtnlOp[]): Promise<OpOutcome[]>;
  close(): Promise<void>;
}

export class NetlinkError extends HawserError {
  /** errno name from the kernel, e.g. `EEXIST`, `ENODEV`. */
  readonly errno: string;
  constructor(message: string, errno: string, options?: { cause?: unknown }) {
    super('NETLINK', message, options);
    this.name = 'NetlinkError';
    this.errno = errno;
  }
}

// ---------- encoding helpers ----------

/** A dotted quad written at b[at..at+4]; false unless `ip` is exactly one (no leading zeros, parts <= 255). */
export function putIpv4(ip: string, b: Buffer, at: number): boolean {
  if (ip.length > 15) return false;
  let part = 0;
  let digits = 0;
  let i = 0;
  for (let k = 0; k <= ip.length; k++) {
    const c = k < ip.length ? ip.charCodeAt(k) : 46;
    if (c === 46) {
      if (digits === 0 || i > 3) return false;
      b[at + i++] = part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return false;
      part = part * 10 + (c - 48);
      if (part > 255) return false;
      digits++;
    } else return false;
  }
  return i === 4;
}

/** A dotted quad's four bytes, or undefined unless `ip` is exactly one (no leading zeros, each part <= 255). */
function ipv4Bytes(ip: string): Buffer | undefined {
  const b = Buffer.allocUnsafe(4);
  return putIpv4(ip, b, 0) ? b : undefined;
}

export function ipToBuffer(ip: string): Buffer {
  // the common case without isIP's regex: every route of a plan passes through here
  const v4 = typeof ip === 'string' && ip.length <= 15 ? ipv4Bytes(ip) : undefined;
  if (v4) return v4;
  const fam = isIP(ip);
  if (fam === 4) return Buffer.from(ip.split('.').map(Number));
  if (fam === 6) {
    const [head = '', tail = ''] = ip.includes('::') ? ip.split('::') : [ip, ''];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
    return b;
  }
  throw new HawserError('INVALID', `not an IP address: ${JSON.stringify(ip)}`);
}

export function bufferToIp(b: Buffer): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length === 16) {
    const groups: number[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
    // RFC 5952: compress the longest run (>= 2) of zero groups
    let best = -1;
    let bestLen = 1;
    for (let i = 0; i < 8; ) {
      let j = i;
      while (j < 8 && groups[j] === 0) j++;
      if (j - i > bestLen) [best, bestLen] = [i, j - i];
      i = j === i ? i + 1 : j;
    }
    const hex = groups.map((g) => g.toString(16));
    if (best < 0) return hex.join(':');
    return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
  }
  return b.toString('hex');
}

export function macToBuffer(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new HawserError('INVALID', `not a MAC address: ${JSON.stringify(mac)}`);
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function bufferToMac(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function enumNumber(mapping: Record<string, string | number>, v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && typeof mapping[v] === 'number') return mapping[v] as number;
  return 0;
}

function familyOf(n: number | undefined): 4 | 6 {
  return n === AF_INET6 ? 6 : 4;
}

export function describeOp(op: RtnlOp): string {
  switch (op.op) {
    case 'link-add':
      return `link add ${op.link.name} type ${op.link.kind}`;
    case 'link-set':
      return `link set ifindex ${op.index}${op.mtu !== undefined ? ` mtu ${op.mtu}` : ''}${op.mac ? ` address ${op.mac}` : ''}${op.up !== undefined ? (op.up ? ' up' : ' down') : ''}`;
    case 'link-del':
      return `link del ifindex ${op.index}`;
    case 'addr-add':
    case 'addr-del':
      return `address ${op.op === 'addr-add' ? 'add' : 'del'} ${op.address}/${op.prefix} ifindex ${op.ifindex}${op.label ? ` label ${op.label}` : ''}`;
    case 'route-add':
    case 'route-replace':
    case 'route-del': {
      const r = op.route;
      return `route ${op.op.slice(6)} ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.oif ? ` oif ${r.oif}` : ''} table ${r.table}`;
    }
    case 'rule-add':
    case 'rule-del':
      return `rule ${op.op.slice(5)} pref ${op.rule.pref} lookup ${op.rule.table}`;
    default:
      return `${op.neigh.family === 'bridge' ? 'fdb' : 'neigh'} ${op.op.slice(6)} ${op.neigh.mac} dst ${op.neigh.dst}${op.neigh.port !== undefined ? ` port ${op.neigh.port}` : ''}${op.neigh.vni !== undefined ? ` vni ${op.neigh.vni}` : ''} ifindex ${op.neigh.ifindex}`;
  }
}

// ---------- kernel messages to observed values (dumps and notifications alike) ----------

export function linkFromMessage(m: rt.LinkMessage): LinkInfo {
  const info = m.attrs.linkinfo ? ifla.parseInfo(m.attrs.linkinfo) : undefined;
  const link: LinkInfo = { index: m.data.index ?? 0, name: m.attrs.ifname ?? '', mtu: m.attrs.mtu ?? 0, up: m.data.flags?.up === true };
  if (m.attrs.address && m.attrs.address.length === 6) link.mac = bufferToMac(m.attrs.address);
  if (info?.kind) link.kind = info.kind;
  if (info?.kind === 'vxlan' && info.data) {
    const v = ifla.parseVxlan(info.data);
    link.vxlan = { vni: v.id ?? 0, port: v.port && v.port.length === 2 ? v.port.readUInt16BE(0) : 0, learning: v.learning !== 0 };
    if (v.local && v.local.length === 4) link.vxlan.local = bufferToIp(v.local);
    if (v.link) link.vxlan.link = v.link;
  }
  return link;
}

export function addrFromMessage(m: rt.AddressMessage): AddrInfo | undefined {
  const raw = m.attrs.local ?? m.attrs.address;
  if (!raw) return undefined;
  const a: AddrInfo = { ifindex: m.data.index ?? 0, family: familyOf(m.data.family), address: bufferToIp(raw), prefix: m.data.prefixlen ?? 0 };
  if (typeof m.attrs.label === 'string') a.label = m.attrs.label;
  return a;
}

/** IPv4 and IPv6 routes; undefined for other families (multicast routing tables and the like). */
export function routeFromMessage(m: rt.RouteMessage): RouteInfo | undefined {
  if (m.data.family !== AF_INET && m.data.family !== AF_INET6) return undefined;
  // IPv6's local table (per-address local, anycast and multicast entries) is the kernel's own, and
  // not every change to it is notified: left out so dumps and the event-kept model agree
  if (m.data.family === AF_INET6 && (m.attrs.table ?? m.data.table) === RT_TABLE_LOCAL) return undefined;
  const family = familyOf(m.data.family);
  const dst = m.attrs.dst ? bufferToIp(m.attrs.dst) : family === 4 ? '0.0.0.0' : '::';
  const r: RouteInfo = {
    family,
    table: m.attrs.table ?? m.data.table ?? 0,
    dst: `${dst}/${m.data.dstLen ?? 0}`,
    protocol: enumNumber(rt.RouteProtocol as unknown as Record<string, number>, m.data.protocol),
    scope: enumNumber(rt.RouteScope as unknown as Record<string, number>, m.data.scope),
    type: enumNumber(rt.RouteType as unknown as Record<string, number>, m.data.type),
    onlink: ((m.data.flags?.__unknown ?? 0) & RTNH_F_ONLINK) !== 0,
  };
  if (m.attrs.gateway) r.gateway = bufferToIp(m.attrs.gateway);
  if (m.attrs.oif) r.oif = m.attrs.oif;
  if (m.attrs.prefsrc) r.prefsrc = bufferToIp(m.attrs.prefsrc);
  if (m.attrs.priority) r.metric = m.attrs.priority;
  return r;
}

// rtattr types of struct rtmsg (linux/rtnetlink.h); rtnl-batch.ts encodes with the same ones
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_TABLE = 15;
const RTMSG_LEN = 12;

/**
 * routeFromMessage on the raw rtmsg payload, without the package's generic parse: the route notifications
 * of a 1,000-route batch are read here, one per route. Same result for the same bytes (a test holds them
 * together); undefined for what routeFromMessage leaves out or cannot read.
 */
export function routeFromPayload(data: Buffer): RouteInfo | undefined {
  return routeFromBytes(data, 0, data.length);
}

/** An address attribute's text, read in place (an IPv4 one without a buffer of its own). */
function ipAt(b: Buffer, at: number, n: number): string {
  return n === 4 ? `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}` : bufferToIp(b.subarray(at, at + n));
}

/** routeFromPayload on b[start, end), read in place: a notification's route without a buffer per attribute. */
export function routeFromBytes(b: Buffer, start: number, end: number): RouteInfo | undefined {
  if (end - start < RTMSG_LEN) return undefined;
  const fam = b[start]!;
  if (fam !== AF_INET && fam !== AF_INET6) return undefined;
  let table = b[start + 4]!;
  let dst = -1;
  let dstLen = 0;
  let gateway = -1;
  let gatewayLen = 0;
  let prefsrc = -1;
  let prefsrcLen = 0;
  let oif = 0;
  let priority = 0;
  for (let off = start + RTMSG_LEN; off + 4 <= end; ) {
    const len = b.readUInt16LE(off);
    if (len < 4 || off + len > end) return undefined;
    const body = off + 4;
    const n = len - 4;
    switch (b.readUInt16LE(off + 2) & 0x3fff) {
      case RTA_DST:
        dst = body;
        dstLen = n;
        break;
      case RTA_GATEWAY:
        gateway = body;
        gatewayLen = n;
        break;
      case RTA_PREFSRC:
        prefsrc = body;
        prefsrcLen = n;
        break;
      case RTA_OIF:
        if (n >= 4) oif = b.readUInt32LE(body);
        break;
      case RTA_PRIORITY:
        if (n >= 4) priority = b.readUInt32LE(body);
        break;
      case RTA_TABLE:
        if (n >= 4) table = b.readUInt32LE(body);
        break;
    }
    off += (len + 3) & ~3;
  }
  if (fam === AF_INET6 && table === RT_TABLE_LOCAL) return undefined;
  const family = familyOf(fam);
  const r: RouteInfo = {
    family,
    table,
    dst: `${dst >= 0 ? ipAt(b, dst, dstLen) : family === 4 ? '0.0.0.0' : '::'}/${b[start + 1]!}`,
    protocol: b[start + 5]!,
    scope: b[start + 6]!,
    type: b[start + 7]!,
    onlink: (b.readUInt32LE(start + 8) & RTNH_F_ONLINK) !== 0,
  };
  if (gateway >= 0) r.gateway = ipAt(b, gateway, gatewayLen);
  if (oif) r.oif = oif;
  if (prefsrc >= 0) r.prefsrc = ipAt(b, prefsrc, prefsrcLen);
  if (priority) r.metric = priority;
  return r;
}

/** IPv4 and IPv6 rules; undefined for other families. */
export function ruleFromMessage(m: rt.RuleMessage): RuleInfo | undefined {
  if (m.data.family !== AF_INET && m.data.family !== AF_INET6) return undefined;
  const r: RuleInfo = {
    family: familyOf(m.data.family),
    pref: m.attrs.priority ?? 0,
    table: m.attrs.table ?? m.data.table ?? 0,
    action: enumNumber(rt.RuleAction as unknown as Record<string, number>, m.data.action),
  };
  if (m.attrs.protocol !== undefined) r.protocol = m.attrs.protocol;
  if (m.attrs.src) r.src = `${bufferToIp(m.attrs.src)}/${m.data.srcLen ?? 0}`;
  if (m.attrs.dst) r.dst = `${bufferToIp(m.attrs.dst)}/${m.data.dstLen ?? 0}`;
  if (m.attrs.fwmark) r.fwmark = m.attrs.fwmark;
  if (m.attrs.iifname) r.iifname = m.attrs.iifname;
  if (m.attrs.oifname) r.oifname = m.attrs.oifname;
  return r;
}

/** IPv4 and bridge (FDB) neighbours; undefined for other families. */
export function neighFromMessage(m: rt.NeighborMessage): NeighInfo | undefined {
  const fam = m.data.family;
  if (fam !== AF_BRIDGE && fam !== AF_INET) return undefined;
  const n: NeighInfo = { family: fam === AF_BRIDGE ? 'bridge' : 'inet', ifindex: m.data.ifindex ?? 0, permanent: m.data.state?.permanent === true, self: m.data.flags?.self === true };
  if (m.attrs.lladdr && m.attrs.lladdr.length === 6) n.mac = bufferToMac(m.attrs.lladdr);
  if (m.attrs.dst) n.dst = bufferToIp(m.attrs.dst);
  // NDA_PORT travels in network order, NDA_VNI in host order
  if (m.attrs.port && m.attrs.port.length === 2) n.port = m.attrs.port.readUInt16BE(0);
  if (m.attrs.vni && m.attrs.vni.length === 4) n.vni = m.attrs.vni.readUInt32LE(0);
  return n;
}

// ---------- in-process implementation ----------

const REQUEST_TIMEOUT_MS = 5000;

export class NetlinkRtnl implements Rtnl {
  private readonly sock: RtNetlinkSocket;
  /** One dump at a time per socket: the kernel and the package track a single multipart reply. */
  private dumpQueue: Promise<unknown> = Promise.resolve();
  /** Writes go through their own socket, batched (opened on the first write). */
  private writer: RtnlBatchWriter | undefined;

  constructor() {
    this.sock = createRtNetlink();
    try {
      this.sock.socket.setRecvBufferSize(4 * 1024 * 1024);
    } catch {
      // the default buffer still holds a dump's replies; only the larger ones need more
    }
  }

  async links(): Promise<LinkInfo[]> {
    const msgs = await this.dump(() => this.sock.getLinks(undefined, undefined, { timeout: REQUEST_TIMEOUT_MS }));
    return msgs.map(linkFromMessage);
  }

  async addresses(): Promise<AddrInfo[]> {
    const msgs = await this.dump(() => this.sock.getAddresses(undefined, undefined, { timeout: REQUEST_TIMEOUT_MS }));
    return msgs.flatMap((m) => addrFromMessage(m) ?? []);
  }

  /** IPv4 and IPv6 routes of every table (two dumps: an AF_UNSPEC dump would bring the multicast families too). */
  async routes(): Promise<RouteInfo[]> {
    const v4 = await this.dump(() => this.sock.getRoutes({ family: AF_INET }, undefined, { timeout: REQUEST_TIMEOUT_MS }));
    const v6 = await this.dump(() => this.sock.getRoutes({ family: AF_INET6 }, undefined, { timeout: REQUEST_TIMEOUT_MS }));
    return [...v4, ...v6].flatMap((m) => routeFromMessage(m) ?? []);
  }

  /** IPv4 and IPv6 policy rules. */
  async rules(): Promise<RuleInfo[]> {
    const v4 = await this.dump(() => this.sock.getRules({ family: AF_INET }, undefined, { timeout: REQUEST_TIMEOUT_MS }));
    const v6 = await this.dump(() => this.sock.getRules({ family: AF_INET6 }, undefined, { timeout: REQUEST_TIMEOUT_MS }));
    return [...v4, ...v6].flatMap((m) => ruleFromMessage(m) ?? []);
  }

  async neighbors(family: 'bridge' | 'inet'): Promise<NeighInfo[]> {
    const af = family === 'bridge' ? AF_BRIDGE : AF_INET;
    const msgs = await this.dump(() => this.sock.getNeighbors({ family: af }, undefined, { timeout: REQUEST_TIMEOUT_MS }));
    return msgs.flatMap((m) => {
      const n = neighFromMessage(m);
      return n && n.family === family ? [n] : [];
    });
  }

  private dump<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.dumpQueue.then(fn, fn);
    this.dumpQueue = next.catch(() => undefined);
    return next;
  }

  /** The whole list in a few sendmsg calls (see rtnl-batch.ts), in order; one outcome per op. */
  apply(ops: readonly RtnlOp[]): Promise<OpOutcome[]> {
    if (ops.length === 0) return Promise.resolve([]);
    this.writer ??= new RtnlBatchWriter();
    return this.writer.apply(ops);
  }

  /** One operation; throws NetlinkError. */
  async applyOne(op: RtnlOp): Promise<void> {
    const [o] = await this.apply([op]);
    if (o && !o.ok) throw new NetlinkError(o.error, o.errno ?? 'EIO');
  }

  async close(): Promise<void> {
    this.sock.socket.close();
    this.writer?.close();
  }
}

/**
 * rtnetlink for the current namespace, or (with `netns`) for a named one through a worker process
 * started with `ip netns exec`. Close it when done.
 */
export async function openRtnl(opts: { netns?: string } = {}): Promise<Rtnl> {
  if (!opts.netns) return new NetlinkRtnl();
  const { NetnsWorker } = await import('./nsworker.js');
  return NetnsWorker.rtnl(opts.netns);
}
