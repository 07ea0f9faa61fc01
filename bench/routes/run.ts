// Route agent reconcile (event-kept cache, with and without nft; and the previous dump-every-time
// reconcile) vs. `ip -batch` and single `ip route` processes, with 1,000 remote CIDRs, in a throwaway netns.
//   npx tsx bench/routes/run.ts
// The outer process makes the namespace and re-runs this file inside it (`ip netns exec`), so the
// dataplane talks netlink in-process exactly as on a node; the namespace is deleted at the end.
import { createLogger } from '../../src/log/index.js';
import { loadavg } from 'node:os';
import { NetlinkRtnl } from '../../src/os/netlink.js';
import { planRouteAgent, RouteAgentDataplane, type RouteAgentInput, type RouteAgentPlan } from '../../src/routeagent/index.js';
import { exec } from '../../src/util/exec.js';
import { median, noNft, runInThrowawayNetns } from './throwaway-netns.js';

const N = 1000;
const RUNS = 3;
const GW_OLD = '192.168.90.11';
const GW_NEW = '192.168.90.13';

function cidrs(n: number, offset = 0): string[] {
  return Array.from({ length: n }, (_, i) => `172.${16 + ((i + offset) >> 8)}.${(i + offset) & 255}.0/24`);
}

function plan(remote: string[], gatewayIP = GW_OLD): RouteAgentPlan {
  const input: RouteAgentInput = {
    nodeName: 'bench',
    nodeIP: '192.168.90.12',
    nodes: [{ name: 'gw-a', ip: GW_OLD }, { name: 'bench', ip: '192.168.90.12' }, { name: 'gw-b', ip: GW_NEW }],
    activeGateway: { nodeName: gatewayIP === GW_OLD ? 'gw-a' : 'gw-b', nodeIP: gatewayIP },
    localClusterCidrs: ['10.244.0.0/16'],
    localServiceCidrs: ['10.96.0.0/12'],
    remoteCidrs: remote,
    cableDriver: 'libreswan',
  };
  return planRouteAgent(input);
}

function vtep(ip: string): string {
  return `240.${ip.split('.').slice(1).join('.')}`;
}

/** Baseline: one `ip -batch` process writing the routes (no observe, no diff, no firewall). */
async function ipBatch(verb: 'add' | 'replace' | 'del', list: string[], gw: string): Promise<number> {
  const input = list.map((c) => `route ${verb} ${c}${verb === 'del' ? '' : ` via ${vtep(gw)} dev vx-submariner onlink`} table 150 proto 147`).join('\n') + '\n';
  const t0 = performance.now();
  await exec('ip', ['-batch', '-'], { input });
  return performance.now() - t0;
}


/** nftables left out (the nft adapter is another subsystem's): shows the rtnetlink part alone. */

interface Figures {
  fromEmpty: number;
  noop: number;
  addOne: number;
  delOne: number;
  failover: number;
  writes: { fromEmpty: number; addOne: number; failover: number };
  fullDumps?: number;
  /** CPU time of this process (user+system) per scenario: what the wall figures are under a loaded machine. */
  cpu: { fromEmpty: number; noop: number; addOne: number; delOne: number; failover: number };
}

/** Runs a reconcile, returning its report and this process's CPU ms for it. */
async function timed(dp: RouteAgentDataplane, p: RouteAgentPlan): Promise<{ r: Awaited<ReturnType<RouteAgentDataplane['reconcile']>>; cpu: number }> {
  const c0 = process.cpuUsage();
  const r = await dp.reconcile(p);
  const c = process.cpuUsage(c0);
  return { r, cpu: (c.user + c.system) / 1000 };
}

async function measure(dp: RouteAgentDataplane, all: string[]): Promise<Figures> {
  const fromEmpty: number[] = [];
  const noop: number[] = [];
  const addOne: number[] = [];
  const delOne: number[] = [];
  const failover: number[] = [];
  const writes = { fromEmpty: 0, addOne: 0, failover: 0 };
  const cpu = { fromEmpty: [] as number[], noop: [] as number[], addOne: [] as number[], delOne: [] as number[], failover: [] as number[] };
  const pAll = plan(all);
  const pNew = plan(all, GW_NEW);
  for (let i = 0; i < RUNS; i++) {
    await dp.uninstall();
    const e = await timed(dp, pAll);
    fromEmpty.push(e.r.durationMs);
    cpu.fromEmpty.push(e.cpu);
    writes.fromEmpty = e.r.total;
    const n = await timed(dp, pAll);
    noop.push(n.r.durationMs);
    cpu.noop.push(n.cpu);
    const a = await timed(dp, plan([...all, ...cidrs(1, N + i)]));
    addOne.push(a.r.durationMs);
    cpu.addOne.push(a.cpu);
    writes.addOne = a.r.total;
    const d = await timed(dp, pAll);
    delOne.push(d.r.durationMs);
    cpu.delOne.push(d.cpu);
    const f = await timed(dp, pNew);
    failover.push(f.r.durationMs);
    cpu.failover.push(f.cpu);
    writes.failover = f.r.total;
    await dp.reconcile(pAll);
  }
  return {
    fromEmpty: median(fromEmpty), noop: median(noop), addOne: median(addOne), delOne: median(delOne), failover: median(failover), writes, fullDumps: (await dp.cacheStats())?.fullDumps,
    cpu: { fromEmpty: median(cpu.fromEmpty), noop: median(cpu.noop), addOne: median(cpu.addOne), delOne: median(cpu.delOne), failover: median(cpu.failover) },
  };
}

