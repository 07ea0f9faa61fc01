// How long cross-cluster pings took to recover after a fault, and whether a failover stayed within its bound.
// Pure: the soak (test/support/soak/soak.ts) records one ping round a second and hands the records here.

/** One ping of one pair in one round (`at` = when the round started; every pair of a round shares it). */
export interface PingRecord {
  at: number;
  pair: string;
  ok: boolean;
}

export type FailoverKind = 'failover (graceful)' | 'failover (node loss)';

/** The election bars (bench/failover, README "Benchmarks"): failure → traffic through the new active gateway. */
export const FAILOVER_BAR_MS: Readonly<Record<FailoverKind, number>> = {
  'failover (graceful)': 1000,
  'failover (node loss)': 4000,
};

/**
 * What the soak asserts: the bar plus margin for this shared, loaded 2-core machine. Pings run once a second
 * with a 1 s timeout (so the measurement alone is up to ~2 s coarse), and under load the Lease renewals and the
 * new gateway's first handshake run late; a recovery beyond these is a violation.
 */
export const FAILOVER_RECOVERY_BOUND_MS: Readonly<Record<FailoverKind, number>> = {
  'failover (graceful)': 5000,
  'failover (node loss)': 10_000,
};

/** Consecutive all-answering rounds that count as recovered (one lucky reply inside an outage does not). */
export const RECOVERED_AFTER_OK_ROUNDS = 3;

export function isFailover(kind: string): kind is FailoverKind {
  return Object.hasOwn(FAILOVER_BAR_MS, kind);
}

/**
 * Event → the first round of the first run of RECOVERED_AFTER_OK_ROUNDS rounds in which every one of `pairs`
 * answered, counted from the first failed round at or after the event: 0 when rounds of `pairs` ran within
 * `horizonMs` and none failed; undefined when they failed and never recovered within it, or no round ran. A run cut short by the end of the
 * records counts if every round in it answered.
 */
export function recoveryMs(pings: readonly PingRecord[], eventAt: number, pairs: readonly string[], horizonMs: number): number | undefined {
  const want = new Set(pairs);
  const rounds = new Map<number, boolean>();
  for (const p of pings) {
    if (!want.has(p.pair) || p.at < eventAt || p.at >= eventAt + horizonMs) continue;
    rounds.set(p.at, (rounds.get(p.at) ?? true) && p.ok);
  }
  const seq = [...rounds].sort((a, b) => a[0] - b[0]);
  // No round at all (the ping loop itself stalled on a starved machine) is no evidence of recovery.
  if (seq.length === 0) return undefined;
  const firstFail = seq.findIndex(([, ok]) => !ok);
  if (firstFail < 0) return 0;
  for (let i = firstFail + 1; i < seq.length; i++) {
    const run = seq.slice(i, i + RECOVERED_AFTER_OK_ROUNDS);
    if (run.every(([, ok]) => ok)) return seq[i]![0] - eventAt;
  }
  return undefined;
}

/** The violation for a failover's recovery, or undefined when it stayed within its bound. */
export function failoverViolation(kind: FailoverKind, what: string, recovery: number | undefined, bounds: Readonly<Record<FailoverKind, number>> = FAILOVER_RECOVERY_BOUND_MS): string | undefined {
  const bound = bounds[kind];
  if (recovery !== undefined && recovery <= bound) return undefined;
  const seen = recovery === undefined ? 'pings did not recover within the horizon' : `pings recovered after ${(recovery / 1000).toFixed(1)} s`;
  return `${kind} ${what}: ${seen} (bound ${bound / 1000} s = bar ${FAILOVER_BAR_MS[kind] / 1000} s + margin)`;
}

/**
 * The pairs' rounds around an event, one character per round ('.' answered, 'x' lost, '|' marks the event):
 * `a→b ..|.xx...` — what a failover miss shows, so the log says which pair failed when.
 */
export function pingTimeline(pings: readonly PingRecord[], eventAt: number, pairs: readonly string[], beforeMs: number, afterMs: number): string {
  return pairs.map((pair) => {
    const rs = pings.filter((p) => p.pair === pair && p.at >= eventAt - beforeMs && p.at < eventAt + afterMs).sort((a, b) => a.at - b.at);
    const before = rs.filter((p) => p.at < eventAt).map((p) => (p.ok ? '.' : 'x')).join('');
    const after = rs.filter((p) => p.at >= eventAt).map((p) => (p.ok ? '.' : 'x')).join('');
    return `${pair} ${before}|${after}`;
  }).join(', ');
}

/**
 * Whether a failover's 10/s probe (bench/failover's measure: the worse of lost pings × interval and event →
 * first reply after the last loss) stayed within the election bar. No probe result, or no reply after the
 * last loss (NaN), is not within it.
 */
export function probeWithinBar(f: { probeMs?: number; bar?: number }): boolean {
  return f.probeMs !== undefined && f.bar !== undefined && f.probeMs <= f.bar;
}
