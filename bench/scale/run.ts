// How hawser's cost grows with the number of remote clusters: one real gateway (+ route agent on it and on a
// worker, + Globalnet) in a one-cluster lab, against N simulated remote clusters (bench/scale/sim.ts: each a
// Cluster + Endpoint on the broker and a real remote gateway in its own netns answering the health check).
//   npx tsx bench/scale/run.ts [--n 10,50,200] [--drivers wireguard,vxlan] [--idle-s 60] [--debug] [--keep]
//                              [--remote-sched nice|idle|normal] [--profile]
// (--debug: roles at debug, wireguard-go verbose on the gateway and on every remote, logs kept with --keep;
//  --remote-sched: how the simulated remotes' wireguard-go run, default nice 19 (sim.ts);
//  --profile: the gateway runs with node --cpu-prof and is stopped after the idle window; its self time by
//  function is printed for the connect and the idle window: where the gateway's CPU goes, not the figures)
// (root; about 3-4 minutes per driver and N on a loaded 2-core machine; not part of `make test`.)
//
// Per driver, one lab; for each N (ascending) the remotes are added, then every role is restarted (fresh
// processes, so RSS is comparable across N) and measured:
//   active → all connected: from the gateway's "became the leader" line to the line after which all N cables
//     are `connected` (the cable state log), plus when every cable's health check has an RTT on the Gateway
//     object (the remote answered fping through the cable); the restart waits until the running gateway has
//     copied every new remote Endpoint from the broker into the cluster (that copy's time is printed apart);
//   RSS of each role 10 s after that and again after the idle window (settled), growth per cable between successive N;
//   leadership losses of the gateway while connecting and while idle (each one removes every cable until the
//     Lease is back: a connect time with losses measures the election under load, not the cables);
//   CPU per idle minute of each role, of the gateway's data-plane daemon (wireguard-go) and of fping (probe cost);
//   API requests per minute by verb at the embedded API server (its debug request log) while idle;
//   route-agent reconcile time: the worker's route agent after its restart ("route agent reconciled" ms for
//     the resulting number of remote CIDRs);
//   processes in the gateway's netns (no process per cable);
//   what the simulation itself cost: CPU of the remotes' wireguard-go while connecting and per idle minute
//     (200 remotes stand for 200 other machines; on these shared cores they compete with the gateway), and
//     the load average when the gateway started and at the end of the idle window.
// The baseline in the same run is the smallest N: growth per cable = ΔRSS / ΔN.
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, randomLabName } from '../../src/lab/index.js';
import type { LabRole } from '../../src/lab/topology.js';
import { RestClient, resourcePath } from '../../src/k8s/rest.js';
import { parseEndpointSpec, type EndpointSpec } from '../../src/k8s/resources.js';
import { netnsPids } from '../../src/os/netns.js';
import { errorMessage } from '../../src/util/errors.js';
import { sleep, waitFor } from '../../src/util/wait.js';
import { fileSize, fmt, lineTime, linesSince, requestsByVerb, sampleProc, type ProcSample } from '../../test/support/measure.js';
import { MAX_REMOTES, SimRemotes, routeToRemotes, type RemoteSched, type SimDriver } from './sim.js';
import { cpuProfileNodeOptions, monotonicUs, profileWindow, readNewestProfile, windowReport } from './cpu-profile.js';

interface Args {
  ns: number[];
  drivers: SimDriver[];
  idleS: number;
  keep: boolean;
  debug: boolean;
  remoteSched: RemoteSched;
  profile: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { ns: [10, 50, 200], drivers: ['wireguard', 'vxlan'], idleS: 60, keep: false, debug: false, remoteSched: 'nice', profile: false };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    if (f === '--n') a.ns = argv[++i]!.split(',').map(Number).sort((x, y) => x - y);
    else if (f === '--drivers') a.drivers = argv[++i]!.split(',') as SimDriver[];
    else if (f === '--idle-s') a.idleS = Number(argv[++i]);
    else if (f === '--keep') a.keep = true;
    else if (f === '--debug') a.debug = true;
    else if (f === '--profile') a.profile = true;
    else if (f === '--remote-sched') a.remoteSched = argv[++i] as RemoteSched;
    else throw new Error(`unknown argument ${f} (usage: --n 10,50,200 --drivers wireguard,vxlan --idle-s 60 --debug --keep --remote-sched nice|idle|normal --profile)`);
  }
  if (a.ns.some((n) => !Number.isInteger(n) || n < 1 || n > MAX_REMOTES)) throw new Error(`--n values must be 1..${MAX_REMOTES}`);
  if (a.drivers.some((d) => d !== 'wireguard' && d !== 'vxlan' && d !== 'libreswan')) throw new Error('--drivers: wireguard, vxlan and/or libreswan (IPsec: one charon per simulated remote)');
  if (!(a.idleS > 0)) throw new Error('--idle-s must be positive');
  if (!['nice', 'idle', 'normal'].includes(a.remoteSched)) throw new Error('--remote-sched: nice, idle or normal');
  return a;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

