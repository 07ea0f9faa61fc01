// npx tsx bench/cables/ipsec-run.ts [seconds]: prints the IPsec cable figures and the ratio to a
// hand-configured charon measured in the same run.
import { benchIpsecCable } from './ipsec.js';

const seconds = Number(process.argv[2] ?? 3);
const r = await benchIpsecCable({ seconds });
console.log(`ipsec: Endpoint seen -> first packet through: median ${r.connectMedianMs.toFixed(1)} ms (trials: ${r.connectMs.map((m) => m.toFixed(1)).join(', ')} ms)`);
const runs = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(', ');
console.log(`ipsec: iperf3 ${seconds} s through hawser's cable: median ${r.hawserMbps.toFixed(0)} Mbit/s (runs: ${runs(r.hawserRuns)})`);
console.log(`ipsec: iperf3 ${seconds} s through charon configured by hand: median ${r.handMbps.toFixed(0)} Mbit/s (runs: ${runs(r.handRuns)})`);
console.log(`ipsec: throughput ratio hawser / hand-configured: ${r.ratio.toFixed(2)}`);
