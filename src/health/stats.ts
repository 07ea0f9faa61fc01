// Ping statistics over a sliding window of the most recent probes: RTT last/min/avg/max/stddev
// (population, as go-ping reports), loss percentage, and the run of consecutive losses that decides health.
// A late reply turns a probe already counted as lost back into a received one.

export interface RttStats {
  lastNs: number;
  minNs: number;
  avgNs: number;
  maxNs: number;
  stddevNs: number;
}

export interface HealthStats {
  /** Undefined until a reply is in the window. */
  rtt?: RttStats;
  /** Lost probes in the window, in percent. */
  lossPercent: number;
  /** Losses since the last reply. */
  consecutiveLost: number;
  healthy: boolean;
  /** Probes and replies since the checker started (all time). */
  sent: number;
  received: number;
}

interface Sample {
  /** ping process generation + icmp_seq; undefined for losses counted while no ping was running. */
  key: string | undefined;
  rttNs: number | undefined;
}

export const DEFAULT_WINDOW = 100;

export class PingStats {
  private samples: Sample[] = [];
  /** Samples in the window by key, so a reply finds its probe without a scan. */
  private readonly byKey = new Map<string, Sample>();
  /** Losses since the newest reply, kept as outcomes arrive (recounted only when a late reply lands). */
  private trailingLost = 0;
  private lastRttNs: number | undefined;
  private sentTotal = 0;
  private receivedTotal = 0;

  constructor(private readonly windowSize = DEFAULT_WINDOW) {}

  private push(s: Sample): void {
    this.samples.push(s);
    if (s.key !== undefined) this.byKey.set(s.key, s);
    this.sentTotal++;
    while (this.samples.length > this.windowSize) {
      const old = this.samples.shift()!;
      if (old.key !== undefined && this.byKey.get(old.key) === old) this.byKey.delete(old.key);
    }
  }

  /** A reply; returns false for a duplicate. */
  reply(key: string, rttNs: number): boolean {
    const s = this.byKey.get(key);
    if (s && s.rttNs !== undefined) return false;
    if (s) {
      s.rttNs = rttNs;
      this.trailingLost = this.countTrailingLost();
    } else {
      this.push({ key, rttNs });
      this.trailingLost = 0;
    }
    this.receivedTotal++;
    this.lastRttNs = rttNs;
    return true;
  }

  /** A probe without a reply (yet); returns false if it was already known. */
  lost(key: string | undefined): boolean {
    if (key !== undefined && this.byKey.has(key)) return false;
    this.push({ key, rttNs: undefined });
    this.trailingLost++;
    return true;
  }

  private countTrailingLost(): number {
    let n = 0;
    for (let i = this.samples.length - 1; i >= 0 && this.samples[i]!.rttNs === undefined; i--) n++;
    return n;
  }

  consecutiveLost(): number {
    return Math.min(this.trailingLost, this.samples.length);
  }

  snapshot(maxLoss: number): HealthStats {
    const rtts = this.samples.map((s) => s.rttNs).filter((x): x is number => x !== undefined);
    const consecutiveLost = this.consecutiveLost();
    const out: HealthStats = {
      lossPercent: this.samples.length ? (100 * (this.samples.length - rtts.length)) / this.samples.length : 0,
      consecutiveLost,
      healthy: consecutiveLost < maxLoss,
      sent: this.sentTotal,
      received: this.receivedTotal,
    };
    if (rtts.length && this.lastRttNs !== undefined) {
      const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
      const variance = rtts.reduce((a, b) => a + (b - avg) ** 2, 0) / rtts.length;
      out.rtt = {
        lastNs: this.lastRttNs,
        minNs: Math.min(...rtts),
        avgNs: Math.round(avg),
        maxNs: Math.max(...rtts),
        stddevNs: Math.round(Math.sqrt(variance)),
      };
    }
    return out;
  }
}
