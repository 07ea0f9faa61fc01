// nftables set-element changes as nfnetlink messages (the binary form libnftables sends), so a
// 50,000-element load is one buffer the kernel reads in one sendmsg instead of a script libnftables
// must parse first. Pure: ops in, one batch buffer out, plus what is needed to name the op (and the
// element) an error acknowledgement points at.
//
// Facts carried over (uapi linux/netfilter/nfnetlink.h, nf_tables.h; checked with `nft --debug=netlink`):
// - a transaction is NFNL_MSG_BATCH_BEGIN (16) ... NFNL_MSG_BATCH_END (17), both with an nfgenmsg whose
//   res_id is NFNL_SUBSYS_NFTABLES (10) in network order; every message between them commits or none does;
// - NFT_MSG_NEWSETELEM (12) / NFT_MSG_DELSETELEM (14) of subsystem 10; a DELSETELEM without an element
//   list flushes the set;
// - NFTA_SET_ELEM_LIST_TABLE (1), _SET (2), _ELEMENTS (3, nested list of NFTA_LIST_ELEM (1));
//   an element is NFTA_SET_ELEM_KEY (1) and NFTA_SET_ELEM_DATA (2), each nesting NFTA_DATA_VALUE (1),
//   and NFTA_SET_ELEM_FLAGS (3, u32 in network order);
// - an `interval` set element (nft 1.0.6, rbtree backend, `nft --debug=netlink`): a CIDR is a start
//   element keyed by its network address and an end element flagged NFT_SET_ELEM_INTERVAL_END (1) keyed
//   by the address after its last one; a CIDR reaching 255.255.255.255 has no end element;
// - keys and values are in network byte order; an `interval ipv4_addr` map value is 8 bytes: first, last.
import { HawserError } from '../../util/errors.js';

export const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 16;
const NFNL_MSG_BATCH_END = 17;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NLA_F_NESTED = 0x8000;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_DATA = 2;
const NFTA_SET_ELEM_FLAGS = 3;
/** NFTA_SET_ELEM_FLAGS bit of an interval's end element. */
export const NFT_SET_ELEM_INTERVAL_END = 1;
const NFTA_DATA_VALUE = 1;
const NFPROTO = { ip: 2, ip6: 10, inet: 1 } as const;

export type NfFamily = keyof typeof NFPROTO;

/** One element: key and (for maps) value bytes, NFTA_SET_ELEM_FLAGS, and the text the op's describe() shows. */
export interface NfElement {
  key: Buffer;
  data?: Buffer;
  flags?: number;
  text: string;
}

export interface NfSetRef {
  family: NfFamily;
  table: string;
  set: string;
}

/** One change to one set; a batch of these commits as one transaction. */
export type NfElementOp =
  | (NfSetRef & { op: 'add'; elements: readonly NfElement[] })
  | (NfSetRef & { op: 'delete'; elements: readonly NfElement[] })
  | (NfSetRef & { op: 'flush' });

/**
 * IPv4 elements written straight from their texts into the batch (no object per element: a 50,000-element
 * load spent more time building per-element Buffers than the kernel spent inserting them). Keys are
 * addresses; `values` (adds to a map) are addresses, or `first-last` ranges (or one address, stored as
 * `a-a`) when `range` is set. Deletes carry keys only.
 */
export interface NfIpv4Elements {
  keys: readonly string[];
  values?: readonly string[];
  range?: boolean;
}

/** A packed change to one point set/map (see NfIpv4Elements); a batch may mix these with NfElementOps. */
export type NfIpv4Op = NfSetRef & { op: 'add' | 'delete'; ipv4: NfIpv4Elements };

export type AnyElementOp = NfElementOp | NfIpv4Op;

function isIpv4Op(op: AnyElementOp): op is NfIpv4Op {
  return 'ipv4' in op;
}

