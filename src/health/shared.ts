// Health check with one long-lived prober for all targets (one per distinct source address, normally
// exactly one per node), instead of one `ping` per connection. The prober is chosen once, at start: a raw
// ICMP socket in this process (icmp-prober.ts: no process at all; bench/health: 0.55–0.65 % of a core
// for 200 targets at 1 s, against 6.6–7.6 % for the fping path) when one can be opened (CAP_NET_RAW),
// else one `fping -l` process (FpingProber below). IPv6 is probed by fping either way.
//
// Semantics per connection: a sliding window of probes (RTT last/min/avg/max/stddev,
// loss percentage), unhealthy after `maxLoss` consecutive losses, a prober that cannot run is restarted
// with backoff and its silence counts as loss. A change of the target set restarts the one process with
// the new list; statistics of targets that stay are kept.
import { spawn, type ChildProcess } from 'node:child_process';
import { isIP } from 'node:net';
import { EventEmitter } from 'node:events';
import type { Logger } from '../log/index.js';
import { netnsArgv } from '../util/exec.js';
import { Backoff } from '../util/wait.js';
import { rawIcmpAvailable } from '../os/icmp.js';
import { endChild, sameTarget, type CableHealth, type HealthCheckerEvents, type HealthTarget, type ProberKind, type TargetProber } from './target.js';
import { eachLine, fpingArgs, parseFpingLine, type FpingEvent } from './fping-output.js';
import { IcmpProber } from './icmp-prober.js';
import { DEFAULT_WINDOW, PingStats } from './stats.js';

export interface SharedHealthCheckerOptions {
  log: Logger;
  /** Period between two probes of one target. */
  intervalMs: number;
  /** Consecutive losses that make a connection unhealthy. */
  maxLoss: number;
  /** Run the prober in this network namespace (tests; the agent runs in the node's namespace). */
  netns?: string;
  windowSize?: number;
  /** Default `fping` (Debian package fping, 5.x). Giving one means `prober: 'fping'` unless said otherwise. */
  fpingCommand?: string;
  /**
   * `auto` (default): the in-process ICMP prober if a raw ICMP socket can be opened here, else fping.
   * Decided once, when the checker starts.
   */
  prober?: 'auto' | ProberKind;
}

const STDERR_KEEP = 1000;

/** One connection's view: its target and statistics. */
class TargetState {
  readonly stats: PingStats;
  evidenceSinceTick = false;
  silentTicks = 0;
  wasHealthy = true;
  lastError: string | undefined;
  constructor(readonly target: HealthTarget, windowSize: number) {
    this.stats = new PingStats(windowSize);
  }
}

/** One fping process for every target sharing a source address. */
class FpingProber implements TargetProber {
  readonly kind = 'fping';
  child: ChildProcess | undefined;
  private generation = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;
  private stopped = false;
  private restarting: Promise<void> | undefined;
  lastError: string | undefined;

