// What one element transaction on hawser's remote set costs with 1,000 elements present, against the
// whole-table replacement it stands in for and the listings a check needs (libnftables in process).
//   npx tsx bench/routes/nft-element.ts
import { loadavg } from 'node:os';
import { Nft } from '../../src/os/nft.js';
import { renderFirewall } from '../../src/routeagent/firewall.js';
import { NfnlSetElements } from '../../src/routeagent/nft-elements.js';
import type { PlannedFirewall } from '../../src/routeagent/types.js';
import { runInThrowawayNetns } from './throwaway-netns.js';

const N = 1000;
const K = Number(process.env.HW_K ?? 20);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function inner(): Promise<void> {
  const nft = new Nft();
  const fw: PlannedFirewall = {
    family: 'ip', table: 'hawser', nodeIP: '192.168.90.12', localCidrs: ['10.244.0.0/16', '10.96.0.0/12'],
    remoteCidrs: Array.from({ length: N }, (_, i) => `172.${16 + (i >> 8)}.${i & 255}.0/24`), vxlanPort: 4800, mss: { kind: 'pmtu' },
  };
  await nft.run(renderFirewall(fw));
  const time = async (what: () => Promise<unknown>): Promise<number> => {
    const t0 = performance.now();
    await what();
    return performance.now() - t0;
  };
  const opened = NfnlSetElements.open();
  if ('unavailable' in opened) throw new Error(opened.unavailable);
  const raw = opened;
  const rows: [string, number[]][] = [['hawser: one element added or removed (nfnetlink batch)', []], ['libnftables: one element added or removed', []], ['replace the whole table', []], ['list the table with elements', []], ['list the table without elements (-t)', []]];
  for (let i = 0; i < K; i++) {
    rows[0]![1].push((await time(() => raw.apply('hawser', [{ set: 'SUBMARINER-REMOTECIDRS', add: ['10.200.0.0/16'], del: [] }]))) / 2 + (await time(() => raw.apply('hawser', [{ set: 'SUBMARINER-REMOTECIDRS', add: [], del: ['10.200.0.0/16'] }]))) / 2);
    if (i === 0) {
      await raw.apply('hawser', [{ set: 'SUBMARINER-REMOTECIDRS', add: ['10.200.0.0/16', '10.201.0.1/32'], del: ['172.16.0.0/24'] }]);
      const listed = (await nft.listTable('ip', 'hawser')) ?? '';
      if (!/10\.200\.0\.0\/16/.test(listed) || !/10\.201\.0\.1[,\s]/.test(listed) || /172\.16\.0\.0\/24/.test(listed)) throw new Error(`the nfnetlink change is not what nft lists:\n${listed}`);
      await raw.apply('hawser', [{ set: 'SUBMARINER-REMOTECIDRS', add: ['172.16.0.0/24'], del: ['10.200.0.0/16', '10.201.0.1/32'] }]);
    }
    rows[1]![1].push((await time(() => nft.run('add element ip hawser SUBMARINER-REMOTECIDRS { 10.200.0.0/16 }\n')) + (await time(() => nft.run('delete element ip hawser SUBMARINER-REMOTECIDRS { 10.200.0.0/16 }\n')))) / 2);
    rows[2]![1].push(await time(() => nft.run(renderFirewall(fw))));
    rows[3]![1].push(await time(() => nft.listTable('ip', 'hawser')));
    rows[4]![1].push(await time(() => nft.listTable('ip', 'hawser', { terse: true })));
  }
  await nft.deleteTable('ip', 'hawser');
  nft.close();
  raw.close();
  process.stdout.write(`nft (${nft.kind}) with ${N} elements in the remote set, median of ${K} (load ${loadavg()[0]!.toFixed(1)}):\n`);
  for (const [what, xs] of rows) process.stdout.write(`  ${what.padEnd(62)}${median(xs).toFixed(2).padStart(8)} ms\n`);
}

await (process.env.HW_BENCH_INNER ? inner() : runInThrowawayNetns(import.meta.url));
