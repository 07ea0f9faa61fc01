// The nfnetlink socket that commits element batches (nfnl.ts) to the kernel, through libc (os/libc.ts):
// the batch must be one sendmsg (one transaction), so the send buffer is raised with SO_SNDBUFFORCE as
// libnftables does, which the `netlink` package cannot set. The kernel runs a batch inside the sendmsg
// call and queues every acknowledgement before it returns, so the answers are read right after it
// without waiting. A socket belongs to the network namespace it was created in: for another netns it is
// created with this thread switched there and straight back (libc.ts's socketInNetns).
import {
  AF_NETLINK, EAGAIN, EINTR, MSG_DONTWAIT, NETLINK_CAP_ACK, NETLINK_EXT_ACK, SOCK_CLOEXEC, SOCK_RAW, SOL_NETLINK, SOL_SOCKET, SO_RCVBUFFORCE,
  SO_RCVTIMEO, SO_SNDBUFFORCE, errnoName, libc, socketInNetns, type Libc,
} from '../libc.js';
import { NftError, type NftFailure } from './errors.js';
import { encodeConntrackDelete, encodeConntrackDump, parseConntrackDump, type CtEntry, type CtKeep } from './conntrack.js';
import {
  describeElementOp, elementAt, encodeBatch, encodeGetDeclarations, encodeGetElements, NETLINK_NETFILTER, parseAcks, parseDeclarations, parseElementDump, parseIpv4ElementDump, parseSetSizes,
  elementText, type AnyElementOp, type DumpedElement, type NfFamily, type NfSetRef,
} from './nfnl.js';

/** Batches above this size are sent from koffi's worker thread, so a 50,000-element load does not stall the event loop. */
const ASYNC_ABOVE_BYTES = 256 * 1024;
const RECV_BUFFER = 1024 * 1024;

/** nft's failure reasons by kernel errno (the text path's classify() reads the same from nft's message). */
export function failureOf(errno: string): NftFailure {
  switch (errno) {
    case 'ENOENT': return 'not-found';
    case 'EEXIST': return 'exists';
    case 'EBUSY': return 'busy';
    case 'EINVAL': case 'ERANGE': case 'EOVERFLOW': case 'E2BIG': case 'EMSGSIZE': return 'invalid';
    case 'ENOBUFS': return 'no-buffer';
    case 'EPERM': case 'EACCES': return 'permission';
    default: return 'other';
  }
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
}

/** Commits element batches; one per data plane. `open()` says why it cannot be had (then use libnftables text). */
export class NfnlSocket {
  private seq = 1;
  private sndbuf = 0;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly rbuf = Buffer.alloc(RECV_BUFFER);
  /** Batches and messages sent (benches and tests). */
  readonly stats = { batches: 0, messages: 0, bytes: 0, lastBatchBytes: 0 };

  private constructor(private readonly c: Libc, private readonly fd: number, readonly netns: string | undefined) {}

