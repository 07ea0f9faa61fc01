// Probe cost of the health check with many remotes (issue #17 bar: 200 remote targets from one node ≤ 2 % of
// a core, no extra process per target): the in-process ICMP prober (the default), the fping path (the
// fallback without CAP_NET_RAW) and a baseline of the same run: one `ping` process per target (hawser's
// health check before the last two sessions; one prober per remote is also Submariner's model).
//   npx tsx bench/health/run.ts [--targets 200] [--seconds 60] [--interval-ms 1000] [--only icmp|fping]   (make's PATH: the pinned Node)
// --only runs one prober and no baseline (profiling: HAWSER_V8_FLAGS='… --cpu-prof --cpu-prof-dir=DIR').
// Two throwaway namespaces joined by a veth: a "node" and a "remotes" namespace holding every target address
// (routed, as remote clusters are), so every probe and reply stays inside namespaces this bench made. The node process is this file re-run
// inside the node namespace (`ip netns exec`), running the real SharedHealthChecker (once per prober) at the
// gateway's default interval (SUBMARINER_HEALTHCHECKINTERVAL=1 s); CPU (utime+stime from /proc/PID/stat) and
// RSS of the node process and of its prober are sampled from outside over the window.
// fping's RSS grows by about 16 bytes a probe at first: its sequence map (65,535 entries of 16 bytes, fping 5.x
// seqmap.h) is allocated once and touched as sequence numbers advance, so it levels off at about 1 MiB over
// ~2 MiB once the numbers wrap (5.5 min at 200 probes/s). The 116 MiB seen at 200 targets in bench/scale was
// not one fping: target changes arriving faster than a prober restart left one orphaned fping per change
// (fixed in src/health/shared.ts; test/health/shared.test.ts "a burst of target changes").
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger } from '../../src/log/index.js';
import { formatGoDuration, SharedHealthChecker } from '../../src/health/index.js';
import { netnsPids } from '../../src/os/netns.js';
import { exec, netnsArgv } from '../../src/util/exec.js';
import { waitFor } from '../../src/util/wait.js';
import { withNetns, type NetnsHarness } from '../../test/support/netns.js';
import { sampleProc, type ProcSample } from '../../test/support/measure.js';

/** The V8 flags bin/hawser runs the long-running roles with (HAWSER_V8_FLAGS overrides, as there). */
const ROLE_V8_FLAGS = (process.env.HAWSER_V8_FLAGS ?? '--max-semi-space-size=1 --no-opt --no-maglev').split(' ').filter(Boolean);
const NODE_IP = '10.201.0.1';
const PEER_IP = '10.201.0.2';
const TARGETS_CIDR = '10.202.0.0/16';