const GW = 'a-gw1';
const WK = 'a-wk1';
const ROLES: Array<{ node: string; role: LabRole; label: string }> = [
  { node: GW, role: 'gateway', label: 'gateway' },
  { node: GW, role: 'route-agent', label: 'route-agent (gw)' },
  { node: GW, role: 'globalnet', label: 'globalnet' },
  { node: WK, role: 'route-agent', label: 'route-agent (wk)' },
];

/** The roles this lab runs (no Globalnet in the IPsec lab). */
function labRoles(lab: Lab): typeof ROLES {
  return ROLES.filter((r) => lab.node(r.node).roles.includes(r.role));
}

interface Row {
  driver: SimDriver;
  n: number;
  activeToConnectedMs: number;
  activeToHealthyMs: number;
  startToActiveMs: number;
  rss: Record<string, number>;
  /** After publishing, until the running gateway had copied every remote Endpoint from the broker. */
  brokerSyncMs: number;
  /** RSS at the end of the idle window (after the connect burst's garbage had time to go). */
  rssIdle: Record<string, number>;
  /** "stopped leading" lines of the gateway between active and all connected, and during the idle window. */
  leaseLossesConnecting: number;
  leaseLossesIdle: number;
  /** From the last "became the leader" before all were connected (equal to activeToConnectedMs without losses). */
  lastActiveToConnectedMs: number;
  /** WireGuard remotes with --debug: handshake retries and give-ups in their logs (cumulative over the run). */
  remoteRetries?: { retried: number; gaveUp: number };
  cpuPerMin: Record<string, number>;
  fds: Record<string, number>;
  procs: Record<string, number>;
  requestsPerMin: Record<string, number>;
  /** Per cable: active → its first `cable connected` line (p50, p90, max). */
  cableConnectMs: number[];
  routeAgentMs: number;
  routeAgentWrites: number;
  /** The simulated remotes' own processes (wireguard-go): how many, CPU s from the gateway's start to all connected, CPU s per idle minute. */
  remotes: { procs: number; connectCpuS: number; connectS: number; idleCpuPerMin: number };
  /** 1-minute load average when the gateway was started and at the end of the idle window. */
  load: [number, number];
  /** The gateway's CPU per idle minute by thread name (main thread, V8 workers, libuv pool, …), s/min. */
  gatewayThreads: Record<string, number>;
  /** CPU seconds the fresh gateway process used from its start to all connected (start-up included). */
  gatewayConnectCpuS: number;
  /** --profile: the gateway's CPU profile cut to the connect and the idle window. */
  profile?: string;
  error?: string;
}

/** Cables whose latest logged state is `connected`, and the time of the line that made it `want`. */
function connectedAt(lines: ReturnType<typeof linesSince>, want: number): number | undefined {
  const state = new Map<string, string>();
  let ok = 0;
  for (const l of lines) {
    if (typeof l.cable !== 'string' || typeof l.msg !== 'string' || !l.msg.startsWith('cable ')) continue;
    const before = state.get(l.cable) === 'connected';
    const now = l.msg === 'cable connected';
    state.set(l.cable, now ? 'connected' : l.msg);
    ok += (now ? 1 : 0) - (before ? 1 : 0);
    if (ok >= want) return lineTime(l);
  }
  return undefined;
}

