// Runs the WireGuard cable bench and prints its figures (needs root: network namespaces, wireguard-go).
//   npx tsx bench/cables/wireguard-run.ts [runs] [iperf-seconds] [iperf-rounds]
import { formatWireGuardBench, runWireGuardBench } from './wireguard.js';

const arg = (i: number, def: number): number => (process.argv[i] !== undefined ? Number(process.argv[i]) : def);
const result = await runWireGuardBench({ runs: arg(2, 5), iperfSeconds: arg(3, 2), iperfRounds: arg(4, 3) });
console.log(formatWireGuardBench(result));
