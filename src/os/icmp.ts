// A raw ICMPv4 socket in this process (libc through os/libc.ts, as os/nftables loads libnftables): the health
// check's prober sends every echo request itself and reads the replies in batches, with no process per
// target and no helper process at all. Needs CAP_NET_RAW (the gateway and route agent pods have it);
// `openIcmpSocket` reports why when it cannot open one, so the caller can fall back to `fping`.
//
// Replies are read with recvmmsg(MSG_DONTWAIT) whenever the caller chooses (the prober: once per round),
// and each carries the kernel's receive timestamp (SO_TIMESTAMPNS), so an RTT is exact however late the
// reply is read. The send time of each probe is read from the same clock (CLOCK_REALTIME) just before its
// sendto. A socket filter (icmp-packet.ts) keeps the host's other ICMP traffic in the kernel.
//
// `netns`: the socket is opened inside that named namespace (libc.ts's socketInNetns around socket()):
// a socket stays in the namespace it was created in. The roles run in the node's namespace and
// never pass it; tests and benches do.
import { intToIpv4, ipv4ToInt } from '../net/cidr.js';
import { HawserError } from '../util/errors.js';
import { decodeIcmpV4, echoFilterProgram, echoRequest, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, setEchoSequence, type IcmpInbound } from './icmp-packet.js';
import {
  AF_INET, CLOCK_REALTIME, EAGAIN, EBADF, EINTR, IPPROTO_ICMP, MSG_DONTWAIT, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_RAW, SOL_SOCKET, SO_ATTACH_FILTER,
  SO_RCVBUF, SO_TIMESTAMPNS, errnoText, libc, socketInNetns, type Libc,
} from './libc.js';

export { errnoText } from './libc.js';

const SCM_TIMESTAMPNS = SO_TIMESTAMPNS;
// <linux/in.h>, <linux/errqueue.h>, <asm-generic/errno.h>
const SOL_IP = 0;
const IP_MTU_DISCOVER = 10;
const IP_PMTUDISC_DO = 2;
const IP_RECVERR = 11;
const MSG_ERRQUEUE = 0x2000;
const EMSGSIZE = 90;

// LP64 layouts: struct mmsghdr = msghdr (56) + msg_len (4) + pad; iovec = 16; cmsghdr = 16 + timespec 16
const MMSGHDR = 64;
const IOVEC = 16;
const CMSG_SPACE = 64;
/** Enough for an echo reply (IP header with options + 64 bytes) or an ICMP error quoting our request. */
const DATA = 192;
/** IPv4's largest datagram: a DF socket's replies are as large as its requests. */
const MAX_DATAGRAM = 65_536;
const DEFAULT_BATCH = 64;

function sockaddrIn(ip: string): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt32BE(ipv4ToInt(ip), 4);
  return b;
}

export interface IcmpSocketOptions {
  /** Identifier of every echo request (the socket filter passes only replies carrying it). */
  ident: number;
  /** Bind to this source address (the health check's address inside the cluster CIDR). */
  sourceIP?: string;
  /** Open the socket inside this named network namespace (/run/netns/NAME). */
  netns?: string;
  /** Datagrams per recvmmsg. */
  batch?: number;
  /**
   * Never fragment (IP_PMTUDISC_DO, ping -M do): a request larger than the route's MTU is refused by
   * send() with EMSGSIZE (localMtuError() then says the MTU), and routers answer "fragmentation needed".
   * Reads whole datagrams up to 64 KiB.
   */
  dontFragment?: boolean;
}

/** A datagram read from the socket, with its kernel receive time (ns on the socket's clock, see nowNs). */
export type IcmpReceived = IcmpInbound & { rxNs: number };

export class IcmpSocket {
  private closed = false;
  private readonly batch: number;
  /** malloc'd: mmsghdr[batch], iovec[batch], control[batch], data[batch] */
  private readonly mem: unknown;
  private readonly view: Buffer;
  private readonly ctlOff: number;
  private readonly dataOff: number;
  /** Bytes of each datagram slot. */
  private readonly data: number;
  private readonly dontFragment: boolean;
  private readonly ts = Buffer.alloc(16);
  private readonly addrs = new Map<string, Buffer>();
  /** Seconds subtracted from CLOCK_REALTIME so nanosecond times stay exact in a double. */
  private readonly baseSec: number;

