// Go's time.Duration.String(), the wire form of latencyRTT values (a Submariner reader parses them back with
// time.ParseDuration): `412.341µs`, `1.5ms`, `2s`, `1m30s`, `1h0m0s`. Like Go, fractions are truncated
// (not rounded) and trailing zeros dropped; the micro sign is U+00B5.

const NS_PER_S = 1_000_000_000n;

/** `digits` decimals of `frac` (an integer below 10^digits), trailing zeros trimmed; '' when zero. */
function fraction(frac: bigint, digits: number): string {
  if (frac === 0n) return '';
  return `.${frac.toString().padStart(digits, '0').replace(/0+$/, '')}`;
}

/** Formats a duration in nanoseconds (a number is rounded to whole nanoseconds). */
export function formatGoDuration(ns: number | bigint): string {
  let d: bigint;
  if (typeof ns === 'bigint') d = ns;
  else if (Number.isFinite(ns)) d = BigInt(Math.round(ns));
  else return '0s';
  if (d === 0n) return '0s';
  const sign = d < 0n ? '-' : '';
  const u = d < 0n ? -d : d;
  if (u < 1000n) return `${sign}${u}ns`;
  if (u < 1_000_000n) return `${sign}${u / 1000n}${fraction(u % 1000n, 3)}µs`;
  if (u < NS_PER_S) return `${sign}${u / 1_000_000n}${fraction(u % 1_000_000n, 6)}ms`;
  const totalSeconds = u / NS_PER_S;
  let out = `${totalSeconds % 60n}${fraction(u % NS_PER_S, 9)}s`;
  const minutes = totalSeconds / 60n;
  if (minutes > 0n) {
    out = `${minutes % 60n}m${out}`;
    const hours = minutes / 60n;
    if (hours > 0n) out = `${hours}h${out}`;
  }
  return `${sign}${out}`;
}
