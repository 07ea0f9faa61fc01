// Level-triggered publication of labelled series: each publish() states the full desired set, and
// series published earlier but missing now are removed (Submariner leaves them behind forever).
import type { Gauge } from 'prom-client';

export type Labels<T extends string> = Record<T, string>;

/** Canonical identity of a label set, independent of key order. */
export function seriesKey(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

/** Finite, non-negative numbers only: anything else means "no sample" rather than a bogus value. */
export function sampleValue(v: number | undefined): number | undefined {
  return v !== undefined && Number.isFinite(v) && v >= 0 ? v : undefined;
}

export class GaugeSeries<T extends string> {
  private published = new Map<string, Labels<T>>();

  constructor(private readonly gauge: Gauge<T>) {}

  /** Sets every given series, then removes the ones not given. */
  publish(samples: Iterable<{ labels: Labels<T>; value: number }>): void {
    const next = new Map<string, Labels<T>>();
    for (const s of samples) {
      const key = seriesKey(s.labels);
      next.set(key, s.labels);
      this.gauge.set(s.labels, s.value);
    }
    // Removed after the new values are set: single-threaded, so a scrape sees either state whole.
    for (const [key, labels] of this.published) if (!next.has(key)) this.gauge.remove(labels);
    this.published = next;
  }

  /** Label sets currently published (for tests and introspection). */
  labelSets(): Labels<T>[] {
    return [...this.published.values()];
  }
}
