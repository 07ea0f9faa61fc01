// Support for @real tests that bring a whole lab (src/lab) up: "nothing left behind", whether the embedded API
// server exists, the e2e lab lifecycle (a new lab, or a named existing one while developing), WAN captures,
// pod-to-pod TCP transfers, loss counting during a restart, daemon PIDs inside a node netns, and the roles'
// JSON logs. Every process started here runs inside a lab namespace and is ended by its PID.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Lab } from '../../src/lab/index.js';
import { netnsPids } from '../../src/os/netns.js';
import { waitFor } from '../../src/util/wait.js';
import { listNetns } from '../../src/lab/builder.js';
import { isOurProcess } from '../../src/lab/procs.js';
import type { LabState } from '../../src/lab/state.js';
import { parseLogLines } from './measure.js';
import { exec } from '../../src/util/exec.js';

/** Link names the lab uses inside its namespaces: none may ever show up in the root netns. */
const LAB_LINK = /^(br-lan|br-wan|wan|wan-[a-h]|cni0|veth-pod\d|cp|gw\d|wk\d)$/;

export async function rootLabLinks(): Promise<string[]> {
  const r = await exec('ip', ['-o', 'link', 'show']);
  return r.stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter((n) => LAB_LINK.test(n));
}

/** Asserts a lab left no namespace, process or file behind. `state` is a copy taken while it was up. */
export async function assertNothingLeft(name: string, state: LabState | undefined, stateDir: string): Promise<void> {
  const ns = [...(await listNetns())].filter((n) => n.startsWith(`hw-${name}-`));
  assert.deepEqual(ns, [], 'namespaces left');
  for (const p of state?.processes ?? []) {
    if (p.pid !== undefined) assert.equal(isOurProcess(p.pid, p.startTime), false, `process ${p.id} (${p.pid}) still runs`);
  }
  assert.equal(existsSync(stateDir), false, `${stateDir} still exists`);
  assert.deepEqual(await rootLabLinks(), [], 'lab links in the root netns');
}

/** True once the embedded API server has landed (src/apiserver/index.ts exports startApiServer). */
export async function apiServerAvailable(): Promise<boolean> {
  if (!existsSync(new URL('../../src/apiserver/index.ts', import.meta.url))) return false;
  // A computed specifier: this file must typecheck before the module exists.
  const specifier = ['..', '..', 'src', 'apiserver', 'index.js'].join('/');
  try {
    const mod = (await import(specifier)) as Record<string, unknown>;
    return typeof mod.startApiServer === 'function';
  } catch {
    return false;
  }
}

/**
 * The lab for a describe block: a new one, or (while developing) an existing one named in
 * HAWSER_E2E_LAB_<KEY> (e.g. HAWSER_E2E_LAB_WIREGUARD=mylab), which is then left up.
 */
export async function labFor(key: string, opts: Parameters<typeof Lab.up>[0]): Promise<{ lab: Lab; down: () => Promise<void> }> {
  const existing = process.env[`HAWSER_E2E_LAB_${key.toUpperCase()}`];
  if (existing) return { lab: Lab.open(existing), down: async () => undefined };
  const lab = await Lab.up(opts);
  return { lab, down: async () => void (await lab.down()) };
}

function killPid(p: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) {
    try {
      process.kill(p.pid, signal);
    } catch {
      /* already gone */
    }
  }
}

function exited(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('close', () => r()));
}