/** Target i (0-based): 10.202.1.1, 10.202.1.2, … 250 per /24. */
const targetIP = (i: number): string => `10.202.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;

interface InnerReport {
  healthy: number;
  targets: number;
  sent: number;
  received: number;
  maxLossPercent: number;
  sampleRtt: string;
  /** Average RTT over all targets' windows, then of the first and the last target probed in a round. */
  rttAvgAll: string;
  rttFirstLast: string;
  fpingPids: number[];
}

/** Inside the node namespace: the real checker; prints `ready` once every target has an RTT, a report on request. */
async function inner(): Promise<void> {
  const n = Number(process.env.HW_BENCH_TARGETS);
  const intervalMs = Number(process.env.HW_BENCH_INTERVAL_MS);
  const targets = Array.from({ length: n }, (_, i) => ({ cableName: `submariner-cable-c${i}`, targetIP: targetIP(i), sourceIP: NODE_IP }));
  const prober = process.env.HW_BENCH_PROBER === 'fping' ? 'fping' : 'icmp';
  const checker = new SharedHealthChecker({ log: createLogger({ level: 'warn' }), intervalMs, maxLoss: 5, prober });
  // No 'change' listener: the roles read a connection's statistics when they write status, not per probe.
  checker.setTargets(targets);
  const report = (): InnerReport => {
    const all = targets.map((t) => checker.stats(t.cableName));
    return {
      healthy: all.filter((h) => h?.healthy && h.rtt).length,
      targets: n,
      sent: all.reduce((a, h) => a + (h?.sent ?? 0), 0),
      received: all.reduce((a, h) => a + (h?.received ?? 0), 0),
      maxLossPercent: Math.max(...all.map((h) => h?.lossPercent ?? 100)),
      sampleRtt: all[0]?.rtt ? formatGoDuration(all[0].rtt.avgNs) : '-',
      rttAvgAll: formatGoDuration(all.reduce((a, h) => a + (h?.rtt?.avgNs ?? 0), 0) / Math.max(1, all.filter((h) => h?.rtt).length)),
      rttFirstLast: `${formatGoDuration(all[0]?.rtt?.avgNs ?? 0)} / ${formatGoDuration(all.at(-1)?.rtt?.avgNs ?? 0)}`,
      fpingPids: checker.pids(),
    };
  };
  createInterface({ input: process.stdin }).on('line', (l) => {
    if (l === 'report') process.stdout.write(`${JSON.stringify(report())}\n`);
    if (l === 'stop') void checker.stop().then(() => process.exit(0));
  });
  await waitFor(() => report().healthy === n, { timeoutMs: 60_000, intervalMs: 100, what: `${n} targets with an RTT` }).catch((err: unknown) => {
    process.stderr.write(`${JSON.stringify(report())}\n`);
    throw err;
  });
  process.stdout.write(`ready ${JSON.stringify(report())}\n`);
}

interface Window {
  cpuS: number;
  wallS: number;
  rssStartMiB: number;
  rssEndMiB: number;
  procs: number;
}

/**
 * CPU time on a core in seconds, from /proc/PID/task/TID/schedstat (nanoseconds; the tick counts of /proc/PID/stat
 * are 10 ms grains, too coarse for a `ping` that runs a few microseconds a second).
 */
function cpuSeconds(pid: number): number | undefined {
  try {
    // every thread: node's libuv pool and V8's GC threads count too
    let ns = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1e9;
  } catch {
    return undefined;
  }
}

/** RSS and CPU of one process, CPU from schedstat. */
function sampleOne(pid: number): ProcSample | undefined {
  const p = sampleProc(pid);
  const cpu = cpuSeconds(pid);
  return p && cpu !== undefined ? { ...p, cpuSeconds: cpu } : undefined;
}

/** CPU and RSS of `pids` (summed) over `seconds`; every process must live through the window. */
async function measure(pids: () => Promise<number[]>, seconds: number): Promise<Window> {
  const sample = async (): Promise<ProcSample[]> => (await pids()).map(sampleOne).filter((p): p is ProcSample => p !== undefined);
  const a = await sample();
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const b = await sample();
  const wallS = (Date.now() - t0) / 1000;
  const both = b.filter((p) => a.some((x) => x.pid === p.pid));
  const sum = (xs: ProcSample[], f: (p: ProcSample) => number): number => xs.reduce((s, p) => s + f(p), 0);
  return {
    cpuS: sum(both, (p) => p.cpuSeconds) - sum(a.filter((p) => both.some((x) => x.pid === p.pid)), (p) => p.cpuSeconds),
    wallS,
    rssStartMiB: sum(a, (p) => p.rssMiB),
    rssEndMiB: sum(b, (p) => p.rssMiB),
    procs: b.length,
  };
}

/**
 * The node namespace reaches the remotes' namespace through a veth and one route, as a node reaches remote
 * clusters through its gateway: one neighbour, not 200 (200 neighbours on one LAN lose probes to ARP).
 */
async function lab(h: NetnsHarness, n: number): Promise<{ node: string; remotes: string }> {
  const node = await h.ns('hw-hbn');
  const remotes = await h.ns('hw-hbr');
  await h.link(node, 'eth0', `${NODE_IP}/30`, remotes, 'eth0', `${PEER_IP}/30`);
  await h.ip(node, 'route', 'add', TARGETS_CIDR, 'via', PEER_IP);
  const batch = Array.from({ length: n }, (_, i) => `address add ${targetIP(i)}/32 dev lo`).join('\n');
  await exec('ip', ['-n', remotes, '-batch', '-'], { input: `${batch}\n` });
  return { node, remotes };
}

const pct = (w: Window): number => (100 * w.cpuS) / w.wallS;
const f = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

interface HawserRun {
  node: Window;
  fping: Window | undefined;
  total: Window;
  procs: number;
  probesPerTargetS: number;
  report: InnerReport;
}

/** This file inside the node namespace running the real checker with `prober`, measured over `seconds`. */
async function runHawser(node: string, prober: 'icmp' | 'fping', n: number, intervalMs: number, seconds: number): Promise<HawserRun> {
  const self = fileURLToPath(import.meta.url);
  const [file, argv] = netnsArgv(process.execPath, [...ROLE_V8_FLAGS, ...process.execArgv, self], node);
  const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, HW_BENCH_INNER: '1', HW_BENCH_TARGETS: String(n), HW_BENCH_INTERVAL_MS: String(intervalMs), HW_BENCH_PROBER: prober } });
  try {
    const lines: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
    const ask = async (): Promise<InnerReport> => {
      const from = lines.length;
      child.stdin!.write('report\n');
      const l = await waitFor(() => lines.slice(from).find((x) => x.startsWith('{')), { timeoutMs: 10_000, intervalMs: 20, what: 'a report' });
      return JSON.parse(l) as InnerReport;
    };
    const ready = await waitFor(() => lines.find((l) => l.startsWith('ready ')), { timeoutMs: 90_000, intervalMs: 100, what: 'every target answered' });
    const r0 = JSON.parse(ready.slice(6)) as InnerReport;
    const m = await measureParallel(child.pid!, r0.fpingPids[0], seconds, node);
    const r1 = await ask();
    return { ...m, probesPerTargetS: (r1.sent - r0.sent) / n / m.total.wallS, report: r1 };
  } finally {
    child.stdin!.write('stop\n');
    await new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('close', () => r())));
  }
}

async function outer(): Promise<void> {
  const { values } = parseArgs({ options: { targets: { type: 'string', default: '200' }, seconds: { type: 'string', default: '60' }, 'interval-ms': { type: 'string', default: '1000' }, only: { type: 'string' } } });
  const n = Number(values.targets);
  const seconds = Number(values.seconds);
  const intervalMs = Number(values['interval-ms']);
  if (values.only === 'icmp' || values.only === 'fping') {
    const only = values.only;
    await withNetns(async (h) => {
      const r = await runHawser((await lab(h, n)).node, only, n, intervalMs, seconds);
      console.log(`${only}: node ${f(pct(r.node))} %, prober process ${r.fping ? f(pct(r.fping)) : '-'} %, total ${f(pct(r.total))} % of a core; ${r.report.received}/${r.report.sent} replies; RTT average ${r.report.rttAvgAll}, first / last ${r.report.rttFirstLast}; load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    });
    return;
  }
  console.log(`health probe cost: ${n} targets, ${intervalMs} ms interval, ${seconds} s window each; node ${process.version} ${ROLE_V8_FLAGS.join(' ')}; load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  await withNetns(async (h) => {
    const { node } = await lab(h, n);
    const icmp = await runHawser(node, 'icmp', n, intervalMs, seconds);
    const loadMid = loadavg();
    const fping = await runHawser(node, 'fping', n, intervalMs, seconds);

    // baseline: one `ping` per target, same interval, same source
    const pings = Array.from({ length: n }, (_, i) => h.spawn(node, 'ping', ['-n', '-q', '-i', String(intervalMs / 1000), '-I', NODE_IP, targetIP(i)]).child);
    await waitFor(async () => (await netnsPids(node)).length >= n, { timeoutMs: 30_000, what: `${n} ping processes` });
    await new Promise((r) => setTimeout(r, 2000));
    const base = await measure(async () => pings.map((c) => c.pid!).filter((p) => p > 0), seconds);
    await Promise.all(pings.map((c) => h.kill(c)));

    const row = (name: string, w: Window, procs: string, rate: string): string =>
      `  ${name.padEnd(34)}${f(pct(w)).padStart(8)}          ${`${f(w.rssStartMiB, 1)} → ${f(w.rssEndMiB, 1)}`.padEnd(22)}${procs.padEnd(12)}${rate}`;
    console.log('');
    console.log(`  ${''.padEnd(34)}CPU % of a core   RSS MiB (start → end) processes   probes/target/s`);
    console.log(row('hawser, in-process ICMP (node)', icmp.total, String(icmp.procs), f(icmp.probesPerTargetS)));
    console.log(row('hawser, fping path: node process', fping.node, '', ''));
    if (fping.fping) console.log(row('hawser, fping path: fping -l', fping.fping, '', ''));
    console.log(row('hawser, fping path: total', fping.total, String(fping.procs), f(fping.probesPerTargetS)));
    console.log(row(`baseline: ${n} × ping`, base, String(base.procs), f(1000 / intervalMs)));
    console.log('');
    for (const [name, r] of [['in-process ICMP', icmp.report], ['fping path', fping.report]] as const) {
      console.log(`  ${name}: ${r.healthy}/${n} healthy, loss max ${f(r.maxLossPercent, 1)} %, ${r.received}/${r.sent} replies, RTT average ${r.rttAvgAll}, first / last target ${r.rttFirstLast} (Go durations)`);
    }
    const bar = pct(icmp.total) <= 2 && icmp.procs <= 1;
    console.log(`  bar (≤ 2 % of a core, no process per target): ${bar ? 'met' : 'MISSED'} by the in-process prober; in-process/fping CPU ${f(pct(icmp.total) / pct(fping.total), 3)}×, in-process/baseline ${f(pct(icmp.total) / pct(base), 3)}×`);
    console.log(`  load after the in-process run ${loadMid.map((x) => x.toFixed(1)).join(' ')}; at end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  });
}

/** The node process and its fping (if any) measured over the same window, plus the process count in the node namespace. */
async function measureParallel(nodePid: number, fpingPid: number | undefined, seconds: number, ns: string): Promise<{ node: Window; fping: Window | undefined; total: Window; procs: number }> {
  const all = fpingPid === undefined ? [nodePid] : [nodePid, fpingPid];
  const [node, fping, total] = await Promise.all([
    measure(async () => [nodePid], seconds),
    fpingPid === undefined ? Promise.resolve(undefined) : measure(async () => [fpingPid], seconds),
    measure(async () => all, seconds),
  ]);
  return { node, fping, total, procs: (await netnsPids(ns)).length };
}

if (process.env.HW_BENCH_INNER === '1') await inner();
else await outer();