/** How many elements an op carries (a flush: none). */
export function elementCountOf(op: AnyElementOp): number {
  return isIpv4Op(op) ? op.ipv4.keys.length : op.op === 'flush' ? 0 : op.elements.length;
}

/** The text of element i of an op (for describe() and errors). */
export function elementText(op: AnyElementOp, i: number): string | undefined {
  if (isIpv4Op(op)) {
    const k = op.ipv4.keys[i];
    if (k === undefined) return undefined;
    const v = op.op === 'add' ? op.ipv4.values?.[i] : undefined;
    return v === undefined ? k : `${k} : ${v}`;
  }
  return op.op === 'flush' ? undefined : op.elements[i]?.text;
}

/**
 * Elements per message. An attribute's length is 16 bits, so the element list of one message must
 * stay under 64 KiB (an interval-map element is 32 bytes); libnftables splits its lists likewise.
 */
export const ELEMENTS_PER_MESSAGE = 1024;

/** An IPv4 address as 4 bytes in network order; throws HawserError INVALID for anything else. */
export function ipv4Bytes(text: string): Buffer {
  const b = Buffer.alloc(4);
  writeIpv4(text, b, 0);
  return b;
}

/** Parses dotted IPv4 into b[at..at+4] (a character loop: 150,000 of these per 50,000-element load). */
function writeIpv4(text: string, b: Buffer, at: number): void {
  writeIpv4Span(text, 0, text.length, b, at);
}

/**
 * The elements of one IPv4 CIDR (or address) in an `interval` set, as nft 1.0.6 writes them: the start
 * (the network address; host bits are cleared as nft does) and, unless the CIDR reaches the top of the
 * space, the end (the address after its last one, flagged as an interval end). Both carry the CIDR as
 * their text, so an error naming either names the CIDR.
 */
export function ipv4CidrElements(cidr: string): NfElement[] {
  const slash = cidr.indexOf('/');
  const addr = slash < 0 ? cidr : cidr.slice(0, slash);
  const prefixText = slash < 0 ? '32' : cidr.slice(slash + 1);
  if (!/^\d{1,2}$/.test(prefixText) || Number(prefixText) > 32) throw new HawserError('INVALID', `not an IPv4 CIDR: ${JSON.stringify(cidr)}`);
  const prefix = Number(prefixText);
  const key = Buffer.alloc(4);
  try {
    writeIpv4(addr, key, 0);
  } catch {
    throw new HawserError('INVALID', `not an IPv4 CIDR: ${JSON.stringify(cidr)}`);
  }
  const size = 2 ** (32 - prefix);
  const start = key.readUInt32BE(0) - (key.readUInt32BE(0) % size);
  key.writeUInt32BE(start);
  const out: NfElement[] = [{ key, text: cidr }];
  if (start + size < 2 ** 32) {
    const end = Buffer.alloc(4);
    end.writeUInt32BE(start + size);
    out.push({ key: end, flags: NFT_SET_ELEM_INTERVAL_END, text: `${cidr} (interval end)` });
  }
  return out;
}

/**
 * Parses an IPv4 `first-last` range (or one address: `a-a`) into b[at..at+8] without slicing the text;
 * throws HawserError INVALID for anything else, or a range that ends before it starts.
 */
function writeIpv4Range(text: string, b: Buffer, at: number): void {
  const dash = text.indexOf('-');
  if (dash < 0) {
    writeIpv4(text, b, at);
    b.copyWithin(at + 4, at, at + 4);
    return;
  }
  writeIpv4Span(text, 0, dash, b, at);
  writeIpv4Span(text, dash + 1, text.length, b, at + 4);
  if (b.readUInt32BE(at) > b.readUInt32BE(at + 4)) throw new HawserError('INVALID', `IPv4 range ${JSON.stringify(text)} ends before it starts`);
}