  private constructor(private readonly c: Libc, readonly fd: number, o: IcmpSocketOptions) {
    this.batch = o.batch ?? DEFAULT_BATCH;
    this.dontFragment = o.dontFragment ?? false;
    this.data = this.dontFragment ? MAX_DATAGRAM : DATA;
    const DATA_BYTES = this.data;
    const iovOff = this.batch * MMSGHDR;
    this.ctlOff = iovOff + this.batch * IOVEC;
    this.dataOff = this.ctlOff + this.batch * CMSG_SPACE;
    const size = this.dataOff + this.batch * DATA_BYTES;
    this.mem = c.malloc(size);
    if (!this.mem) throw new HawserError('UAPI_ERRNO', 'malloc failed for the ICMP receive buffers');
    this.view = Buffer.from(c.view(this.mem, size));
    this.view.fill(0);
    const base = c.address(this.mem);
    for (let i = 0; i < this.batch; i++) {
      const h = i * MMSGHDR;
      this.view.writeBigUInt64LE(base + BigInt(iovOff + i * IOVEC), h + 16); // msg_iov
      this.view.writeBigUInt64LE(1n, h + 24); // msg_iovlen
      this.view.writeBigUInt64LE(base + BigInt(this.ctlOff + i * CMSG_SPACE), h + 32); // msg_control
      this.view.writeBigUInt64LE(base + BigInt(this.dataOff + i * DATA_BYTES), iovOff + i * IOVEC); // iov_base
      this.view.writeBigUInt64LE(BigInt(DATA_BYTES), iovOff + i * IOVEC + 8); // iov_len
    }
    this.baseSec = 0;
    this.baseSec = Math.floor(this.nowNs() / 1e9);
  }

