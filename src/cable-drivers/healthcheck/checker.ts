// Per-connection health check: one long-lived `ping -n -O -i <interval> -I <source> <target>` per
// connection (Node has no raw ICMP sockets), its output parsed into a sliding window of statistics.
// `maxLoss` consecutive losses make a connection unhealthy (the engine then reports it as `error`).
// A ping that cannot run (no route yet, source address missing) is restarted with backoff; while it
// is silent, each interval without output counts as a loss, so a dead pinger never looks healthy.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import type { Logger } from '../../log/index.js';
import { netnsArgv } from '../../util/exec.js';
import { Backoff } from '../../util/wait.js';
import { parsePingLine, pingArgs } from './ping-output.js';
import { DEFAULT_WINDOW, type HealthStats, PingStats } from './stats.js';

export interface HealthTarget {
  cableName: string;
  /** The remote endpoint's healthCheckIP. */
  targetIP: string;
  /** Our address inside a local cluster CIDR (see chooseHealthCheckIP); without it the kernel picks. */
  sourceIP?: string;
}

export interface HealthCheckerOptions {
  log: Logger;
  intervalMs: number;
  /** Consecutive losses that make a connection unhealthy (SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT). */
  maxLoss: number;
  /** Run ping in this network namespace (tests; the agent itself runs in the node's namespace). */
  netns?: string;
  /** Probes kept for loss percentage and RTT statistics. */
  windowSize?: number;
  /** Default `ping` (iputils). */
  pingCommand?: string;
}

export interface CableHealth extends HealthStats {
  targetIP: string;
  sourceIP?: string;
  /** Whether a ping process is running right now. */
  running: boolean;
  /** Why ping last failed to run, if it did. */
  lastError?: string;
}

export interface HealthCheckerEvents {
  /** New statistics (every probe outcome). */
  change: [cableName: string, health: CableHealth];
  /** Healthy flipped. */
  health: [cableName: string, healthy: boolean, health: CableHealth];
}

const STDERR_KEEP = 1000;

class Pinger {
  private child: ChildProcess | undefined;
  private generation = 0;
  private readonly stats: PingStats;
  private evidenceSinceTick = false;
  private silentTicks = 0;
  private readonly watchdog: NodeJS.Timeout;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;
  private stopped = false;
  private wasHealthy = true;
  lastError: string | undefined;

  constructor(
    readonly target: HealthTarget,
    private readonly o: Required<Pick<HealthCheckerOptions, 'intervalMs' | 'maxLoss' | 'pingCommand'>> & { netns?: string; windowSize: number },
    private readonly log: Logger,
    private readonly notify: (h: CableHealth, flipped: boolean) => void,
  ) {
    this.stats = new PingStats(o.windowSize);
    this.backoff = new Backoff(o.intervalMs, 30_000);
    this.watchdog = setInterval(() => this.tick(), o.intervalMs);
    this.spawn();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  health(): CableHealth {
    const h: CableHealth = { ...this.stats.snapshot(this.o.maxLoss), targetIP: this.target.targetIP, running: this.child !== undefined };
    if (this.target.sourceIP) h.sourceIP = this.target.sourceIP;
    if (this.lastError) h.lastError = this.lastError;
    return h;
  }

  private spawn(): void {
    if (this.stopped) return;
    const gen = ++this.generation;
    const [file, argv] = netnsArgv(this.o.pingCommand, pingArgs({ intervalMs: this.o.intervalMs, sourceIP: this.target.sourceIP, targetIP: this.target.targetIP }), this.o.netns);
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-STDERR_KEEP)));
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(gen, line));
    let gone = false;
    const onGone = (why: string): void => {
      if (gone) return;
      gone = true;
      if (gen !== this.generation || this.stopped) return;
      this.child = undefined;
      const err = stderr.trim().split('\n').pop() || why;
      if (err !== this.lastError) this.log.warn({ target: this.target.targetIP, source: this.target.sourceIP, err }, 'health-check ping stopped; restarting');
      this.lastError = err;
      this.restartTimer = setTimeout(() => this.spawn(), this.backoff.next());
    };
    child.on('error', (err) => onGone(`cannot run ${this.o.pingCommand}: ${err.message}`));
    child.on('close', (code, signal) => onGone(`${this.o.pingCommand} exited ${signal ?? code}`));
  }

  private onLine(gen: number, line: string): void {
    const ev = parsePingLine(line);
    const key = (seq: number): string => `${gen}:${seq}`;
    let changed = false;
    if (ev.kind === 'reply') {
      changed = this.stats.reply(key(ev.seq), ev.rttNs);
      this.backoff.reset();
      this.lastError = undefined;
    } else if (ev.kind === 'no-answer' || ev.kind === 'error') {
      changed = this.stats.lost(key(ev.seq));
    } else {
      return;
    }
    this.evidenceSinceTick = true;
    if (changed) this.emit();
  }

  /** Each interval: two silent intervals in a row count as a loss (ping dead, hung or not yet started). */
  private tick(): void {
    if (this.evidenceSinceTick) {
      this.evidenceSinceTick = false;
      this.silentTicks = 0;
      return;
    }
    if (++this.silentTicks >= 2) {
      this.stats.lost(undefined);
      this.emit();
    }
  }

  private emit(): void {
    const h = this.health();
    const flipped = h.healthy !== this.wasHealthy;
    this.wasHealthy = h.healthy;
    this.notify(h, flipped);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    this.child = undefined;
    await endChild(child);
  }
}

