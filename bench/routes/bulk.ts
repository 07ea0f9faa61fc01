// The bulk paths alone: 1,000 remote CIDRs from empty (after an uninstall) and a failover re-pointing
// all 1,000, K times each; median wall and CPU of the reconcile (nft stubbed out: the rtnetlink part),
// and how much of that CPU the kernel spent. Side by side, from the same run: one `ip -batch` process
// writing the same 1,000 routes (add, then replace to the new next hop) in a table of its own, K times,
// right after the route agent's runs and with its data plane closed (a listening data plane would take
// in every notification of the baseline's writes too); it reads nothing and diffs nothing, so it is the
// floor a route agent works toward.
//   npx tsx bench/routes/bulk.ts            (K=8)
//   HW_PROF_DIR=/tmp/prof npx tsx bench/routes/bulk.ts   (writes bulk.cpuprofile of the measured part)
import { loadavg } from 'node:os';
import { createLogger } from '../../src/log/index.js';
import { planRouteAgent, RouteAgentDataplane, type RouteAgentPlan } from '../../src/routeagent/index.js';
import { exec } from '../../src/util/exec.js';
import { median, noNft, runInThrowawayNetns } from './throwaway-netns.js';

const N = 1000;
const K = Number(process.env.HW_K ?? 8);
const GW_OLD = '192.168.90.11';
const GW_NEW = '192.168.90.13';
const CIDRS = Array.from({ length: N }, (_, i) => `172.${16 + (i >> 8)}.${i & 255}.0/24`);

function plan(gatewayIP: string): RouteAgentPlan {
  return planRouteAgent({
    nodeName: 'bench', nodeIP: '192.168.90.12', nodes: [{ name: 'gw-a', ip: GW_OLD }, { name: 'bench', ip: '192.168.90.12' }, { name: 'gw-b', ip: GW_NEW }],
    activeGateway: { nodeName: gatewayIP === GW_OLD ? 'gw-a' : 'gw-b', nodeIP: gatewayIP }, localClusterCidrs: ['10.244.0.0/16'], localServiceCidrs: ['10.96.0.0/12'],
    remoteCidrs: CIDRS, cableDriver: 'libreswan',
  });
}

/** The baseline: one `ip -batch` process adding (or re-pointing) the same routes in table 151, wall ms. */
async function ipBatch(verb: 'add' | 'replace', gw: string): Promise<number> {
  const input = CIDRS.map((c) => `route ${verb} ${c} via ${gw} dev eth0 onlink table 151 proto 148\n`).join('');
  const t0 = performance.now();
  await exec('ip', ['-batch', '-'], { input });
  return performance.now() - t0;
}

interface Figure {
  wall: number[];
  cpu: number[];
  sys: number[];
  load: number[];
}

const figure = (): Figure => ({ wall: [], cpu: [], sys: [], load: [] });

async function inner(): Promise<void> {
  const dp = new RouteAgentDataplane({ log: createLogger({ level: 'fatal' }), nft: noNft, resyncIntervalMs: 0 });
  const pOld = plan(GW_OLD);
  const pNew = plan(GW_NEW);
  await dp.reconcile(pOld);
  const figs = { empty: figure(), failover: figure(), batchAdd: figure(), batchReplace: figure() };
  const session = process.env.HW_PROF_DIR ? await import('node:inspector/promises').then((m) => new m.Session()) : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const timed = async (p: RouteAgentPlan, into: Figure): Promise<void> => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await dp.reconcile(p);
    into.wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    into.cpu.push((c.user + c.system) / 1000);
    into.sys.push(c.system / 1000);
    into.load.push(loadavg()[0]!);
    if (r.routes < N) throw new Error(`expected ${N} routes written, got ${r.routes}`);
  };
  for (let i = 0; i < K; i++) {
    await dp.uninstall();
    await timed(pOld, figs.empty);
    await timed(pNew, figs.failover);
  }
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${process.env.HW_PROF_DIR}/bulk.cpuprofile`, JSON.stringify(profile));
  }
  await dp.uninstall();
  await dp.close();
  for (let i = 0; i < K && !session; i++) {
    figs.batchAdd.wall.push(await ipBatch('add', GW_OLD));
    figs.batchAdd.load.push(loadavg()[0]!);
    figs.batchReplace.wall.push(await ipBatch('replace', GW_NEW));
    figs.batchReplace.load.push(loadavg()[0]!);
    await exec('ip', ['route', 'flush', 'table', '151']);
  }
  const load = (x: Figure): string => `load ${Math.min(...x.load).toFixed(1)}–${Math.max(...x.load).toFixed(1)}`;
  const f = (x: Figure): string => `median wall ${median(x.wall).toFixed(1)} ms, CPU ${median(x.cpu).toFixed(1)} ms (of it in the kernel ${median(x.sys).toFixed(1)}), ${load(x)}`;
  const b = (x: Figure): string => (x.wall.length ? `median wall ${median(x.wall).toFixed(1)} ms (a process of its own), ${load(x)}` : 'not run while profiling');
  process.stdout.write(`${N} routes, ${K} runs each:\n`);
  process.stdout.write(`  from empty, route agent:         ${f(figs.empty)}\n`);
  process.stdout.write(`  from empty, ip -batch add:       ${b(figs.batchAdd)}\n`);
  process.stdout.write(`  failover re-point, route agent:  ${f(figs.failover)}\n`);
  process.stdout.write(`  failover re-point, ip -batch replace: ${b(figs.batchReplace)}\n`);
}

await (process.env.HW_BENCH_INNER ? inner() : runInThrowawayNetns(import.meta.url));
