// nftables change notifications (NFNLGRP_NFTABLES) read in this process from an nfnetlink socket: events
// are grouped by the generation that committed them, with the committing process, so a consumer can skip
// its own transactions and react to changes made behind its back without listing anything. No `nft
// monitor` child: the socket is polled by the event loop (the `netlink` package), and a generation's
// messages are kept undecoded until a consumer asks (a 50,000-element load of our own is skipped by its
// generation's PID without parsing 50,000 elements).
//
// Facts carried over (uapi linux/netfilter/nf_tables.h, nfnetlink.h):
// - group NFNLGRP_NFTABLES (7) of NETLINK_NETFILTER; message type (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_*,
//   an nfgenmsg (family, version, res_id) before the attributes;
// - NFT_MSG_NEWTABLE 0, DELTABLE 2, NEWCHAIN 3, DELCHAIN 5, NEWRULE 6, DELRULE 8, NEWSET 9, DELSET 11,
//   NEWSETELEM 12, DELSETELEM 14, NEWGEN 15, NEWOBJ 18, DELOBJ 20, NEWFLOWTABLE 22, DELFLOWTABLE 24;
// - every kind names its table in attribute 1; chains, sets, objects and flowtables their name in 3, 2,
//   2, 2 (a rule its chain in 2); NFTA_SET_FLAGS (3) bit NFT_SET_MAP (8) tells a map;
// - NEWGEN ends a committed transaction: NFTA_GEN_ID (1), NFTA_GEN_PROC_PID (2, the committing thread),
//   NFTA_GEN_PROC_NAME (3), u32s in network order;
// - the kernel tells a reader it dropped notifications with ENOBUFS on the next receive.
import { EventEmitter } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { RawNetlinkSocket } from 'netlink';
import { libc, SOL_SOCKET, SO_RCVBUFFORCE, socketInNetns } from '../libc.js';
import { eachAttr, ipv4Text, NETLINK_NETFILTER } from './nfnl.js';

export interface NftMonitorEvent {
  op: 'add' | 'delete';
  /** `table`, `chain`, `set`, `map`, `element`, `rule`, `object`, `flowtable`, as nft names them. */
  object: string;
  family: string;
  table: string;
  /** Chain, set or map name (absent for tables); a rule's chain. */
  name?: string;
  /** Element events: the elements as nft prints them (`10.0.0.1 : 242.0.0.1-242.0.0.1`, `10.9.0.0`). */
  elements?: string[];
}

/** Part of a received datagram: messages buf[from, to) of one generation. */
export interface RawChunk {
  buf: Buffer;
  from: number;
  to: number;
}

export interface NftGeneration {
  generation: number;
  /** The thread that committed it (NFTA_GEN_PROC_PID). */
  pid?: number;
  process?: string;
  /** The generation's notifications as received; `parseGeneration()` decodes them (skip that for one's own). */
  raw: RawChunk[];
}

const NFNLGRP_NFTABLES = 7;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWGEN = 15;
const NFT_SET_MAP = 0x8;
const NLMSG_HDR = 16;
const NFGENMSG = 4;
/**
 * Room for the notifications of a 50,000-element transaction (~8 MiB with the kernel's overhead) while the
 * event loop is busy: more than SO_RCVBUF may have (net.core.rmem_max, 4 MiB on Debian), so it is forced.
 */
const RECV_BUFFER = 32 * 1024 * 1024;

/**
 * The file descriptor of the netlink socket bound to `port` (the `netlink` package does not expose it):
 * its inode from the netns's /proc/…/net/netlink, then the fd of this process that links to that inode.
 */
function netlinkFd(port: number, netns: string | undefined): number | undefined {
  const read = (): string => readFileSync('/proc/thread-self/net/netlink', 'utf8');
  const table = netns ? socketInNetns(netns, read) : read();
  let inode: string | undefined;
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === String(NETLINK_NETFILTER) && f[2] === String(port >>> 0)) inode = f[9];
  }
  if (!inode) return undefined;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === `socket:[${inode}]`) return Number(fd);
    } catch {
      // closed meanwhile
    }
  }
  return undefined;
}

/** Raises the socket's receive buffer past net.core.rmem_max (needs CAP_NET_ADMIN); false when it cannot. */
function forceRecvBuffer(sock: RawNetlinkSocket, netns: string | undefined): boolean {
  try {
    const fd = netlinkFd(sock.address().port, netns);
    if (fd === undefined) return false;
    const v = Buffer.alloc(4);
    v.writeInt32LE(RECV_BUFFER, 0);
    return (libc().setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, v, 4) as number) === 0;
  } catch {
    return false;
  }
}

const FAMILY: Record<number, string> = { 1: 'inet', 2: 'ip', 3: 'arp', 5: 'netdev', 7: 'bridge', 10: 'ip6' };

