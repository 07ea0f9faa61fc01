// Conntrack entries over ctnetlink (the netfilter subsystem beside nf_tables, same NETLINK_NETFILTER socket):
// a dump of the IPv4 table and deletes by original tuple. Pure encoders and parsers here; NfnlSocket sends them.
// Why Globalnet needs it: a connection's NAT is decided by its first packet, for good. A packet that crosses a
// gateway before Globalnet's table is loaded there (the moments after a failover) gets no NAT, and every later
// packet of that connection keeps going out un-NATed while the conntrack entry lives, which a busy flow never
// lets expire. Deleting such entries once the table is loaded lets the next packet be NATed.
import { ipv4ToInt } from '../../net/cidr.js';
import { Writer, eachAttr, eachDumpReply, ipv4Bytes } from './nfnl.js';

const NFNL_SUBSYS_CTNETLINK = 1;
const IPCTNL_MSG_CT_NEW = 0;
const IPCTNL_MSG_CT_GET = 1;
const IPCTNL_MSG_CT_DELETE = 2;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_DUMP = 0x300;
const AF_INET = 2;

const CTA_TUPLE_ORIG = 1;
const CTA_TUPLE_REPLY = 2;
const CTA_ZONE = 18;
const CTA_TUPLE_IP = 1;
const CTA_TUPLE_PROTO = 2;
const CTA_IP_V4_SRC = 1;
const CTA_IP_V4_DST = 2;
const CTA_PROTO_NUM = 1;
const CTA_PROTO_SRC_PORT = 2;
const CTA_PROTO_DST_PORT = 3;
const CTA_PROTO_ICMP_ID = 4;
const CTA_PROTO_ICMP_TYPE = 5;
const CTA_PROTO_ICMP_CODE = 6;

/** One direction of a connection: addresses, protocol and its ports (TCP/UDP/SCTP…) or ICMP id/type/code. */
export interface CtTuple {
  src: string;
  dst: string;
  proto: number;
  srcPort?: number;
  dstPort?: number;
  icmpId?: number;
  icmpType?: number;
  icmpCode?: number;
}

export interface CtEntry {
  orig: CtTuple;
  reply: CtTuple;
  zone: number;
}

/** An entry's four addresses as unsigned 32-bit integers: what a dump's filter sees before any object is made. */
export interface CtAddrs {
  origSrc: number;
  origDst: number;
  replySrc: number;
  replyDst: number;
}

/** Keeps an entry; it sees one scratch CtAddrs, reused for every entry (read it, do not keep it). */
export type CtKeep = (a: Readonly<CtAddrs>) => boolean;

export interface CtDumpChunk {
  entries: CtEntry[];
  done: boolean;
  error?: number;
  /** Only entries passing it become CtEntry objects; the rest are skipped as the dump is read. */
  keep?: CtKeep;
}

