// Batched rtnetlink writes: many requests in one sendmsg (one buffer of several nlmsgs, each with
// NLM_F_ACK and its own sequence number), acks matched back by sequence number. The kernel runs the
// messages of one buffer in order inside that one syscall and acks each (an error does not stop the
// rest), so a plan of 1,000 routes costs a handful of syscalls instead of 1,000 round trips.
// Its own socket: dumps on the request socket group multipart replies per socket, and an ack arriving
// in the middle of one would cut it short.
import { getSystemErrorName } from 'node:util';
import { AttrStream, FlagsNew, RawNetlinkSocket, ifla, rt, type StreamData } from 'netlink';
import { HawserError } from '../util/errors.js';
import {
  AF_BRIDGE, AF_INET, AF_INET6, FR_ACT_TO_TBL, RTA_DST, RTA_GATEWAY, RTA_OIF, RTA_PREFSRC, RTA_PRIORITY, RTA_TABLE, RTN_UNICAST, RT_SCOPE_LINK,
  RT_SCOPE_UNIVERSE, describeOp, ipToBuffer, macToBuffer, type OpOutcome, type RouteSpec, type RtnlOp,
} from './netlink.js';

const NETLINK_ROUTE = 0;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const NLMSG_ERROR = 2;
const RTNH_F_ONLINK = 4;
/** Tables above 255 travel in RTA_TABLE only; the header byte then says RT_TABLE_COMPAT. */
const RT_TABLE_COMPAT = 252;

/**
 * Requests per sendmsg. The kernel queues every ack of one buffer before sendmsg returns, so a chunk
 * must fit the receive buffer even at the default rmem_max (~425 KB, ~550 small acks).
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

/**
 * The rtmsg and its attributes for one route written straight into one buffer: the bytes the package's
 * formatRouteMessage(routeMessage(r)) gives (a test holds them equal), without its generic attribute
 * stream; a failover writes 1,000 of these.
 */
