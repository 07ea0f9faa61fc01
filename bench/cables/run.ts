// The combined cable benchmark: runs the WireGuard, VXLAN and IPsec benches (each measures hawser's driver
// and the same data path configured by hand, in the same run) one after another and prints one table.
//   npx tsx bench/cables/run.ts [iperf-seconds] [rounds]        (root: network namespaces, daemons)
// A driver whose bench fails gets a row saying why; the others still run.
import { errorMessage } from '../../src/util/errors.js';
import { benchIpsecCable } from './ipsec.js';
import { benchVxlan } from './vxlan.js';
import { median, runWireGuardBench } from './wireguard.js';

interface Row {
  driver: string;
  /** Endpoint seen / connect() → first packet through, median ms. */
  firstHawserMs?: number;
  firstByHandMs?: number;
  mbpsHawser?: number;
  mbpsByHand?: number;
  note: string;
  error?: string;
}

const seconds = Number(process.argv[2] ?? 2);
const rounds = Number(process.argv[3] ?? 3);

async function row(driver: string, run: () => Promise<Omit<Row, 'driver'>>): Promise<Row> {
  const t0 = performance.now();
  process.stderr.write(`… ${driver}\n`);
  try {
    const r = { driver, ...(await run()) };
    process.stderr.write(`✓ ${driver} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
    return r;
  } catch (err) {
    process.stderr.write(`✗ ${driver}: ${errorMessage(err)}\n`);
    return { driver, note: '', error: errorMessage(err).split('\n')[0]!.slice(0, 160) };
  }
}

const rows: Row[] = [];
rows.push(await row('wireguard', async () => {
  const r = await runWireGuardBench({ runs: 5, iperfSeconds: seconds, iperfRounds: rounds });
  return {
    firstHawserMs: median(r.firstPacketMs.hawser), firstByHandMs: median(r.firstPacketMs.byHand), mbpsHawser: r.mbps.hawser, mbpsByHand: r.mbps.byHand,
    note: 'wireguard-go both; by hand = wg set + ip route',
  };
}));
rows.push(await row('vxlan', async () => {
  const r = await benchVxlan({ rounds: 5, iperfSeconds: seconds, iperfRounds: rounds });
  return {
    firstHawserMs: r.firstPacketMs.hawser, firstByHandMs: r.firstPacketMs.byHand, mbpsHawser: r.throughputGbps.hawser * 1000, mbpsByHand: r.throughputGbps.byHand * 1000,
    note: 'kernel VXLAN; by hand = bridge fdb + ip route',
  };
}));
rows.push(await row('libreswan (IPsec)', async () => {
  const r = await benchIpsecCable({ seconds, trials: 3, rounds });
  return { firstHawserMs: r.connectMedianMs, mbpsHawser: r.hawserMbps, mbpsByHand: r.handMbps, note: 'charon + kernel-libipsec; by hand = swanctl.conf (no by-hand first-packet figure)' };
}));

const f = (x: number | undefined, d = 1): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || !b ? '–' : (a / b).toFixed(2));
const table = [
  ['DRIVER', 'FIRST PACKET hawser ms', 'by hand ms', 'ratio', 'THROUGHPUT hawser Mbit/s', 'by hand Mbit/s', 'ratio hawser/by-hand', 'NOTE'],
  ...rows.map((r) => (r.error
    ? [r.driver, '–', '–', '–', '–', '–', '–', `FAILED: ${r.error}`]
    : [r.driver, f(r.firstHawserMs), f(r.firstByHandMs), ratio(r.firstHawserMs, r.firstByHandMs), f(r.mbpsHawser, 0), f(r.mbpsByHand, 0), ratio(r.mbpsHawser, r.mbpsByHand), r.note])),
];
const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
console.log(`cable benchmark: Endpoint seen/connect() → first packet (median), iperf3 TCP ${seconds} s × ${rounds} alternating rounds; hawser vs the same data path by hand, same run`);
for (const r of table) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
process.exitCode = rows.some((r) => r.error) ? 1 : 0;