  /** A raw ICMP socket with the echo filter and receive timestamps, bound to `sourceIP` if given. */
  static open(o: IcmpSocketOptions): IcmpSocket {
    const c = libc();
    const create = (): { fd: number; errno: number } => {
      const fd = c.socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP) as number;
      return { fd, errno: fd < 0 ? c.errno() : 0 };
    };
    const { fd, errno } = o.netns ? socketInNetns(o.netns, create) : create();
    if (fd < 0) throw new HawserError('UAPI_ERRNO', `cannot open a raw ICMP socket: ${errnoText(errno)}`);
    try {
      attachFilter(c, fd, echoFilterProgram(o.ident));
      const one = Buffer.alloc(4);
      one.writeInt32LE(1, 0);
      check(c, c.setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, one, 4), 'enable receive timestamps');
      const rcvbuf = Buffer.alloc(4);
      rcvbuf.writeInt32LE(1 << 20, 0);
      // a round's replies wait here until read: room for thousands of them
      check(c, c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf, 4), 'size the receive buffer');
      if (o.sourceIP) check(c, c.bind(fd, sockaddrIn(o.sourceIP), 16), `bind source address ${o.sourceIP}`);
      if (o.dontFragment) {
        const v = Buffer.alloc(4);
        v.writeInt32LE(IP_PMTUDISC_DO, 0);
        check(c, c.setsockopt(fd, SOL_IP, IP_MTU_DISCOVER, v, 4), 'set "do not fragment"');
        // a refused send queues the MTU it exceeded on the error queue (ping's "message too long, mtu=N")
        check(c, c.setsockopt(fd, SOL_IP, IP_RECVERR, one, 4), 'enable the error queue');
      }
      const s = new IcmpSocket(c, fd, o);
      // whatever arrived before the filter was attached
      s.receive(() => undefined);
      return s;
    } catch (err) {
      c.close(fd);
      throw err;
    }
  }

  /** Nanoseconds on the receive-timestamp clock (CLOCK_REALTIME minus a fixed base, exact in a double). */
  nowNs(): number {
    this.c.clockGettime(CLOCK_REALTIME, this.ts);
    return (this.ts.readUInt32LE(0) + this.ts.readUInt32LE(4) * 4294967296 - this.baseSec) * 1e9 + this.ts.readUInt32LE(8);
  }

  /** Sends one datagram to `dstIP`; 0, or the errno of the failure (unreachable network, no route, …). */
  send(dstIP: string, packet: Buffer): number {
    if (this.closed) return EBADF;
    let addr = this.addrs.get(dstIP);
    if (!addr) {
      addr = sockaddrIn(dstIP);
      this.addrs.set(dstIP, addr);
    }
    const n = this.c.sendto(this.fd, packet, packet.length, 0, addr, 16) as number;
    return n < 0 ? this.c.errno() : 0;
  }

  /** Forgets cached destination addresses that are no longer probed. */
  keepDestinations(ips: ReadonlySet<string>): void {
    for (const ip of this.addrs.keys()) if (!ips.has(ip)) this.addrs.delete(ip);
  }

  /**
   * Reads every queued datagram without blocking, batch by batch, and hands each decoded one to `onPacket`.
   * Returns the count read; throws on a socket error other than "nothing queued".
   */
  receive(onPacket: (p: IcmpReceived) => void): number {
    let total = 0;
    while (!this.closed) {
      for (let i = 0; i < this.batch; i++) this.view.writeBigUInt64LE(BigInt(CMSG_SPACE), i * MMSGHDR + 40); // msg_controllen
      const n = this.c.recvmmsg(this.fd, this.mem, this.batch, MSG_DONTWAIT, null) as number;
      if (n < 0) {
        const errno = this.c.errno();
        if (errno === EAGAIN || errno === EINTR) return total;
        // "don't fragment" makes an ICMP error a pending socket error, reported (and cleared) once by the
        // next call; the ICMP datagram itself is queued too, and read on the next turn of this loop
        if (this.dontFragment && errno !== EBADF) {
          this.drainErrorQueue();
          continue;
        }
        throw new HawserError('UAPI_ERRNO', `reading ICMP replies failed: ${errnoText(errno)}`);
      }
      for (let i = 0; i < n; i++) {
        const len = this.view.readUInt32LE(i * MMSGHDR + 56);
        const p = decodeIcmpV4(this.view, this.dataOff + i * this.data, Math.min(len, this.data));
        if (p) onPacket({ ...p, rxNs: this.rxTime(i) });
      }
      total += n;
      if (n < this.batch) return total;
    }
    return total;
  }

  /**
   * After send() returned EMSGSIZE on a "don't fragment" socket: the MTU the request exceeded (the route's,
   * or the path MTU a router reported), read from the error queue; undefined when none is queued.
   */
  localMtuError(): number | undefined {
    return this.drainErrorQueue();
  }

  /** Reads the error queue empty; returns the MTU of the last EMSGSIZE entry in it. */
  private drainErrorQueue(): number | undefined {
    let mtu: number | undefined;
    // one datagram at a time into slot 0, whose control buffer may use every slot's (they are contiguous):
    // the receive timestamp comes first, then IP_RECVERR's struct sock_extended_err and the offender
    const room = this.batch * CMSG_SPACE;
    for (let guard = 0; guard < 64 && !this.closed; guard++) {
      this.view.writeBigUInt64LE(BigInt(room), 40); // msg_controllen of slot 0
      const n = this.c.recvmmsg(this.fd, this.mem, 1, MSG_ERRQUEUE | MSG_DONTWAIT, null) as number;
      if (n < 1) break;
      const v = this.view;
      const end = this.ctlOff + Math.min(Number(v.readBigUInt64LE(40)), room);
      // struct cmsghdr: len (u64, header included), level, type; then the data, each aligned to 8
      for (let at = this.ctlOff; at + 16 <= end;) {
        const len = Number(v.readBigUInt64LE(at));
        if (len < 16 || at + len > end) break;
        // struct sock_extended_err: ee_errno u32, origin, type, code, pad, ee_info u32 (the MTU for EMSGSIZE)
        if (v.readInt32LE(at + 8) === SOL_IP && v.readInt32LE(at + 12) === IP_RECVERR && len >= 16 + 12 && v.readUInt32LE(at + 16) === EMSGSIZE) {
          mtu = v.readUInt32LE(at + 24);
        }
        at += (len + 7) & ~7;
      }
    }
    return mtu;
  }

  /** The SCM_TIMESTAMPNS of datagram i (the only control message enabled), or now if absent. */
  private rxTime(i: number): number {
    const v = this.view;
    const ctl = this.ctlOff + i * CMSG_SPACE;
    const ctlLen = Number(v.readBigUInt64LE(i * MMSGHDR + 40));
    if (ctlLen >= 32 && v.readInt32LE(ctl + 8) === SOL_SOCKET && v.readInt32LE(ctl + 12) === SCM_TIMESTAMPNS) {
      return (v.readUInt32LE(ctl + 16) + v.readUInt32LE(ctl + 20) * 4294967296 - this.baseSec) * 1e9 + v.readUInt32LE(ctl + 24);
    }
    return this.nowNs();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.c.close(this.fd);
    this.c.free(this.mem);
  }
}