/** By NFT_MSG_* type: add or delete, the object kind, and which attribute carries its name (0: none). */
const KINDS: Record<number, { op: 'add' | 'delete'; object: string; nameAttr: number }> = {
  0: { op: 'add', object: 'table', nameAttr: 0 },
  2: { op: 'delete', object: 'table', nameAttr: 0 },
  3: { op: 'add', object: 'chain', nameAttr: 3 },
  5: { op: 'delete', object: 'chain', nameAttr: 3 },
  6: { op: 'add', object: 'rule', nameAttr: 2 },
  8: { op: 'delete', object: 'rule', nameAttr: 2 },
  9: { op: 'add', object: 'set', nameAttr: 2 },
  11: { op: 'delete', object: 'set', nameAttr: 2 },
  12: { op: 'add', object: 'element', nameAttr: 2 },
  14: { op: 'delete', object: 'element', nameAttr: 2 },
  18: { op: 'add', object: 'object', nameAttr: 2 },
  20: { op: 'delete', object: 'object', nameAttr: 2 },
  22: { op: 'add', object: 'flowtable', nameAttr: 2 },
  24: { op: 'delete', object: 'flowtable', nameAttr: 2 },
};

const cstr = (buf: Buffer, v: number, end: number): string => buf.toString('utf8', v, end).replace(/\0+$/, '');

/** An element's key or value as nft prints IPv4 data: dotted, `first-last` for 8 bytes, else hex. */
function dataText(buf: Buffer, v: number, end: number): string | undefined {
  let out: string | undefined;
  eachAttr(buf, v, end, (t, s, e) => {
    if (t !== 1) return; // NFTA_DATA_VALUE
    out = e - s === 4 || e - s === 8 ? ipv4Text(buf.subarray(s, e)) : buf.toString('hex', s, e);
  });
  return out;
}

/** The elements of a NEWSETELEM/DELSETELEM's NFTA_SET_ELEM_LIST_ELEMENTS, as printed texts. */
function elementTexts(buf: Buffer, v: number, end: number): string[] {
  const out: string[] = [];
  eachAttr(buf, v, end, (t, ev, eend) => {
    if (t !== 1) return; // NFTA_LIST_ELEM
    let key: string | undefined;
    let data: string | undefined;
    eachAttr(buf, ev, eend, (a, s, e) => {
      if (a === 1) key = dataText(buf, s, e); // NFTA_SET_ELEM_KEY
      else if (a === 2) data = dataText(buf, s, e); // NFTA_SET_ELEM_DATA
    });
    if (key !== undefined) out.push(data === undefined ? key : `${key} : ${data}`);
  });
  return out;
}

/** One nf_tables notification message (header at `at`, `len` bytes) as an event; undefined for kinds not followed. */
export function parseNotification(buf: Buffer, at: number, len: number): NftMonitorEvent | undefined {
  const type = buf.readUInt16LE(at + 4);
  if (type >> 8 !== NFNL_SUBSYS_NFTABLES || len < NLMSG_HDR + NFGENMSG) return undefined;
  const kind = KINDS[type & 0xff];
  if (!kind) return undefined;
  const ev: NftMonitorEvent = { op: kind.op, object: kind.object, family: FAMILY[buf[at + NLMSG_HDR]!] ?? String(buf[at + NLMSG_HDR]), table: '' };
  eachAttr(buf, at + NLMSG_HDR + NFGENMSG, at + len, (t, v, end) => {
    if (t === 1) ev.table = cstr(buf, v, end);
    else if (kind.nameAttr && t === kind.nameAttr) ev.name = cstr(buf, v, end);
    else if (kind.object === 'set' && t === 3 && end - v >= 4 && buf.readUInt32BE(v) & NFT_SET_MAP) ev.object = 'map';
    else if (kind.object === 'element' && t === 3) ev.elements = elementTexts(buf, v, end);
  });
  if (kind.object === 'element') ev.elements ??= [];
  return ev;
}

/** The key of a printed element (`k : v` -> `k`). */
export function elementKey(printed: string): string {
  const i = printed.indexOf(' : ');
  return i < 0 ? printed : printed.slice(0, i);
}

/** The events of a generation, in kernel order. */
export function parseGeneration(g: NftGeneration): NftMonitorEvent[] {
  const out: NftMonitorEvent[] = [];
  for (const c of g.raw) {
    eachMessage(c.buf, c.from, c.to, (at, len) => {
      const e = parseNotification(c.buf, at, len);
      if (e) out.push(e);
    });
  }
  return out;
}

function eachMessage(buf: Buffer, from: number, to: number, fn: (at: number, len: number) => void): void {
  let at = from;
  while (at + NLMSG_HDR <= to) {
    const len = buf.readUInt32LE(at);
    if (len < NLMSG_HDR || at + len > to) return;
    fn(at, len);
    at += (len + 3) & ~3;
  }
}

