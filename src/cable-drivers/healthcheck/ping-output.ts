// Lines of iputils `ping -n -O` output, parsed into events (one long-lived ping per connection,
// because Node has no raw sockets). Lines we do not recognise (header, statistics, warnings) are `other`.
//
//   64 bytes from 10.0.0.2: icmp_seq=3 ttl=64 time=0.045 ms         reply (a late one may follow a no-answer)
//   64 bytes from 10.0.0.2: icmp_seq=3 ttl=64 time=0.051 ms (DUP!)  duplicate: ignored
//   no answer yet for icmp_seq=4                                      -O: sent the next one without a reply
//   From 10.0.0.1 icmp_seq=5 Destination Host Unreachable             an ICMP error counts as a loss

export type PingEvent =
  | { kind: 'reply'; seq: number; rttNs: number; from: string }
  | { kind: 'no-answer'; seq: number }
  | { kind: 'error'; seq: number; from: string; message: string }
  | { kind: 'other'; line: string };

const REPLY = /^\d+ bytes from (.+?): icmp_seq=(\d+)\b.*?\btime[=<]\s*([0-9]+(?:\.[0-9]+)?)\s*ms\b(.*)$/;
const NO_ANSWER = /^no answer yet for icmp_seq=(\d+)\s*$/;
const ERROR = /^From (\S+?):? icmp_seq=(\d+) (.+)$/;

export function parsePingLine(raw: string): PingEvent {
  const line = raw.trim();
  let m = REPLY.exec(line);
  if (m) {
    if (m[4]!.includes('DUP!')) return { kind: 'other', line };
    return { kind: 'reply', from: m[1]!, seq: Number(m[2]), rttNs: Math.round(Number(m[3]) * 1e6) };
  }
  m = NO_ANSWER.exec(line);
  if (m) return { kind: 'no-answer', seq: Number(m[1]) };
  m = ERROR.exec(line);
  if (m) return { kind: 'error', from: m[1]!, seq: Number(m[2]), message: m[3]! };
  return { kind: 'other', line };
}

/** The `-i` argument: seconds with a fraction (root may go below 0.2 s). */
export function pingIntervalArg(intervalMs: number): string {
  return String(Math.max(1, Math.round(intervalMs)) / 1000);
}

export function pingArgs(o: { intervalMs: number; sourceIP?: string; targetIP: string }): string[] {
  const args = ['-n', '-O', '-i', pingIntervalArg(o.intervalMs)];
  if (o.sourceIP) args.push('-I', o.sourceIP);
  args.push(o.targetIP);
  return args;
}
