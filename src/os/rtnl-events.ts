// rtnetlink notifications as typed values: a socket joined to the link, address, route and rule (IPv4 and
// IPv6, as the dumps have both) and neighbour multicast groups, turning each NEW/DEL message into
// the same observed values the dumps of netlink.ts give (the same converters). Its own socket, never used for requests: the package groups multipart
// replies per socket, so a notification arriving in the middle of a dump would cut that dump short.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { RawNetlinkSocket, rt } from 'netlink';
import { libc, SOL_SOCKET, SO_RCVBUFFORCE } from './libc.js';
import type { NetlinkMessage } from 'netlink/dist/structs.js';
import { isOwnWriterPort } from './rtnl-batch.js';
import { addrFromMessage, linkFromMessage, neighFromMessage, routeFromBytes, routeFromPayload, ruleFromMessage, type AddrInfo, type LinkInfo, type NeighInfo, type RouteInfo, type RuleInfo } from './netlink.js';

/** `own`: the change was made by a request of this process's rtnetlink writer (rtnl-batch), not someone else's. */
export type RtnlEvent =
  | { kind: 'link'; del: boolean; link: LinkInfo; own?: true }
  | { kind: 'addr'; del: boolean; addr: AddrInfo & { label?: string }; own?: true }
  | { kind: 'route'; del: boolean; route: RouteInfo; own?: true }
  | { kind: 'rule'; del: boolean; rule: RuleInfo; own?: true }
  | { kind: 'neigh'; del: boolean; neigh: NeighInfo; own?: true }
  /** Something changed in an nftables table (family: NFPROTO number, 2 = ip); no detail is kept. */
  | { kind: 'nft'; family: number; table: string };

export interface EventHandlers {
  /** A batch of notifications, in kernel order. */
  events(evs: RtnlEvent[]): void;
  /** Notifications were lost (ENOBUFS, socket error, worker restart): the observer must resync from a dump. */
  lost(why: string): void;
}

/** Where notifications come from: this namespace's socket, or a netns worker relaying its own. */
export interface RtnlEventSource {
  subscribe(h: EventHandlers): Promise<void>;
  /**
   * Resolves once every notification the kernel queued before now has been handed to `events`: the
   * kernel multicasts a change before it acks the request that made it, so a barrier after an ack
   * makes our own writes visible.
   */
  barrier(): Promise<void>;
  close(): Promise<void>;
}

const T = rt.MessageType;

/** One netlink message to an event; undefined for types and families we do not follow. */
export function eventFromMessage(msg: Pick<NetlinkMessage, 'type' | 'data'>): RtnlEvent | undefined {
  switch (msg.type) {
    case T.NEWLINK:
    case T.DELLINK:
      return { kind: 'link', del: msg.type === T.DELLINK, link: linkFromMessage(rt.parseMessage(msg.type, msg.data) as rt.LinkMessage) };
    case T.NEWADDR:
    case T.DELADDR: {
      const addr = addrFromMessage(rt.parseMessage(msg.type, msg.data) as rt.AddressMessage);
      return addr ? { kind: 'addr', del: msg.type === T.DELADDR, addr } : undefined;
    }
    case T.NEWROUTE:
    case T.DELROUTE: {
      const route = routeFromPayload(msg.data);
      return route ? { kind: 'route', del: msg.type === T.DELROUTE, route } : undefined;
    }
    case T.NEWRULE:
    case T.DELRULE: {
      const rule = ruleFromMessage(rt.parseMessage(msg.type, msg.data) as rt.RuleMessage);
      return rule ? { kind: 'rule', del: msg.type === T.DELRULE, rule } : undefined;
    }
    case T.NEWNEIGH:
    case T.DELNEIGH: {
      const neigh = neighFromMessage(rt.parseMessage(msg.type, msg.data) as rt.NeighborMessage);
      return neigh ? { kind: 'neigh', del: msg.type === T.DELNEIGH, neigh } : undefined;
    }
    default:
      return undefined;
  }
}

const NETLINK_NETFILTER = 12;
const NFNLGRP_NFTABLES = 7;
const NFNL_SUBSYS_NFTABLES = 10;
/** The end-of-transaction message; it names no table. */
const NFT_MSG_NEWGEN = 15;
/** NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE: all 1. */
const NFTA_TABLE_ATTR = 1;

