// Route agent reconcile vs. one `ip` process per route, with 1,000 remote CIDRs, in a throwaway netns.
//   npx tsx bench/routes/run.ts
// The outer process makes the namespace and re-runs this file inside it (`ip netns exec`), so the
// dataplane talks netlink in-process exactly as on a node; the namespace is deleted at the end.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../src/log/index.js';
import { createNetns, deleteNetns, netnsPids, uniqueName } from '../../src/os/netns.js';
import { planRouteAgent, RouteAgentDataplane, type RouteAgentInput, type RouteAgentPlan } from '../../src/routeagent/index.js';
import { exec } from '../../src/util/exec.js';

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

/** The baseline: one `ip` process per route, forked by one shell (cheaper than a spawn from Node each). */
async function ipEach(verb: 'add' | 'replace', list: string[], gw: string): Promise<number> {
  const script = list.map((c) => `ip route ${verb} ${c} via ${vtep(gw)} dev vx-submariner onlink table 150 proto 147`).join('\n') + '\n';
  const t0 = performance.now();
  await exec('sh', ['-e', '-s'], { input: script });
  return performance.now() - t0;
}

async function ipBatchOnce(list: string[], gw: string): Promise<number> {
  const t0 = performance.now();
  const input = list.map((c) => `route add ${c} via ${vtep(gw)} dev vx-submariner onlink table 150 proto 147`).join('\n') + '\n';
  await exec('ip', ['-batch', '-'], { input });
  return performance.now() - t0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function inner(): Promise<void> {
  const dp = new RouteAgentDataplane({ log: createLogger({ level: 'fatal' }) });
  const all = cidrs(N);
  const rows: { what: string; hawser: number; baseline: number; baselineWhat: string; writes: number }[] = [];

  // 1. from empty
  const fromEmpty: number[] = [];
  let writes = 0;
  for (let i = 0; i < RUNS; i++) {
    await dp.uninstall();
    const r = await dp.reconcile(plan(all));
    fromEmpty.push(r.durationMs);
    writes = r.total;
  }
  const baseEmpty: number[] = [];
  const batchEmpty: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    await dp.uninstall();
    await dp.reconcile(plan([])); // the device, FDB, rule and firewall exist; only the routes are missing
    baseEmpty.push(await ipEach('add', all, GW_OLD));
    await dp.uninstall();
    await dp.reconcile(plan([]));
    batchEmpty.push(await ipBatchOnce(all, GW_OLD));
  }
  rows.push({ what: `from empty, ${N} remote CIDRs`, hawser: median(fromEmpty), baseline: median(baseEmpty), baselineWhat: `${N} x ip route add`, writes });

  // 2. nothing to do with 1,000 present
  await dp.uninstall();
  await dp.reconcile(plan(all));
  const noop: number[] = [];
  for (let i = 0; i < RUNS; i++) noop.push((await dp.reconcile(plan(all))).durationMs);

  // 3. one more CIDR with 1,000 present
  const one: number[] = [];
  const oneWrites: number[] = [];
  const baseOne: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const extra = cidrs(1, N + i);
    const r = await dp.reconcile(plan([...all, ...extra]));
    one.push(r.durationMs);
    oneWrites.push(r.total);
    await dp.reconcile(plan(all));
    baseOne.push(await ipEach('add', extra, GW_OLD));
    await exec('ip', ['route', 'del', extra[0]!, 'table', '150']);
  }
  rows.push({ what: `one CIDR added, ${N} present`, hawser: median(one), baseline: median(baseOne), baselineWhat: '1 x ip route add', writes: median(oneWrites) });

  // 4. failover: every route re-pointed to the new gateway
  const fo: number[] = [];
  const baseFo: number[] = [];
  let foWrites = 0;
  for (let i = 0; i < RUNS; i++) {
    await dp.reconcile(plan(all, GW_OLD));
    const r = await dp.reconcile(plan(all, GW_NEW));
    fo.push(r.durationMs);
    foWrites = r.total;
    await dp.reconcile(plan(all, GW_OLD));
    baseFo.push(await ipEach('replace', all, GW_NEW));
  }
  rows.push({ what: `failover, ${N} routes re-pointed`, hawser: median(fo), baseline: median(baseFo), baselineWhat: `${N} x ip route replace`, writes: foWrites });

  await dp.uninstall();
  await dp.close();

  const f = (ms: number): string => `${ms.toFixed(1)} ms`.padStart(11);
  process.stdout.write(`route agent reconcile vs one ip process per route (median of ${RUNS}, in-process netlink, throwaway netns)\n\n`);
  process.stdout.write(`${'scenario'.padEnd(34)}${'hawser'.padStart(11)}  writes  ${'baseline'.padStart(11)}  baseline is               ratio (baseline/hawser)\n`);
  for (const r of rows) {
    process.stdout.write(`${r.what.padEnd(34)}${f(r.hawser)}  ${String(r.writes).padStart(6)}  ${f(r.baseline)}  ${r.baselineWhat.padEnd(24)}  ${(r.baseline / r.hawser).toFixed(2)}x\n`);
  }
  process.stdout.write(`\nfor reference: ${N} routes in one \`ip -batch\`: ${median(batchEmpty).toFixed(1)} ms (routes only, no diff, no firewall)\n`);
  process.stdout.write(`no-op reconcile with ${N} present (dumps + diff + nft listing, 0 writes): ${median(noop).toFixed(1)} ms\n`);
  process.stdout.write('hawser figures are whole reconciles (observe, diff, write; incl. the nftables check, which for a\nchanged CIDR set replaces table ip hawser); the baseline only writes routes.\n');
}

async function outer(): Promise<void> {
  const ns = uniqueName('hw-bench', 5);
  await createNetns(ns);
  try {
    await exec('ip', ['-n', ns, '-batch', '-'], { input: 'link add eth0 type veth peer name eth1\naddress add 192.168.90.12/24 dev eth0\nlink set eth0 up\nlink set eth1 up\n' });
    const self = fileURLToPath(import.meta.url);
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...process.execArgv, self], { stdio: 'inherit', env: { ...process.env, HW_BENCH_INNER: '1' } });
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
    if (code !== 0) process.exitCode = code;
  } finally {
    for (const pid of await netnsPids(ns)) process.kill(pid, 'SIGKILL');
    await deleteNetns(ns);
  }
}

await (process.env.HW_BENCH_INNER ? inner() : outer());
