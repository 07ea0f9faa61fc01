// What a no-op route agent reconcile (1,000 remote CIDRs present, real nft adapter) asks of the kernel:
// the syscalls of 5 no-op reconciles, traced with `strace -f` in a throwaway netns, counted by name.
//   npx tsx bench/routes/noop-syscalls.ts
// Expected: only event-loop polling (epoll_pwait), libuv/V8 thread wakeups (eventfd read/write, futex)
// and JIT/GC page work (mprotect, madvise); no netlink sendmsg/recvmsg, no /proc/sys reads, no nft process.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../src/log/index.js';
import { createNetns, deleteNetns, netnsPids, uniqueName } from '../../src/os/netns.js';
import { planRouteAgent, RouteAgentDataplane } from '../../src/routeagent/index.js';
import { exec } from '../../src/util/exec.js';

const N = 1000;
const BEGIN = 'HW-NOOP-BEGIN';
const END = 'HW-NOOP-END';

async function inner(): Promise<void> {
  const remote = Array.from({ length: N }, (_, i) => `172.${16 + (i >> 8)}.${i & 255}.0/24`);
  const plan = planRouteAgent({
    nodeName: 'bench', nodeIP: '192.168.90.12', nodes: [{ name: 'gw-a', ip: '192.168.90.11' }, { name: 'bench', ip: '192.168.90.12' }],
    activeGateway: { nodeName: 'gw-a', nodeIP: '192.168.90.11' }, localClusterCidrs: ['10.244.0.0/16'], localServiceCidrs: ['10.96.0.0/12'], remoteCidrs: remote, cableDriver: 'libreswan',
  });
  const dp = new RouteAgentDataplane({ log: createLogger({ level: 'fatal' }), resyncIntervalMs: 0 });
  await dp.reconcile(plan);
  await dp.reconcile(plan);
  writeSync(2, `${BEGIN}\n`);
  for (let i = 0; i < 5; i++) await dp.reconcile(plan);
  writeSync(2, `${END}\n`);
  await dp.uninstall();
  await dp.close();
}

async function outer(): Promise<void> {
  const ns = uniqueName('hw-bench', 5);
  const out = join(tmpdir(), `${ns}.strace`);
  await createNetns(ns);
  try {
    await exec('ip', ['-n', ns, '-batch', '-'], { input: 'link add eth0 type veth peer name eth1\naddress add 192.168.90.12/24 dev eth0\nlink set eth0 up\nlink set eth1 up\n' });
    const self = fileURLToPath(import.meta.url);
    const child = spawn('ip', ['netns', 'exec', ns, 'strace', '-f', '-o', out, process.execPath, ...process.execArgv, self], { stdio: 'inherit', env: { ...process.env, HW_BENCH_INNER: '1' } });
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
    if (code !== 0) throw new Error(`traced run exited ${code}`);
    const lines = readFileSync(out, 'utf8').split('\n');
    const from = lines.findIndex((l) => l.includes(BEGIN));
    const to = lines.findIndex((l) => l.includes(END));
    const counts = new Map<string, number>();
    for (const l of lines.slice(from + 1, to)) {
      const m = /^\d+\s+(?:<\.\.\. )?([a-z_0-9]+)[( ]/.exec(l);
      if (m && !l.includes('resumed>')) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
    }
    const rows = [...counts].sort((a, b) => b[1] - a[1]);
    process.stdout.write(`syscalls of 5 no-op reconciles with ${N} routes present (all threads, strace -f):\n`);
    for (const [name, n] of rows) process.stdout.write(`  ${name.padEnd(16)}${String(n).padStart(6)}\n`);
    const kernelWork = rows.filter(([name]) => /send|recv|socket|open|clone|fork|exec|wait4|ioctl|bind/.test(name));
    process.stdout.write(kernelWork.length ? `NOT clean: ${kernelWork.map(([n]) => n).join(', ')}\n` : 'no netlink send/receive, no file opens (sysctl), no process (nft): memory only\n');
  } finally {
    rmSync(out, { force: true });
    for (const pid of await netnsPids(ns)) process.kill(pid, 'SIGKILL');
    await deleteNetns(ns);
  }
}

await (process.env.HW_BENCH_INNER ? inner() : outer());