/** A process inside a lab target's netns, with its output collected. */
export function spawnIn(lab: Lab, target: string, argv: readonly string[]): { proc: ChildProcess; out: () => string; err: () => string } {
  const proc = spawn('ip', ['netns', 'exec', lab.netns(target), ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  return { proc, out: () => out, err: () => err };
}

/**
 * Captures packets matching a pcap filter on the WAN bridge while `during` runs. With `count`, stops
 * at that many packets (or `timeoutMs`). Returns one summary line per packet and the raw pcap bytes
 * (to look for a payload pattern).
 */
export async function captureWan(lab: Lab, filter: string, during: () => Promise<void>, opts: { count?: number; timeoutMs?: number } = {}): Promise<{ lines: string[]; pcap: Buffer }> {
  // Two captures of the same filter: one prints summaries, one writes the pcap (both want stdout).
  // The pcap capture starts first: a counted summary capture may finish on background packets of the
  // same filter before a second process would be listening, and that is not a failure.
  const raw = spawn('ip', ['netns', 'exec', lab.netns('wan'), 'tcpdump', '-i', 'br-wan', '-n', '--immediate-mode', '-U', '-s', '0', '-w', '-', filter], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let rawErr = '';
  raw.stdout!.on('data', (d: Buffer) => chunks.push(d));
  raw.stderr!.setEncoding('utf8').on('data', (d: string) => (rawErr += d));
  let text: ReturnType<typeof spawnIn> | undefined;
  try {
    await waitFor(() => /listening on/.test(rawErr) || raw.exitCode !== null, { timeoutMs: 5000, intervalMs: 20, what: 'tcpdump (pcap) on the WAN' });
    if (raw.exitCode !== null) throw new Error(`tcpdump exited: ${rawErr}`);
    const t = spawnIn(lab, 'wan', ['tcpdump', '-i', 'br-wan', '-n', '-l', '-U', ...(opts.count ? ['-c', String(opts.count)] : []), filter]);
    text = t;
    await waitFor(() => /listening on/.test(t.err()) || t.proc.exitCode !== null, { timeoutMs: 5000, intervalMs: 20, what: 'tcpdump on the WAN' });
    if (t.proc.exitCode !== null && (t.proc.exitCode !== 0 || !/listening on/.test(t.err()))) throw new Error(`tcpdump exited: ${t.err()}`);
    await during();
    if (opts.count) await Promise.race([exited(t.proc), new Promise((r) => setTimeout(r, opts.timeoutMs ?? 5000))]);
  } finally {
    const procs = text ? [text.proc, raw] : [raw];
    for (const p of procs) killPid(p, 'SIGINT');
    await Promise.race([Promise.all(procs.map((p) => exited(p))), new Promise((r) => setTimeout(r, 2000))]);
    for (const p of procs) killPid(p);
  }
  return { lines: text ? text.out().split('\n').filter((l) => l.trim() !== '') : [], pcap: Buffer.concat(chunks) };
}

// Tiny plain-JS TCP programs (node starts in ~50 ms; iperf3 -n reports what the receiver had when the
// sender finished writing, not what arrived). The server counts and hashes what it gets until EOF and
// answers with both; the client sends random bytes and compares.
const TCP_SERVER = `const net=require('net'),c=require('crypto');const s=net.createServer(k=>{const h=c.createHash('sha256');let n=0;k.on('data',d=>{n+=d.length;h.update(d)});k.on('end',()=>{k.end(JSON.stringify({n,sha:h.digest('hex')}));s.close()})});s.listen(0,process.argv[1],()=>console.log('port '+s.address().port))`;
const TCP_CLIENT = `const net=require('net'),c=require('crypto');const buf=c.randomBytes(Number(process.argv[3]));const k=net.connect(Number(process.argv[2]),process.argv[1],()=>k.end(buf));let r='';k.on('data',d=>r+=d);k.on('end',()=>{const x=JSON.parse(r);console.log(JSON.stringify({sent:buf.length,received:x.n,intact:x.sha===c.createHash('sha256').update(buf).digest('hex')}))});k.setTimeout(15000,()=>{console.error('timeout');process.exit(1)})`;

export interface TcpResult {
  sent: number;
  received: number;
  /** The receiver's SHA-256 matches what was sent. */
  intact: boolean;
  ms: number;
}

/** Sends `bytes` over TCP from `client` to a server on `serverIp` in `server`; what arrived, and whether intact. */
export async function tcpTransfer(lab: Lab, client: string, server: string, serverIp: string, bytes = 1 << 20): Promise<TcpResult> {
  const s = spawnIn(lab, server, [process.execPath, '-e', TCP_SERVER, serverIp]);
  try {
    const port = await waitFor(() => {
      if (s.proc.exitCode !== null) throw new Error(`TCP server exited: ${s.err()}`);
      return /port (\d+)/.exec(s.out())?.[1];
    }, { timeoutMs: 5000, intervalMs: 10, what: 'TCP server' });
    const t0 = performance.now();
    const r = await lab.exec(client, [process.execPath, '-e', TCP_CLIENT, serverIp, port, String(bytes)], { timeoutMs: 20_000 });
    return { ...(JSON.parse(r.stdout) as Omit<TcpResult, 'ms'>), ms: performance.now() - t0 };
  } finally {
    killPid(s.proc);
  }
}

export interface PingRun {
  /** Replies so far. */
  replies(): number;
  stop(): Promise<{ transmitted: number; received: number; lost: number }>;
}

/**
 * Lost requests of a ping run from its transmitted count and its replies' icmp_seq (from 1): gaps before the
 * last reply, and the requests after it, except one: the request sent just before the stop whose reply was
 * still on its way is not a loss (ping's own summary counts it as one).
 */
export function pingLoss(transmitted: number, replySeqs: readonly number[]): number {
  const got = new Set(replySeqs.filter((q) => q >= 1 && q <= transmitted));
  const last = Math.max(0, ...got);
  const tail = transmitted - last;
  return last - got.size + (tail > 1 ? tail : 0);
}

/** `ping -i 0.1` from a target until stopped; counts from ping's own summary and its replies (see pingLoss). */
export async function startPings(lab: Lab, from: string, ip: string): Promise<PingRun> {
  const p = spawnIn(lab, from, ['ping', '-n', '-i', '0.1', '-W', '1', ip]);
  await waitFor(() => /bytes from/.test(p.out()) || p.proc.exitCode !== null, { timeoutMs: 5000, intervalMs: 20, what: `first ping reply from ${ip}` });
  if (p.proc.exitCode !== null) throw new Error(`ping ${ip} exited: ${p.out()} ${p.err()}`);
  return {
    replies: () => (p.out().match(/bytes from/g) ?? []).length,
    async stop() {
      killPid(p.proc, 'SIGINT');
      await Promise.race([exited(p.proc), new Promise((r) => setTimeout(r, 3000))]);
      killPid(p.proc);
      const m = /(\d+) packets transmitted, (\d+) received/.exec(p.out());
      if (!m) throw new Error(`no ping summary: ${p.out().slice(-300)}`);
      const transmitted = Number(m[1]);
      const received = Number(m[2]);
      const seqs = [...p.out().matchAll(/bytes from .*icmp_seq=(\d+)/g)].map((x) => Number(x[1]));
      return { transmitted, received, lost: pingLoss(transmitted, seqs) };
    },
  };
}

/** PIDs in a lab target's netns whose command line matches. */
export async function pidsMatching(lab: Lab, target: string, re: RegExp): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await netnsPids(lab.netns(target))) {
    try {
      if (re.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '))) out.push(pid);
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

export type LogLine = Record<string, unknown> & { level?: string; msg?: string };

/** A role's JSON log lines from byte `from` on. */
export function readLog(lab: Lab, id: string, from = 0): LogLine[] {
  return parseLogLines<LogLine>(readFileSync(lab.logFile(id)).subarray(from).toString('utf8'));
}

export function logSize(lab: Lab, id: string): number {
  return readFileSync(lab.logFile(id)).length;
}

export const STATE_MESSAGES = ['cable connected', 'cable error', 'cable removed'];

/** The cable state-change lines (info) of a gateway log, for one remote cluster (`remoteCluster`; `cluster` is always the local one). */
export function cableStateLines(lines: readonly LogLine[], cluster: string): LogLine[] {
  return lines.filter((l) => l.level === 'info' && STATE_MESSAGES.includes(String(l.msg)) && l.remoteCluster === cluster);
}

/** Asserts helper: the stable fields every state-change line carries. */
export function missingStableFields(l: LogLine): string[] {
  return ['cluster', 'remoteCluster', 'endpoint', 'cable', 'driver'].filter((k) => typeof l[k] !== 'string' || l[k] === '');
}

/**
 * Lease timings for the e2e labs: one gateway per cluster, so failover speed is not under test here, and
 * hawser's 2 s default lease flaps when other labs load the machine (each flap removes the cables).
 */
export const SLOW_LEASE: Record<string, string> = { HAWSER_LEASE_DURATION: '10', HAWSER_RENEW_DEADLINE: '8', HAWSER_RETRY_PERIOD: '1' };