  static open(netns?: string): NfnlSocket | { unavailable: string } {
    let c: Libc;
    try {
      c = libc();
    } catch (err) {
      return { unavailable: err instanceof Error ? err.message : String(err) };
    }
    let errno = 0;
    const create = (): number => {
      const s = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER) as number;
      if (s < 0) errno = c.errno();
      return s;
    };
    let fd: number;
    try {
      fd = netns ? socketInNetns(netns, create) : create();
    } catch (err) {
      return { unavailable: err instanceof Error ? err.message : String(err) };
    }
    if (fd < 0) return { unavailable: netns ? `socket(NETLINK_NETFILTER) in ${netns}: ${errnoName(errno)}` : `socket(AF_NETLINK, NETLINK_NETFILTER): ${errnoName(errno)}` };
    const opt = (level: number, name: number, v: number): void => {
      c.setsockopt(fd, level, name, int32(v), 4);
    };
    // capped acks: an error does not echo a 32 KiB message back; extended acks name the attribute
    opt(SOL_NETLINK, NETLINK_CAP_ACK, 1);
    opt(SOL_NETLINK, NETLINK_EXT_ACK, 1);
    opt(SOL_SOCKET, SO_RCVBUFFORCE, 4 * 1024 * 1024);
    // a dump is read with blocking recv calls (the kernel fills each inside the call); never hang on one
    const tv = Buffer.alloc(16);
    tv.writeBigInt64LE(2n, 0);
    c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
    return new NfnlSocket(c, fd, netns);
  }

  /**
   * Commits `ops` as one transaction. Rejects with NftError naming the failing op (and element, when the
   * kernel points at one) and its errno; nothing of the batch is applied then.
   */
  commit(ops: readonly AnyElementOp[]): Promise<void> {
    const next = this.queue.then(() => this.commitNow(ops));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async commitNow(ops: readonly AnyElementOp[]): Promise<void> {
    if (this.closed) throw new NftError('other', 'the nfnetlink socket was closed');
    const batch = encodeBatch(ops, this.seq);
    if (batch.acks === 0) return;
    this.seq = (this.seq + batch.messages.length) % 0x7fffffff || 1;
    const len = batch.buffer.length;
    if (len + 4096 > this.sndbuf) {
      this.sndbuf = Math.max(len * 2, 256 * 1024);
      this.c.setsockopt(this.fd, SOL_SOCKET, SO_SNDBUFFORCE, int32(this.sndbuf), 4);
    }
    this.stats.batches++;
    this.stats.messages += batch.acks;
    this.stats.bytes += len;
    this.stats.lastBatchBytes = len;
    const sent = len > ASYNC_ABOVE_BYTES ? await this.sendAsync(batch.buffer) : this.sendSync(batch.buffer);
    if (sent.rc !== len) {
      throw new NftError(sent.rc < 0 ? failureOf(errnoName(sent.errno)) : 'other', `nfnetlink${this.where()}: sendmsg of a ${len}-byte batch: ${sent.rc < 0 ? errnoName(sent.errno) : `sent ${sent.rc}`}`);
    }
    // every answer is queued before sendmsg returns
    const bySeq = new Map(batch.messages.map((m) => [m.seq, m]));
    let acked = 0;
    let firstError: NftError | undefined;
    let errors = 0;
    for (;;) {
      const n = this.c.recv(this.fd, this.rbuf, this.rbuf.length, MSG_DONTWAIT) as number;
      if (n < 0) {
        const e = this.c.errno();
        if (e === EINTR) continue;
        if (e === EAGAIN) break;
        // ENOBUFS: acks were dropped; whether the batch committed is unknown
        throw new NftError(failureOf(errnoName(e)), `nfnetlink${this.where()}: reading acknowledgements: ${errnoName(e)}; the table's state is unknown`);
      }
      for (const a of parseAcks(this.rbuf.subarray(0, n))) {
        const m = bySeq.get(a.seq);
        if (!m) continue;
        acked++;
        if (a.error === 0) continue;
        errors++;
        if (firstError) continue;
        const errno = errnoName(a.error);
        const op = m.opIndex >= 0 ? ops[m.opIndex] : undefined;
        let what = op ? describeElementOp(op) : 'the batch frame';
        const idx = op && a.offset !== undefined ? elementAt(m, a.offset) : undefined;
        const text = op && idx !== undefined ? elementText(op, idx) : undefined;
        if (text !== undefined) what += ` at element ${text}`;
        firstError = new NftError(failureOf(errno), `nfnetlink${this.where()}: ${what}: ${errno}${a.message ? ` (${a.message})` : ''}`, what);
      }
    }
    if (firstError) {
      if (errors > 1) firstError.message += ` (+${errors - 1} more)`;
      throw firstError;
    }
    if (acked < batch.acks) throw new NftError('other', `nfnetlink${this.where()}: ${batch.acks - acked} of ${batch.acks} acknowledgements missing`);
  }

  /** Every element of one set (a GETSETELEM dump). Rejects with NftError (not-found for a missing set). */
  dumpElements(ref: NfSetRef): Promise<DumpedElement[]> {
    const next = this.queue.then(() => this.dumpElementsNow(ref));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * A comparable text of a table's declarations: its sets, chains and rules as the kernel holds them,
   * without handles and counters. Two tables built from the same nft text give the same fingerprint;
   * undefined when the table does not exist.
   */
  fingerprint(family: NfFamily, table: string): Promise<string | undefined> {
    const next = this.queue.then(async () => {
      const parts: string[] = [];
      for (const kind of ['set', 'chain', 'rule'] as const) {
        let objects: string[];
        try {
          objects = await this.dumpNow(`list ${kind}s of ${family} ${table}`, (seq) => encodeGetDeclarations(kind, family, table, seq), (buf, seq) => parseDeclarations(kind, buf, seq), (c) => c.objects);
        } catch (err) {
          if (err instanceof NftError && err.failure === 'not-found') return undefined;
          throw err;
        }
        parts.push(`${kind}s:`, ...objects);
      }
      return parts.join('\n');
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Every element of one set as texts (keys and values in parallel arrays; see parseIpv4ElementDump): the
   * resync's read-back without an object per element. Rejects like dumpElements.
   */
  dumpIpv4Elements(ref: NfSetRef): Promise<{ keys: string[]; values: string[] }> {
    const next = this.queue.then(async () => {
      const acc = { keys: [] as string[], values: [] as string[] };
      await this.dumpNow(`list set ${ref.family} ${ref.table} ${ref.set}`, (seq) => encodeGetElements(ref, seq), (buf, seq) => {
        const c = parseIpv4ElementDump(buf, seq, { keys: acc.keys, values: acc.values, done: false });
        return { done: c.done, ...(c.error !== undefined ? { error: c.error } : {}) };
      }, () => []);
      return acc;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The declared size of every set of a table (0: none); rejects with NftError not-found for a missing table. */
  setSizes(family: NfFamily, table: string): Promise<Map<string, number>> {
    const next = this.queue.then(async () => {
      const sizes = new Map<string, number>();
      await this.dumpNow(`list sets of ${family} ${table}`, (seq) => encodeGetDeclarations('set', family, table, seq), (buf, seq) => parseSetSizes(buf, seq, { sizes, done: false }), () => []);
      return sizes;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The IPv4 conntrack entries of this socket's namespace (a ctnetlink dump): every one, or those passing `keep`. */
  dumpConntrack(keep?: CtKeep): Promise<CtEntry[]> {
    const next = this.queue.then(async () => {
      const acc: CtEntry[] = [];
      // a busy gateway's table takes a while to read (0.3 s per 100,000 entries here): let other work run
      await this.dumpNow('conntrack dump', (seq) => encodeConntrackDump(seq), (buf, seq) => parseConntrackDump(buf, seq, { entries: acc, done: false, ...(keep ? { keep } : {}) }), () => [], { yieldAfterMs: 20 });
      return acc;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Deletes conntrack entries by original tuple; resolves with how many were deleted (gone already: not counted). */
  deleteConntrack(entries: readonly CtEntry[]): Promise<number> {
    const next = this.queue.then(() => {
      let deleted = 0;
      for (const e of entries) {
        if (this.closed) throw new NftError('other', 'the nfnetlink socket was closed');
        const seq = this.seq;
        this.seq = (this.seq + 1) % 0x7fffffff || 1;
        const req = encodeConntrackDelete(e.orig, e.zone, seq);
        const sent = this.sendSync(req);
        if (sent.rc !== req.length) throw new NftError(failureOf(errnoName(sent.errno)), `nfnetlink${this.where()}: conntrack delete: sendmsg: ${errnoName(sent.errno)}`);
        for (;;) {
          const n = this.c.recv(this.fd, this.rbuf, this.rbuf.length, 0) as number;
          if (n < 0) {
            const errno = this.c.errno();
            if (errno === EINTR) continue;
            throw new NftError(failureOf(errnoName(errno)), `nfnetlink${this.where()}: conntrack delete: ${errno === EAGAIN ? 'no answer within 2 s' : errnoName(errno)}`);
          }
          const ack = parseAcks(this.rbuf.subarray(0, n)).find((a) => a.seq === seq);
          if (!ack) continue;
          if (ack.error === 0) deleted++;
          else if (errnoName(ack.error) !== 'ENOENT') throw new NftError(failureOf(errnoName(ack.error)), `nfnetlink${this.where()}: conntrack delete of ${e.orig.src} → ${e.orig.dst}: ${errnoName(ack.error)}`);
          break;
        }
      }
      return deleted;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private dumpElementsNow(ref: NfSetRef): Promise<DumpedElement[]> {
    return this.dumpNow(`list set ${ref.family} ${ref.table} ${ref.set}`, (seq) => encodeGetElements(ref, seq), (buf, seq) => parseElementDump(buf, seq), (c) => c.elements);
  }

  /**
   * One dump: request, then blocking reads (the kernel fills each inside the call) until NLMSG_DONE. With
   * `yieldAfterMs`, the event loop gets a turn whenever that long has passed since the last one (the next
   * part waits in the socket meanwhile); without it the whole dump runs in one go.
   */
  private async dumpNow<C extends { done: boolean; error?: number }, T>(what: string, encode: (seq: number) => Buffer, parse: (buf: Buffer, seq: number) => C, items: (c: C) => T[], opts: { yieldAfterMs?: number } = {}): Promise<T[]> {
    if (this.closed) throw new NftError('other', 'the nfnetlink socket was closed');
    const seq = this.seq;
    this.seq = (this.seq + 1) % 0x7fffffff || 1;
    const req = encode(seq);
    const sent = this.sendSync(req);
    if (sent.rc !== req.length) throw new NftError(failureOf(errnoName(sent.errno)), `nfnetlink${this.where()}: ${what}: sendmsg: ${errnoName(sent.errno)}`, what);
    const out: T[] = [];
    let turn = performance.now();
    for (;;) {
      if (opts.yieldAfterMs !== undefined && performance.now() - turn >= opts.yieldAfterMs) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        turn = performance.now();
      }
      const n = this.c.recv(this.fd, this.rbuf, this.rbuf.length, 0) as number;
      if (n < 0) {
        const e = this.c.errno();
        if (e === EINTR) continue;
        throw new NftError(failureOf(errnoName(e)), `nfnetlink${this.where()}: ${what}: ${e === EAGAIN ? 'no answer within 2 s' : errnoName(e)}`, what);
      }
      const chunk = parse(this.rbuf.subarray(0, n), seq);
      for (const x of items(chunk)) out.push(x);
      if (chunk.error !== undefined) {
        const errno = errnoName(chunk.error);
        throw new NftError(failureOf(errno), `nfnetlink${this.where()}: ${what}: ${errno}`, what);
      }
      if (chunk.done) return out;
    }
  }

  private sendSync(buf: Buffer): { rc: number; errno: number } {
    const rc = this.c.send(this.fd, buf, buf.length, 0) as number;
    return { rc, errno: rc < 0 ? this.c.errno() : 0 };
  }

  private sendAsync(buf: Buffer): Promise<{ rc: number; errno: number }> {
    return new Promise((resolve, reject) => {
      this.c.send.async(this.fd, buf, buf.length, 0, (err: unknown, rc: number) => {
        // koffi keeps errno per thread: read it from the same worker thread is not possible, so a failed
        // async send is retried synchronously once for its errno (a failed send changed nothing)
        if (err) reject(new NftError('other', `nfnetlink send failed: ${String(err)}`));
        else resolve(rc < 0 ? this.sendSync(buf) : { rc, errno: 0 });
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.queue.then(() => this.c.close(this.fd));
  }

  private where(): string {
    return this.netns ? ` (netns ${this.netns})` : '';
  }
}