/** writeIpv4 of text[from, to). */
function writeIpv4Span(text: string, from: number, to: number, b: Buffer, at: number): void {
  let part = 0;
  let n = 0;
  let digits = 0;
  for (let i = from; i <= to; i++) {
    const c = i < to ? text.charCodeAt(i) : 46;
    if (c >= 48 && c <= 57 && digits < 3) {
      n = n * 10 + (c - 48);
      digits++;
    } else if (c === 46 && digits > 0 && n <= 255 && part < 4) {
      b[at + part++] = n;
      n = 0;
      digits = 0;
    } else throw new HawserError('INVALID', `not an IPv4 address: ${JSON.stringify(text)}`);
  }
  if (part !== 4) throw new HawserError('INVALID', `not an IPv4 address: ${JSON.stringify(text)}`);
}

/** An nft `first-last` IPv4 range (or one address) as the 8-byte value of an `interval ipv4_addr` map. */
export function ipv4RangeBytes(text: string): Buffer {
  const dash = text.indexOf('-');
  const first = dash < 0 ? text : text.slice(0, dash);
  const last = dash < 0 ? text : text.slice(dash + 1);
  const b = Buffer.alloc(8);
  writeIpv4(first, b, 0);
  writeIpv4(last, b, 4);
  if (b.readUInt32BE(0) > b.readUInt32BE(4)) throw new HawserError('INVALID', `IPv4 range ${JSON.stringify(text)} ends before it starts`);
  return b;
}

/** The op as a log/status text: what it does to which set, with its first elements. */
export function describeElementOp(op: AnyElementOp): string {
  const where = `${op.family} ${op.table} ${op.set}`;
  if (op.op === 'flush') return `flush set ${where}`;
  const n = elementCountOf(op);
  const shown = Array.from({ length: Math.min(n, 3) }, (_, i) => elementText(op, i)).join(', ');
  const more = n > 3 ? `, … (${n} elements)` : '';
  return `${op.op} element ${where} { ${shown}${more} }`;
}

/** What one message of a batch carries: which op, and which of its elements (with their byte offsets). */
export interface EncodedMessage {
  seq: number;
  /** Index of the op in the batch's op list; -1 for the batch begin/end frames. */
  opIndex: number;
  /** First element of the op this message carries. */
  firstElement: number;
  /** Byte offset (from this message's nlmsghdr) of each element it carries, ascending. */
  elementOffsets: number[];
}

export interface EncodedBatch {
  buffer: Buffer;
  messages: EncodedMessage[];
  /** Messages that ask for an acknowledgement (all but begin/end). */
  acks: number;
}

/** Grows one buffer; attributes are written in place (length patched when a nest closes). */
export class Writer {
  buf: Buffer;
  len = 0;
  constructor(size: number) {
    this.buf = Buffer.alloc(size);
  }

  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** Starts an nlmsghdr + nfgenmsg; returns its offset for end(). */
  begin(type: number, flags: number, seq: number, family: number, resId: number): number {
    this.reserve(20);
    const at = this.len;
    const b = this.buf;
    b.writeUInt32LE(0, at);
    b.writeUInt16LE(type, at + 4);
    b.writeUInt16LE(flags, at + 6);
    b.writeUInt32LE(seq, at + 8);
    b.writeUInt32LE(0, at + 12);
    b[at + 16] = family;
    b[at + 17] = 0; // NFNETLINK_V0
    b.writeUInt16BE(resId, at + 18);
    this.len += 20;
    return at;
  }

  end(at: number): void {
    this.buf.writeUInt32LE(this.len - at, at);
  }

  attr(type: number, value: Buffer): void {
    const padded = (4 + value.length + 3) & ~3;
    this.reserve(padded);
    this.buf.writeUInt16LE(4 + value.length, this.len);
    this.buf.writeUInt16LE(type, this.len + 2);
    value.copy(this.buf, this.len + 4);
    this.buf.fill(0, this.len + 4 + value.length, this.len + padded);
    this.len += padded;
  }

