// The one network-namespace harness for @real tests: unique `hw-` names, veth links created directly inside
// the namespaces (nothing touches the root namespace), child processes tracked by PID, and a cleanup that ends
// what it started (and anything left inside its namespaces) by PID, then deletes the namespaces by name.
// `useNetns()` registers that cleanup with mocha, so it runs when a test fails too.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createNetns, deleteNetns, netnsPids, uniqueName } from '../../src/os/netns.js';
import { exec, netnsArgv, type ExecResult } from '../../src/util/exec.js';
import { waitFor } from '../../src/util/wait.js';

export interface NetnsProc {
  child: ChildProcess;
  lines: string[];
  stderr: () => string;
  /** Resolves with the first stdout line matching `re`. */
  line(re: RegExp, timeoutMs: number): Promise<string>;
}

/** Whether this process may create namespaces (root); @real tests skip otherwise. */
export function canUseNetns(): boolean {
  return process.getuid?.() === 0;
}

export class NetnsHarness {
  readonly namespaces: string[] = [];
  private readonly procs: ChildProcess[] = [];

  /** A new namespace `<prefix>-<6 hex>` with lo up. The prefix must start with `hw-`. */
  async ns(prefix = 'hw-t'): Promise<string> {
    if (!prefix.startsWith('hw-')) throw new Error(`test namespaces are named hw-…; got prefix ${prefix}`);
    const name = uniqueName(prefix);
    this.namespaces.push(name);
    await createNetns(name);
    return name;
  }

  run(ns: string, cmd: string, args: string[], allowFailure = false): Promise<ExecResult> {
    return exec(cmd, args, { netns: ns, allowFailure });
  }

  /** `ip` with the given words, in `ns`. */
  ip(ns: string, ...args: string[]): Promise<ExecResult> {
    return exec('ip', ['-n', ns, ...args]);
  }

  /** A veth pair from (nsA, ifA, cidrA) to (nsB, ifB, cidrB), both ends up. */
  async link(nsA: string, ifA: string, cidrA: string | undefined, nsB: string, ifB: string, cidrB: string | undefined): Promise<void> {
    await this.ip(nsA, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB);
    if (cidrA) await this.ip(nsA, 'addr', 'add', cidrA, 'dev', ifA);
    if (cidrB) await this.ip(nsB, 'addr', 'add', cidrB, 'dev', ifB);
    await this.ip(nsA, 'link', 'set', ifA, 'up');
    await this.ip(nsB, 'link', 'set', ifB, 'up');
  }

  /** A process inside `ns`, tracked for cleanup, its stdout collected as lines. */
  spawn(ns: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): NetnsProc {
    const [file, argv] = netnsArgv(cmd, args, ns);
    const child = spawn(file, argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(child);
    const lines: string[] = [];
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
    return {
      child,
      lines,
      stderr: () => err,
      line: (re, timeoutMs) => waitFor(() => lines.find((l) => re.test(l)), { timeoutMs, intervalMs: 20, what: `a line matching ${re} (stderr: ${err.slice(-500)})` }),
    };
  }

  /** Stops a tracked child by PID (SIGTERM, then SIGKILL after 2 s) and waits for it to exit. */
  async kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      process.kill(child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const t = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, 2000);
    await exited;
    clearTimeout(t);
  }

  /** Ends every tracked process, then anything still inside our namespaces (by PID), then deletes them. */
  async cleanup(): Promise<void> {
    await Promise.all(this.procs.map((c) => this.kill(c)));
    this.procs.length = 0;
    for (const ns of this.namespaces) {
      // Anything still running inside a namespace we created was started by this test.
      for (const pid of await netnsPids(ns)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await deleteNetns(ns);
    }
    this.namespaces.length = 0;
  }
}

/** Runs `fn` with a fresh harness and always cleans up, whether `fn` passes or throws. */
export async function withNetns<T>(fn: (h: NetnsHarness) => Promise<T>): Promise<T> {
  const h = new NetnsHarness();
  try {
    return await fn(h);
  } finally {
    await h.cleanup();
  }
}

/** A harness for a mocha describe block: cleaned up after each test (also a failing one). */
export function useNetns(): NetnsHarness {
  const h = new NetnsHarness();
  afterEach(async () => h.cleanup());
  return h;
}