  constructor(
    readonly sourceIP: string | undefined,
    public targets: string[],
    private readonly o: { intervalMs: number; netns?: string; command: string },
    private readonly log: Logger,
    private readonly onEvent: (gen: string, ev: FpingEvent) => void,
    private readonly onFailure: (targets: readonly string[], err: string | undefined) => void,
  ) {
    this.backoff = new Backoff(Math.min(o.intervalMs, 5000), 30_000);
    this.spawn();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  private spawn(): void {
    if (this.stopped) return;
    const gen = ++this.generation;
    const [file, argv] = netnsArgv(this.o.command, fpingArgs({ intervalMs: this.o.intervalMs, sourceIP: this.sourceIP, targets: this.targets }), this.o.netns);
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let stderr = '';
    const tag = `${this.sourceIP ?? '-'}#${gen}`;
    eachLine(child.stdout!, (line) => {
      if (gen !== this.generation) return;
      const ev = parseFpingLine(line);
      if (ev.kind === 'reply') {
        this.backoff.reset();
        this.lastError = undefined;
      }
      this.onEvent(tag, ev);
    });
    eachLine(child.stderr!, (line) => {
      stderr = (stderr + line + '\n').slice(-STDERR_KEEP);
      if (gen !== this.generation) return;
      const ev = parseFpingLine(line);
      if (ev.kind === 'error') this.onEvent(tag, ev);
    });
    let gone = false;
    const onGone = (why: string): void => {
      if (gone) return;
      gone = true;
      if (gen !== this.generation || this.stopped) return;
      this.child = undefined;
      const err = stderr.trim().split('\n').pop() || why;
      if (err !== this.lastError) this.log.warn({ source: this.sourceIP, targets: this.targets.length, err }, 'health-check prober stopped; restarting');
      this.lastError = err;
      this.onFailure(this.targets, err);
      this.restartTimer = setTimeout(() => this.spawn(), this.backoff.next());
    };
    child.on('error', (err) => onGone(`cannot run ${this.o.command}: ${err.message}`));
    child.on('close', (code, signal) => onGone(`${this.o.command} exited ${signal ?? code}`));
  }

  /**
   * Same process, new target list: the old one is ended by PID and one new one started with the latest list.
   * Changes that arrive while the old process is ending join that one restart: started one per change, a
   * burst of Endpoints left every intermediate fping running, unowned (an extra process per target).
   */
  retarget(targets: string[]): Promise<void> {
    this.targets = targets;
    this.restarting ??= this.restart();
    return this.restarting;
  }

  private async restart(): Promise<void> {
    try {
      const old = this.child;
      this.generation++;
      this.child = undefined;
      if (this.restartTimer) clearTimeout(this.restartTimer);
      await endChild(old);
      this.spawn();
    } finally {
      this.restarting = undefined;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.restarting;
    const child = this.child;
    this.child = undefined;
    await endChild(child);
  }
}

/** Probers are per source address; without one, per family (an IPv6 target never joins the ICMPv4 prober). */
const sourceKey = (t: HealthTarget): string => t.sourceIP ?? (isIP(t.targetIP) === 6 ? NO_SOURCE_V6 : '');
const NO_SOURCE_V6 = '/6';
const sourceOf = (key: string): string | undefined => (key === '' || key === NO_SOURCE_V6 ? undefined : key);
const NONE: readonly TargetState[] = [];

export class SharedHealthChecker extends EventEmitter<HealthCheckerEvents> {
  private readonly states = new Map<string, TargetState>();
  private readonly probers = new Map<string, TargetProber>();
  /** The prober kind, chosen at start (IPv6 sources and targets use fping whatever it is). */
  readonly prober: ProberKind;
  /** Why the in-process prober is not used, when `auto` fell back to fping (added to fping's errors). */
  readonly fallbackReason: string | undefined;
  private readonly log: Logger;
  private readonly watchdog: NodeJS.Timeout;
  private readonly windowSize: number;
  private pending: Promise<void> = Promise.resolve();
  private stopped = false;
  /** States by prober source and target IP; rebuilt after the target set changes. */
  private byProbe: Map<string, Map<string, TargetState[]>> | undefined;

  constructor(private readonly o: SharedHealthCheckerOptions) {
    super();
    this.log = o.log.child({ component: 'healthcheck' });
    this.windowSize = o.windowSize ?? DEFAULT_WINDOW;
    const want = o.prober ?? (o.fpingCommand ? 'fping' : 'auto');
    if (want === 'auto') {
      const raw = rawIcmpAvailable(o.netns);
      this.prober = raw.ok ? 'icmp' : 'fping';
      if (!raw.ok) {
        this.fallbackReason = `in-process ICMP prober unavailable: ${raw.reason}`;
        this.log.warn({ err: raw.reason }, 'health check: cannot open a raw ICMP socket (needs CAP_NET_RAW); probing with one fping -l process instead');
      }
    } else {
      this.prober = want;
    }
    this.log.info({ prober: this.prober, intervalMs: o.intervalMs }, this.prober === 'icmp' ? 'health check: probing from this process through one raw ICMP socket per source address' : 'health check: probing with one fping -l process per source address');
    this.watchdog = setInterval(() => this.tick(), o.intervalMs);
    this.watchdog.unref();
  }

  /** Level-triggered: exactly these connections are checked; a changed target restarts its statistics. */
  setTargets(targets: readonly HealthTarget[]): void {
    if (this.stopped) return;
    const want = new Map(targets.filter((t) => t.targetIP).map((t) => [t.cableName, t]));
    for (const [name, s] of this.states) {
      const t = want.get(name);
      if (!t || !sameTarget(t, s.target)) this.states.delete(name);
    }
    this.byProbe = undefined;
    for (const t of want.values()) {
      if (this.states.has(t.cableName)) continue;
      this.states.set(t.cableName, new TargetState({ ...t }, this.windowSize));
      this.log.info({ cable: t.cableName, target: t.targetIP, source: t.sourceIP, intervalMs: this.o.intervalMs }, 'health check started');
    }
    // one prober per source address, over the distinct target IPs
    const bySource = new Map<string, Set<string>>();
    for (const s of this.states.values()) {
      const k = sourceKey(s.target);
      if (!bySource.has(k)) bySource.set(k, new Set());
      bySource.get(k)!.add(s.target.targetIP);
    }
    const work: Array<Promise<void>> = [];
    for (const [k, p] of this.probers) {
      const ips = bySource.get(k);
      if (!ips || this.kindFor(k, ips) !== p.kind) {
        this.probers.delete(k);
        work.push(p.stop());
      } else {
        const list = [...ips].sort();
        if (list.join(' ') !== p.targets.join(' ')) work.push(p.retarget(list));
      }
    }
    for (const [k, ips] of bySource) {
      if (this.probers.has(k)) continue;
      const onEvent = (gen: string, ev: FpingEvent): void => this.onEvent(k, gen, ev);
      const onFailure = (ips2: readonly string[], err: string | undefined): void => this.onFailure(k, ips2, err);
      const prober: TargetProber = this.kindFor(k, ips) === 'icmp'
        ? new IcmpProber(sourceOf(k), [...ips].sort(), { intervalMs: this.o.intervalMs, netns: this.o.netns }, this.log, onEvent, onFailure)
        : new FpingProber(sourceOf(k), [...ips].sort(), { intervalMs: this.o.intervalMs, netns: this.o.netns, command: this.o.fpingCommand ?? 'fping' }, this.log, onEvent, onFailure);
      this.probers.set(k, prober);
    }
    this.pending = Promise.all([this.pending, ...work]).then(() => undefined);
  }

  /** The in-process prober speaks ICMPv4 only: a source with an IPv6 address or target is probed by fping. */
  private kindFor(source: string, ips: Iterable<string>): ProberKind {
    if (this.prober === 'fping' || source === NO_SOURCE_V6 || (source && isIP(source) !== 4)) return 'fping';
    for (const ip of ips) if (isIP(ip) !== 4) return 'fping';
    return 'icmp';
  }

  /** The connections a probe outcome is about: an index by source then target, as every outcome is looked up. */
  private statesFor(source: string, target: string): readonly TargetState[] {
    if (!this.byProbe) {
      this.byProbe = new Map();
      for (const st of this.states.values()) {
        const k = sourceKey(st.target);
        let bySource = this.byProbe.get(k);
        if (!bySource) this.byProbe.set(k, (bySource = new Map()));
        const list = bySource.get(st.target.targetIP);
        if (list) list.push(st);
        else bySource.set(st.target.targetIP, [st]);
      }
    }
    return this.byProbe.get(source)?.get(target) ?? NONE;
  }

  private onEvent(source: string, gen: string, ev: FpingEvent): void {
    if (ev.kind === 'other') return;
    for (const s of this.statesFor(source, ev.target)) {
      if (ev.kind === 'error') {
        s.lastError = ev.message;
        continue;
      }
      let changed: boolean;
      if (ev.kind === 'reply') {
        changed = s.stats.reply(`${gen}:${ev.seq}`, ev.rttNs);
        s.lastError = undefined;
      } else {
        changed = s.stats.lost(`${gen}:${ev.seq}`);
      }
      s.evidenceSinceTick = true;
      if (changed) this.emitFor(s);
    }
  }

  private onFailure(source: string, targets: readonly string[], err: string | undefined): void {
    for (const t of targets) for (const s of this.statesFor(source, t)) s.lastError = err;
  }

  /** Each interval: two silent intervals in a row count as a loss (prober dead, hung or not yet started). */
  private tick(): void {
    for (const s of this.states.values()) {
      if (s.evidenceSinceTick) {
        s.evidenceSinceTick = false;
        s.silentTicks = 0;
        continue;
      }
      if (++s.silentTicks >= 2) {
        s.stats.lost(undefined);
        this.emitFor(s);
      }
    }
  }

  private healthOf(s: TargetState): CableHealth {
    const prober = this.probers.get(sourceKey(s.target));
    const h: CableHealth = { ...s.stats.snapshot(this.o.maxLoss), targetIP: s.target.targetIP, running: prober?.running ?? false, prober: prober?.kind ?? this.prober };
    if (s.target.sourceIP) h.sourceIP = s.target.sourceIP;
    const err = s.lastError ?? prober?.lastError;
    if (err) h.lastError = this.fallbackReason && err === prober?.lastError ? `${err}; ${this.fallbackReason}` : err;
    return h;
  }

  /**
   * After each probe outcome: O(1) unless someone listens for every change or health flips, so that a
   * node probing hundreds of remotes each second does not rebuild their statistics on every reply.
   */
  private emitFor(s: TargetState): void {
    const name = s.target.cableName;
    if (this.listenerCount('change') > 0) this.emit('change', name, this.healthOf(s));
    const healthy = s.stats.consecutiveLost() < this.o.maxLoss;
    if (healthy === s.wasHealthy) return;
    const h = this.healthOf(s);
    s.wasHealthy = h.healthy;
    const log = this.log.child({ cable: name });
    if (h.healthy) log.info({ target: s.target.targetIP }, 'health check: connection healthy again');
    else log.warn({ target: s.target.targetIP, lost: h.consecutiveLost, err: h.lastError }, 'health check: connection unhealthy');
    this.emit('health', name, h.healthy, h);
  }

  stats(cableName: string): CableHealth | undefined {
    const s = this.states.get(cableName);
    return s ? this.healthOf(s) : undefined;
  }

  /** Why the connection counts as down, or undefined while it is healthy (or not checked). */
  unhealthyReason(cableName: string): string | undefined {
    // Asked for every cable on every observation: a healthy one answers without building its statistics.
    const s = this.states.get(cableName);
    if (!s || s.stats.consecutiveLost() < this.o.maxLoss) return undefined;
    const h = this.healthOf(s);
    const why = h.lastError ? ` (${h.lastError})` : '';
    return `no reply to the last ${h.consecutiveLost} health-check pings to ${h.targetIP}${why}`;
  }

  /** PIDs of the running prober processes (diagnostics and tests). */
  pids(): number[] {
    return [...this.probers.values()].map((p) => p.pid).filter((x): x is number => x !== undefined);
  }

  /** Resolves once target changes made so far have ended the processes they replaced. */
  settled(): Promise<void> {
    return this.pending;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    const all = [...this.probers.values()];
    this.probers.clear();
    this.states.clear();
    this.byProbe = undefined;
    await Promise.all([this.pending, ...all.map((p) => p.stop())]);
  }
}
