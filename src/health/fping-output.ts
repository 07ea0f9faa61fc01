// Lines of `fping -l` (loop mode, fping 5.x) output, parsed into per-target events. One fping probes
// every target, so each line names its target. Lines we do not recognise are `other`.
//
// stdout:
//   10.0.0.2 : [3], 64 bytes, 0.045 ms (0.051 avg, 0% loss)        reply to probe 3
//   10.0.0.9 : [3], timed out (NaN avg, 100% loss)                  no reply within the timeout
//   10.0.0.2 : duplicate for [3], 64 bytes, 0.050 ms                duplicate: ignored (other)
// stderr:
//   ICMP Host Unreachable from 10.0.0.1 for ICMP Echo sent to 10.0.0.9     why the probe failed
//   10.0.0.9: error while sending ping: Network is unreachable

export type FpingEvent =
  | { kind: 'reply'; target: string; seq: number; rttNs: number }
  | { kind: 'timeout'; target: string; seq: number }
  | { kind: 'error'; target: string; message: string }
  | { kind: 'other'; line: string };

const REPLY = /^(\S+)\s+: \[(\d+)\], \d+ bytes, ([0-9]+(?:\.[0-9]+)?) ms\b/;
const TIMEOUT = /^(\S+)\s+: \[(\d+)\], timed out\b/;
const ICMP_ERROR = /^(ICMP .+?) from \S+ for ICMP Echo sent to (\S+?)\s*$/;
const SEND_ERROR = /^(\S+?): error while sending ping: (.+)$/;

export function parseFpingLine(raw: string): FpingEvent {
  const line = raw.trim();
  let m = REPLY.exec(line);
  if (m) return { kind: 'reply', target: m[1]!, seq: Number(m[2]), rttNs: Math.round(Number(m[3]) * 1e6) };
  m = TIMEOUT.exec(line);
  if (m) return { kind: 'timeout', target: m[1]!, seq: Number(m[2]) };
  m = ICMP_ERROR.exec(line);
  if (m) return { kind: 'error', target: m[2]!, message: m[1]! };
  m = SEND_ERROR.exec(line);
  if (m) return { kind: 'error', target: m[1]!, message: m[2]! };
  return { kind: 'other', line };
}

/** fping's default gap between any two probes it sends (ms), and the smallest it accepts from non-root. */
const FPING_DEFAULT_GAP_MS = 10;
const FPING_MIN_GAP_MS = 1;

/**
 * The gap between two probes of one fping (`-i`): the period spread over the targets, at most fping's default.
 * With the default 10 ms, 200 targets take 2 s per round, so a 1 s period silently became 2 s per target.
 * `-i` is given only when it differs from fping's default.
 */
export function probeGapMs(intervalMs: number, targets: number): number {
  // a round fills 80 % of the period: with none to spare, fping's scheduling delays add up round after round
  return Math.max(FPING_MIN_GAP_MS, Math.min(FPING_DEFAULT_GAP_MS, Math.floor((0.8 * intervalMs) / Math.max(1, targets))));
}

/**
 * `fping -l -p <period> [-i <gap>]`: loop forever, one probe per target per period (the timeout defaults to the
 * period, at most 2 s). `-S` sets the source address shared by every target of this process.
 */
export function fpingArgs(o: { intervalMs: number; sourceIP?: string; targets: readonly string[] }): string[] {
  const period = Math.max(1, Math.round(o.intervalMs));
  const args = ['-l', '-p', String(period)];
  const gap = probeGapMs(period, o.targets.length);
  if (gap !== FPING_DEFAULT_GAP_MS) args.push('-i', String(gap));
  if (o.sourceIP) args.push('-S', o.sourceIP);
  args.push(...o.targets);
  return args;
}

/**
 * Calls `onLine` for each complete line of a child's output stream. fping flushes every line, so each one
 * arrives as its own chunk: a plain split costs a fraction of readline's per-chunk machinery.
 */
export function eachLine(stream: NodeJS.ReadableStream & { setEncoding(enc: BufferEncoding): unknown }, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('latin1');
  stream.on('data', (chunk: string) => {
    const text = rest ? rest + chunk : chunk;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      onLine(text.slice(start, nl));
      start = nl + 1;
    }
    rest = text.slice(start);
  });
  stream.on('end', () => {
    if (rest) onLine(rest);
    rest = '';
  });
}