/** Remote clusters' Endpoints in the cluster's own namespace (copied there from the broker by the active gateway). */
async function localRemoteEndpoints(lab: Lab): Promise<number> {
  const c = new RestClient(lab.kubeConfig('cluster-a'), 5000);
  try {
    const { items } = await c.list(resourcePath('submariner.io', 'v1', 'endpoints', 'submariner-operator'));
    return items.filter((o) => (o.spec as { cluster_id?: unknown } | undefined)?.cluster_id !== 'cluster-a').length;
  } finally {
    c.close();
  }
}

/** Connections on the gateway's Gateway object that are connected with a measured RTT. */
async function healthyConnections(lab: Lab): Promise<number> {
  const c = new RestClient(lab.kubeConfig('cluster-a'), 5000);
  try {
    const o = await c.getOrUndefined(resourcePath('submariner.io', 'v1', 'gateways', 'submariner-operator', GW));
    const conns = ((o?.status ?? {}) as { connections?: Array<{ status?: string; latencyRTT?: { average?: string } }> }).connections ?? [];
    return conns.filter((x) => x.status === 'connected' && x.latencyRTT?.average).length;
  } finally {
    c.close();
  }
}

/** The gateway's own Endpoint as the broker has it (the IPsec remotes' one cable). */
async function gatewayEndpoint(lab: Lab): Promise<EndpointSpec> {
  const c = new RestClient(lab.kubeConfig('cluster-a'), 5000);
  try {
    return await waitFor(async () => {
      const { items } = await c.list(resourcePath('submariner.io', 'v1', 'endpoints', 'submariner-operator'));
      const parsed = items.map((o) => parseEndpointSpec(o.spec)).find((p) => p.ok && p.value.clusterId === 'cluster-a');
      return parsed?.ok ? parsed.value : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250, what: 'the gateway\'s Endpoint' });
  } finally {
    c.close();
  }
}

async function gatewayPublicKey(lab: Lab): Promise<string> {
  const c = new RestClient(lab.kubeConfig('cluster-a'), 5000);
  try {
    return await waitFor(async () => {
      const { items } = await c.list(resourcePath('submariner.io', 'v1', 'endpoints', 'submariner-operator'));
      const spec = items.map((o) => o.spec as { cluster_id?: string; backend_config?: Record<string, string> }).find((s) => s.cluster_id === 'cluster-a');
      return spec?.backend_config?.publicKey;
    }, { timeoutMs: 60_000, intervalMs: 250, what: 'the gateway\'s WireGuard public key on its Endpoint' });
  } finally {
    c.close();
  }
}

/** Processes in the gateway node's netns by command name (roles, daemons, probers). */
async function nodeProcs(lab: Lab, node: string): Promise<ProcSample[]> {
  return (await netnsPids(lab.netns(node))).map(sampleProc).filter((p): p is ProcSample => p !== undefined);
}

/** CPU seconds of each thread of a process (by thread id, with its name). */
function threadCpu(pid: number): Map<number, { comm: string; cpuS: number }> {
  const out = new Map<number, { comm: string; cpuS: number }>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // utime and stime: the 12th and 13th fields after the parenthesised name, in USER_HZ (100 on Linux)
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), cpuS: (Number(fields[11]) + Number(fields[12])) / 100 });
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Summed CPU seconds of the simulated remotes' processes. */
function remotesCpu(sim: SimRemotes): { procs: number; cpuS: number } {
  let cpuS = 0;
  let procs = 0;
  for (const pid of sim.pids()) {
    const p = sampleProc(pid);
    if (!p) continue;
    procs++;
    cpuS += p.cpuSeconds;
  }
  return { procs, cpuS };
}