export function routePayload(r: RouteSpec): Buffer {
  const c = splitCidr(r.dst);
  const addrLen = c.family === 6 ? 16 : 4;
  const dst = c.prefix > 0 ? ipToBuffer(c.address) : undefined;
  const gateway = r.gateway ? ipToBuffer(r.gateway) : undefined;
  const prefsrc = r.prefsrc ? ipToBuffer(r.prefsrc) : undefined;
  const attrLen = (n: number): number => 4 + ((n + 3) & ~3);
  const len = 12 + attrLen(4) + (dst ? attrLen(addrLen) : 0) + (gateway ? attrLen(gateway.length) : 0) + (r.oif ? attrLen(4) : 0) + (prefsrc ? attrLen(prefsrc.length) : 0) + (r.metric ? attrLen(4) : 0);
  const b = Buffer.alloc(len);
  b[0] = c.family === 6 ? AF_INET6 : AF_INET;
  b[1] = c.prefix;
  b[4] = r.table < 256 ? r.table : RT_TABLE_COMPAT;
  b[5] = r.protocol;
  b[6] = r.scope ?? (r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
  b[7] = r.type ?? RTN_UNICAST;
  if (r.onlink) b.writeUInt32LE(RTNH_F_ONLINK, 8);
  let off = 12;
  const put = (type: number, value: Buffer): void => {
    b.writeUInt16LE(4 + value.length, off);
    b.writeUInt16LE(type, off + 2);
    value.copy(b, off + 4);
    off += attrLen(value.length);
  };
  const u32 = (type: number, n: number): void => {
    b.writeUInt16LE(8, off);
    b.writeUInt16LE(type, off + 2);
    b.writeUInt32LE(n >>> 0, off + 4);
    off += 8;
  };
  // the package's order (the attribute object's key order in routeMessage)
  u32(RTA_TABLE, r.table);
  if (dst) put(RTA_DST, dst);
  if (gateway) put(RTA_GATEWAY, gateway);
  if (r.oif) u32(RTA_OIF, r.oif);
  if (prefsrc) put(RTA_PREFSRC, prefsrc);
  if (r.metric) u32(RTA_PRIORITY, r.metric);
  return b;
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

/** Settles one op: no argument for success, else its errno name and what went wrong. */
type Settle = (failure?: { errno: string; detail?: string }) => void;

/** The batching writer: one per Rtnl, its own NETLINK_ROUTE socket. */
export class RtnlBatchWriter {
  private readonly sock: RawNetlinkSocket;
  private seq = 1;
  private readonly waiting = new Map<number, Settle>();
  private closed = false;
  /** Counters for benches and tests: requests sent and sendmsg calls made. */
  readonly stats = { requests: 0, sends: 0 };

  constructor(private readonly chunk = BATCH_CHUNK) {
    this.sock = new RawNetlinkSocket(NETLINK_ROUTE, { recvBufferSize: 4 * 1024 * 1024, sendBufferSize: 4 * 1024 * 1024 });
    this.sock.unref();
    this.sock.on('message', (buf: Buffer) => this.receive(buf));
    // a socket-level error (ENOBUFS: acks dropped) leaves their ops unanswered: they time out as EIO
    this.sock.on('error', () => undefined);
  }

  /** Acks read from the headers alone (type, sequence, error code): 1,000 of them come back per batch. */
  private receive(buf: Buffer): void {
    for (let off = 0; off + 16 <= buf.length; ) {
      const len = buf.readUInt32LE(off);
      if (len < 16 || off + len > buf.length) break;
      const seq = buf.readUInt32LE(off + 8);
      const settle = this.waiting.get(seq);
      if (settle) {
        this.waiting.delete(seq);
        const code = buf.readUInt16LE(off + 4) === NLMSG_ERROR && len >= 20 ? buf.readInt32LE(off + 16) : 0;
        // a reply other than an ack (we never ask for one) counts as done
        settle(code === 0 ? undefined : { errno: errnoName(code) });
      }
      off += (len + 3) & ~3;
    }
    if (this.waiting.size === 0) this.sock.unref();
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = this.seq >= 0x7fffffff ? 1 : this.seq + 1;
    return s;
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
    const frames: Uint8Array[] = [];
    const pending: Promise<void>[] = [];
    const seqs: number[] = [];
    for (let i = from; i < to; i++) {
      const op = ops[i]!;
      let enc: EncodedOp;
      try {
        enc = encodeOp(op);
      } catch (err) {
        const invalid = err instanceof HawserError && err.code === 'INVALID';
        out[i] = failed(op, invalid ? 'EINVAL' : 'EIO', err instanceof Error ? err.message : String(err));
        continue;
      }
      const seq = this.nextSeq();
      seqs.push(seq);
      let payloadLen = 0;
      for (const p of enc.payload) payloadLen += p.length;
      const header = Buffer.alloc(16);
      header.writeUInt32LE(16 + payloadLen, 0);
      header.writeUInt16LE(enc.type, 4);
      header.writeUInt16LE(enc.flags | NLM_F_REQUEST | NLM_F_ACK, 6);
      header.writeUInt32LE(seq, 8);
      frames.push(header, ...enc.payload);
      // the kernel steps to the next message at NLMSG_ALIGN(nlmsg_len)
      if (payloadLen % 4) frames.push(Buffer.alloc(4 - (payloadLen % 4)));
      pending.push(
        new Promise<void>((resolve) => {
          this.waiting.set(seq, (f) => {
            out[i] = f ? failed(op, f.errno, f.detail) : { ok: true };
            resolve();
          });
        }),
      );
    }
    if (!pending.length) return;
    this.sock.ref();
    const fail = (errno: string, detail: string): void => {
      for (const s of seqs) {
        const settle = this.waiting.get(s);
        this.waiting.delete(s);
        settle?.({ errno, detail });
      }
    };
    this.stats.sends++;
    this.stats.requests += seqs.length;
    this.sock.send(Buffer.concat(frames), undefined, (err) => {
      if (err) fail(err.code || 'EIO', `sendmsg: ${err.message}`);
    });
    const timer = setTimeout(() => fail('EIO', 'no acknowledgement from the kernel'), ACK_TIMEOUT_MS);
    try {
      await Promise.all(pending);
    } finally {
      clearTimeout(timer);
      if (this.waiting.size === 0) this.sock.unref();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.waiting.values()];
    this.waiting.clear();
    for (const settle of all) settle({ errno: 'EIO', detail: 'netlink socket closed' });
    this.sock.close();
  }
}
