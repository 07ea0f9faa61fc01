// The in-process prober: one raw ICMP socket (os/icmp.ts) per source address probes every target, one
// echo request per target per round, and reads all replies of a round in batches at the next round (or
// at the timeout, when the period is longer). RTTs come from kernel receive timestamps, so reading late
// does not stretch them. A round costs a few microseconds per target and one timer wake-up.
//
// Semantics as `fping -l -p <period>`: a probe with no reply within min(period, 2 s) is a timeout; a
// reply arriving later still counts (PingStats turns the loss back). ICMP errors and send failures are
// per-target errors. A socket that cannot be opened or read counts as a dead prober: its targets get the
// error, silence counts as loss (the checker's watchdog), and it is reopened with backoff.
import { randomInt } from 'node:crypto';
import type { Logger } from '../log/index.js';
import { intToIpv4 } from '../net/cidr.js';
import { errnoText, IcmpSocket, type IcmpReceived } from '../os/icmp.js';
import { echoRequest, icmpErrorText, setEchoSequence } from '../os/icmp-packet.js';
import { errorMessage } from '../util/errors.js';
import { Backoff } from '../util/wait.js';
import type { FpingEvent } from './fping-output.js';
import type { TargetProber } from './target.js';

/** fping's loop-mode timeout: the period, at most 2 s. */
export const probeTimeoutMs = (intervalMs: number): number => Math.min(intervalMs, 2000);

const SEQ_SPACE = 65536;
const MIN_SLOTS = 1024;

/**
 * Which target each recent probe went to and when, by 16-bit sequence number. It remembers the last
 * `slots` probes (a power of two dividing 65,536, grown to at least 8 rounds of the target list), so
 * memory follows the target count rather than the sequence space; a reply older than that is ignored.
 */
export class ProbeLedger {
  private slots: number;
  private target: Array<string | undefined>;
  private sentNs: Float64Array;
  /** The unbounded probe counter of each slot's probe (a stable key across wraps), -1 when empty. */
  private serial: Float64Array;
  private answered: Uint8Array;
  /** Serials of probes still without a verdict, oldest first. */
  private readonly open: number[] = [];
  private openHead = 0;
  private next = 0;

  constructor(targets = 0) {
    this.slots = MIN_SLOTS;
    while (this.slots < targets * 8 && this.slots < SEQ_SPACE) this.slots *= 2;
    this.target = new Array<string | undefined>(this.slots);
    this.sentNs = new Float64Array(this.slots);
    this.serial = new Float64Array(this.slots).fill(-1);
    this.answered = new Uint8Array(this.slots);
  }

  get capacity(): number {
    return this.slots;
  }

  /** Room for 8 rounds of `targets` (up to the sequence space), keeping what is recorded. */
  fit(targets: number): void {
    if (this.slots >= SEQ_SPACE || this.slots >= targets * 8) return;
    const old = { target: this.target, sentNs: this.sentNs, serial: this.serial, answered: this.answered, slots: this.slots };
    while (this.slots < targets * 8 && this.slots < SEQ_SPACE) this.slots *= 2;
    this.target = new Array<string | undefined>(this.slots);
    this.sentNs = new Float64Array(this.slots);
    this.serial = new Float64Array(this.slots).fill(-1);
    this.answered = new Uint8Array(this.slots);
    for (let i = 0; i < old.slots; i++) {
      const n = old.serial[i]!;
      if (n < 0) continue;
      const k = n % this.slots;
      this.target[k] = old.target[i];
      this.sentNs[k] = old.sentNs[i]!;
      this.serial[k] = n;
      this.answered[k] = old.answered[i]!;
    }
  }

  /** Records a probe about to be sent; returns its 16-bit sequence number. */
  sent(target: string, atNs: number): number {
    const n = this.next++;
    const k = n % this.slots;
    this.target[k] = target;
    this.sentNs[k] = atNs;
    this.serial[k] = n;
    this.answered[k] = 0;
    this.open.push(n);
    return n % SEQ_SPACE;
  }

  private slotOf(seq: number): number | undefined {
    const k = seq % this.slots;
    return this.serial[k]! >= 0 && this.serial[k]! % SEQ_SPACE === seq ? k : undefined;
  }

  /** A reply (or error) for `seq`: its target, serial and RTT, or undefined for a probe we do not remember. */
  lookup(seq: number, rxNs: number): { target: string; serial: number; rttNs: number } | undefined {
    const k = this.slotOf(seq);
    if (k === undefined) return undefined;
    return { target: this.target[k]!, serial: this.serial[k]!, rttNs: Math.max(0, rxNs - this.sentNs[k]!) };
  }

  /** Marks a probe answered; false if it already was (a duplicate reply) or is not remembered. */
  answer(seq: number): boolean {
    const k = this.slotOf(seq);
    if (k === undefined || this.answered[k]) return false;
    this.answered[k] = 1;
    return true;
  }

  /** Calls `lost` for each unanswered probe sent at or before `cutoffNs`, and forgets their open entry. */
  expire(cutoffNs: number, lost: (target: string, seq: number, serial: number) => void): void {
    while (this.openHead < this.open.length) {
      const n = this.open[this.openHead]!;
      const k = n % this.slots;
      if (this.serial[k] === n && this.sentNs[k]! > cutoffNs) break;
      this.openHead++;
      // a slot reused while its probe was open (more in flight than slots: not once fitted) has no verdict
      if (this.serial[k] === n && !this.answered[k]) lost(this.target[k]!, n % SEQ_SPACE, n);
    }
    if (this.openHead > 1024 && this.openHead * 2 > this.open.length) {
      this.open.splice(0, this.openHead);
      this.openHead = 0;
    }
  }