async function measure(lab: Lab, sim: SimRemotes, driver: SimDriver, n: number, idleS: number, profile: boolean): Promise<Row> {
  const gwLog = lab.logFile(`${GW}/gateway`);
  const wkLog = lab.logFile(`${WK}/route-agent`);
  const apiLog = lab.logFile('cluster-a/apiserver');
  // The running gateway copies the just-published Endpoints from the broker into the cluster (about 5 creates/s
  // at load 30): waited for here, so active → connected measures the cables, not that copy (printed apart).
  const syncFrom = Date.now();
  await waitFor(async () => (await localRemoteEndpoints(lab)) >= n, { timeoutMs: Math.max(120_000, n * 1000), intervalMs: 500, what: `${n} remote Endpoints copied from the broker` });
  const brokerSyncMs = Date.now() - syncFrom;
  // Fresh processes for every role: the gateway last, so its start is the clock's origin.
  await lab.stopRole(GW, 'gateway');
  for (const r of labRoles(lab).filter((x) => x.role !== 'gateway')) await lab.restartRole(r.node, r.role);
  const wkOffset = fileSize(wkLog);
  const gwOffset = fileSize(gwLog);
  const profileDir = profile ? mkdtempSync(join(tmpdir(), 'hw-scale-prof-')) : undefined;
  // Wall-clock ms (log lines) → the profile's monotonic µs.
  const monoOffsetUs = monotonicUs() - Date.now() * 1000;
  const remotes0 = remotesCpu(sim);
  const load0 = loadavg()[0]!;
  const t0 = Date.now();
  if (profileDir) await lab.startRoleWith(GW, 'gateway', { env: { NODE_OPTIONS: cpuProfileNodeOptions(profileDir, 2000) } });
  else await lab.startRole(GW, 'gateway');
  let activeAt: number | undefined;
  let allAt: number | undefined;
  await waitFor(() => {
    const lines = linesSince(gwLog, gwOffset);
    activeAt ??= lines.find((l) => l.msg === 'became the leader') ? lineTime(lines.find((l) => l.msg === 'became the leader')!) : undefined;
    allAt = connectedAt(lines, n);
    return allAt !== undefined;
  }, { timeoutMs: Math.max(180_000, n * 2000), intervalMs: 200, what: `${n} ${driver} cables connected` });
  const remotes1 = remotesCpu(sim);
  const gatewayConnectCpuS = sampleProc(lab.pid(`${GW}/gateway`) ?? 0)?.cpuSeconds ?? NaN;
  const connectS = (Date.now() - t0) / 1000;
  let healthyAt: number | undefined;
  await waitFor(async () => ((await healthyConnections(lab)) >= n ? (healthyAt = Date.now()) : undefined), { timeoutMs: 120_000, intervalMs: 500, what: `${n} connections with a health-check RTT` })
    .catch((err: unknown) => log(`  ! ${errorMessage(err)}`));
  const firstConnected = new Map<string, number>();
  for (const l of linesSince(gwLog, gwOffset)) if (l.msg === 'cable connected' && typeof l.cable === 'string' && !firstConnected.has(l.cable)) firstConnected.set(l.cable, lineTime(l));
  const perCable = [...firstConnected.values()].map((t) => t - (activeAt ?? NaN)).sort((x, y) => x - y);
  const pct = (q: number): number => perCable[Math.min(perCable.length - 1, Math.floor(q * perCable.length))] ?? NaN;
  const ra = linesSince(wkLog, wkOffset).find((l) => l.msg === 'route agent reconciled');
  const gwLines = linesSince(gwLog, gwOffset);
  const leaderTimes = gwLines.filter((l) => l.msg === 'became the leader').map(lineTime);
  const lossTimes = gwLines.filter((l) => l.msg === 'stopped leading').map(lineTime);
  const lastActiveAt = leaderTimes.filter((t) => t <= (allAt ?? Infinity)).at(-1) ?? activeAt;
  await sleep(10_000);
  // Roles by PID; daemons and probers by name inside the gateway's netns.
  const pids = Object.fromEntries(labRoles(lab).map((r) => [r.label, lab.pid(`${r.node}/${r.role}`)!]));
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, sampleProc(pid)]));
  const nodeBefore = [...(await nodeProcs(lab, GW)), ...(await nodeProcs(lab, WK))];
  const remotes2 = remotesCpu(sim);
  const threads0 = threadCpu(pids['gateway']!);
  const from = Date.now();
  await sleep(idleS * 1000);
  const to = Date.now();
  const remotes3 = remotesCpu(sim);
  const threads1 = threadCpu(pids['gateway']!);
  const load1 = loadavg()[0]!;
  const idleLosses = linesSince(gwLog, gwOffset).filter((l) => l.msg === 'stopped leading' && lineTime(l) >= from && lineTime(l) <= to).length;
  const after = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, sampleProc(pid)]));
  const gwProcs = await nodeProcs(lab, GW);
  const wkProcs = await nodeProcs(lab, WK);
  const minutes = (to - from) / 60_000;
  const row: Row = {
    driver, n, startToActiveMs: (activeAt ?? NaN) - t0, activeToConnectedMs: (allAt ?? NaN) - (activeAt ?? NaN), activeToHealthyMs: (healthyAt ?? NaN) - (activeAt ?? NaN),
    rss: {}, rssIdle: {}, cpuPerMin: {}, fds: {}, procs: {}, requestsPerMin: {}, brokerSyncMs,
    leaseLossesConnecting: lossTimes.filter((t) => t >= (activeAt ?? Infinity) && t <= (allAt ?? -Infinity)).length,
    leaseLossesIdle: idleLosses,
    lastActiveToConnectedMs: (allAt ?? NaN) - (lastActiveAt ?? NaN),
    cableConnectMs: [pct(0.5), pct(0.9), perCable.at(-1) ?? NaN],
    routeAgentMs: Number(ra?.ms ?? NaN), routeAgentWrites: Number(ra?.writes ?? NaN),
    remotes: { procs: remotes3.procs, connectCpuS: remotes1.cpuS - remotes0.cpuS, connectS, idleCpuPerMin: (remotes3.cpuS - remotes2.cpuS) / minutes },
    load: [load0, load1], gatewayConnectCpuS, gatewayThreads: {},
  };
  for (const [tid, t] of threads1) {
    const before = threads0.get(tid);
    const name = tid === pids['gateway'] ? 'main' : t.comm;
    row.gatewayThreads[name] = (row.gatewayThreads[name] ?? 0) + (t.cpuS - (before?.cpuS ?? 0)) / minutes;
  }
  for (const k of Object.keys(pids)) {
    const a = after[k];
    const b = before[k];
    if (!a || !b) continue;
    row.rss[k] = b.rssMiB;
    row.rssIdle[k] = a.rssMiB;
    row.fds[k] = a.fds;
    row.cpuPerMin[k] = (a.cpuSeconds - b.cpuSeconds) / minutes;
  }
  // Daemons and probers: summed per command over the processes alive at both ends.
  const rolePids = new Set(Object.values(pids));
  for (const p of gwProcs) row.procs[p.comm === 'MainThread' ? 'node' : p.comm] = (row.procs[p.comm === 'MainThread' ? 'node' : p.comm] ?? 0) + 1;
  for (const p of [...gwProcs, ...wkProcs]) {
    if (rolePids.has(p.pid)) continue;
    const b = nodeBefore.find((x) => x.pid === p.pid);
    const key = `${p.comm === 'fping' ? 'fping' : p.comm} (${gwProcs.includes(p) ? 'gw' : 'wk'})`;
    row.rssIdle[key] = (row.rssIdle[key] ?? 0) + p.rssMiB;
    if (b) row.rss[key] = (row.rss[key] ?? 0) + b.rssMiB;
    if (b) row.cpuPerMin[key] = (row.cpuPerMin[key] ?? 0) + (p.cpuSeconds - b.cpuSeconds) / minutes;
  }
  const verbs = requestsByVerb(apiLog, from, to);
  for (const [v, c] of Object.entries(verbs)) row.requestsPerMin[v] = c / minutes;
  if (profileDir) {
    // The profile is written when the process exits: the gateway stops here, and an unprofiled one takes
    // over until the next N (it copies the next remotes' Endpoints from the broker).
    await lab.stopRole(GW, 'gateway');
    await lab.startRole(GW, 'gateway');
    try {
      const raw = readNewestProfile(profileDir);
      const us = (wallMs: number): number => wallMs * 1000 + monoOffsetUs;
      row.profile = [
        windowReport(`N=${n} connect (gateway start → all connected)`, profileWindow(raw, us(t0), us(allAt ?? Date.now()), 15)),
        windowReport(`N=${n} idle`, profileWindow(raw, us(from), us(to))),
        `    (profile: ${profileDir})`,
      ].join('\n');
    } catch (err) {
      row.profile = `  N=${n}: no profile: ${errorMessage(err)}`;
    }
  }
  return row;
}

