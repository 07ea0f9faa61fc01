// Kernel insertion cost of N point-map elements by set declaration, in a throwaway netns: the default
// (resizable hash, no size) and `size` (the fixed-bucket hash, buckets allocated at creation), as
// NftDataplane declares its point maps. Each load is one nfnetlink transaction into an empty map; wall
// time and CPU (user+sys of this process, the kernel's work inside sendmsg included); then the read-back
// of all elements (a resync's dump: the kernel walks every bucket again for each 32 KiB chunk, so a
// larger bucket array costs here what it saves on insertion). (`size` with
// `policy memory` was tried too: the kernel refused its elements with EEXIST, so it is not offered.)
// Run: npx tsx bench/globalnet/set-backends.ts [count] [reps]
import { loadavg } from 'node:os';
import { createNetns, deleteNetns, uniqueName } from '../../src/os/netns.js';
import { Nft } from '../../src/os/nft.js';
import { NfnlSocket } from '../../src/os/nftables/nfnl-socket.js';
import type { NfElement } from '../../src/os/nftables/nfnl.js';

const COUNT = Number(process.argv[2] ?? 50_000);
const REPS = Number(process.argv[3] ?? 3);

function elements(): NfElement[] {
  const out: NfElement[] = [];
  for (let i = 0; i < COUNT; i++) {
    const key = Buffer.alloc(4);
    key.writeUInt32BE((10 << 24) + (40 << 16) + 1 + i);
    const data = Buffer.alloc(8);
    const g = (242 << 24) + 1 + (i % 65000);
    data.writeUInt32BE(g >>> 0, 0);
    data.writeUInt32BE(g >>> 0, 4);
    out.push({ key, data, text: String(i) });
  }
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const ns = uniqueName('hw-bsb');
  const load0 = loadavg()[0]!;
  await createNetns(ns);
  const nft = new Nft({ netns: ns });
  const sock = NfnlSocket.open(ns);
  if ('unavailable' in sock) throw new Error(sock.unavailable);
  const els = elements();
  const cap = 2 ** Math.ceil(Math.log2(COUNT * 2));
  const variants: Record<string, string> = {
    'default (resizable hash)': '',
    [`size ${cap} (fixed-bucket hash)`]: `size ${cap}`,
  };
  try {
    for (const [name, decl] of Object.entries(variants)) {
      const walls: number[] = [];
      const cpus: number[] = [];
      const dumps: number[] = [];
      for (let r = 0; r < REPS; r++) {
        await nft.run(`add table ip b\ndelete table ip b\ntable ip b {\n map m {\n type ipv4_addr : interval ipv4_addr\n${decl}\n }\n}\n`);
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await sock.commit([{ op: 'add', family: 'ip', table: 'b', set: 'm', elements: els }]);
        walls.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpus.push((c.user + c.system) / 1000);
        const t1 = performance.now();
        const back = await sock.dumpIpv4Elements({ family: 'ip', table: 'b', set: 'm' });
        dumps.push(performance.now() - t1);
        if (back.keys.length !== COUNT) throw new Error(`dumped ${back.keys.length}`);
      }
      process.stdout.write(`${name.padEnd(36)} load wall ${walls.map((x) => x.toFixed(1)).join(' / ')} ms (median ${median(walls).toFixed(1)}), CPU median ${median(cpus).toFixed(1)} ms; dump median ${median(dumps).toFixed(1)} ms\n`);
    }
  } finally {
    sock.close();
    nft.close();
    await deleteNetns(ns);
  }
  process.stdout.write(`${COUNT} elements, load average ${load0.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}\n`);
}

await main();
