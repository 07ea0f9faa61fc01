// Batched rtnetlink writes: many requests in one sendmsg (one buffer of several nlmsgs, each with its
// own sequence number), answers matched back by sequence number. The kernel runs the messages of one
// buffer in order inside that one syscall; it answers every failed one (an error does not stop the
// rest) and, with NLM_F_ACK, a successful one too. Only the last message asks for an ack, so a plan of
// 1,000 routes costs a few syscalls and a few answers instead of 1,000 round trips or 1,000 acks.
// Its own socket: dumps on the request socket group multipart replies per socket, and an ack arriving
// in the middle of one would cut it short.
import { getSystemErrorName } from 'node:util';
import { AttrStream, FlagsNew, RawNetlinkSocket, ifla, rt, type StreamData } from 'netlink';
import { HawserError } from '../util/errors.js';
import {
  AF_BRIDGE, AF_INET, AF_INET6, FR_ACT_TO_TBL, RTA_DST, RTA_GATEWAY, RTA_OIF, RTA_PREFSRC, RTA_PRIORITY, RTA_TABLE, RTN_UNICAST, RT_SCOPE_LINK,
  RT_SCOPE_UNIVERSE, describeOp, ipToBuffer, macToBuffer, putIpv4, type OpOutcome, type RouteSpec, type RtnlOp,
} from './netlink.js';

const NETLINK_ROUTE = 0;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const NLMSG_ERROR = 2;
const RTNH_F_ONLINK = 4;
/** Tables above 255 travel in RTA_TABLE only; the header byte then says RT_TABLE_COMPAT. */
const RT_TABLE_COMPAT = 252;

/**
 * Requests per sendmsg. The kernel queues every answer of one buffer before sendmsg returns; with one
 * ack per buffer only errors take room, but a chunk whose every op fails (a device gone) must still fit
 * the receive buffer at the default rmem_max (~425 KB, ~550 small answers) to name each errno.
 */
export const BATCH_CHUNK = 256;
const ACK_TIMEOUT_MS = 5000;

/** One rtnetlink request, ready to frame: message type, NLM_F_* flags (without REQUEST/ACK), payload. */
export interface EncodedOp {
  type: number;
  flags: number;
  payload: Uint8Array[];
}

function stream(fill: (out: AttrStream) => void): Uint8Array[] {
  const s = new AttrStream();
  fill(s);
  return s.bufs;
}

function flatten(data: StreamData): Buffer {
  const s = new AttrStream();
  s.emit(data);
  return Buffer.concat(s.bufs);
}

