// Footprint of each role (gateway, route agent, globalnet) in a running lab, compiled (dist/ through
// bin/hawser, as the image runs it) vs tsx (the checkout's sources), and optionally vs a baseline build of
// another commit (e.g. the one before this work), all in one lab run:
//   npx tsx bench/footprint/run.ts [--minutes 10] [--baseline-ref REF [--baseline-node /usr/bin/node]] [--no-globalnet]
// (root; about minutes + 2 minutes; not part of `make test`.)
//
// One 8-cluster VXLAN lab (the lab's maximum), one gateway node per cluster, plus 3 remote clusters that
// exist only as Endpoint/Cluster objects on the broker (their addresses lead nowhere inside the lab), so
// every gateway has 10 connections. Node a-gw1 runs compiled, b-gw1 tsx, c-gw1 the baseline; the other
// nodes run compiled. On each measured node every role is restarted once and timed from its start to
// "ready": the gateway has logged all 10 cables connected, the route agent has logged "in sync after
// start", Globalnet has logged "Globalnet started". RSS (VmRSS; private = RssAnon; PSS shares the Node
// binary's pages among processes) is read 10 s after ready and again after --minutes of idling, with the
// CPU time used meanwhile.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, labDown, randomLabName } from '../../src/lab/index.js';
import type { LabRole } from '../../src/lab/topology.js';
import { kubeConfigAccess } from '../../src/k8s/access.js';
import { RestClient, resourcePath } from '../../src/k8s/rest.js';
import { errorMessage } from '../../src/util/errors.js';
import { waitFor } from '../../src/util/wait.js';
import { parseLogLines } from '../../test/support/measure.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CONNECTIONS = 10;
const CLUSTERS = 8;
const SYNTHETIC = CONNECTIONS - (CLUSTERS - 1);
const SETTLE_MS = 10_000;
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

type Mode = 'compiled' | 'tsx' | 'baseline';

interface Args {
  minutes: number;
  globalnet: boolean;
  baselineRef?: string;
  baselineNode?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { minutes: 10, globalnet: true };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    if (f === '--minutes') a.minutes = Number(argv[++i]);
    else if (f === '--baseline-ref') a.baselineRef = argv[++i];
    else if (f === '--baseline-node') a.baselineNode = argv[++i];
    else if (f === '--no-globalnet') a.globalnet = false;
    else throw new Error(`unknown argument ${f} (usage: --minutes N, --baseline-ref REF, --baseline-node PATH, --no-globalnet)`);
  }
  if (!(a.minutes > 0)) throw new Error('--minutes must be a positive number');
  return a;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function sh(cmd: string, args: string[], cwd = REPO): void {
  // Their output goes to stderr: stdout carries only the figures.
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 2, 'inherit'], env: process.env });
}

/** compiled: bin/hawser in a directory without src/ (dist/, node_modules and .tools linked in), as an install runs. */
function compiledLayout(dir: string): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  cpSync(join(REPO, 'bin', 'hawser'), join(dir, 'bin', 'hawser'));
  cpSync(join(REPO, 'package.json'), join(dir, 'package.json'));
  for (const d of ['dist', 'node_modules', '.tools']) if (existsSync(join(REPO, d))) symlinkSync(join(REPO, d), join(dir, d));
  return join(dir, 'bin', 'hawser');
}