/** NEWGEN's id, committing thread and its name. */
function generationInfo(buf: Buffer, at: number, len: number): Omit<NftGeneration, 'raw'> {
  const g: Omit<NftGeneration, 'raw'> = { generation: 0 };
  eachAttr(buf, at + NLMSG_HDR + NFGENMSG, at + len, (t, v, end) => {
    if (t === 1 && end - v >= 4) g.generation = buf.readUInt32BE(v);
    else if (t === 2 && end - v >= 4) g.pid = buf.readUInt32BE(v);
    else if (t === 3) g.process = cstr(buf, v, end);
  });
  return g;
}

/**
 * Splits received datagrams into generations: `onGeneration` gets each one when its NEWGEN arrives, with
 * the messages before it (not decoded). Pure apart from the state it keeps between datagrams.
 */
export class GenerationSplitter {
  private pending: RawChunk[] = [];

  constructor(private readonly onGeneration: (g: NftGeneration) => void) {}

  push(buf: Buffer): void {
    let start = 0;
    eachMessage(buf, 0, buf.length, (at, len) => {
      const type = buf.readUInt16LE(at + 4);
      if (type !== ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN)) return;
      if (at > start) this.pending.push({ buf, from: start, to: at });
      start = at + ((len + 3) & ~3);
      const raw = this.pending;
      this.pending = [];
      this.onGeneration({ ...generationInfo(buf, at, len), raw });
    });
    if (start < buf.length) this.pending.push({ buf, from: start, to: buf.length });
  }

  /** Forgets a partial generation (after lost notifications). */
  reset(): void {
    this.pending = [];
  }
}

/**
 * Emits `generation` (NftGeneration) per committed transaction and `lost` (reason) when the kernel
 * dropped notifications (ENOBUFS) or the socket failed; after `lost` the consumer must resync from a
 * listing. `unavailable` (reason) means no socket can be had (no netns, no permission) and nothing more
 * will come.
 */
export class NftMonitor extends EventEmitter {
  private sock: RawNetlinkSocket | undefined;
  private readonly splitter = new GenerationSplitter((g) => this.emit('generation', g));

  constructor(private readonly opts: { netns?: string } = {}) {
    super();
  }

  /** Opens and subscribes the socket (see nextGenerationBy() for knowing when it listens). */
  start(): void {
    if (this.sock) return;
    let sock: RawNetlinkSocket;
    try {
      const open = (): RawNetlinkSocket => new RawNetlinkSocket(NETLINK_NETFILTER);
      sock = this.opts.netns ? socketInNetns(this.opts.netns, open) : open();
      if (!forceRecvBuffer(sock, this.opts.netns)) {
        try {
          sock.setRecvBufferSize(RECV_BUFFER);
        } catch {
          // a smaller buffer only makes a lost-notification resync likelier
        }
      }
      sock.addMembership(NFNLGRP_NFTABLES);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      queueMicrotask(() => this.emit('unavailable', `cannot subscribe to nftables notifications${this.opts.netns ? ` in netns ${this.opts.netns}` : ''}: ${why}`));
      return;
    }
    this.sock = sock;
    // a throw inside a callback the native socket makes would abort the process: never let one out
    sock.on('message', (buf: Buffer) => {
      try {
        this.splitter.push(buf);
      } catch (err) {
        this.splitter.reset();
        this.emit('lost', `cannot read an nftables notification: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    sock.on('error', (err: Error & { code?: string; errno?: number }) => {
      if (this.sock !== sock) return;
      this.splitter.reset();
      const enobufs = err.code === 'ENOBUFS' || /no buffer space/i.test(err.message);
      this.emit('lost', enobufs ? 'nftables notifications overflowed the socket buffer (ENOBUFS)' : `nftables notification socket error: ${err.message}`);
    });
    // the socket alone does not keep the process running (its owner does); and it is closed before
    // the process ends: a datagram left for the native reader at teardown would abort the process
    sock.unref();
    process.once('exit', this.onExit);
  }

  private readonly onExit = (): void => this.stop();

  /**
   * Resolves with the first generation committed by `pid` after this call (or undefined after
   * `timeoutMs`); undefined pid: any generation. Run a no-op transaction, then await this to know the
   * subscription is live.
   */
  nextGenerationBy(pid: number | undefined, timeoutMs = 3000): Promise<NftGeneration | undefined> {
    return new Promise((resolve) => {
      const onGen = (g: NftGeneration): void => {
        if (pid !== undefined && g.pid !== pid) return;
        done(g);
      };
      // a caller awaiting this keeps the process running until it resolves (the socket does not)
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done = (g: NftGeneration | undefined): void => {
        clearTimeout(timer);
        this.off('generation', onGen);
        resolve(g);
      };
      this.on('generation', onGen);
    });
  }

  /** The socket's receive buffer in bytes (tests). */
  get receiveBuffer(): number | undefined {
    return this.sock?.getRecvBufferSize();
  }

  stop(): void {
    const s = this.sock;
    this.sock = undefined;
    process.off('exit', this.onExit);
    this.splitter.reset();
    s?.close();
  }
}