/** Pure: the dump request for every IPv4 conntrack entry. */
export function encodeConntrackDump(seq: number): Buffer {
  const w = new Writer(32);
  const at = w.begin((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, seq, AF_INET, 0);
  w.end(at);
  return w.buf.subarray(0, w.len);
}

function be16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** Pure: a delete of the entry whose original tuple is `orig` (in `zone`), acknowledged. */
export function encodeConntrackDelete(orig: CtTuple, zone: number, seq: number): Buffer {
  const w = new Writer(128);
  const at = w.begin((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, seq, AF_INET, 0);
  const tuple = w.nestStart(CTA_TUPLE_ORIG);
  const ip = w.nestStart(CTA_TUPLE_IP);
  w.attr(CTA_IP_V4_SRC, ipv4Bytes(orig.src));
  w.attr(CTA_IP_V4_DST, ipv4Bytes(orig.dst));
  w.nestEnd(ip);
  const proto = w.nestStart(CTA_TUPLE_PROTO);
  w.attr(CTA_PROTO_NUM, Buffer.from([orig.proto]));
  if (orig.srcPort !== undefined) w.attr(CTA_PROTO_SRC_PORT, be16(orig.srcPort));
  if (orig.dstPort !== undefined) w.attr(CTA_PROTO_DST_PORT, be16(orig.dstPort));
  if (orig.icmpId !== undefined) w.attr(CTA_PROTO_ICMP_ID, be16(orig.icmpId));
  if (orig.icmpType !== undefined) w.attr(CTA_PROTO_ICMP_TYPE, Buffer.from([orig.icmpType]));
  if (orig.icmpCode !== undefined) w.attr(CTA_PROTO_ICMP_CODE, Buffer.from([orig.icmpCode]));
  w.nestEnd(proto);
  w.nestEnd(tuple);
  if (zone !== 0) w.attr(CTA_ZONE, be16(zone));
  w.end(at);
  return w.buf.subarray(0, w.len);
}

function ipText(buf: Buffer, v: number): string {
  return `${buf[v]}.${buf[v + 1]}.${buf[v + 2]}.${buf[v + 3]}`;
}

function parseTuple(buf: Buffer, from: number, to: number): CtTuple | undefined {
  const t: Partial<CtTuple> = {};
  eachAttr(buf, from, to, (type, v, end) => {
    if (type === CTA_TUPLE_IP) {
      eachAttr(buf, v, end, (it, iv, iend) => {
        if (iend - iv < 4) return;
        if (it === CTA_IP_V4_SRC) t.src = ipText(buf, iv);
        else if (it === CTA_IP_V4_DST) t.dst = ipText(buf, iv);
      });
    } else if (type === CTA_TUPLE_PROTO) {
      eachAttr(buf, v, end, (pt, pv, pend) => {
        if (pend <= pv) return;
        if (pt === CTA_PROTO_NUM) t.proto = buf[pv]!;
        else if (pt === CTA_PROTO_SRC_PORT && pend - pv >= 2) t.srcPort = buf.readUInt16BE(pv);
        else if (pt === CTA_PROTO_DST_PORT && pend - pv >= 2) t.dstPort = buf.readUInt16BE(pv);
        else if (pt === CTA_PROTO_ICMP_ID && pend - pv >= 2) t.icmpId = buf.readUInt16BE(pv);
        else if (pt === CTA_PROTO_ICMP_TYPE) t.icmpType = buf[pv]!;
        else if (pt === CTA_PROTO_ICMP_CODE) t.icmpCode = buf[pv]!;
      });
    }
  });
  return t.src !== undefined && t.dst !== undefined && t.proto !== undefined ? (t as CtTuple) : undefined;
}

/** The CTA_IP_V4_SRC/DST of one CTA_TUPLE_* nest into `a` (at `srcKey`/`dstKey`); false when either is missing. */
function tupleAddrs(buf: Buffer, from: number, to: number, a: CtAddrs, srcKey: 'origSrc' | 'replySrc', dstKey: 'origDst' | 'replyDst'): boolean {
  let seen = 0;
  eachAttr(buf, from, to, (type, v, end) => {
    if (type !== CTA_TUPLE_IP) return;
    eachAttr(buf, v, end, (it, iv, iend) => {
      if (iend - iv < 4) return;
      if (it === CTA_IP_V4_SRC) {
        a[srcKey] = buf.readUInt32BE(iv);
        seen |= 1;
      } else if (it === CTA_IP_V4_DST) {
        a[dstKey] = buf.readUInt32BE(iv);
        seen |= 2;
      }
    });
  });
  return seen === 3;
}

/**
 * Entries in one received buffer of the dump answering `seq` (appended to `out.entries`). With `out.keep`,
 * each entry's addresses are read as integers first and only a kept entry is parsed into an object: a busy
 * gateway's table holds hundreds of thousands of entries, of which a clearing wants a handful.
 */
export function parseConntrackDump(buf: Buffer, seq: number, out: CtDumpChunk = { entries: [], done: false }): CtDumpChunk {
  const addrs: CtAddrs = { origSrc: 0, origDst: 0, replySrc: 0, replyDst: 0 };
  eachDumpReply(buf, seq, IPCTNL_MSG_CT_NEW, out, (from, to, at) => {
    if (buf[at + 16] !== AF_INET) return;
    if (out.keep) {
      let have = 0;
      eachAttr(buf, from, to, (t, v, end) => {
        if (t === CTA_TUPLE_ORIG && tupleAddrs(buf, v, end, addrs, 'origSrc', 'origDst')) have |= 1;
        else if (t === CTA_TUPLE_REPLY && tupleAddrs(buf, v, end, addrs, 'replySrc', 'replyDst')) have |= 2;
      });
      if (have !== 3 || !out.keep(addrs)) return;
    }
    let orig: CtTuple | undefined;
    let reply: CtTuple | undefined;
    let zone = 0;
    eachAttr(buf, from, to, (t, v, end) => {
      if (t === CTA_TUPLE_ORIG) orig = parseTuple(buf, v, end);
      else if (t === CTA_TUPLE_REPLY) reply = parseTuple(buf, v, end);
      else if (t === CTA_ZONE && end - v >= 2) zone = buf.readUInt16BE(v);
    });
    if (orig && reply) out.entries.push({ orig, reply, zone });
  }, NFNL_SUBSYS_CTNETLINK);
  return out;
}

/** The addresses of a parsed entry as a filter sees them. */
export function ctAddrsOf(e: CtEntry): CtAddrs {
  return { origSrc: ipv4ToInt(e.orig.src), origDst: ipv4ToInt(e.orig.dst), replySrc: ipv4ToInt(e.reply.src), replyDst: ipv4ToInt(e.reply.dst) };
}
