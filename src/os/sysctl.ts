// Kernel parameters under /proc/sys. /proc/sys/net shows the network namespace of the process that
// reads it, so another namespace goes through the netns worker.
import { readFile, writeFile } from 'node:fs/promises';
import { HawserError } from '../util/errors.js';

/** Paths are slash-separated under /proc/sys (`net/ipv4/conf/vx-submariner/rp_filter`): interface names may hold dots. */
export interface Sysctl {
  /** The value without the trailing newline; undefined when the key does not exist (e.g. no such device). */
  get(path: string): Promise<string | undefined>;
  set(path: string, value: string): Promise<void>;
  close(): Promise<void>;
}

const PATH_RE = /^[A-Za-z0-9_@:+-]+(?:\/[A-Za-z0-9_.@:+-]+)*$/;

/** Refuses anything that could leave /proc/sys. */
export function checkSysctlPath(path: string): string {
  if (!PATH_RE.test(path) || path.split('/').some((p) => p === '.' || p === '..')) {
    throw new HawserError('INVALID', `not a sysctl path: ${JSON.stringify(path)} (expected e.g. net/ipv4/ip_forward)`);
  }
  return path;
}

/** `net/ipv4/conf/eth0.100/rp_filter` → `net.ipv4.conf.eth0/100.rp_filter` (sysctl(8)'s convention). */
export function sysctlDisplayName(path: string): string {
  return path.split('/').map((p) => p.replace(/\./g, '/')).join('.');
}

export class LocalSysctl implements Sysctl {
  constructor(private readonly root = '/proc/sys') {}

  async get(path: string): Promise<string | undefined> {
    try {
      return (await readFile(`${this.root}/${checkSysctlPath(path)}`, 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new HawserError('EXEC', `cannot read sysctl ${sysctlDisplayName(path)}: ${(err as Error).message}`, { cause: err });
    }
  }

  async set(path: string, value: string): Promise<void> {
    try {
      await writeFile(`${this.root}/${checkSysctlPath(path)}`, value);
    } catch (err) {
      throw new HawserError('EXEC', `cannot set sysctl ${sysctlDisplayName(path)}=${value}: ${(err as Error).message}`, { cause: err });
    }
  }

  async close(): Promise<void> {}
}

export async function openSysctl(opts: { netns?: string } = {}): Promise<Sysctl> {
  if (!opts.netns) return new LocalSysctl();
  const { NetnsWorker } = await import('./nsworker.js');
  return NetnsWorker.sysctl(opts.netns);
}