/** SIGTERM a prober process, SIGKILL after 1 s, and wait for it to close (used by both checkers). */
export async function endChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  const pid = child.pid;
  const kill = (sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  kill('SIGTERM');
  const hard = setTimeout(() => kill('SIGKILL'), 1000);
  await exited;
  clearTimeout(hard);
}

export const sameTarget = (a: HealthTarget, b: HealthTarget): boolean => a.targetIP === b.targetIP && (a.sourceIP ?? '') === (b.sourceIP ?? '');

export class HealthChecker extends EventEmitter<HealthCheckerEvents> {
  private readonly pingers = new Map<string, Pinger>();
  private readonly log: Logger;
  private readonly o: Required<Pick<HealthCheckerOptions, 'intervalMs' | 'maxLoss' | 'pingCommand'>> & { netns?: string; windowSize: number };

  constructor(opts: HealthCheckerOptions) {
    super();
    this.log = opts.log.child({ component: 'healthcheck' });
    this.o = {
      intervalMs: opts.intervalMs,
      maxLoss: opts.maxLoss,
      pingCommand: opts.pingCommand ?? 'ping',
      netns: opts.netns,
      windowSize: opts.windowSize ?? DEFAULT_WINDOW,
    };
  }

  /** Level-triggered: exactly these connections are checked; a changed target restarts its statistics. */
  setTargets(targets: readonly HealthTarget[]): void {
    const want = new Map(targets.map((t) => [t.cableName, t]));
    for (const [name, p] of this.pingers) {
      const t = want.get(name);
      if (!t || !sameTarget(t, p.target)) {
        this.pingers.delete(name);
        void p.stop();
      }
    }
    for (const t of want.values()) {
      if (this.pingers.has(t.cableName)) continue;
      const log = this.log.child({ cable: t.cableName });
      log.info({ target: t.targetIP, source: t.sourceIP, intervalMs: this.o.intervalMs }, 'health check started');
      const p = new Pinger({ ...t }, this.o, log, (h, flipped) => {
        if (this.pingers.get(t.cableName) !== p) return;
        this.emit('change', t.cableName, h);
        if (!flipped) return;
        if (h.healthy) log.info({ target: t.targetIP }, 'health check: connection healthy again');
        else log.warn({ target: t.targetIP, lost: h.consecutiveLost, err: h.lastError }, 'health check: connection unhealthy');
        this.emit('health', t.cableName, h.healthy, h);
      });
      this.pingers.set(t.cableName, p);
    }
  }

  stats(cableName: string): CableHealth | undefined {
    return this.pingers.get(cableName)?.health();
  }

  /** Why the connection counts as down, or undefined while it is healthy (or not checked). */
  unhealthyReason(cableName: string): string | undefined {
    const h = this.stats(cableName);
    if (!h || h.healthy) return undefined;
    const why = h.lastError ? ` (ping: ${h.lastError})` : '';
    return `no reply to the last ${h.consecutiveLost} health-check pings to ${h.targetIP}${why}`;
  }

  /** PIDs of the running ping processes (diagnostics and tests). */
  pids(): number[] {
    return [...this.pingers.values()].map((p) => p.pid).filter((x): x is number => x !== undefined);
  }

  async stop(): Promise<void> {
    const all = [...this.pingers.values()];
    this.pingers.clear();
    await Promise.all(all.map((p) => p.stop()));
  }
}
