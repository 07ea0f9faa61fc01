// The bulk paths alone: 1,000 remote CIDRs from empty (after an uninstall) and a failover re-pointing
// all 1,000, K times each; median wall and CPU of the reconcile (nft stubbed out: the rtnetlink part).
//   npx tsx bench/routes/bulk.ts            (K=8)
//   HW_PROF_DIR=/tmp/prof npx tsx bench/routes/bulk.ts   (writes bulk.cpuprofile of the measured part)
import { loadavg } from 'node:os';
import { createLogger } from '../../src/log/index.js';
import { planRouteAgent, RouteAgentDataplane, type RouteAgentPlan } from '../../src/routeagent/index.js';
import { median, noNft, runInThrowawayNetns } from './throwaway-netns.js';

const N = 1000;
const K = Number(process.env.HW_K ?? 8);
const GW_OLD = '192.168.90.11';
const GW_NEW = '192.168.90.13';

function plan(gatewayIP: string): RouteAgentPlan {
  return planRouteAgent({
    nodeName: 'bench', nodeIP: '192.168.90.12', nodes: [{ name: 'gw-a', ip: GW_OLD }, { name: 'bench', ip: '192.168.90.12' }, { name: 'gw-b', ip: GW_NEW }],
    activeGateway: { nodeName: gatewayIP === GW_OLD ? 'gw-a' : 'gw-b', nodeIP: gatewayIP }, localClusterCidrs: ['10.244.0.0/16'], localServiceCidrs: ['10.96.0.0/12'],
    remoteCidrs: Array.from({ length: N }, (_, i) => `172.${16 + (i >> 8)}.${i & 255}.0/24`), cableDriver: 'libreswan',
  });
}



async function inner(): Promise<void> {
  const dp = new RouteAgentDataplane({ log: createLogger({ level: 'fatal' }), nft: noNft, resyncIntervalMs: 0 });
  const pOld = plan(GW_OLD);
  const pNew = plan(GW_NEW);
  await dp.reconcile(pOld);
  const figs = { empty: { wall: [] as number[], cpu: [] as number[], sys: [] as number[] }, failover: { wall: [] as number[], cpu: [] as number[], sys: [] as number[] } };
  const session = process.env.HW_PROF_DIR ? await import('node:inspector/promises').then((m) => new m.Session()) : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const timed = async (p: RouteAgentPlan, into: { wall: number[]; cpu: number[]; sys: number[] }): Promise<void> => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await dp.reconcile(p);
    into.wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    into.cpu.push((c.user + c.system) / 1000);
    into.sys.push(c.system / 1000);
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
  const f = (x: { wall: number[]; cpu: number[]; sys: number[] }): string => `median wall ${median(x.wall).toFixed(1)} ms, median CPU ${median(x.cpu).toFixed(1)} ms (of it in the kernel ${median(x.sys).toFixed(1)})`;
  process.stdout.write(`${N} routes, ${K} runs each (load ${loadavg()[0]!.toFixed(1)}):\n  from empty: ${f(figs.empty)}\n  failover re-point: ${f(figs.failover)}\n`);
}

await (process.env.HW_BENCH_INNER ? inner() : runInThrowawayNetns(import.meta.url));
