// The one-CIDR path alone: with 1,000 remote CIDRs present, add one and remove it again K times and
// report the median wall and CPU time of the reconcile (nft stubbed out: the rtnetlink part); then the
// same end to end: the plan built from the input, and the real nft (the set-element change included).
// Baseline from the same run: one `ip route add` and one `ip route del` process for one route.
// (Before this code, b5522ce: rtnetlink part 0.88 ms wall / 0.99 ms CPU, end to end 1.15 / 1.30 ms,
// measured by the lead on an idle machine.)
//   npx tsx bench/routes/one-cidr.ts            (K=100)
//   HW_PROF_DIR=/tmp/prof npx tsx bench/routes/one-cidr.ts   (writes a .cpuprofile of the measured part)
import { loadavg } from 'node:os';
import { exec } from '../../src/util/exec.js';
import { createLogger } from '../../src/log/index.js';
import { planRouteAgent, RouteAgentDataplane, type RouteAgentInput, type RouteAgentPlan } from '../../src/routeagent/index.js';
import { median, noNft, runInThrowawayNetns } from './throwaway-netns.js';

const N = Number(process.env.HW_N ?? 1000);
const K = Number(process.env.HW_K ?? 100);

function cidrs(n: number, offset = 0): string[] {
  return Array.from({ length: n }, (_, i) => `172.${16 + ((i + offset) >> 8)}.${(i + offset) & 255}.0/24`);
}

function plan(remote: string[]): RouteAgentPlan {
  return planRouteAgent(input(remote));
}

function input(remote: string[]): RouteAgentInput {
  return ({
    nodeName: 'bench', nodeIP: '192.168.90.12', nodes: [{ name: 'gw-a', ip: '192.168.90.11' }, { name: 'bench', ip: '192.168.90.12' }],
    activeGateway: { nodeName: 'gw-a', nodeIP: '192.168.90.11' }, localClusterCidrs: ['10.244.0.0/16'], localServiceCidrs: ['10.96.0.0/12'], remoteCidrs: remote, cableDriver: 'libreswan',
  });
}



type Session = import('node:inspector/promises').Session;

async function startProfile(): Promise<Session | undefined> {
  if (!process.env.HW_PROF_DIR) return undefined;
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return session;
}

async function stopProfile(session: Session | undefined, name: string): Promise<void> {
  if (!session) return;
  const { profile } = await session.post('Profiler.stop');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(`${process.env.HW_PROF_DIR}/${name}.cpuprofile`, JSON.stringify(profile));
  session.disconnect();
}

async function inner(): Promise<void> {
  const dp = new RouteAgentDataplane({ log: createLogger({ level: 'fatal' }), nft: noNft, resyncIntervalMs: 0 });
  const all = cidrs(N);
  const pAll = plan(all);
  const pPlus = plan([...all, ...cidrs(1, N)]);
  await dp.reconcile(pAll);
  await dp.reconcile(pAll);
  const wall: number[] = [];
  const cpu: number[] = [];
  const session = await startProfile();
  for (let i = 0; i < K; i++) {
    for (const p of [pPlus, pAll]) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const r = await dp.reconcile(p);
      wall.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
      if (r.routes !== 1) throw new Error(`expected one route written, got ${r.routes}`);
    }
  }
  await stopProfile(session, 'one-cidr');
  await dp.uninstall();
  await dp.close();
  process.stdout.write(`one CIDR added/removed with ${N} present, ${2 * K} reconciles (load ${loadavg()[0]!.toFixed(1)}): median wall ${median(wall).toFixed(3)} ms, median CPU ${median(cpu).toFixed(3)} ms\n`);

  // end to end: input -> plan -> reconcile, with the real nft table (its element change included)
  const e2e = new RouteAgentDataplane({ log: createLogger({ level: 'fatal' }), resyncIntervalMs: 0 });
  const iAll = input(all);
  const iPlus = input([...all, ...cidrs(1, N)]);
  await e2e.reconcile(planRouteAgent(iAll));
  await e2e.reconcile(planRouteAgent(iAll));
  const wallE: number[] = [];
  const cpuE: number[] = [];
  const sessionE = await startProfile();
  for (let i = 0; i < K; i++) {
    for (const inp of [iPlus, iAll]) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const r = await e2e.reconcile(planRouteAgent(inp));
      wallE.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpuE.push((c.user + c.system) / 1000);
      if (r.routes !== 1 || r.nft !== 1) throw new Error(`expected one route and one nft transaction, got ${r.routes} and ${r.nft}`);
    }
  }
  await stopProfile(sessionE, 'one-cidr-e2e');
  await e2e.uninstall();
  await e2e.close();
  process.stdout.write(`end to end (plan + reconcile + nft set element), ${2 * K} reconciles (load ${loadavg()[0]!.toFixed(1)}): median wall ${median(wallE).toFixed(3)} ms, median CPU ${median(cpuE).toFixed(3)} ms\n`);

  // baseline: the same one route written by a process of its own (a table of its own, so nothing above is disturbed)
  const wallIp: number[] = [];
  for (let i = 0; i < Math.min(K, 20); i++) {
    for (const verb of ['add', 'del']) {
      const t0 = performance.now();
      await exec('ip', ['route', verb, '172.31.0.0/24', 'via', '192.168.90.11', 'dev', 'eth0', 'onlink', 'table', '151', 'proto', '148']);
      wallIp.push(performance.now() - t0);
    }
  }
  process.stdout.write(`baseline: one \`ip route add\` or \`ip route del\` process, ${wallIp.length} runs (load ${loadavg()[0]!.toFixed(1)}): median wall ${median(wallIp).toFixed(3)} ms\n`);
}

await (process.env.HW_BENCH_INNER ? inner() : runInThrowawayNetns(import.meta.url));