/** baseline: another commit's sources compiled (emit only) with its own production dependencies. */
function baselineLayout(dir: string, ref: string, node: string): string {
  mkdirSync(dir, { recursive: true });
  execFileSync('sh', ['-c', `git -C "$0" archive "$1" | tar -x -C "$2"`, REPO, ref, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  sh('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error'], dir);
  // Emit only (its dev dependencies, type packages included, are not installed).
  writeFileSync(join(dir, 'tsconfig.baseline.json'), JSON.stringify({ extends: './tsconfig.json', compilerOptions: { types: [], noCheck: true, sourceMap: false, outDir: 'dist', rootDir: '.' }, include: ['src/**/*.ts'] }));
  sh(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.baseline.json')], dir);
  // Older builds read dist/package.json for their version.
  cpSync(join(dir, 'package.json'), join(dir, 'dist', 'package.json'));
  const wrapper = join(dir, 'hawser-baseline');
  writeFileSync(wrapper, `#!/bin/sh\nexec "${node}" "${join(dir, 'dist', 'src', 'cli', 'main.js')}" "$@"\n`);
  chmodSync(wrapper, 0o755);
  return wrapper;
}

interface ProcSample {
  rssMiB: number;
  anonMiB: number;
  pssMiB: number;
  cpuSeconds: number;
}

function sample(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kib = (re: RegExp, text: string): number => Number(re.exec(text)?.[1] ?? NaN) / 1024;
  // /proc/PID/stat: fields after the parenthesised command; utime and stime are the 14th and 15th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssMiB: kib(/VmRSS:\s+(\d+)/, status), anonMiB: kib(/RssAnon:\s+(\d+)/, status), pssMiB: kib(/^Pss:\s+(\d+)/m, rollup), cpuSeconds: ticks / CLOCK_TICKS };
}

interface LogLine {
  msg?: string;
  time?: string | number;
  cable?: string;
}

/** JSON log lines appended to `file` after byte `offset`. */
function linesSince(file: string, offset: number): LogLine[] {
  return parseLogLines<LogLine>(readFileSync(file).subarray(offset).toString('utf8'));
}

function lineTime(l: LogLine): number {
  return typeof l.time === 'number' ? l.time : Date.parse(String(l.time));
}

/** The time of the line that makes the role ready, or undefined while it is not. */
function readyAt(role: LabRole, lines: LogLine[]): number | undefined {
  if (role === 'gateway') {
    const cables = new Set<string>();
    for (const l of lines) {
      if (l.msg === 'cable connected' && l.cable) cables.add(l.cable);
      if (cables.size >= CONNECTIONS) return lineTime(l);
    }
    return undefined;
  }
  const want = role === 'route-agent' ? 'route agent in sync after start' : 'Globalnet started';
  const l = lines.find((x) => x.msg === want);
  return l ? lineTime(l) : undefined;
}

/** Remote clusters that exist only on the broker: a gateway makes a cable to each. */
async function addSyntheticRemotes(lab: Lab, globalnet: boolean): Promise<void> {
  const broker = lab.topology.brokerCluster;
  const client = new RestClient(kubeConfigAccess(lab.kubeConfig(broker)));
  const ns = 'submariner-k8s-broker';
  try {
    for (let k = 1; k <= SYNTHETIC; k++) {
      const id = `remote-${k}`;
      const ip = `172.30.${k}.11`;
      const cidr = globalnet ? `242.${200 + k}.0.0/16` : `10.${200 + k}.0.0/16`;
      const cable = `submariner-cable-${id}-${ip.replaceAll('.', '-')}`;
      const labels = { 'submariner-io/clusterID': id };
      await client.create(resourcePath('submariner.io', 'v1', 'clusters', ns), {
        apiVersion: 'submariner.io/v1', kind: 'Cluster', metadata: { name: id, namespace: ns, labels },
        spec: { cluster_id: id, cluster_cidr: [cidr], service_cidr: [], global_cidr: globalnet ? [cidr] : [], color_codes: ['blue'] },
      });
      await client.create(resourcePath('submariner.io', 'v1', 'endpoints', ns), {
        apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: { name: `${id}-${cable}`, namespace: ns, labels },
        spec: {
          cluster_id: id, cable_name: cable, hostname: `${id}-gw1`, backend: 'vxlan', subnets: [cidr],
          private_ip: ip, privateIPs: [ip], public_ip: ip, publicIPs: [ip], nat_enabled: false,
          backend_config: { 'natt-discovery-port': '4490', 'udp-port': '4500', 'public-ip': `ipv4:${ip}`, 'preferred-server': 'false' },
        },
      });
    }
  } finally {
    client.close();
  }
}

interface Row {
  role: LabRole;
  mode: Mode;
  readyMs: number;
  start: ProcSample;
  end?: ProcSample;
  pid: number;
}

async function restartAndTime(lab: Lab, node: string, role: LabRole, mode: Mode): Promise<Row> {
  await lab.stopRole(node, role);
  const file = lab.logFile(`${node}/${role}`);
  const offset = existsSync(file) ? statSync(file).size : 0;
  const t0 = Date.now();
  const pid = await lab.startRole(node, role);
  let at: number | undefined;
  await waitFor(() => (at = readyAt(role, linesSince(file, offset))) !== undefined, { timeoutMs: 60_000, intervalMs: 20, what: `${node} ${role} (${mode}) ready` });
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  return { role, mode, readyMs: at! - t0, start: sample(pid), pid };
}

function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '?';
}

function report(rows: Row[], minutes: number): void {
  const out: string[] = [];
  out.push(`\nfootprint: ${CONNECTIONS} connections per gateway (${CLUSTERS - 1} lab clusters + ${SYNTHETIC} broker-only), idle ${minutes} min`);
  out.push('role         mode      ready ms  RSS start  RSS end  growth  private end  PSS end  CPU s/min');
  for (const r of rows) {
    const e = r.end;
    out.push(`${r.role.padEnd(12)} ${r.mode.padEnd(9)} ${String(Math.round(r.readyMs)).padStart(8)}  ${fmt(r.start.rssMiB).padStart(9)}  ${fmt(e?.rssMiB ?? NaN).padStart(7)}  ${fmt((e?.rssMiB ?? NaN) - r.start.rssMiB).padStart(6)}  ${fmt(e?.anonMiB ?? NaN).padStart(11)}  ${fmt(e?.pssMiB ?? NaN).padStart(7)}  ${fmt(e ? (e.cpuSeconds - r.start.cpuSeconds) / minutes : NaN, 2).padStart(9)}`);
  }
  out.push('\nratios (compiled / other; < 1 means compiled uses less):');
  for (const role of new Set(rows.map((r) => r.role))) {
    const c = rows.find((r) => r.role === role && r.mode === 'compiled');
    if (!c) continue;
    for (const other of rows.filter((r) => r.role === role && r.mode !== 'compiled')) {
      const rss = (c.end?.rssMiB ?? c.start.rssMiB) / (other.end?.rssMiB ?? other.start.rssMiB);
      out.push(`  ${role.padEnd(12)} vs ${other.mode.padEnd(9)} RSS end ×${fmt(rss, 2)}  ready ×${fmt(c.readyMs / other.readyMs, 2)}`);
    }
  }
  const target = rows.filter((r) => r.mode === 'compiled');
  out.push(`\ngoal (compiled: RSS ≤ 60 MiB, ready ≤ 1000 ms): ${target.map((r) => `${r.role} ${fmt(r.end?.rssMiB ?? r.start.rssMiB)} MiB / ${Math.round(r.readyMs)} ms`).join('; ')}`);
  process.stdout.write(out.join('\n') + '\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const work = mkdtempSync(join(tmpdir(), 'hw-footprint-'));
  let lab: Lab | undefined;
  try {
    log('building dist/ (tsconfig.build.json)');
    sh(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO, 'tsconfig.build.json')]);
    const commands: Partial<Record<Mode, string>> = { compiled: compiledLayout(join(work, 'compiled')), tsx: join(REPO, 'bin', 'hawser') };
    if (args.baselineRef) {
      log(`building the baseline ${args.baselineRef} (npm ci --omit=dev, tsc)`);
      commands.baseline = baselineLayout(join(work, 'baseline'), args.baselineRef, args.baselineNode ?? process.execPath);
    }
    const measured: Array<{ node: string; mode: Mode }> = [{ node: 'a-gw1', mode: 'compiled' }, { node: 'b-gw1', mode: 'tsx' }];
    if (commands.baseline) measured.push({ node: 'c-gw1', mode: 'baseline' });
    const dispatch = join(work, 'hawser-role');
    writeFileSync(dispatch, [
      '#!/bin/sh',
      '# Picks the build a node runs by its name (the lab sets NODE_NAME for every role).',
      'case "$NODE_NAME" in',
      ...measured.map((m) => `  ${m.node}) exec "${commands[m.mode]}" "$@";;`),
      `  *) exec "${commands.compiled}" "$@";;`,
      'esac',
      '',
    ].join('\n'));
    chmodSync(dispatch, 0o755);

    log(`lab up: ${CLUSTERS} clusters, vxlan${args.globalnet ? ', globalnet' : ''}`);
    lab = await Lab.up({
      name: `fp${randomLabName()}`, clusters: CLUSTERS, driver: 'vxlan', gatewaysPerCluster: 1, workersPerCluster: 0, podsPerNode: 1,
      globalnet: args.globalnet, roleCommand: dispatch, progress: (s) => log(`  ${s}`),
    });
    await addSyntheticRemotes(lab, args.globalnet);
    // Steady state first: every gateway holds its 10 connections before anything is restarted and timed.
    log(`waiting for every gateway to hold ${CONNECTIONS} connections`);
    for (const c of lab.topology.clusters) {
      const node = c.nodes[0]!.name;
      await waitFor(() => readyAt('gateway', linesSince(lab!.logFile(`${node}/gateway`), 0)) !== undefined, { timeoutMs: 180_000, intervalMs: 500, what: `${node} gateway with ${CONNECTIONS} connections` });
    }
    const roles: LabRole[] = args.globalnet ? ['gateway', 'route-agent', 'globalnet'] : ['gateway', 'route-agent'];
    const rows: Row[] = [];
    // Role by role, the builds back to back: each build's timing sees the same machine load.
    for (const role of roles) {
      for (const m of measured) {
        const row = await restartAndTime(lab, m.node, role, m.mode);
        log(`  ${m.node} ${role} (${m.mode}): ready in ${Math.round(row.readyMs)} ms, RSS ${fmt(row.start.rssMiB)} MiB`);
        rows.push(row);
      }
    }
    log(`idling ${args.minutes} min`);
    const until = Date.now() + args.minutes * 60_000;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, Math.min(60_000, until - Date.now())));
      log(`  ${fmt((args.minutes * 60_000 - (until - Date.now())) / 60_000)} min: ${rows.map((r) => `${r.role}/${r.mode} ${fmt(sample(r.pid).rssMiB)}`).join(', ')}`);
    }
    for (const r of rows) r.end = sample(r.pid);
    report(rows, args.minutes);
  } finally {
    if (lab) await labDown(lab.name).catch((err: unknown) => log(`lab down: ${errorMessage(err)}`));
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
