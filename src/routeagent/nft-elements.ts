// Element changes on hawser's interval sets (IPv4 CIDRs) written straight to nfnetlink: one batch of
// NEWSETELEM/DELSETELEM in one sendmsg, one transaction in the kernel. libnftables (and `nft`) first read
// back every element of an interval set for their overlap checks, so one element change with 1,000 CIDRs
// present cost ~20 ms there; this costs the change. Our sets never hold overlapping elements (firewall.ts
// leaves out covered CIDRs, and deletes go before adds), so no userspace check is needed: the kernel
// refuses a real overlap and the caller then falls back to a checked whole-table write.
//
// Encoding as nft 1.0.6 does it for an rbtree interval set (`nft --debug=netlink`): a CIDR is a start
// element (its network address) and an end element flagged NFT_SET_ELEM_INTERVAL_END (the address after
// its last one); a CIDR reaching 255.255.255.255 has no end element. Only for this process's network
// namespace: a netlink socket belongs to the namespace it was opened in.
import { RawNetlinkSocket } from 'netlink';
import { HawserError } from '../util/errors.js';
import { errnoName } from '../os/rtnl-batch.js';
import { ipv4ToInt } from './cidr.js';

const NETLINK_NETFILTER = 12;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NLMSG_ERROR = 2;
const NFNL_MSG_BATCH_BEGIN = 16;
const NFNL_MSG_BATCH_END = 17;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_FLAGS = 3;
const NFTA_DATA_VALUE = 1;
const NFT_SET_ELEM_INTERVAL_END = 1;
const NLA_F_NESTED = 0x8000;
const NFPROTO_IPV4 = 2;
const ACK_TIMEOUT_MS = 5000;

/** The elements of one set that go and come in one transaction (CIDR texts as firewall.ts writes them). */
export interface SetElementChange {
  set: string;
  add: readonly string[];
  del: readonly string[];
}

/** The interval keys of one IPv4 CIDR: [start, end-exclusive] (end undefined at the top of the space). */
function interval(cidr: string): [number, number | undefined] {
  const slash = cidr.indexOf('/');
  const prefix = slash < 0 ? 32 : Number(cidr.slice(slash + 1));
  const start = ipv4ToInt(slash < 0 ? cidr : cidr.slice(0, slash));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32 || !/^\d{1,3}(\.\d{1,3}){3}$/.test(slash < 0 ? cidr : cidr.slice(0, slash))) {
    throw new HawserError('INVALID', `not an IPv4 CIDR: ${JSON.stringify(cidr)}`);
  }
  const end = start + 2 ** (32 - prefix);
  return [start, end < 2 ** 32 ? end : undefined];
}

function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}

function cstring(s: string): Buffer {
  return Buffer.from(`${s}\0`, 'utf8');
}

function element(key: number, end: boolean): Buffer {
  const k = Buffer.alloc(4);
  k.writeUInt32BE(key >>> 0);
  const parts = [attr(NFTA_SET_ELEM_KEY | NLA_F_NESTED, attr(NFTA_DATA_VALUE, k))];
  if (end) {
    const f = Buffer.alloc(4);
    f.writeUInt32BE(NFT_SET_ELEM_INTERVAL_END);
    parts.push(attr(NFTA_SET_ELEM_FLAGS, f));
  }
  return attr(NFTA_LIST_ELEM | NLA_F_NESTED, Buffer.concat(parts));
}

function message(type: number, flags: number, seq: number, family: number, resId: number, body: Buffer): Buffer {
  const b = Buffer.alloc(20 + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq, 8);
  b.writeUInt32LE(0, 12);
  b.writeUInt8(family, 16);
  b.writeUInt8(0, 17);
  b.writeUInt16BE(resId, 18);
  body.copy(b, 20);
  return b;
}

