// Globalnet data plane at scale: 50,000 address mappings in hawser's nftables maps versus Submariner's
// design of one SNAT rule per address (iptables-legacy-restore and iptables-nft-restore), then adding and
// removing one mapping with 50,000 present. Everything runs in throwaway network namespaces (one per
// back end, so they cannot disturb each other or the host). Run: npx tsx bench/globalnet/run.ts [count]
import { emptyDataplane, NftDataplane, nftRunner, planChanges, renderChanges, cloneDataplane } from '../../src/nat/nft.js';
import { intToIp, ipToInt } from '../../src/nat/ip.js';
import { createNetns, deleteNetns, uniqueName } from '../../src/os/netns.js';
import { exec } from '../../src/util/exec.js';

const COUNT = Number(process.argv[2] ?? 50_000);
const REPS_LOAD = 3;
const REPS_ONE = 7;
const CHAIN = 'HAWSER-BENCH';

const podIp = (i: number): string => intToIp(ipToInt('10.40.0.1') + i);
const globalIp = (i: number): string => intToIp(ipToInt('242.0.0.1') + i);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

interface Figures {
  load: number;
  add: number;
  remove: number;
}

async function benchNft(netns: string): Promise<Figures & { hawserAdd: number; hawserRemove: number }> {
  const d = emptyDataplane();
  d.remoteGlobalCidrs.push('242.1.0.0/16');
  for (let i = 0; i < COUNT; i++) d.egressPods.set(podIp(i), `${globalIp(i % 65000)}-${globalIp(i % 65000)}`);
  const run = nftRunner(netns);
  const loads: number[] = [];
  const adds: number[] = [];
  const removes: number[] = [];
  const hAdds: number[] = [];
  const hRemoves: number[] = [];
  for (let r = 0; r < REPS_LOAD; r++) {
    const nft = new NftDataplane({ run });
    loads.push(await timed(() => nft.fullResync(d)));
  }
  // One element with COUNT present: the nft transaction alone, and hawser's whole path (diff + render + nft).
  const nft = new NftDataplane({ run });
  await nft.fullResync(d);
  const extra = podIp(COUNT + 10);
  for (let r = 0; r < REPS_ONE; r++) {
    const plus = cloneDataplane(d);
    plus.egressPods.set(extra, '242.0.255.1-242.0.255.1');
    const addScript = renderChanges(planChanges(d, plus));
    adds.push(await timed(() => run(addScript)));
    const delScript = renderChanges(planChanges(plus, d));
    removes.push(await timed(() => run(delScript)));
  }
  await nft.fullResync(d);
  for (let r = 0; r < REPS_ONE; r++) {
    const plus = cloneDataplane(d);
    plus.egressPods.set(extra, '242.0.255.1-242.0.255.1');
    hAdds.push(await timed(() => nft.sync(plus)));
    hRemoves.push(await timed(() => nft.sync(d)));
  }
  return { load: median(loads), add: median(adds), remove: median(removes), hawserAdd: median(hAdds), hawserRemove: median(hRemoves) };
}

async function benchIptables(netns: string, flavour: 'legacy' | 'nft'): Promise<Figures> {
  const restore = `iptables-${flavour}-restore`;
  const ipt = `iptables-${flavour}`;
  const lines = ['*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', `:${CHAIN} - [0:0]`, `-A POSTROUTING -j ${CHAIN}`];
  for (let i = 0; i < COUNT; i++) lines.push(`-A ${CHAIN} -s ${podIp(i)}/32 -j SNAT --to-source ${globalIp(i % 65000)}`);
  lines.push('COMMIT', '');
  const script = lines.join('\n');
  const loads: number[] = [];
  for (let r = 0; r < REPS_LOAD; r++) loads.push(await timed(() => exec(restore, [], { netns, input: script, timeoutMs: 120_000 })));
  const rule = ['-t', 'nat', CHAIN, '-s', `${podIp(COUNT + 10)}/32`, '-j', 'SNAT', '--to-source', '242.0.255.1'];
  const adds: number[] = [];
  const removes: number[] = [];
  for (let r = 0; r < REPS_ONE; r++) {
    adds.push(await timed(() => exec(ipt, ['-w', ...rule.slice(0, 2), '-A', ...rule.slice(2)], { netns })));
    removes.push(await timed(() => exec(ipt, ['-w', ...rule.slice(0, 2), '-D', ...rule.slice(2)], { netns })));
  }
  return { load: median(loads), add: median(adds), remove: median(removes) };
}

async function main(): Promise<void> {
  const names = { nft: uniqueName('hw-bgn'), legacy: uniqueName('hw-bgl'), inft: uniqueName('hw-bgi') };
  try {
    for (const n of Object.values(names)) await createNetns(n);
    const nft = await benchNft(names.nft);
    const legacy = await benchIptables(names.legacy, 'legacy');
    const inft = await benchIptables(names.inft, 'nft');
    const f = (x: number): string => x.toFixed(1).padStart(10);
    const row = (name: string, x: Figures): string => `${name.padEnd(40)}${f(x.load)}${f(x.add)}${f(x.remove)}`;
    const lines = [
      `Globalnet data plane, ${COUNT} mappings (ms; median of ${REPS_LOAD} loads / ${REPS_ONE} single changes; each in its own throwaway netns)`,
      `${''.padEnd(40)}${'load all'.padStart(10)}${'add one'.padStart(10)}${'del one'.padStart(10)}`,
      row('hawser nft maps (nft -f -)', nft),
      `${'  hawser sync() incl. diff+render'.padEnd(40)}${''.padStart(10)}${f(nft.hawserAdd)}${f(nft.hawserRemove)}`,
      row('baseline iptables-legacy, rule/address', legacy),
      row('baseline iptables-nft, rule/address', inft),
      '',
      `ratio (baseline / hawser nft maps):`,
      `  iptables-legacy: load ${(legacy.load / nft.load).toFixed(2)}x, add one ${(legacy.add / nft.add).toFixed(1)}x, del one ${(legacy.remove / nft.remove).toFixed(1)}x`,
      `  iptables-nft:    load ${(inft.load / nft.load).toFixed(2)}x, add one ${(inft.add / nft.add).toFixed(1)}x, del one ${(inft.remove / nft.remove).toFixed(1)}x`,
      `reference (machine facts): nft map 182-196 ms for 50k, one element 4 ms; iptables-legacy 121-127 / 86-115 ms; iptables-nft 677-701 / 30-35 ms`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    for (const n of Object.values(names)) await deleteNetns(n);
  }
}

await main();
