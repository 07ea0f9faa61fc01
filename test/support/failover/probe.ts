// A 10/s ping between two lab pods, recorded per sequence number, and what a failover cost it: lost
// pings × interval and the time from the failure to the first reply after the last loss.
// Shared by bench/failover/run.ts and test/election/failover.real.test.ts.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { HawserError } from '../../../src/util/errors.js';
import { waitFor } from '../../../src/util/wait.js';

export interface PingRecord {
  seq: number;
  /** Wall-clock ms the echo request left (exact for replies: reply − RTT; interpolated for losses). */
  sentMs: number;
  /** Wall-clock ms the reply arrived; undefined = lost. */
  replyMs?: number;
}

/** One `ping -D` output line: a reply (with RTT) or ping's note that a sequence number went unanswered. */
export type PingLine = { kind: 'reply'; atMs: number; seq: number; rttMs: number } | { kind: 'noanswer'; atMs: number; seq: number };

export function parsePingLine(line: string): PingLine | undefined {
  const ts = /^\[(\d+\.\d+)\]\s+(.*)$/.exec(line.trim());
  if (!ts) return undefined;
  const atMs = Number(ts[1]) * 1000;
  const rest = ts[2]!;
  const reply = /bytes from .*icmp_seq=(\d+).*time=([\d.]+) ms/.exec(rest);
  if (reply && !rest.includes('DUP!')) return { kind: 'reply', atMs, seq: Number(reply[1]), rttMs: Number(reply[2]) };
  const none = /no answer yet for icmp_seq=(\d+)/.exec(rest);
  if (none) return { kind: 'noanswer', atMs, seq: Number(none[1]) };
  return undefined;
}

/**
 * Every sequence number from 1 to the highest seen, with send times: replies give theirs exactly
 * (arrival − RTT); a lost one is placed between its neighbours at the ping interval.
 */
export function buildRecords(lines: readonly PingLine[], intervalMs: number): PingRecord[] {
  const replies = new Map<number, { atMs: number; rttMs: number }>();
  let maxSeq = 0;
  for (const l of lines) {
    maxSeq = Math.max(maxSeq, l.seq);
    if (l.kind === 'reply' && !replies.has(l.seq)) replies.set(l.seq, { atMs: l.atMs, rttMs: l.rttMs });
  }
  const known = [...replies.entries()].map(([seq, r]) => ({ seq, sentMs: r.atMs - r.rttMs })).sort((a, b) => a.seq - b.seq);
  const sentAt = (seq: number): number => {
    if (known.length === 0) return NaN;
    let before = known[0]!;
    let after: typeof before | undefined;
    for (const k of known) {
      if (k.seq <= seq) before = k;
      else {
        after = k;
        break;
      }
    }
    if (before.seq === seq) return before.sentMs;
    if (after && before.seq < seq) return before.sentMs + ((after.sentMs - before.sentMs) * (seq - before.seq)) / (after.seq - before.seq);
    const anchor = before.seq <= seq ? before : after!;
    return anchor.sentMs + (seq - anchor.seq) * intervalMs;
  };
  const out: PingRecord[] = [];
  for (let seq = 1; seq <= maxSeq; seq++) {
    const r = replies.get(seq);
    out.push({ seq, sentMs: sentAt(seq), replyMs: r?.atMs });
  }
  return out;
}

export interface Outage {
  /** Pings sent from shortly before the event on that got no reply. */
  lost: number;
  /** lost × interval: how long the path was down as a 10/s ping saw it. */
  outageMs: number;
  /** From the event to the first reply after the last loss (0 when nothing was lost). */
  firstReplyMs: number;
  /** Losses before the event (the baseline: should be 0). */
  lostBefore: number;
  /** Replies after the last loss (a restored path keeps answering). */
  repliesAfter: number;
}

/**
 * What an event at `eventMs` cost. Pings sent up to one interval before it count (one may be in flight
 * when the path breaks); pings sent in the last `settleMs` before `endMs` are not judged yet.
 */
export function outageOf(records: readonly PingRecord[], eventMs: number, intervalMs: number, endMs = Infinity, settleMs = 1000): Outage {
  const from = eventMs - intervalMs;
  const judged = records.filter((r) => r.sentMs <= endMs - settleMs);
  const lostBefore = judged.filter((r) => r.sentMs < from && r.replyMs === undefined).length;
  const after = judged.filter((r) => r.sentMs >= from);
  const lostRecs = after.filter((r) => r.replyMs === undefined);
  if (lostRecs.length === 0) return { lost: 0, outageMs: 0, firstReplyMs: 0, lostBefore, repliesAfter: after.length };
  const lastLost = lostRecs.at(-1)!.seq;
  const firstAfter = after.find((r) => r.seq > lastLost && r.replyMs !== undefined);
  return {
    lost: lostRecs.length,
    outageMs: lostRecs.length * intervalMs,
    firstReplyMs: firstAfter ? firstAfter.replyMs! - eventMs : NaN,
    lostBefore,
    repliesAfter: after.filter((r) => r.seq > lastLost && r.replyMs !== undefined).length,
  };
}

/** `ping -D -O -i <interval>` inside a netns, kept running until stop(); killed by its own PID. */
export class PingProbe {
  private readonly lines: PingLine[] = [];
  private buf = '';
  private exited = false;
  private stderr = '';

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    readonly intervalMs: number,
  ) {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const l = parsePingLine(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
        if (l) this.lines.push(l);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-500)));
    child.on('exit', () => (this.exited = true));
  }

  /** `ip netns exec` execs ping, so the child's PID is ping's. */
  static start(netns: string, ip: string, intervalMs = 100): PingProbe {
    const child = spawn('ip', ['netns', 'exec', netns, 'ping', '-n', '-D', '-O', '-i', String(intervalMs / 1000), '-W', '1', ip], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end();
    return new PingProbe(child, intervalMs);
  }

  records(): PingRecord[] {
    return buildRecords(this.lines, this.intervalMs);
  }

  /** Resolves once the last `n` sequence numbers were all answered (the path works right now). */
  async waitAnswering(n: number, timeoutMs: number, what = 'the ping to answer'): Promise<void> {
    await waitFor(() => {
      if (this.exited) throw new HawserError('EXEC', `ping exited: ${this.stderr.trim()}`);
      const recs = this.records().filter((r) => r.sentMs < Date.now() - 1000);
      const tail = recs.slice(-n);
      return tail.length === n && tail.every((r) => r.replyMs !== undefined);
    }, { timeoutMs, intervalMs: 100, what: `${what} (${n} replies in a row)` });
  }

  /** Waits until the path answers again after an event (n replies in a row after the last loss). */
  async waitRestored(eventMs: number, n: number, timeoutMs: number): Promise<Outage> {
    return waitFor(() => {
      if (this.exited) throw new HawserError('EXEC', `ping exited: ${this.stderr.trim()}`);
      const now = Date.now();
      const o = outageOf(this.records(), eventMs, this.intervalMs, now);
      return now - eventMs > 1500 && o.repliesAfter >= n && (o.lost === 0 || !Number.isNaN(o.firstReplyMs)) ? o : undefined;
    }, { timeoutMs, intervalMs: 100, what: 'the cross-cluster ping to be restored' });
  }

  async stop(): Promise<PingRecord[]> {
    if (!this.exited && this.child.pid !== undefined) {
      const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGINT');
      await Promise.race([done, new Promise((r) => setTimeout(r, 2000))]);
      if (!this.exited) this.child.kill('SIGKILL');
    }
    return this.records();
  }
}