/** An nftables notification to the table it touches; undefined for generation messages and other subsystems. */
export function nftEventFromMessage(msg: Pick<NetlinkMessage, 'type' | 'data'>): RtnlEvent | undefined {
  if (msg.type >> 8 !== NFNL_SUBSYS_NFTABLES || (msg.type & 0xff) === NFT_MSG_NEWGEN || msg.data.length < 4) return undefined;
  const family = msg.data.readUInt8(0);
  for (let off = 4; off + 4 <= msg.data.length; ) {
    const len = msg.data.readUInt16LE(off);
    const type = msg.data.readUInt16LE(off + 2) & 0x3fff;
    if (len < 4) break;
    if (type === NFTA_TABLE_ATTR) {
      const table = msg.data.subarray(off + 4, off + len).toString('utf8').replace(/\0+$/, '');
      return { kind: 'nft', family, table };
    }
    off += (len + 3) & ~3;
  }
  return undefined;
}

const GROUPS = [
  rt.MulticastGroups.LINK, rt.MulticastGroups.IPV4_IFADDR, rt.MulticastGroups.IPV6_IFADDR, rt.MulticastGroups.IPV4_ROUTE, rt.MulticastGroups.IPV6_ROUTE,
  rt.MulticastGroups.IPV4_RULE, rt.MulticastGroups.IPV6_RULE, rt.MulticastGroups.NEIGH,
];

const NETLINK_ROUTE = 0;
/**
 * Receive buffer asked for past net.core.rmem_max (SO_RCVBUFFORCE, needs CAP_NET_ADMIN): ~20,000 queued
 * notifications of ~830 bytes each, where rmem_max's default gives ~500. An overflow must not happen:
 * it sets a socket error, poll reports it (EPOLLERR), and the netlink package (0.3.0) then builds its
 * error with a null syscall name, which throws in native code and aborts the process; the ENOBUFS
 * resync below is never reached that way.
 */
const FORCED_RECEIVE_BUFFER = 16 * 1024 * 1024;

/**
 * The fd of one of this process's netlink sockets, found by protocol and port id through /proc (the
 * netlink package keeps its fds to itself); undefined when not found.
 */
export function netlinkSocketFd(protocol: number, port: number): number | undefined {
  let inode: string | undefined;
  for (const line of readFileSync('/proc/self/net/netlink', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && f[1] === String(protocol) && f[2] === String(port)) {
      inode = f[9];
      break;
    }
  }
  if (inode === undefined) return undefined;
  const link = `socket:[${inode}]`;
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) === link) return Number(name);
    } catch {
      // closed meanwhile
    }
  }
  return undefined;
}

/** Raises a netlink socket's receive buffer past rmem_max when this process may; false when it could not. */
function forceReceiveBuffer(sock: RawNetlinkSocket, protocol: number, bytes: number): boolean {
  try {
    const fd = netlinkSocketFd(protocol, sock.address().port);
    if (fd === undefined) return false;
    const v = Buffer.alloc(4);
    v.writeInt32LE(bytes);
    return (libc().setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, v, 4) as number) === 0;
  } catch {
    return false;
  }
}

/** Largest rtnetlink notification read whole (a link with its stats and per-family settings is ~2 KB). */
const NOTIFICATION_MAX = 8 * 1024;

/**
 * The events of one datagram: its nlmsgs walked by their headers alone (a 1,000-route batch brings
 * 1,000 of these), each handed to `parse`; a malformed tail ends the walk. An rtnetlink change whose
 * header names one of this process's writers (nlmsg_pid) is marked `own`.
 */
export function eventsOfDatagram(buf: Buffer, parse: (m: Pick<NetlinkMessage, 'type' | 'data'>) => RtnlEvent | undefined): RtnlEvent[] {
  const evs: RtnlEvent[] = [];
  for (let off = 0; off + 16 <= buf.length; ) {
    const len = buf.readUInt32LE(off);
    if (len < 16 || off + len > buf.length) break;
    const type = buf.readUInt16LE(off + 4);
    let e: RtnlEvent | undefined;
    if (parse === eventFromMessage && (type === T.NEWROUTE || type === T.DELROUTE)) {
      // the bulk of a failover's notifications: read in place, no buffer per message
      const route = routeFromBytes(buf, off + 16, off + len);
      e = route ? { kind: 'route', del: type === T.DELROUTE, route } : undefined;
    } else e = parse({ type, data: buf.subarray(off + 16, off + len) });
    if (e) {
      if (e.kind !== 'nft' && isOwnWriterPort(buf.readUInt32LE(off + 12))) e.own = true;
      evs.push(e);
    }
    off += (len + 3) & ~3;
  }
  return evs;
}

