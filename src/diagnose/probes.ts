// Active probes for `hawser diagnose`: firewall probes (a sender on one node, a counting listener on the
// other) and a path-MTU search with DF pings through the cable (echo requests from this process: os/icmp.ts).
//
// The listener does not bind the port (charon, wireguard-go, the kernel's VXLAN socket and NAT discovery
// already hold 4500/4800/4490 on a running node): it arms an nftables counter in its own table, on the input
// hook after the usual filter priority, matching the probe's port and an 8-byte token at the start of the
// UDP payload. A probe that arrives is counted and dropped there (the daemon never sees it); a probe that a
// firewall on the path or on the node drops before that point is not counted.
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { HawserError } from '../util/errors.js';
import { DfPinger } from '../os/icmp.js';

/** The nftables table `hawser diagnose` arms its probe counters in (never one a role owns). */
export const PROBE_TABLE = 'hawser-diagnose';
/** After filter (0) and the iptables-nft chains at 0: a probe a host firewall drops is not counted. */
export const PROBE_PRIORITY = 100;

export interface ProbeExpectation {
  /** Names the counter: `[a-z0-9-]`, unique within one arming. */
  id: string;
  port: number;
  /** 16 hex digits; the probe payload starts with these 8 bytes. */
  token: string;
}

const ID_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const TOKEN_RE = /^[0-9a-f]{16}$/;

export function newProbeToken(): string {
  // a first byte of 0 would print differently in nft listings; keep it non-zero
  const b = randomBytes(8);
  b[0] = (b[0]! % 255) + 1;
  return b.toString('hex');
}

function checkExpectation(e: ProbeExpectation): void {
  if (!ID_RE.test(e.id)) throw new HawserError('INVALID', `probe id ${JSON.stringify(e.id)}: expected lower-case letters, digits and -`);
  if (!TOKEN_RE.test(e.token)) throw new HawserError('INVALID', `probe token ${JSON.stringify(e.token)}: expected 16 hex digits`);
  if (!Number.isInteger(e.port) || e.port < 1 || e.port > 65535) throw new HawserError('INVALID', `probe port ${e.port}: expected 1-65535`);
}

/** The nft script that (re)creates the probe table with one counting rule per expectation. */
export function armScript(expect: readonly ProbeExpectation[]): string {
  for (const e of expect) checkExpectation(e);
  const rules = expect.map((e) => `    udp dport ${e.port} @th,64,64 0x${e.token} counter drop comment "${e.id}"`);
  return [
    `table inet ${PROBE_TABLE}`,
    `delete table inet ${PROBE_TABLE}`,
    `table inet ${PROBE_TABLE} {`,
    '  chain probe {',
    `    type filter hook input priority ${PROBE_PRIORITY}; policy accept;`,
    ...rules,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Packets counted per probe id, from `nft list table inet hawser-diagnose`. */
export function parseProbeCounters(listing: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of listing.split('\n')) {
    const m = /counter packets (\d+) bytes \d+.*comment "([a-z0-9-]+)"/.exec(line);
    if (m) out.set(m[2]!, Number(m[1]));
  }
  return out;
}

export function probePayload(token: string): Buffer {
  if (!TOKEN_RE.test(token)) throw new HawserError('INVALID', `probe token ${JSON.stringify(token)}: expected 16 hex digits`);
  return Buffer.concat([Buffer.from(token, 'hex'), Buffer.from(' hawser diagnose probe')]);
}

/**
 * Sends `count` UDP probes carrying `token` to ip:port from an ephemeral port (as a peer's packets would
 * arrive: a firewall that allows only the cable's source port would not be exercised, which is the rare case).
 */
export async function sendUdpProbes(ip: string, port: number, token: string, opts: { count?: number; intervalMs?: number } = {}): Promise<void> {
  const payload = probePayload(token);
  const sock = createSocket('udp4');
  try {
    for (let i = 0; i < (opts.count ?? 3); i++) {
      await new Promise<void>((resolve, reject) => sock.send(payload, port, ip, (err) => (err ? reject(err) : resolve())));
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
    }
  } finally {
    sock.close();
  }
}

// ---- path MTU ------------------------------------------------------------------------------------

/** One DF ping's outcome: a reply, no reply, or too big: refused locally (the route's MTU is smaller) or by a router ("fragmentation needed"), with that MTU. */
export type PingOutcome = { kind: 'reply' } | { kind: 'lost' } | { kind: 'too-big'; mtu: number };

/** ICMP echo: 20 bytes IPv4 + 8 bytes ICMP on top of the payload. */
export const PING_OVERHEAD = 28;
const MIN_PAYLOAD = 56;

export interface PmtuResult {
  /** A small ping got through (the cable carries traffic at all). */
  reachable: boolean;
  /** Largest IP packet (bytes) the route lets this node send towards the target (the local interface MTU). */
  localMtu: number;
  /** Largest IP packet that got an answer (precision `step`). */
  pathMtu?: number;
  /** Packets between pathMtu and localMtu are dropped without an ICMP "fragmentation needed". */
  blackHole: boolean;
  probes: number;
}

/**
 * Finds the largest DF ping that crosses the path: starts at `startMtu`, follows the local MTU the kernel
 * reports, then (if the full size gets no answer while a small ping does) bisects down to `step` bytes.
 */
export async function pathMtuSearch(ping: (payload: number) => Promise<PingOutcome>, opts: { startMtu?: number; step?: number } = {}): Promise<PmtuResult> {
  let probes = 0;
  const probe = async (payload: number): Promise<PingOutcome> => {
    probes++;
    return ping(payload);
  };
  let localMtu = opts.startMtu ?? 1500;
  let first = await probe(localMtu - PING_OVERHEAD);
  for (let i = 0; i < 3 && first.kind === 'too-big' && first.mtu < localMtu; i++) {
    localMtu = first.mtu;
    first = await probe(localMtu - PING_OVERHEAD);
  }
  if (first.kind === 'reply') return { reachable: true, localMtu, pathMtu: localMtu, blackHole: false, probes };
  if ((await probe(MIN_PAYLOAD)).kind !== 'reply') return { reachable: false, localMtu, blackHole: false, probes };
  let lo = MIN_PAYLOAD; // answered
  let hi = localMtu - PING_OVERHEAD; // not answered
  const step = opts.step ?? 8;
  while (hi - lo > step) {
    const mid = Math.floor((lo + hi) / 2);
    if ((await probe(mid)).kind === 'reply') lo = mid;
    else hi = mid;
  }
  return { reachable: true, localMtu, pathMtu: lo + PING_OVERHEAD, blackHole: true, probes };
}

/**
 * The path-MTU search towards `ip` with DF echo requests sent by this process (a raw ICMP socket: the
 * hawser pods have CAP_NET_RAW), no `ping` process. Throws HawserError when no raw socket can be had.
 */
export async function pathMtuTo(ip: string, o: { netns?: string; startMtu?: number } = {}): Promise<PmtuResult> {
  const pinger = DfPinger.open({ netns: o.netns });
  try {
    return await pathMtuSearch((payload) => pinger.echo(ip, payload), { startMtu: o.startMtu });
  } finally {
    pinger.close();
  }
}
