// Namespaces for @real tests, created with unique names and cleaned up by name and PID, and the commands
// those tests run in them (ip batches, sysctl, ping, nft counters).
import { createNetns, deleteNetns, netnsPids, uniqueName } from '../../src/os/netns.js';
import { exec } from '../../src/util/exec.js';

export class Namespaces {
  readonly names: string[] = [];

  async create(prefix: string): Promise<string> {
    const name = uniqueName(prefix, 5);
    this.names.push(name);
    await createNetns(name);
    return name;
  }

  /** Ends leftover processes in our namespaces (workers, pings) by PID, then deletes the namespaces. */
  async cleanup(): Promise<void> {
    for (const ns of this.names) {
      for (const pid of await netnsPids(ns)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await deleteNetns(ns);
    }
  }
}

/** `ip -n NS -batch -` with one command per line (no leading `ip`). */
export async function ipIn(ns: string, lines: string): Promise<void> {
  const cmds = lines.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  await exec('ip', ['-n', ns, '-batch', '-'], { input: cmds.join('\n') + '\n' });
}

export async function run(ns: string, cmd: string, args: string[], input?: string): Promise<string> {
  return (await exec(cmd, args, { netns: ns, input })).stdout;
}

export async function sysctlIn(ns: string, kv: string): Promise<void> {
  await exec('sysctl', ['-qw', kv], { netns: ns });
}

/** One ping; true if a reply came back. */
export async function ping(ns: string, dst: string, from?: string): Promise<boolean> {
  const args = ['-c', '1', '-W', '1', ...(from ? ['-I', from] : []), dst];
  return (await exec('ping', args, { netns: ns, allowFailure: true })).code === 0;
}

/** `counter packets N` of the rule carrying `comment "<tag>"` in `nft list ruleset`. */
export async function nftCounter(ns: string, tag: string): Promise<number> {
  const out = await run(ns, 'nft', ['list', 'ruleset']);
  const line = out.split('\n').find((l) => l.includes(`comment "${tag}"`));
  const m = line ? /counter packets (\d+)/.exec(line) : null;
  if (!m) throw new Error(`no counter tagged ${tag} in ${ns}`);
  return Number(m[1]);
}

export async function rxPackets(ns: string, dev: string): Promise<number> {
  return Number((await run(ns, 'cat', [`/sys/class/net/${dev}/statistics/rx_packets`])).trim());
}