/**
 * Notifications of the current network namespace, read in-process. Raw sockets: the package's
 * higher-level socket would parse every notification a second time, generically, before we do.
 */
export class LocalRtnlEvents implements RtnlEventSource {
  private sock: RawNetlinkSocket | undefined;
  private nftSock: RawNetlinkSocket | undefined;
  private handlers: EventHandlers | undefined;
  private closed = false;
  /** Datagrams read so far: the barrier watches it settle. */
  private received = 0;

  async subscribe(h: EventHandlers): Promise<void> {
    this.handlers = h;
    this.open();
  }

  private open(): void {
    // each datagram read straight into a buffer of this size: without it the package peeks first for
    // the size, a second syscall per notification (a failover brings 1,000). Notifications carry no VF
    // lists and stay far below it; a bigger one arrives truncated and counts as lost (a resync).
    const sock = new RawNetlinkSocket(NETLINK_ROUTE, { messagePeeking: false, msgBufferSize: NOTIFICATION_MAX, recvBufferSize: 0, sendBufferSize: 0 });
    this.sock = sock;
    // a smaller buffer only makes an overflow likelier (see FORCED_RECEIVE_BUFFER)
    if (!forceReceiveBuffer(sock, NETLINK_ROUTE, FORCED_RECEIVE_BUFFER)) {
      try {
        sock.setRecvBufferSize(8 * 1024 * 1024);
      } catch {
        // as above
      }
    }
    for (const g of GROUPS) sock.addMembership(g);
    // the raw datagrams: they keep the message type (NEW or DEL), and no multipart grouping applies
    this.listen(sock, eventFromMessage, (why) => this.handlers?.lost(why));
    sock.unref();
    // nftables changes (another table's or ours, made by someone else): just which table, to re-check it
    try {
      const nft = new RawNetlinkSocket(NETLINK_NETFILTER);
      if (!forceReceiveBuffer(nft, NETLINK_NETFILTER, FORCED_RECEIVE_BUFFER)) {
        try {
          nft.setRecvBufferSize(8 * 1024 * 1024);
        } catch {
          // see below: an overflow only makes every table suspect
        }
      }
      nft.addMembership(NFNLGRP_NFTABLES);
      this.nftSock = nft;
      // a big transaction (a set of 50,000 elements) may overflow it: then any table may have changed
      this.listen(nft, nftEventFromMessage, () => this.handlers?.events([{ kind: 'nft', family: 0, table: '*' }]));
      nft.unref();
    } catch {
      // no nfnetlink here: nft drift is then found by the slow resync only
    }
  }

  private listen(sock: RawNetlinkSocket, parse: (m: Pick<NetlinkMessage, 'type' | 'data'>) => RtnlEvent | undefined, onError: (why: string) => void): void {
    sock.on('message', (buf: Buffer) => {
      this.received++;
      let evs: RtnlEvent[] = [];
      try {
        evs = eventsOfDatagram(buf, parse);
      } catch {
        // an attribute the package cannot parse: the periodic resync covers that object
      }
      if (evs.length) this.handlers?.events(evs);
    });
    // a notification too big for the read: its object is unknown now, as after an overflow
    sock.on('truncatedMessage', () => {
      this.received++;
      if (!this.closed) onError('a notification was truncated');
    });
    sock.on('error', (err: Error & { code?: string }) => {
      if (this.closed) return;
      onError(err.code === 'ENOBUFS' || /no buffer space/i.test(err.message) ? 'notifications overflowed the socket buffer (ENOBUFS)' : `notification socket error: ${err.message}`);
    });
  }

  /**
   * Notifications of a write are queued before its ack. The socket is read (up to 32 datagrams per turn)
   * whenever the loop polls; two turns in a row that read nothing mean everything queued is in.
   */
  async barrier(): Promise<void> {
    if (!this.sock) return;
    let quiet = 0;
    while (quiet < 2) {
      const seen = this.received;
      await new Promise((resolve) => setImmediate(resolve));
      quiet = this.received === seen ? quiet + 1 : 0;
    }
  }

  /** The rtnetlink notification socket's receive buffer in bytes (undefined before subscribe). */
  receiveBufferBytes(): number | undefined {
    return this.sock?.getRecvBufferSize();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sock?.close();
    this.nftSock?.close();
    this.sock = undefined;
    this.nftSock = undefined;
  }
}