async function inner(): Promise<void> {
  const log = createLogger({ level: 'fatal' });
  const all = cidrs(N);
  // event-kept cache, nft stubbed / event-kept cache, real nft / the previous dump-every-time reconcile (injected Rtnl)
  // one at a time, each closed before the next: a data plane left open keeps taking in every notification
  // of the others' writes (and of the baselines')
  const measured = async (dp: RouteAgentDataplane): Promise<Figures> => {
    const f = await measure(dp, all);
    await dp.uninstall();
    await dp.close();
    return f;
  };
  const figs = {
    rt: await measured(new RouteAgentDataplane({ log, nft: noNft, resyncIntervalMs: 0 })),
    whole: await measured(new RouteAgentDataplane({ log, resyncIntervalMs: 0 })),
  };
  // the dump-every-time data plane has no notification socket: it also sets up the baselines below
  const dumping = new RouteAgentDataplane({ log, rtnl: new NetlinkRtnl() });
  const dumped = await measure(dumping, all);

  // baselines of the same run: one `ip -batch` for the 1,000 routes, one `ip route add` process for one
  const batchEmpty: number[] = [];
  const batchFailover: number[] = [];
  const oneAdd: number[] = [];
  const oneDel: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    await dumping.uninstall();
    await dumping.reconcile(plan([])); // device, FDB, rule and firewall in place; no routes
    batchEmpty.push(await ipBatch('add', all, GW_OLD));
    batchFailover.push(await ipBatch('replace', all, GW_NEW));
    const extra = cidrs(1, N + 10 + i);
    const t0 = performance.now();
    await exec('ip', ['route', 'add', extra[0]!, 'via', vtep(GW_OLD), 'dev', 'vx-submariner', 'onlink', 'table', '150', 'proto', '147']);
    oneAdd.push(performance.now() - t0);
    const t1 = performance.now();
    await exec('ip', ['route', 'del', extra[0]!, 'table', '150']);
    oneDel.push(performance.now() - t1);
  }
  await dumping.uninstall();
  await dumping.close();

  const f = (ms: number): string => `${ms.toFixed(ms < 10 ? 2 : 1)} ms`.padStart(11);
  const rows: [string, number, number, number, number, string, string, number, number, number][] = [
    [`from empty, ${N} remote CIDRs`, figs.rt.fromEmpty, figs.whole.fromEmpty, dumped.fromEmpty, median(batchEmpty), `1 ip -batch (${N} adds)`, '<= 30 ms', figs.rt.cpu.fromEmpty, figs.whole.cpu.fromEmpty, dumped.cpu.fromEmpty],
    [`one CIDR added, ${N} present`, figs.rt.addOne, figs.whole.addOne, dumped.addOne, median(oneAdd), '1 x ip route add', '<= 1 ms', figs.rt.cpu.addOne, figs.whole.cpu.addOne, dumped.cpu.addOne],
    [`one CIDR removed, ${N} present`, figs.rt.delOne, figs.whole.delOne, dumped.delOne, median(oneDel), '1 x ip route del', '<= 1 ms', figs.rt.cpu.delOne, figs.whole.cpu.delOne, dumped.cpu.delOne],
    [`failover, ${N} routes re-pointed`, figs.rt.failover, figs.whole.failover, dumped.failover, median(batchFailover), `1 ip -batch (${N} replaces)`, '<= 30 ms', figs.rt.cpu.failover, figs.whole.cpu.failover, dumped.cpu.failover],
    [`no-op reconcile, ${N} present`, figs.rt.noop, figs.whole.noop, dumped.noop, NaN, '', 'no syscalls', figs.rt.cpu.noop, figs.whole.cpu.noop, dumped.cpu.noop],
  ];
  process.stdout.write(`route agent reconcile, median of ${RUNS}, in-process netlink in a throwaway netns (load: ${loadavg()[0]!.toFixed(1)})\n`);
  process.stdout.write('  cache, rtnl only = event-kept RtnlCache, nft stubbed out (the rtnetlink part)\n  cache + nft      = the same with the real nft adapter (a set-element transaction per CIDR change; list/replace on a changed skeleton)\n  dumps (before)   = the previous reconcile: dump links/addrs/FDB/neigh/routes/rules + nft listing every time\n\n');
  process.stdout.write('wall time (the bars are wall time on an idle node); then this process\'s CPU time (cache,rtnl | cache+nft | dumps)\n\n');
  process.stdout.write(`${'scenario'.padEnd(34)}${'cache,rtnl'.padStart(11)}${'cache+nft'.padStart(11)}${'dumps'.padStart(11)}${'baseline'.padStart(11)}  ${'baseline is'.padEnd(28)}${'bar'.padEnd(13)}${'cpu cache'.padStart(11)}${'cpu +nft'.padStart(11)}${'cpu dumps'.padStart(11)}\n`);
  for (const [what, a, b, c, base, baseWhat, bar, cpuA, cpuB, cpuC] of rows) {
    process.stdout.write(`${what.padEnd(34)}${f(a)}${f(b)}${f(c)}${Number.isNaN(base) ? ''.padStart(11) : f(base)}  ${baseWhat.padEnd(28)}${bar.padEnd(13)}${f(cpuA)}${f(cpuB)}${f(cpuC)}\n`);
  }
  process.stdout.write(`\nwrites (cache): from empty ${figs.rt.writes.fromEmpty}, one added ${figs.rt.writes.addOne}, failover ${figs.rt.writes.failover}; full dumps taken by the cache over all ${RUNS * 6} reconciles + ${RUNS} uninstalls: ${figs.rt.fullDumps} (rtnl only), ${figs.whole.fullDumps} (with nft)\n`);
  process.stdout.write('a no-op reconcile with the cache reads memory only (plus the queued notifications); sysctls and the nft table are re-read only when their plan changed or the state was marked stale\n');
}

await (process.env.HW_BENCH_INNER ? inner() : runInThrowawayNetns(import.meta.url));
