// Health of a role process, as the kubelet's probes see it: a small registry of named checks that the
// parts of a role register into. GET /healthz (liveness) runs the liveness checks, GET /readyz the
// readiness checks; each check answers undefined (fine) or why it is not.
//
// Liveness means "a restart would help": the event loop stalls, an informer never synced or stopped
// watching, a periodic loop stopped completing; each with a grace long enough that a short API outage
// does not restart the pod (the data path survives a restart, but a restart still resets cables' state).
// Readiness means "working now": the same checks, without the grace.
import { monotonicNowMs } from './clock.js';

export type Probe = 'live' | 'ready';

export type CheckFn = (probe: Probe, nowMs: number) => string | undefined;

export interface CheckResult {
  name: string;
  /** undefined when the check passes */
  reason?: string;
}

export interface HealthReport {
  ok: boolean;
  results: CheckResult[];
}

/** What trackInformer reads: src/k8s/informer.ts's Informer has exactly these. */
export interface InformerLike {
  readonly hasSynced: boolean;
  readonly lastError?: string | undefined;
  /** Wall-clock ms of the first failure since the last successful list; undefined while fine. */
  readonly failingSinceMs?: number | undefined;
}

export interface HealthTimings {
  /** An event-loop stall longer than this fails the checks. */
  maxStallMs: number;
  /** ... for this long after it happened. */
  stallMemoryMs: number;
  /** An informer may take this long to sync, or keep failing to watch, before liveness fails. */
  informerGraceMs: number;
  /** A periodic loop may miss completions for this many periods (at least `minLoopGraceMs`) before liveness fails. */
  loopGracePeriods: number;
  minLoopGraceMs: number;
}

export const DEFAULT_HEALTH_TIMINGS: Readonly<HealthTimings> = {
  maxStallMs: 2000,
  stallMemoryMs: 30_000,
  informerGraceMs: 120_000,
  loopGracePeriods: 3,
  minLoopGraceMs: 60_000,
};

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

export class HealthChecks {
  private readonly checks = new Map<string, CheckFn>();
  private stallWatcher: { timer: NodeJS.Timeout; users: number } | undefined;
  private lastStall: { atMs: number; ms: number } | undefined;

  constructor(
    readonly timings: Readonly<HealthTimings> = DEFAULT_HEALTH_TIMINGS,
    private readonly now: () => number = monotonicNowMs,
    private readonly wallNow: () => number = Date.now,
  ) {}

  /** Adds (or replaces) a named check; the returned function removes it. */
  register(name: string, check: CheckFn): () => void {
    this.checks.set(name, check);
    return () => {
      if (this.checks.get(name) === check) this.checks.delete(name);
    };
  }

  names(): string[] {
    return [...this.checks.keys()];
  }

  run(probe: Probe): HealthReport {
    const nowMs = this.now();
    const results: CheckResult[] = [];
    for (const [name, check] of this.checks) {
      let reason: string | undefined;
      try {
        reason = check(probe, nowMs);
      } catch (err) {
        reason = `check failed: ${err instanceof Error ? err.message : String(err)}`;
      }
      results.push(reason === undefined ? { name } : { name, reason });
    }
    return { ok: results.every((r) => r.reason === undefined), results };
  }

  /**
   * Measures event-loop stalls with a timer that should fire every `tickMs` (unref'd: it keeps nothing
   * alive). A loop blocked for good cannot answer the probe at all; this catches the stalls between.
   */
  watchEventLoop(tickMs = 250): () => void {
    if (!this.stallWatcher) {
      let expected = this.now() + tickMs;
      const timer = setInterval(() => {
        const t = this.now();
        const late = t - expected;
        if (late > this.timings.maxStallMs) this.lastStall = { atMs: t, ms: late };
        expected = t + tickMs;
      }, tickMs);
      timer.unref();
      this.stallWatcher = { timer, users: 0 };
      this.register('event-loop', (_probe, nowMs) => {
        const s = this.lastStall;
        if (!s || nowMs - s.atMs > this.timings.stallMemoryMs) return undefined;
        return `event loop stalled for ${seconds(s.ms)} ${seconds(nowMs - s.atMs)} ago (limit ${seconds(this.timings.maxStallMs)})`;
      });
    }
    this.stallWatcher.users++;
    return () => {
      if (!this.stallWatcher || --this.stallWatcher.users > 0) return;
      clearInterval(this.stallWatcher.timer);
      this.stallWatcher = undefined;
      this.checks.delete('event-loop');
    };
  }

  /** An informer: readiness needs it synced and watching; liveness fails after the grace. */
  trackInformer(name: string, informer: InformerLike): () => void {
    const since = this.now();
    return this.register(`informer:${name}`, (probe, nowMs) => {
      const grace = probe === 'live' ? this.timings.informerGraceMs : 0;
      if (!informer.hasSynced) {
        return nowMs - since >= grace ? `informer ${name} has not synced after ${seconds(nowMs - since)}${informer.lastError ? `: ${informer.lastError}` : ''}` : undefined;
      }
      if (informer.failingSinceMs === undefined) return undefined;
      const failingFor = Math.max(0, this.wallNow() - informer.failingSinceMs);
      return failingFor >= grace ? `informer ${name} stopped watching ${seconds(failingFor)} ago: ${informer.lastError ?? 'list/watch failing'}` : undefined;
    });
  }

  /**
   * A loop that should complete every `periodMs`: call `beat()` at each completed pass. Not ready before
   * the first pass; not live when no pass completed within the grace (since start or the last pass).
   */
  loop(name: string, periodMs: number): { beat(): void; remove(): void } {
    const startedAt = this.now();
    let last: number | undefined;
    const remove = this.register(`loop:${name}`, (probe, nowMs) => {
      const grace = Math.max(this.timings.minLoopGraceMs, periodMs * this.timings.loopGracePeriods);
      if (last === undefined) {
        if (probe === 'ready') return `${name} has not completed a pass yet`;
        return nowMs - startedAt > grace ? `${name} has not completed a pass in ${seconds(nowMs - startedAt)} since start (period ${seconds(periodMs)})` : undefined;
      }
      const age = nowMs - last;
      const limit = probe === 'live' ? grace : periodMs * this.timings.loopGracePeriods;
      return age > limit ? `${name} has not completed a pass for ${seconds(age)} (period ${seconds(periodMs)})` : undefined;
    });
    return { beat: () => void (last = this.now()), remove };
  }
}

let processHealth: HealthChecks | undefined;

/** The process's registry: what the roles' parts register into and the metrics server answers from. */
export function defaultHealth(): HealthChecks {
  processHealth ??= new HealthChecks();
  return processHealth;
}

/** Shorthand for the process registry, for libraries (the informer) that should not know about servers. */
export function trackInformer(name: string, informer: InformerLike): () => void {
  return defaultHealth().trackInformer(name, informer);
}