/** Pure: the element messages (without the batch frame) for one table's changes, in order: deletes, then adds. */
export function encodeElementChanges(table: string, changes: readonly SetElementChange[], firstSeq: number): { msgs: Buffer[]; seqs: number[] } {
  const msgs: Buffer[] = [];
  const seqs: number[] = [];
  let seq = firstSeq;
  for (const [verb, pick] of [[NFT_MSG_DELSETELEM, (c: SetElementChange) => c.del], [NFT_MSG_NEWSETELEM, (c: SetElementChange) => c.add]] as const) {
    for (const c of changes) {
      const cidrs = pick(c);
      if (!cidrs.length) continue;
      const elems: Buffer[] = [];
      for (const cidr of cidrs) {
        const [start, end] = interval(cidr);
        elems.push(element(start, false));
        if (end !== undefined) elems.push(element(end, true));
      }
      const body = Buffer.concat([attr(NFTA_SET_ELEM_LIST_TABLE, cstring(table)), attr(NFTA_SET_ELEM_LIST_SET, cstring(c.set)), attr(NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED, Buffer.concat(elems))]);
      const flags = NLM_F_REQUEST | NLM_F_ACK | (verb === NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
      msgs.push(message((NFNL_SUBSYS_NFTABLES << 8) | verb, flags, seq, NFPROTO_IPV4, 0, body));
      seqs.push(seq++);
    }
  }
  return { msgs, seqs };
}

/** Writes element changes of `ip` family interval sets as one nftables transaction per call. */
export class NfnlSetElements {
  private sock: RawNetlinkSocket | undefined;
  private seq = 1;
  private readonly waiting = new Map<number, (errno?: number) => void>();

  private socket(): RawNetlinkSocket {
    if (this.sock) return this.sock;
    const s = new RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize: 1024 * 1024, sendBufferSize: 1024 * 1024 });
    s.unref();
    s.on('message', (buf: Buffer) => this.receive(buf));
    // a socket error leaves the acks unanswered: the call times out and the caller falls back
    s.on('error', () => undefined);
    this.sock = s;
    return s;
  }

  private receive(buf: Buffer): void {
    for (let off = 0; off + 16 <= buf.length; ) {
      const len = buf.readUInt32LE(off);
      if (len < 16) break;
      const type = buf.readUInt16LE(off + 4);
      const seq = buf.readUInt32LE(off + 8);
      const settle = this.waiting.get(seq);
      if (settle) {
        this.waiting.delete(seq);
        settle(type === NLMSG_ERROR && len >= 20 ? buf.readInt32LE(off + 16) : 0);
      }
      off += (len + 3) & ~3;
    }
    if (this.waiting.size === 0) this.sock?.unref();
  }

  /** One transaction; rejects with HawserError NFT naming the first refused message's errno (nothing applied then). */
  async apply(table: string, changes: readonly SetElementChange[]): Promise<void> {
    const sock = this.socket();
    const count = changes.reduce((n, c) => n + (c.add.length ? 1 : 0) + (c.del.length ? 1 : 0), 0);
    if (count === 0) return;
    const begin = this.seq;
    const { msgs, seqs } = encodeElementChanges(table, changes, begin + 1);
    const endSeq = begin + 1 + seqs.length;
    this.seq = endSeq + 1 > 0x7fffffff ? 1 : endSeq + 1;
    const batch = Buffer.concat([
      message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, begin, 0, NFNL_SUBSYS_NFTABLES, Buffer.alloc(0)),
      ...msgs,
      message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, endSeq, 0, NFNL_SUBSYS_NFTABLES, Buffer.alloc(0)),
    ]);
    const codes = seqs.map((s) => new Promise<number>((resolve) => this.waiting.set(s, (code) => resolve(code ?? 0))));
    const fail = (code: number): void => {
      for (const s of seqs) {
        const settle = this.waiting.get(s);
        this.waiting.delete(s);
        settle?.(code);
      }
    };
    sock.ref();
    sock.send(batch, undefined, (err) => {
      if (err) fail(err.errno ? -Math.abs(err.errno) : -5);
    });
    const timer = setTimeout(() => fail(-5), ACK_TIMEOUT_MS);
    let results: number[];
    try {
      results = await Promise.all(codes);
    } finally {
      clearTimeout(timer);
      if (this.waiting.size === 0) sock.unref();
    }
    const bad = results.find((c) => c !== 0);
    if (bad !== undefined) {
      const what = changes.map((c) => `${c.set}: -${c.del.length} +${c.add.length}`).join(', ');
      throw new HawserError('NFT', `nft element change on table ip ${table} (${what}) refused: ${errnoName(bad)}`);
    }
  }

  close(): void {
    this.sock?.close();
    this.sock = undefined;
    for (const settle of this.waiting.values()) settle(-5);
    this.waiting.clear();
  }
}
