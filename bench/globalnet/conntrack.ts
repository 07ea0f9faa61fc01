// What Globalnet's conntrack clearing costs on a busy gateway: after a failover the new leader dumps the
// conntrack table once and deletes the entries of cross-cluster connections that got no NAT
// (NftDataplane.clearNatlessFlows). The dump is read with blocking calls that give the event loop a turn every
// 20 ms; the longest stall of the loop is printed. A throwaway namespace is filled with N UDP flows to loopback addresses
// plus K to a "remote global CIDR" routed locally (those are the natless ones); then, in the same run:
//   baseline: dump every entry as objects, then select (the first version of the clearing, which also read the
//             whole dump without a turn for the event loop: its stall was its wall time);
//   hawser:   the selection applied while the dump is read (only matching entries become objects);
//   clear:    the whole NftDataplane.clearNatlessFlows (dump, select, delete K).
// Run: npx tsx bench/globalnet/conntrack.ts [N=100000] [K=100]
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { NftDataplane } from '../../src/nat/nft.js';
import { natlessFlows, natlessFlowTest } from '../../src/nat/natless-flows.js';
import { createNetns, deleteNetns, uniqueName } from '../../src/os/netns.js';
import { NfnlSocket } from '../../src/os/nftables/nfnl-socket.js';
import { exec } from '../../src/util/exec.js';

const N = Number(process.argv[2] ?? 100_000);
const K = Number(process.argv[3] ?? 100);
const REPS = 5;
const REMOTE = ['242.1.0.0/16'];
const OWN = '242.0.0.0/16';

/** argv: N flows to 127.x.y.z, K to 242.1.x.y (local in the namespace); one socket, one datagram each. */
const FLOWS = `
const dgram = require('node:dgram');
const [n, k] = process.argv.slice(1).map(Number);
const s = dgram.createSocket('udp4');
let i = 0;
const next = () => {
  if (i === n + k) return s.close();
  const j = i < k ? i : i - k;
  const to = i < k ? '242.1.' + (j >> 8) + '.' + (j & 255) : '127.' + (1 + (j >> 16)) + '.' + ((j >> 8) & 255) + '.' + (j & 255);
  i++;
  s.send('x', 9, to, next);
};
next();
`;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const f1 = (x: number): string => x.toFixed(1);

interface Run { wallMs: number; cpuMs: number; stallMs: number; found: number }

/** Wall, CPU and the event loop's longest stall over one call. */
async function measure(fn: () => Promise<number>): Promise<Run> {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const found = await fn();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  loop.disable();
  return { wallMs, cpuMs: (c.user + c.system) / 1000, stallMs: loop.max / 1e6, found };
}

async function fill(ns: string): Promise<void> {
  await exec(process.execPath, ['-e', FLOWS, String(N), String(K)], { netns: ns, timeoutMs: 10 * 60_000 });
}

async function main(): Promise<void> {
  const ns = uniqueName('hw-ctb', 5);
  await createNetns(ns);
  try {
    await exec('nft', ['-f', '-'], { netns: ns, input: 'table ip hwctb {\n chain out { type filter hook output priority 0; ct state new counter; }\n}\n' });
    await exec('ip', ['route', 'add', 'local', REMOTE[0]!, 'dev', 'lo'], { netns: ns });
    const t0 = performance.now();
    await fill(ns);
    const sock = NfnlSocket.open(ns);
    if ('unavailable' in sock) throw new Error(sock.unavailable);
    const total = (await sock.dumpConntrack()).length;
    console.log(`conntrack: ${total} entries in the namespace (${N} flows + ${K} natless ones, filled in ${f1((performance.now() - t0) / 1000)} s); load ${loadavg()[0]!.toFixed(2)}; ${REPS} runs each, median`);
    const test = natlessFlowTest(REMOTE, OWN)!;
    const base: Run[] = [];
    const ours: Run[] = [];
    for (let r = 0; r < REPS; r++) {
      base.push(await measure(async () => natlessFlows(await sock.dumpConntrack(), REMOTE, OWN).length));
      ours.push(await measure(async () => (await sock.dumpConntrack(test)).length));
    }
    const clears: Run[] = [];
    for (let r = 0; r < REPS; r++) {
      if (r > 0) await exec(process.execPath, ['-e', FLOWS, '0', String(K)], { netns: ns });
      const dp = new NftDataplane({ netns: ns });
      clears.push(await measure(() => dp.clearNatlessFlows(REMOTE, OWN)));
    }
    sock.close();
    const row = (name: string, xs: Run[]): string => `  ${name.padEnd(44)} wall ${f1(median(xs.map((x) => x.wallMs))).padStart(7)} ms  CPU ${f1(median(xs.map((x) => x.cpuMs))).padStart(7)} ms  longest stall ${f1(median(xs.map((x) => x.stallMs))).padStart(6)} ms  found ${xs[0]!.found}`;
    console.log(row('baseline: dump all as objects, then select', base));
    console.log(row('hawser: select while reading the dump', ours));
    console.log(row(`hawser: clearNatlessFlows (dump, delete ${K})`, clears));
    const ratio = median(base.map((x) => x.wallMs)) / median(ours.map((x) => x.wallMs));
    console.log(`  wall ratio baseline / hawser ${ratio.toFixed(2)}; the event loop's longest stall ${f1(median(ours.map((x) => x.stallMs)))} ms (the first version: the whole wall time)`);
  } finally {
    await deleteNetns(ns);
  }
}

await main();