function report(rows: readonly Row[]): string {
  const out: string[] = [];
  for (const driver of new Set(rows.map((r) => r.driver))) {
    const rs = rows.filter((r) => r.driver === driver);
    out.push(`\n${driver}: one gateway (+ route agents${driver === 'libreswan' ? '' : ', Globalnet'}) against N remote clusters`);
    out.push('     N  start→active  active→connected  active→healthy*  RA reconcile (writes)  procs in gw netns');
    for (const r of rs) {
      out.push(`${String(r.n).padStart(6)}  ${fmt(r.startToActiveMs / 1000, 2).padStart(10)} s  ${fmt(r.activeToConnectedMs / 1000, 2).padStart(14)} s  ${fmt(r.activeToHealthyMs / 1000, 2).padStart(12)} s  ${fmt(r.routeAgentMs, 1).padStart(9)} ms (${String(r.routeAgentWrites)})  ${Object.entries(r.procs).map(([k, v]) => `${k}×${v}`).join(' ')}`);
    }
    out.push(`  per cable, active → connected p50/p90/max: ${rs.map((r) => `N=${r.n}: ${r.cableConnectMs.map((x) => fmt(x / 1000, 2)).join('/')} s`).join('; ')}`);
    out.push(`  before each restart, published → all remote Endpoints copied from the broker into the cluster: ${rs.map((r) => `N=${r.n}: ${fmt(r.brokerSyncMs / 1000, 2)} s`).join('; ')}`);
    out.push(`  gateway Lease lost while connecting / while idle (each loss removes every cable until it is back): ${rs.map((r) => `N=${r.n}: ${r.leaseLossesConnecting}/${r.leaseLossesIdle}`).join('; ')}`);
    if (rs.some((r) => r.leaseLossesConnecting > 0)) out.push(`  last time active → all connected: ${rs.map((r) => `N=${r.n}: ${fmt(r.lastActiveToConnectedMs / 1000, 2)} s`).join('; ')}`);
    const retries = rs.at(-1)?.remoteRetries;
    if (retries) out.push(`  remotes' wireguard-go (verbose, whole run): ${retries.retried} handshake retries, ${retries.gaveUp} give-ups after 90 s`);
    out.push('  (* every connection with a health-check RTT on the Gateway object, which is written every 5 s)');
    const keys = [...new Set(rs.flatMap((r) => Object.keys(r.rss)))];
    out.push('  RSS MiB (10 s after connected → after the idle window) / CPU s per idle minute (% of a core) / fds:');
    for (const k of keys) {
      out.push(`    ${k.padEnd(18)} ${rs.map((r) => `N=${r.n}: ${fmt(r.rss[k])} → ${fmt(r.rssIdle[k])} MiB, ${fmt(r.cpuPerMin[k], 2)} s/min (${fmt((r.cpuPerMin[k] ?? NaN) / 60 * 100, 2)} %)${r.fds[k] !== undefined ? `, ${r.fds[k]} fds` : ''}`).join('; ')}`);
    }
    out.push('  RSS growth per additional cable (MiB/cable, between successive N; 10 s after connected / after the idle window):');
    for (const k of keys) {
      const steps: string[] = [];
      const per = (r0: Row, r1: Row, m: 'rss' | 'rssIdle'): string => fmt(((r1[m][k] ?? NaN) - (r0[m][k] ?? NaN)) / (r1.n - r0.n), 3);
      for (let i = 1; i < rs.length; i++) steps.push(`${rs[i - 1]!.n}→${rs[i]!.n}: ${per(rs[i - 1]!, rs[i]!, 'rss')} / ${per(rs[i - 1]!, rs[i]!, 'rssIdle')}`);
      if (steps.length) out.push(`    ${k.padEnd(18)} ${steps.join('; ')}`);
    }
    out.push(`  gateway CPU per idle minute by thread: ${rs.map((r) => `N=${r.n}: ${Object.entries(r.gatewayThreads).filter(([, v]) => v >= 0.005).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(', ')} s/min`).join('; ')}`);
    out.push(`  gateway CPU from its start to all connected (start-up included): ${rs.map((r) => `N=${r.n}: ${fmt(r.gatewayConnectCpuS, 2)} s`).join('; ')}`);
    out.push(`  the simulation's own cost (${driver === 'wireguard' ? 'wireguard-go of the remotes' : driver === 'vxlan' ? 'kernel devices: no processes' : 'their charons are not counted here'}), CPU while connecting (gateway start → all connected) / per idle minute; load average at the gateway's start → after idle:`);
    for (const r of rs) {
      out.push(`    N=${String(r.n).padEnd(4)} ${r.remotes.procs} processes, ${fmt(r.remotes.connectCpuS, 2)} s CPU in ${fmt(r.remotes.connectS, 1)} s (${fmt((r.remotes.connectCpuS / r.remotes.connectS) * 100, 1)} % of a core), idle ${fmt(r.remotes.idleCpuPerMin, 2)} s/min (${fmt(r.remotes.idleCpuPerMin / 60 * 100, 2)} %); load ${fmt(r.load[0], 2)} → ${fmt(r.load[1], 2)}`);
    }
    out.push('  API requests per idle minute (cluster-a API server = broker too), by verb:');
    for (const r of rs) out.push(`    N=${String(r.n).padEnd(4)} ${Object.entries(r.requestsPerMin).sort().map(([v, c]) => `${v} ${fmt(c)}`).join(', ') || '(none)'}`);
    const big = rs.at(-1);
    if (big) {
      const gwCpu = (big.cpuPerMin['gateway'] ?? NaN) / 60 * 100;
      // Settled RSS (after the idle window), smallest N as the baseline of the same run.
      const perCable = rs.length > 1 ? ((big.rssIdle['gateway'] ?? NaN) - (rs[0]!.rssIdle['gateway'] ?? NaN)) / (big.n - rs[0]!.n) : NaN;
      const perCableProcs = (big.procs['fping'] ?? 0) >= big.n && big.n > 1 || (big.procs['wireguard-go'] ?? 0) > 1;
      out.push(`  bars at N=${big.n}: active→connected ${fmt(big.activeToConnectedMs / 1000, 2)} s (≤ 10 s: ${big.activeToConnectedMs <= 10_000 ? 'ok' : 'MISSED'}${big.leaseLossesConnecting ? `, with ${big.leaseLossesConnecting} Lease losses` : ''}); `
        + `gateway RSS/cable ${fmt(perCable, 3)} MiB (≤ 0.2: ${perCable <= 0.2 ? 'ok' : Number.isNaN(perCable) ? 'n/a' : 'MISSED'}); `
        + `process per cable: ${perCableProcs ? 'YES (MISSED)' : 'no (ok)'}; gateway idle CPU ${fmt(gwCpu, 2)} % of a core (< 5 %: ${gwCpu < 5 ? 'ok' : 'MISSED'})`);
    }
    for (const r of rs) if (r.profile) out.push(r.profile);
  }
  return out.join('\n') + '\n';
}