  /** Probes awaiting a verdict. */
  get pending(): number {
    return this.open.length - this.openHead;
  }
}

export interface IcmpProberOptions {
  intervalMs: number;
  netns?: string;
}

/** Reports a probe outcome as the fping parser's events, so the checker handles both probers alike. */
type OnEvent = (gen: string, ev: FpingEvent) => void;

export class IcmpProber implements TargetProber {
  readonly kind = 'icmp';
  private socket: IcmpSocket | undefined;
  private ledger = new ProbeLedger();
  private timer: NodeJS.Timeout | undefined;
  private collectTimer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;
  private stopped = false;
  private generation = 0;
  private tag = '';
  private ident = 0;
  private packet: Buffer = Buffer.alloc(0);
  private nextRoundAt = 0;
  private readonly timeoutNs: number;
  lastError: string | undefined;

  constructor(
    readonly sourceIP: string | undefined,
    public targets: string[],
    private readonly o: IcmpProberOptions,
    private readonly log: Logger,
    private readonly onEvent: OnEvent,
    private readonly onFailure: (targets: readonly string[], err: string | undefined) => void,
  ) {
    this.backoff = new Backoff(Math.min(o.intervalMs, 5000), 30_000);
    this.timeoutNs = probeTimeoutMs(o.intervalMs) * 1e6;
    this.start();
  }

  get running(): boolean {
    return this.socket !== undefined;
  }

  /** No process: the probes leave from this one. */
  get pid(): number | undefined {
    return undefined;
  }

  private start(): void {
    if (this.stopped) return;
    this.generation++;
    this.ident = randomInt(1, 0xffff);
    try {
      this.socket = IcmpSocket.open({ ident: this.ident, sourceIP: this.sourceIP, netns: this.o.netns });
    } catch (err) {
      this.fail(errorMessage(err));
      return;
    }
    this.tag = `${this.sourceIP ?? '-'}#icmp${this.generation}`;
    this.ledger = new ProbeLedger(this.targets.length);
    this.packet = echoRequest(this.ident, 0);
    this.nextRoundAt = performance.now();
    this.round();
  }

  /** A dead socket: every target gets the error, and a new socket is tried after a backoff. */
  private fail(err: string): void {
    this.socket?.close();
    this.socket = undefined;
    this.clearTimers();
    if (this.stopped) return;
    if (err !== this.lastError) this.log.warn({ source: this.sourceIP, targets: this.targets.length, err }, 'health-check prober stopped; restarting');
    this.lastError = err;
    this.onFailure(this.targets, err);
    this.timer = setTimeout(() => this.start(), this.backoff.next());
    this.timer.unref();
  }

  /** Verdicts on the last round (replies read, timeouts declared), then one probe to every target. */
  private round(): void {
    const s = this.socket;
    if (!s || this.stopped) return;
    if (!this.collect()) return;
    for (const target of this.targets) {
      const at = s.nowNs();
      const seq = this.ledger.sent(target, at);
      setEchoSequence(this.packet, seq);
      const errno = s.send(target, this.packet);
      if (errno !== 0) {
        // not sent: no reply can come; the error is the target's, the probe a loss at its timeout
        this.onEvent(this.tag, { kind: 'error', target, message: `error while sending ping: ${errnoText(errno)}` });
      }
    }
    // drift-free: rounds stay on the period's grid whatever each one costs
    this.nextRoundAt += this.o.intervalMs;
    const now = performance.now();
    if (this.nextRoundAt < now) this.nextRoundAt = now + this.o.intervalMs;
    this.timer = setTimeout(() => this.round(), this.nextRoundAt - now);
    this.timer.unref();
    if (this.timeoutNs < this.o.intervalMs * 1e6) {
      this.collectTimer = setTimeout(() => this.collect(), this.timeoutNs / 1e6);
      this.collectTimer.unref();
    }
  }

  /** Reads every queued reply and declares the probes past their timeout lost; false if the socket failed. */
  private collect(): boolean {
    const s = this.socket;
    if (!s) return false;
    try {
      s.receive(this.onPacket);
    } catch (err) {
      this.fail(errorMessage(err));
      return false;
    }
    // a small allowance: the round timer may fire a little before a full period has passed on this clock
    const cutoff = s.nowNs() - this.timeoutNs + Math.min(20e6, this.timeoutNs / 20);
    this.ledger.expire(cutoff, this.onLost);
    return true;
  }

  private readonly onLost = (target: string, _seq: number, serial: number): void => {
    this.onEvent(this.tag, { kind: 'timeout', target, seq: serial });
  };

  private readonly onPacket = (p: IcmpReceived): void => {
    if (p.ident !== this.ident) return;
    const hit = this.ledger.lookup(p.seq, p.rxNs);
    if (!hit) return;
    if (p.kind === 'reply') {
      if (!this.ledger.answer(p.seq)) return;
      this.backoff.reset();
      this.lastError = undefined;
      this.onEvent(this.tag, { kind: 'reply', target: hit.target, seq: hit.serial, rttNs: hit.rttNs });
    } else {
      this.onEvent(this.tag, { kind: 'error', target: hit.target, message: `${icmpErrorText(p.type, p.code)} from ${intToIpv4(p.from)}` });
    }
  };

  /** Same socket, new list: the next round probes exactly these (replies for removed targets are ignored). */
  retarget(targets: string[]): Promise<void> {
    this.targets = targets;
    this.ledger.fit(targets.length);
    this.socket?.keepDestinations(new Set(targets));
    return Promise.resolve();
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.collectTimer) clearTimeout(this.collectTimer);
    this.timer = undefined;
    this.collectTimer = undefined;
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.clearTimers();
    this.socket?.close();
    this.socket = undefined;
    return Promise.resolve();
  }
}