function u16be(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u32ne(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function splitCidr(cidr: string): { address: string; prefix: number; family: 4 | 6 } {
  const i = cidr.lastIndexOf('/');
  const address = i < 0 ? cidr : cidr.slice(0, i);
  const fam = address.includes(':') ? 6 : 4;
  const prefix = i < 0 ? (fam === 4 ? 32 : 128) : Number(cidr.slice(i + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > (fam === 4 ? 32 : 128)) throw new HawserError('INVALID', `not a CIDR: ${JSON.stringify(cidr)}`);
  // ipToBuffer validates the address itself
  ipToBuffer(address);
  return { address, prefix, family: fam };
}

export function routeMessage(r: RouteSpec): rt.RouteMessage {
  const c = splitCidr(r.dst);
  const data: rt.Route = {
    family: c.family === 6 ? AF_INET6 : AF_INET,
    dstLen: c.prefix,
    table: r.table < 256 ? r.table : RT_TABLE_COMPAT,
    protocol: r.protocol,
    scope: r.scope ?? (r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK),
    type: r.type ?? RTN_UNICAST,
  };
  if (r.onlink) data.flags = { __unknown: RTNH_F_ONLINK };
  const attrs: rt.RouteAttrs = { table: r.table };
  if (c.prefix > 0) attrs.dst = ipToBuffer(c.address);
  if (r.gateway) attrs.gateway = ipToBuffer(r.gateway);
  if (r.oif) attrs.oif = r.oif;
  if (r.prefsrc) attrs.prefsrc = ipToBuffer(r.prefsrc);
  if (r.metric) attrs.priority = r.metric;
  return { kind: 'route', data, attrs };
}

/** Bytes one route request can take at most: rtmsg, then table, dst, gateway, oif, prefsrc, priority. */
const ROUTE_PAYLOAD_MAX = 12 + 8 + 20 + 20 + 8 + 20 + 8;


/** An address attribute at `off` (IPv4 written in place, anything else through ipToBuffer); the offset after it. */
function putAddrAttr(b: Buffer, off: number, type: number, ip: string): number {
  if (putIpv4(ip, b, off + 4)) {
    b.writeUInt16LE(8, off);
    b.writeUInt16LE(type, off + 2);
    return off + 8;
  }
  const v = ipToBuffer(ip);
  b.writeUInt16LE(4 + v.length, off);
  b.writeUInt16LE(type, off + 2);
  v.copy(b, off + 4);
  return off + 4 + ((v.length + 3) & ~3);
}

function putU32Attr(b: Buffer, off: number, type: number, n: number): number {
  b.writeUInt16LE(8, off);
  b.writeUInt16LE(type, off + 2);
  b.writeUInt32LE(n >>> 0, off + 4);
  return off + 8;
}

/**
 * The rtmsg and its attributes for one route, written at b[off..] (zeroed, ROUTE_PAYLOAD_MAX bytes free):
 * the bytes the package's formatRouteMessage(routeMessage(r)) gives (a test holds them equal), without
 * its generic attribute stream or a buffer per address; a failover writes 1,000 of these into one
 * sendmsg buffer. Returns the offset after it; throws HawserError INVALID for a malformed route.
 */
function putRoutePayload(r: RouteSpec, b: Buffer, off: number): number {
  const slash = r.dst.lastIndexOf('/');
  const address = slash < 0 ? r.dst : r.dst.slice(0, slash);
  const v6 = address.includes(':');
  const max = v6 ? 128 : 32;
  const prefixText = slash < 0 ? '' : r.dst.slice(slash + 1);
  const prefix = slash < 0 ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) throw new HawserError('INVALID', `not a CIDR: ${JSON.stringify(r.dst)}`);
  b[off] = v6 ? AF_INET6 : AF_INET;
  b[off + 1] = prefix;
  b[off + 4] = r.table < 256 ? r.table : RT_TABLE_COMPAT;
  b[off + 5] = r.protocol;
  b[off + 6] = r.scope ?? (r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
  b[off + 7] = r.type ?? RTN_UNICAST;
  if (r.onlink) b.writeUInt32LE(RTNH_F_ONLINK, off + 8);
  // the package's order (the attribute object's key order in routeMessage)
  let at = putU32Attr(b, off + 12, RTA_TABLE, r.table);
  if (prefix > 0) at = putAddrAttr(b, at, RTA_DST, address);
  // an address the kernel's parse would refuse is refused here (ipToBuffer also checks a /0's address)
  else ipToBuffer(address);
  if (r.gateway) at = putAddrAttr(b, at, RTA_GATEWAY, r.gateway);
  if (r.oif) at = putU32Attr(b, at, RTA_OIF, r.oif);
  if (r.prefsrc) at = putAddrAttr(b, at, RTA_PREFSRC, r.prefsrc);
  if (r.metric) at = putU32Attr(b, at, RTA_PRIORITY, r.metric);
  return at;
}

/** One route request's rtmsg and attributes as its own buffer (see putRoutePayload). */
export function routePayload(r: RouteSpec): Buffer {
  const b = Buffer.alloc(ROUTE_PAYLOAD_MAX);
  return b.subarray(0, putRoutePayload(r, b, 0));
}

const T = rt.MessageType;

/** Pure: the rtnetlink request for one op. Throws HawserError INVALID for malformed input (bad MAC, IP, CIDR). */
export function encodeOp(op: RtnlOp): EncodedOp {
  switch (op.op) {
    case 'link-add': {
      const l = op.link;
      let attrs: ifla.LinkAttrs;
      if (l.kind === 'vxlan') {
        const vx: ifla.Vxlan = { id: l.vxlan.vni, port: u16be(l.vxlan.port), learning: l.vxlan.learning === false ? 0 : 1 };
        if (l.vxlan.local) vx.local = ipToBuffer(l.vxlan.local);
        if (l.vxlan.link) vx.link = l.vxlan.link;
        attrs = { ifname: l.name, linkinfo: flatten(ifla.formatInfo({ kind: 'vxlan', data: flatten(ifla.formatVxlan(vx)) })) };
        if (l.mac) attrs.address = macToBuffer(l.mac);
      } else {
        attrs = { ifname: l.name, linkinfo: flatten(ifla.formatInfo({ kind: l.kind })) };
      }
      if (l.mtu) attrs.mtu = l.mtu;
      const data: rt.Link = l.up ? { flags: { up: true }, change: { up: true } } : {};
      return { type: T.NEWLINK, flags: FlagsNew.CREATE | FlagsNew.EXCL, payload: stream((s) => rt.formatLinkMessage({ kind: 'link', data, attrs }, s)) };
    }
    case 'link-set': {
      const attrs: ifla.LinkAttrs = {};
      if (op.mtu !== undefined) attrs.mtu = op.mtu;
      if (op.mac) attrs.address = macToBuffer(op.mac);
      const data: rt.Link = { index: op.index };
      if (op.up !== undefined) {
        data.change = { up: true };
        data.flags = op.up ? { up: true } : {};
      }
      return { type: T.SETLINK, flags: 0, payload: stream((s) => rt.formatLinkMessage({ kind: 'link', data, attrs }, s)) };
    }
    case 'link-del':
      return { type: T.DELLINK, flags: 0, payload: stream((s) => rt.formatLinkMessage({ kind: 'link', data: { index: op.index }, attrs: {} }, s)) };
    case 'addr-add':
    case 'addr-del': {
      const fam = op.address.includes(':') ? AF_INET6 : AF_INET;
      const a = ipToBuffer(op.address);
      const data: rt.Address = { family: fam, prefixlen: op.prefix, index: op.ifindex };
      const attrs: rt.AddressAttrs = { local: a, address: a };
      if (op.label && fam === AF_INET) attrs.label = op.label;
      const payload = stream((s) => rt.formatAddressMessage({ kind: 'address', data, attrs }, s));
      return op.op === 'addr-add' ? { type: T.NEWADDR, flags: FlagsNew.CREATE | FlagsNew.EXCL, payload } : { type: T.DELADDR, flags: 0, payload };
    }
    case 'route-add':
    case 'route-replace':
    case 'route-del': {
      const payload = [routePayload(op.route)];
      if (op.op === 'route-del') return { type: T.DELROUTE, flags: 0, payload };
      // replace is atomic in the kernel: a failover re-points a route with no moment of no route
      return { type: T.NEWROUTE, flags: FlagsNew.CREATE | (op.op === 'route-add' ? FlagsNew.EXCL : FlagsNew.REPLACE), payload };
    }
    case 'rule-add':
    case 'rule-del': {
      const r = op.rule;
      const fam = r.family === 6 ? AF_INET6 : AF_INET;
      const data: rt.Rule = { family: fam, table: r.table < 256 ? r.table : RT_TABLE_COMPAT, action: FR_ACT_TO_TBL };
      const attrs: rt.RuleAttrs = { priority: r.pref, table: r.table };
      if (r.protocol !== undefined) attrs.protocol = r.protocol;
      if (r.src) {
        const c = splitCidr(r.src);
        attrs.src = ipToBuffer(c.address);
        data.srcLen = c.prefix;
      }
      if (r.dst) {
        const c = splitCidr(r.dst);
        attrs.dst = ipToBuffer(c.address);
        data.dstLen = c.prefix;
      }
      const payload = stream((s) => rt.formatRuleMessage({ kind: 'rule', data, attrs }, s));
      return op.op === 'rule-add' ? { type: T.NEWRULE, flags: FlagsNew.CREATE | FlagsNew.EXCL, payload } : { type: T.DELRULE, flags: 0, payload };
    }
    default: {
      const n = op.neigh;
      const bridge = n.family === 'bridge';
      const data: rt.Neighbor = { family: bridge ? AF_BRIDGE : AF_INET, ifindex: n.ifindex, state: { permanent: true } };
      if (bridge) data.flags = { self: true };
      const attrs: rt.NeighborAttrs = { lladdr: macToBuffer(n.mac), dst: ipToBuffer(n.dst) };
      // NDA_PORT (network order) and NDA_VNI (host order) of a VXLAN FDB entry
      if (bridge && n.port !== undefined) attrs.port = u16be(n.port);
      if (bridge && n.vni !== undefined) attrs.vni = u32ne(n.vni);
      const payload = stream((s) => rt.formatNeighborMessage({ kind: 'neighbor', data, attrs }, s));
      if (op.op === 'neigh-del') return { type: T.DELNEIGH, flags: 0, payload };
      const mode = op.op === 'neigh-append' ? FlagsNew.APPEND : op.op === 'neigh-replace' ? FlagsNew.REPLACE : FlagsNew.EXCL;
      return { type: T.NEWNEIGH, flags: FlagsNew.CREATE | mode, payload };
    }
  }
}

/** The errno name of a negative kernel error code (`-17` → `EEXIST`). */
export function errnoName(code: number): string {
  try {
    return getSystemErrorName(code < 0 ? code : -code);
  } catch {
    return `errno ${Math.abs(code)}`;
  }
}

/** A failed op in the outcome form `Rtnl.apply` reports: the op's describe() text, then the errno or message. */
export function failed(op: RtnlOp, errno: string, detail?: string): OpOutcome {
  return { ok: false, error: `${describeOp(op)}: ${detail ?? errno}`, errno };
}

/**
 * The ops of one sendmsg framed into one buffer: each op's nlmsg with its own sequence number, counting
 * up from `firstSeq`, and NLM_F_ACK on the last message only. The kernel answers a failed request with
 * an error whatever its flags, and answers in order, so once the last message's ack is in, every op
 * without an error before it succeeded: one ack per batch instead of one per op. Ops that cannot be
 * encoded get their outcome in `out` and no message; `opOf[k]` is the op index of sequence firstSeq + k.
 */
export function frameOps(ops: readonly RtnlOp[], from: number, to: number, firstSeq: number, out: OpOutcome[]): { buffer: Buffer; opOf: number[] } {
  const encoded: (EncodedOp | undefined)[] = new Array(to - from);
  let bound = 0;
  for (let i = from; i < to; i++) {
    const op = ops[i]!;
    if (op.op === 'route-add' || op.op === 'route-replace' || op.op === 'route-del') {
      bound += 16 + ROUTE_PAYLOAD_MAX;
      continue;
    }
    try {
      const e = encodeOp(op);
      encoded[i - from] = e;
      for (const p of e.payload) bound += p.length;
      bound += 16 + 3;
    } catch (err) {
      out[i] = encodeFailure(op, err);
    }
  }
  const b = Buffer.alloc(bound);
  const opOf: number[] = [];
  let off = 0;
  let last = -1;
  for (let i = from; i < to; i++) {
    const op = ops[i]!;
    if (out[i]) continue;
    let type: number;
    let flags: number;
    let end: number;
    if (op.op === 'route-add' || op.op === 'route-replace' || op.op === 'route-del') {
      try {
        end = putRoutePayload(op.route, b, off + 16);
      } catch (err) {
        // a half-written payload is overwritten (and the tail zeroed) by whatever comes next
        b.fill(0, off, off + 16 + ROUTE_PAYLOAD_MAX);
        out[i] = encodeFailure(op, err);
        continue;
      }
      type = op.op === 'route-del' ? T.DELROUTE : T.NEWROUTE;
      // replace is atomic in the kernel: a failover re-points a route with no moment of no route
      flags = op.op === 'route-del' ? 0 : FlagsNew.CREATE | (op.op === 'route-add' ? FlagsNew.EXCL : FlagsNew.REPLACE);
    } else {
      const e = encoded[i - from]!;
      type = e.type;
      flags = e.flags;
      end = off + 16;
      for (const p of e.payload) {
        b.set(p, end);
        end += p.length;
      }
    }
    b.writeUInt32LE(end - off, off);
    b.writeUInt16LE(type, off + 4);
    b.writeUInt16LE(flags | NLM_F_REQUEST, off + 6);
    b.writeUInt32LE(firstSeq + opOf.length, off + 8);
    last = off;
    opOf.push(i);
    // the kernel steps to the next message at NLMSG_ALIGN(nlmsg_len); the pad bytes are still zero
    off = (end + 3) & ~3;
  }
  if (last >= 0) b.writeUInt16LE(b.readUInt16LE(last + 6) | NLM_F_ACK, last + 6);
  return { buffer: b.subarray(0, off), opOf };
}

function encodeFailure(op: RtnlOp, err: unknown): OpOutcome {
  const invalid = err instanceof HawserError && err.code === 'INVALID';
  return failed(op, invalid ? 'EINVAL' : 'EIO', err instanceof Error ? err.message : String(err));
}

/**
 * Netlink port ids of this process's writers. The kernel stamps a change's notification with the port
 * of the socket whose request made it, so a listener can tell this process's own writes from everyone
 * else's (rtnl-events marks them `own`).
 */
const ownPorts = new Set<number>();

/** Whether a notification's nlmsg_pid names one of this process's writers (0 is the kernel's own). */
export function isOwnWriterPort(port: number): boolean {
  return port !== 0 && ownPorts.has(port);
}

/** One sendmsg's worth of ops waiting for its answers. */
interface InFlight {
  firstSeq: number;
  opOf: number[];
  ops: readonly RtnlOp[];
  out: OpOutcome[];
  done: () => void;
}

/** The batching writer: one per Rtnl, its own NETLINK_ROUTE socket. */
export class RtnlBatchWriter {
  private readonly sock: RawNetlinkSocket;
  private seq = 1;
  private readonly inFlight = new Set<InFlight>();
  private closed = false;
  private readonly port: number;
  /** Counters for benches and tests: requests sent and sendmsg calls made. */
  readonly stats = { requests: 0, sends: 0 };

  constructor(private readonly chunk = BATCH_CHUNK) {
    this.sock = new RawNetlinkSocket(NETLINK_ROUTE, { recvBufferSize: 4 * 1024 * 1024, sendBufferSize: 4 * 1024 * 1024 });
    this.port = this.sock.address().port;
    ownPorts.add(this.port);
    this.sock.unref();
    this.sock.on('message', (buf: Buffer) => this.receive(buf));
    // a socket-level error (ENOBUFS: answers were dropped): whatever is unanswered may or may not have
    // been applied; say so rather than guess (the caller re-reads and retries)
    this.sock.on('error', (err: Error & { code?: string }) => {
      for (const f of [...this.inFlight]) this.finish(f, { errno: err.code || 'EIO', detail: `answers lost (${err.message}); the kernel state is unknown` });
    });
  }

  /** Answers read from the headers alone (type, sequence, error code). */
  private receive(buf: Buffer): void {
    for (let off = 0; off + 16 <= buf.length; ) {
      const len = buf.readUInt32LE(off);
      if (len < 16 || off + len > buf.length) break;
      const seq = buf.readUInt32LE(off + 8);
      for (const f of this.inFlight) {
        const k = seq - f.firstSeq;
        if (k < 0 || k >= f.opOf.length) continue;
        const code = buf.readUInt16LE(off + 4) === NLMSG_ERROR && len >= 20 ? buf.readInt32LE(off + 16) : 0;
        const i = f.opOf[k]!;
        // a reply other than an ack (we never ask for one) counts as done
        if (code !== 0) f.out[i] = failed(f.ops[i]!, errnoName(code));
        if (k === f.opOf.length - 1) this.finish(f);
        break;
      }
      off += (len + 3) & ~3;
    }
  }

  /** The last answer is in (or none will come): every op not failed so far succeeded (or gets `failure`). */
  private finish(f: InFlight, failure?: { errno: string; detail: string }): void {
    if (!this.inFlight.delete(f)) return;
    for (const i of f.opOf) f.out[i] ??= failure ? failed(f.ops[i]!, failure.errno, failure.detail) : { ok: true };
    if (this.inFlight.size === 0) this.sock.unref();
    f.done();
  }

  /** Every op in order, in chunks of `chunk` requests per sendmsg; one outcome per op, never rejects. */
  async apply(ops: readonly RtnlOp[]): Promise<OpOutcome[]> {
    const out = new Array<OpOutcome>(ops.length);
    for (let from = 0; from < ops.length; from += this.chunk) {
      await this.sendChunk(ops, from, Math.min(ops.length, from + this.chunk), out);
    }
    return out;
  }

  private async sendChunk(ops: readonly RtnlOp[], from: number, to: number, out: OpOutcome[]): Promise<void> {
    if (this.closed) {
      for (let i = from; i < to; i++) out[i] = failed(ops[i]!, 'EIO', 'netlink socket closed');
      return;
    }
    // one chunk's sequence numbers are consecutive: an answer's op is found by subtraction
    if (this.seq + (to - from) >= 0x7fffffff) this.seq = 1;
    const firstSeq = this.seq;
    const { buffer, opOf } = frameOps(ops, from, to, firstSeq, out);
    if (!opOf.length) return;
    this.seq += opOf.length;
    let timer: NodeJS.Timeout | undefined;
    const answered = new Promise<void>((resolve) => {
      const f: InFlight = { firstSeq, opOf, ops, out, done: resolve };
      this.inFlight.add(f);
      this.sock.ref();
      this.stats.sends++;
      this.stats.requests += opOf.length;
      this.sock.send(buffer, undefined, (err) => {
        if (err) this.finish(f, { errno: err.code || 'EIO', detail: `sendmsg: ${err.message}` });
      });
      timer = setTimeout(() => this.finish(f, { errno: 'EIO', detail: 'no acknowledgement from the kernel' }), ACK_TIMEOUT_MS);
    });
    try {
      await answered;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const f of [...this.inFlight]) this.finish(f, { errno: 'EIO', detail: 'netlink socket closed' });
    this.sock.close();
    ownPorts.delete(this.port);
  }
}