async function runDriver(driver: SimDriver, args: Args, rows: Row[]): Promise<void> {
  const t0 = Date.now();
  // IPsec runs without Globalnet: with kernel-libipsec (no kernel ESP here) charon routes a child SA into its
  // TUN device from a local address inside the local traffic selector, and with Globalnet that selector is the
  // global CIDR, where the gateway holds no address (its global IP is an nft SNAT, not an interface address).
  const globalnet = driver !== 'libreswan';
  log(`${driver}: lab up (1 cluster, gateway + worker${globalnet ? ', Globalnet' : ''})`);
  const lab = await Lab.up({
    name: `sc${randomLabName()}`, clusters: 1, driver, gatewaysPerCluster: 1, workersPerCluster: 1, podsPerNode: 1, globalnet,
    // The API server logs each request at debug (counted by verb); the roles stay at info.
    // --debug: the roles too, and SUBMARINER_DEBUG makes the gateway's wireguard-go verbose (its log in the node's state dir).
    logLevel: 'debug', roleEnv: args.debug ? { LOG_LEVEL: 'debug', SUBMARINER_DEBUG: 'true' } : { LOG_LEVEL: 'info' },
  });
  const c = lab.cluster('cluster-a');
  const gwNode = lab.node(GW);
  let sim: SimRemotes | undefined;
  try {
    await routeToRemotes(lab, 'cluster-a');
    const wgPublicKey = driver === 'wireguard' ? await gatewayPublicKey(lab) : undefined;
    const endpoint = driver === 'libreswan' ? await gatewayEndpoint(lab) : undefined;
    sim = new SimRemotes(lab, driver, {
      ip: gwNode.ip, routerWanIp: c.routerWanIp, lanCidr: c.lanCidr, sourceCidrs: [c.podCidr, c.serviceCidr, ...(c.globalCidr ? [c.globalCidr] : [])],
      wgPublicKey, pskText: lab.roleEnv(GW, 'gateway').CE_IPSEC_PSK, endpoint,
    }, args.debug, args.remoteSched);
    log(`  lab ${lab.name} up in ${fmt((Date.now() - t0) / 1000)} s`);
    let have = 0;
    for (const n of args.ns) {
      const t1 = Date.now();
      await sim.add(have + 1, n);
      if (driver === 'libreswan') log(`  N=${n}: ${n - have} remote charons started and loaded in ${fmt((Date.now() - t1) / 1000)} s (${fmt((Date.now() - t1) / (n - have))} ms each, 4 at a time)`);
      await sim.publish(have + 1, n);
      have = n;
      log(`  N=${n}: remotes made and published in ${fmt((Date.now() - t1) / 1000)} s; restarting the roles and measuring (idle ${args.idleS} s)`);
      const row = await measure(lab, sim, driver, n, args.idleS, args.profile);
      if (args.debug && driver === 'wireguard') row.remoteRetries = sim.handshakeRetries();
      log(`  N=${n}: active→connected ${fmt(row.activeToConnectedMs / 1000, 2)} s, gateway RSS ${fmt(row.rss['gateway'])} MiB, CPU ${fmt(row.cpuPerMin['gateway'], 2)} s/min`);
      rows.push(row);
    }
  } catch (err) {
    log(`  ${driver} failed: ${errorMessage(err)} (logs: ${lab.stateDir}/logs)`);
    if (sim && driver === 'libreswan') {
      // The remotes' charon logs are the evidence of where IPsec stops; they outlive the run.
      const dest = `/tmp/hawser-scale-ipsec-${lab.name}`;
      cpSync(sim.workDir, dest, { recursive: true });
      log(`  the remotes' charon logs and driver log kept in ${dest}`);
    }
    throw err;
  } finally {
    if (args.keep) log(`  kept lab ${lab.name} and its remotes (hawser lab down --name ${lab.name}; netns hw-${lab.name}-r*)`);
    else {
      await sim?.destroy().catch((err: unknown) => log(`  remotes cleanup: ${errorMessage(err)}`));
      await lab.down().catch((err: unknown) => log(`  lab down: ${errorMessage(err)}`));
    }
  }
}

