// Runs the VXLAN cable benchmark and prints its figures:  npx tsx bench/cables/vxlan-run.ts [rounds] [iperf seconds]
import { benchVxlan } from './vxlan.js';

const rounds = Number(process.argv[2] ?? 5);
const seconds = Number(process.argv[3] ?? 3);
const r = await benchVxlan({ rounds, iperfSeconds: seconds });
const f = (x: number, d = 2): string => x.toFixed(d);
console.log(`vxlan cable (${r.rounds} rounds, median):`);
console.log(`  connect() -> first echo reply: hawser ${f(r.firstPacketMs.hawser, 1)} ms, by hand ${f(r.firstPacketMs.byHand, 1)} ms (ratio ${f(r.firstPacketMs.ratio)})`);
console.log(`  connect() itself:              hawser ${f(r.connectMs.hawser, 1)} ms, by hand (bridge + ip) ${f(r.connectMs.byHand, 1)} ms`);
console.log(`  iperf3 throughput (mean):      hawser ${f(r.throughputGbps.hawser)} Gbit/s, hand-made vxlan ${f(r.throughputGbps.byHand)} Gbit/s (ratio ${f(r.throughputGbps.ratio)})`);
console.log(`    samples: hawser [${r.throughputGbps.samples.hawser.map((x) => f(x)).join(', ')}], by hand [${r.throughputGbps.samples.byHand.map((x) => f(x)).join(', ')}]`);
