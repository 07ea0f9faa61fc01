// The route benches' outer half: a throwaway netns with one veth pair, the bench script re-run inside it
// (HW_BENCH_INNER set), and everything in it killed by PID and removed afterwards.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createNetns, deleteNetns, netnsPids, uniqueName } from '../../src/os/netns.js';
import { exec } from '../../src/util/exec.js';
import type { NftPort } from '../../src/routeagent/dataplane.js';

/** nft stubbed out, for the figures of the rtnetlink part alone. */
export const noNft: NftPort = { listTable: async () => undefined, run: async () => undefined, deleteTable: async () => false };

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function runInThrowawayNetns(scriptUrl: string): Promise<void> {
  const ns = uniqueName('hw-bench', 5);
  await createNetns(ns);
  try {
    await exec('ip', ['-n', ns, '-batch', '-'], { input: 'link add eth0 type veth peer name eth1\naddress add 192.168.90.12/24 dev eth0\nlink set eth0 up\nlink set eth1 up\n' });
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...process.execArgv, fileURLToPath(scriptUrl)], { stdio: 'inherit', env: { ...process.env, HW_BENCH_INNER: '1' } });
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
    if (code !== 0) process.exitCode = code;
  } finally {
    for (const pid of await netnsPids(ns)) process.kill(pid, 'SIGKILL');
    await deleteNetns(ns);
  }
}