/** SO_ATTACH_FILTER: struct sock_fprog points at the instructions, in native memory while the kernel copies them. */
function attachFilter(c: Libc, fd: number, filter: Buffer): void {
  const p = c.malloc(filter.length);
  if (!p) throw new HawserError('UAPI_ERRNO', 'malloc failed for the ICMP socket filter');
  try {
    Buffer.from(c.view(p, filter.length)).set(filter);
    const fprog = Buffer.alloc(16);
    fprog.writeUInt16LE(filter.length / 8, 0);
    fprog.writeBigUInt64LE(c.address(p), 8);
    check(c, c.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, 16), 'attach the echo-reply filter');
  } finally {
    c.free(p);
  }
}

function check(c: Libc, rc: unknown, what: string): void {
  if (rc !== 0) throw new HawserError('UAPI_ERRNO', `cannot ${what} on the ICMP socket: ${errnoText(c.errno())}`);
}

/** Whether a raw ICMP socket can be opened here (in `netns`), or why not: the prober's choice, made once. */
export function rawIcmpAvailable(netns?: string): { ok: true } | { ok: false; reason: string } {
  try {
    IcmpSocket.open({ ident: 0, netns }).close();
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

/** One DF echo's outcome: a reply, none in time, or too big for the path (with the MTU the kernel or a router named). */
export type DfEchoOutcome = { kind: 'reply' } | { kind: 'lost' } | { kind: 'too-big'; mtu: number; from: 'this node' | string };

/**
 * Echo requests that must not be fragmented (`ping -M do -s SIZE` without the process): a path-MTU probe
 * for `hawser diagnose`. One raw socket for a whole search; each echo() sends `count` requests of
 * `payload` data bytes (the IP packet is payload + 28) and waits for a reply.
 */
export class DfPinger {
  private seq = 0;

  private constructor(private readonly sock: IcmpSocket, private readonly ident: number) {}

  /** Throws HawserError UAPI_ERRNO when no raw socket can be had (no CAP_NET_RAW). */
  static open(o: { netns?: string; sourceIP?: string } = {}): DfPinger {
    const ident = (process.pid ^ Math.floor(Math.random() * 0x10000)) & 0xffff;
    return new DfPinger(IcmpSocket.open({ ident, netns: o.netns, sourceIP: o.sourceIP, dontFragment: true, batch: 4 }), ident);
  }

  /**
   * Sends `count` (2) DF echo requests `intervalMs` (200) apart and waits up to `timeoutMs` (1000) after
   * the last one: a reply wins; a request the kernel refuses as larger than the route's MTU (EMSGSIZE) or
   * a router's "fragmentation needed" is too-big with that MTU.
   */
  async echo(dst: string, payload: number, o: { count?: number; intervalMs?: number; timeoutMs?: number } = {}): Promise<DfEchoOutcome> {
    const dstInt = ipv4ToInt(dst);
    const packet = echoRequest(this.ident, 0, payload);
    const sent = new Set<number>();
    let outcome: DfEchoOutcome | undefined;
    const read = (): void => {
      this.sock.receive((p) => {
        if (outcome || p.ident !== this.ident || !sent.has(p.seq)) return;
        if (p.kind === 'reply' && p.from === dstInt) outcome = { kind: 'reply' };
        else if (p.kind === 'error' && p.type === ICMP_DEST_UNREACH && p.code === ICMP_FRAG_NEEDED && p.mtu) outcome = { kind: 'too-big', mtu: p.mtu, from: intToIpv4(p.from) };
      });
    };
    const waitFor = async (ms: number): Promise<void> => {
      const until = Date.now() + ms;
      while (!outcome && Date.now() < until) {
        await new Promise((r) => setTimeout(r, Math.min(10, Math.max(1, until - Date.now()))));
        read();
      }
    };
    const count = o.count ?? 2;
    for (let i = 0; i < count && !outcome; i++) {
      this.seq = (this.seq + 1) & 0xffff;
      setEchoSequence(packet, this.seq);
      const errno = this.sock.send(dst, packet);
      if (errno === EMSGSIZE) {
        const mtu = this.sock.localMtuError();
        return { kind: 'too-big', mtu: mtu ?? payload + 28 - 1, from: 'this node' };
      }
      if (errno === 0) sent.add(this.seq);
      await waitFor(i + 1 < count ? o.intervalMs ?? 200 : o.timeoutMs ?? 1000);
    }
    return outcome ?? { kind: 'lost' };
  }

  close(): void {
    this.sock.close();
  }
}