const INOTIFY_INSTANCES = '/proc/sys/fs/inotify/max_user_instances';

/**
 * Each simulated WireGuard remote is a wireguard-go, and each wireguard-go takes an inotify instance for its
 * UAPI socket; the host's per-user limit (128 by default, shared with every other process of root) stops the
 * simulation near 120 remotes. Raised for the run when too low, and put back (also on SIGINT/SIGTERM).
 */
function raiseInotifyInstances(need: number): () => void {
  const old = Number(readFileSync(INOTIFY_INSTANCES, 'utf8').trim());
  if (!(old < need)) {
    log(`fs.inotify.max_user_instances is ${old} (≥ ${need} needed): left as it is`);
    return () => undefined;
  }
  writeFileSync(INOTIFY_INSTANCES, `${need}\n`);
  log(`raised fs.inotify.max_user_instances from ${old} to ${need} for the simulated wireguard-go remotes (put back at the end)`);
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    writeFileSync(INOTIFY_INSTANCES, `${old}\n`);
    log(`fs.inotify.max_user_instances put back to ${old}`);
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => {
    restore();
    process.exit(130);
  });
  return restore;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rows: Row[] = [];
  const load = loadavg().map((x) => x.toFixed(2)).join(' ');
  log(`scale run at ${new Date().toISOString()}, remotes' wireguard-go scheduled ${args.remoteSched}${args.profile ? ', gateway profiled (--cpu-prof)' : ''}`);
  // The remotes' wireguard-go plus headroom for everything else root runs meanwhile (the lab, other work).
  const restoreInotify = args.drivers.includes('wireguard') ? raiseInotifyInstances(Math.max(...args.ns) + 256) : () => undefined;
  try {
    for (const d of args.drivers) {
      try {
        await runDriver(d, args, rows);
      } catch {
        process.exitCode = 1;
      }
    }
  } finally {
    restoreInotify();
  }
  const loadEnd = loadavg().map((x) => x.toFixed(2)).join(' ');
  process.stdout.write(report(rows));
  process.stdout.write(`load average at start ${load}, at end ${loadEnd} (2 cores, shared)\n`);
}

await main();