  nestStart(type: number): number {
    this.reserve(4);
    const at = this.len;
    this.buf.writeUInt16LE(type | NLA_F_NESTED, at + 2);
    this.len += 4;
    return at;
  }

  nestEnd(at: number): void {
    const n = this.len - at;
    if (n > 0xffff) throw new HawserError('INVALID', `nfnetlink attribute of ${n} bytes exceeds 64 KiB`);
    this.buf.writeUInt16LE(n, at);
  }
}

function cstring(s: string): Buffer {
  if (!/^[A-Za-z_][A-Za-z0-9_./-]{0,255}$/.test(s)) throw new HawserError('INVALID', `not a valid nftables name: ${JSON.stringify(s)}`);
  return Buffer.from(`${s}\0`, 'latin1');
}

/** Pure: the ops as one nfnetlink batch with sequence numbers from `firstSeq`. Throws HawserError INVALID. */
export function encodeBatch(ops: readonly AnyElementOp[], firstSeq: number): EncodedBatch {
  let size = 64;
  for (const op of ops) size += 64 * (1 + Math.ceil(elementCountOf(op) / ELEMENTS_PER_MESSAGE)) + elementCountOf(op) * (isIpv4Op(op) ? 32 : 44);
  const w = new Writer(size);
  const messages: EncodedMessage[] = [];
  let seq = firstSeq;
  let acks = 0;
  const frame = (type: number): void => {
    const at = w.begin(type, NLM_F_REQUEST, seq, 0, NFNL_SUBSYS_NFTABLES);
    w.end(at);
    messages.push({ seq: seq++, opIndex: -1, firstElement: 0, elementOffsets: [] });
  };
  frame(NFNL_MSG_BATCH_BEGIN);
  ops.forEach((op, opIndex) => {
    const family = NFPROTO[op.family];
    const table = cstring(op.table);
    const set = cstring(op.set);
    const type = (NFNL_SUBSYS_NFTABLES << 8) | (op.op === 'add' ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
    const flags = NLM_F_REQUEST | NLM_F_ACK | (op.op === 'add' ? NLM_F_CREATE : 0);
    const count = elementCountOf(op);
    // an empty add/delete sends nothing (a DELSETELEM without elements would flush)
    if (op.op !== 'flush' && count === 0) return;
    const elements = isIpv4Op(op) || op.op === 'flush' ? undefined : op.elements;
    if (isIpv4Op(op) && op.op === 'add' && op.ipv4.values && op.ipv4.values.length !== count) {
      throw new HawserError('INVALID', `${describeElementOp(op)}: ${count} keys but ${op.ipv4.values.length} values`);
    }
    for (let from = 0, to = 0; from < Math.max(count, 1); from = to) {
      to = Math.min(count, from + ELEMENTS_PER_MESSAGE);
      // an interval's end element stays in its start element's message
      if (elements && to < count && to - from > 1 && ((elements[to]!.flags ?? 0) & NFT_SET_ELEM_INTERVAL_END)) to--;
      const at = w.begin(type, flags, seq, family, 0);
      w.attr(NFTA_SET_ELEM_LIST_TABLE, table);
      w.attr(NFTA_SET_ELEM_LIST_SET, set);
      const offsets: number[] = [];
      if (op.op === 'flush') to = 1;
      else {
        const list = w.nestStart(NFTA_SET_ELEM_LIST_ELEMENTS);
        if (isIpv4Op(op)) {
          for (let i = from; i < to; i++) {
            offsets.push(w.len - at);
            writeIpv4Element(w, op, i);
          }
        } else {
          for (let i = from; i < to; i++) {
            const e = elements![i]!;
            offsets.push(w.len - at);
            const el = w.nestStart(NFTA_LIST_ELEM);
            const k = w.nestStart(NFTA_SET_ELEM_KEY);
            w.attr(NFTA_DATA_VALUE, e.key);
            w.nestEnd(k);
            if (e.flags) {
              const f = Buffer.alloc(4);
              f.writeUInt32BE(e.flags);
              w.attr(NFTA_SET_ELEM_FLAGS, f);
            }
            if (op.op === 'add' && e.data) {
              const d = w.nestStart(NFTA_SET_ELEM_DATA);
              w.attr(NFTA_DATA_VALUE, e.data);
              w.nestEnd(d);
            }
            w.nestEnd(el);
          }
        }
        w.nestEnd(list);
      }
      w.end(at);
      messages.push({ seq: seq++, opIndex, firstElement: from, elementOffsets: offsets });
      acks++;
    }
  });
  frame(NFNL_MSG_BATCH_END);
  return { buffer: w.buf.subarray(0, w.len), messages, acks };
}

/**
 * Element i of a packed op, laid out as the generic encoder writes it (list element, key nest with the
 * 4-byte value, then for map adds the data nest with the 4- or 8-byte value), parsed straight into place.
 */
function writeIpv4Element(w: Writer, op: NfIpv4Op, i: number): void {
  const values = op.op === 'add' ? op.ipv4.values : undefined;
  const vlen = values ? (op.ipv4.range ? 8 : 4) : 0;
  const size = 16 + (values ? 8 + vlen : 0);
  w.reserve(size);
  const b = w.buf;
  const at = w.len;
  b.writeUInt16LE(size, at);
  b.writeUInt16LE(NFTA_LIST_ELEM | NLA_F_NESTED, at + 2);
  b.writeUInt16LE(12, at + 4);
  b.writeUInt16LE(NFTA_SET_ELEM_KEY | NLA_F_NESTED, at + 6);
  b.writeUInt16LE(8, at + 8);
  b.writeUInt16LE(NFTA_DATA_VALUE, at + 10);
  writeIpv4(op.ipv4.keys[i]!, b, at + 12);
  if (values) {
    b.writeUInt16LE(8 + vlen, at + 16);
    b.writeUInt16LE(NFTA_SET_ELEM_DATA | NLA_F_NESTED, at + 18);
    b.writeUInt16LE(4 + vlen, at + 20);
    b.writeUInt16LE(NFTA_DATA_VALUE, at + 22);
    if (op.ipv4.range) writeIpv4Range(values[i]!, b, at + 24);
    else writeIpv4(values[i]!, b, at + 24);
  }
  w.len += size;
}

/** The element (index within its op) that a byte offset into a message falls in, if any. */
export function elementAt(m: EncodedMessage, offset: number): number | undefined {
  const offs = m.elementOffsets;
  if (!offs.length || offset < offs[0]!) return undefined;
  let lo = 0;
  let hi = offs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offs[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return m.firstElement + lo;
}

const NLMSG_ERROR = 2;
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;
const NLMSGERR_ATTR_OFFS = 2;

/** One acknowledgement: the request's sequence number, 0 or a negative errno, and the kernel's extended ack. */
export interface NlAck {
  seq: number;
  error: number;
  message?: string;
  /** Offset of the offending attribute in the request (from its nlmsghdr). */
  offset?: number;
}

/** Acks in a received buffer (other message types are skipped). Needs NETLINK_CAP_ACK: no echoed payload. */
export function parseAcks(buf: Buffer): NlAck[] {
  const out: NlAck[] = [];
  let at = 0;
  while (at + 16 <= buf.length) {
    const len = buf.readUInt32LE(at);
    if (len < 16 || at + len > buf.length) break;
    const type = buf.readUInt16LE(at + 4);
    const flags = buf.readUInt16LE(at + 6);
    if (type === NLMSG_ERROR && len >= 36) {
      const error = buf.readInt32LE(at + 16);
      const seq = buf.readUInt32LE(at + 28); // the request's header follows the error code
      const ack: NlAck = { seq, error };
      // capped acks: only the request's header was echoed, TLVs follow it
      let t = at + 36;
      if (flags & NLM_F_ACK_TLVS) {
        while (t + 4 <= at + len) {
          const alen = buf.readUInt16LE(t);
          const atype = buf.readUInt16LE(t + 2) & 0x3fff;
          if (alen < 4 || t + alen > at + len) break;
          if (atype === NLMSGERR_ATTR_MSG) ack.message = buf.toString('utf8', t + 4, t + alen).replace(/\0+$/, '');
          if (atype === NLMSGERR_ATTR_OFFS && alen >= 8) ack.offset = buf.readUInt32LE(t + 4);
          t += (alen + 3) & ~3;
        }
      }
      out.push(ack);
    }
    at += (len + 3) & ~3;
  }
  return out;
}

const NFT_MSG_GETSETELEM = 13;
const NLM_F_DUMP = 0x300;
const NLMSG_DONE = 3;

/** Pure: the dump request for every element of one set. */
export function encodeGetElements(ref: NfSetRef, seq: number): Buffer {
  const w = new Writer(128);
  const at = w.begin((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM, NLM_F_REQUEST | NLM_F_DUMP, seq, NFPROTO[ref.family], 0);
  w.attr(NFTA_SET_ELEM_LIST_TABLE, cstring(ref.table));
  w.attr(NFTA_SET_ELEM_LIST_SET, cstring(ref.set));
  w.end(at);
  return w.buf.subarray(0, w.len);
}

/** A dumped element: key, data (maps) and NFTA_SET_ELEM_FLAGS (1: interval end). */
export interface DumpedElement {
  key: Buffer;
  data?: Buffer;
  flags: number;
}

export interface DumpChunk {
  elements: DumpedElement[];
  done: boolean;
  /** A negative errno the kernel answered the dump with. */
  error?: number;
}

/** Walks the attributes in buf[from, to): calls fn(type, start of value, end of value). */
export function eachAttr(buf: Buffer, from: number, to: number, fn: (type: number, v: number, end: number) => void): void {
  let at = from;
  while (at + 4 <= to) {
    const len = buf.readUInt16LE(at);
    if (len < 4 || at + len > to) return;
    fn(buf.readUInt16LE(at + 2) & 0x3fff, at + 4, at + len);
    at += (len + 3) & ~3;
  }
}

function dataValue(buf: Buffer, v: number, end: number): Buffer | undefined {
  let out: Buffer | undefined;
  eachAttr(buf, v, end, (t, s, e) => {
    if (t === NFTA_DATA_VALUE) out = Buffer.from(buf.subarray(s, e));
  });
  return out;
}

/** Elements in one received buffer of a GETSETELEM dump answering `seq`. */
export function parseElementDump(buf: Buffer, seq: number): DumpChunk {
  const out: DumpChunk = { elements: [], done: false };
  eachDumpReply(buf, seq, NFT_MSG_NEWSETELEM, out, (from, to) => {
    eachAttr(buf, from, to, (t, v, end) => {
      if (t !== NFTA_SET_ELEM_LIST_ELEMENTS) return;
      eachAttr(buf, v, end, (lt, lv, lend) => {
        if (lt !== NFTA_LIST_ELEM) return;
        const el: { key?: Buffer; data?: Buffer; flags: number } = { flags: 0 };
        eachAttr(buf, lv, lend, (et, ev, eend) => {
          if (et === NFTA_SET_ELEM_KEY) el.key = dataValue(buf, ev, eend);
          else if (et === NFTA_SET_ELEM_DATA) el.data = dataValue(buf, ev, eend);
          else if (et === NFTA_SET_ELEM_FLAGS && eend - ev >= 4) el.flags = buf.readUInt32BE(ev);
        });
        if (el.key) out.elements.push({ key: el.key, ...(el.data ? { data: el.data } : {}), flags: el.flags });
      });
    });
  });
  return out;
}

/** Elements of a GETSETELEM dump as texts (IPv4: dotted; 8-byte values `first-last`), in parallel arrays. */
export interface Ipv4DumpChunk {
  keys: string[];
  /** The element's value text (maps), '' without one. */
  values: string[];
  done: boolean;
  error?: number;
}

const dotted = (b: Buffer, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

/** The text of an NFTA_DATA_VALUE nest's value at buf[v, end): IPv4 dotted, `first-last` for 8 bytes, else hex. */
function valueText(buf: Buffer, v: number, end: number): string {
  // the nest holds one NFTA_DATA_VALUE attribute
  if (end - v < 4) return '';
  const len = buf.readUInt16LE(v) - 4;
  const at = v + 4;
  if (len === 4) return dotted(buf, at);
  if (len === 8) return `${dotted(buf, at)}-${dotted(buf, at + 4)}`;
  return buf.toString('hex', at, at + Math.max(0, len));
}

/**
 * A GETSETELEM dump's elements straight to texts (no Buffer or object per element: a resync reads back
 * 50,000 of them): what a diff against planned texts needs.
 */
export function parseIpv4ElementDump(buf: Buffer, seq: number, out: Ipv4DumpChunk = { keys: [], values: [], done: false }): Ipv4DumpChunk {
  eachDumpReply(buf, seq, NFT_MSG_NEWSETELEM, out, (from, to) => {
    for (let a = from; a + 4 <= to;) {
      const alen = buf.readUInt16LE(a);
      if (alen < 4 || a + alen > to) break;
      if ((buf.readUInt16LE(a + 2) & 0x3fff) === NFTA_SET_ELEM_LIST_ELEMENTS) {
        const lend = a + alen;
        for (let e = a + 4; e + 4 <= lend;) {
          const elen = buf.readUInt16LE(e);
          if (elen < 4 || e + elen > lend) break;
          let key: string | undefined;
          let value = '';
          for (let x = e + 4; x + 4 <= e + elen;) {
            const xlen = buf.readUInt16LE(x);
            if (xlen < 4 || x + xlen > e + elen) break;
            const xt = buf.readUInt16LE(x + 2) & 0x3fff;
            if (xt === NFTA_SET_ELEM_KEY) key = valueText(buf, x + 4, x + xlen);
            else if (xt === NFTA_SET_ELEM_DATA) value = valueText(buf, x + 4, x + xlen);
            x += (xlen + 3) & ~3;
          }
          if (key !== undefined) {
            out.keys.push(key);
            out.values.push(value);
          }
          e += (elen + 3) & ~3;
        }
      }
      a += (alen + 3) & ~3;
    }
  });
  return out;
}

/**
 * The messages of one dump answering `seq` in a received buffer: `onReply(from, to)` gets the attributes
 * of each reply of `replyType` (an nf_tables message type); NLMSG_DONE or an error ends the dump.
 */
/**
 * Walks one received buffer of a dump answering `seq`: NLMSG_DONE or an error ends it (into `out`); each reply
 * of nf_tables message `replyType` (or, given `subsys`, of that nfnetlink subsystem) goes to onReply with its
 * attributes' span (after the nfgenmsg) and the message's start.
 */
export function eachDumpReply(buf: Buffer, seq: number, replyType: number, out: { done: boolean; error?: number }, onReply: (from: number, to: number, at: number) => void, subsys = NFNL_SUBSYS_NFTABLES): void {
  let at = 0;
  while (at + 16 <= buf.length) {
    const len = buf.readUInt32LE(at);
    if (len < 16 || at + len > buf.length) break;
    const type = buf.readUInt16LE(at + 4);
    if (buf.readUInt32LE(at + 8) === seq) {
      if (type === NLMSG_DONE) out.done = true;
      else if (type === NLMSG_ERROR) {
        const e = buf.readInt32LE(at + 16);
        if (e !== 0) out.error = e;
        out.done = true;
      } else if (type === ((subsys << 8) | replyType)) onReply(at + 20, at + len, at);
    }
    at += (len + 3) & ~3;
  }
}

/** Dotted text of 4 bytes; `first-last` of 8 (an interval value). */
export function ipv4Text(b: Buffer): string {
  const one = (o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
  return b.length >= 8 ? `${one(0)}-${one(4)}` : one(0);
}

/** nf_tables object kinds whose declarations can be dumped (GET message types, and which attributes change by themselves). */
const DECLARATIONS = {
  // NFTA_CHAIN_HANDLE (2), NFTA_CHAIN_COUNTERS (8) and NFTA_CHAIN_PAD (9) differ between equal chains
  chain: { get: 4, reply: 3, volatile: new Set([2, 8, 9]) },
  // NFTA_RULE_HANDLE (3), NFTA_RULE_POSITION (6), NFTA_RULE_PAD (8)
  rule: { get: 7, reply: 6, volatile: new Set([3, 6, 8]) },
  // NFTA_SET_HANDLE (16), NFTA_SET_PAD (14), and what newer kernels add: the backend (19), the element count (20)
  set: { get: 10, reply: 9, volatile: new Set([14, 16, 19, 20]) },
} as const;

export type DeclarationKind = keyof typeof DECLARATIONS;

/** Pure: the dump request for every chain, rule or set of one table (the table name filters the dump). */
export function encodeGetDeclarations(kind: DeclarationKind, family: NfFamily, table: string, seq: number): Buffer {
  const w = new Writer(64);
  const at = w.begin((NFNL_SUBSYS_NFTABLES << 8) | DECLARATIONS[kind].get, NLM_F_REQUEST | NLM_F_DUMP, seq, NFPROTO[family], 0);
  w.attr(1, cstring(table)); // NFTA_{CHAIN,RULE,SET}_TABLE
  w.end(at);
  return w.buf.subarray(0, w.len);
}

export interface DeclarationChunk {
  /** One text per object: its attributes (without the volatile ones) in hex, in dump order. */
  objects: string[];
  done: boolean;
  error?: number;
}

/** The declared sizes (NFTA_SET_DESC → NFTA_SET_DESC_SIZE) of the sets in one received buffer of a set dump; 0: none declared. */
export function parseSetSizes(buf: Buffer, seq: number, out: { sizes: Map<string, number>; done: boolean; error?: number } = { sizes: new Map(), done: false }): typeof out {
  eachDumpReply(buf, seq, DECLARATIONS.set.reply, out, (from, to) => {
    let name: string | undefined;
    let size = 0;
    eachAttr(buf, from, to, (t, v, end) => {
      if (t === 2) name = buf.toString('utf8', v, end).replace(/\0+$/, ''); // NFTA_SET_NAME
      else if (t === 9) { // NFTA_SET_DESC
        eachAttr(buf, v, end, (dt, dv, dend) => {
          if (dt === 1 && dend - dv >= 4) size = buf.readUInt32BE(dv); // NFTA_SET_DESC_SIZE
        });
      }
    });
    if (name !== undefined) out.sizes.set(name, size);
  });
  return out;
}

/** Objects in one received buffer of a chain/rule/set dump answering `seq`, as comparable texts. */
export function parseDeclarations(kind: DeclarationKind, buf: Buffer, seq: number): DeclarationChunk {
  const out: DeclarationChunk = { objects: [], done: false };
  const { reply, volatile } = DECLARATIONS[kind];
  eachDumpReply(buf, seq, reply, out, (from, to) => {
    const parts: string[] = [];
    eachAttr(buf, from, to, (t, v, end) => {
      if (!volatile.has(t)) parts.push(`${t}=${buf.toString('hex', v, end)}`);
    });
    out.objects.push(parts.join(' '));
  });
  return out;
}
