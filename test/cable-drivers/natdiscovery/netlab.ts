// A throwaway set of network namespaces for @real tests: unique names, veth links created directly
// inside the namespaces (nothing touches the root namespace), child processes tracked by PID, and a
// cleanup that kills what it started (and anything left in its namespaces) by PID, then deletes them.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createNetns, deleteNetns, netnsPids, uniqueName } from '../../../src/os/netns.js';
import { exec, netnsArgv, type ExecResult } from '../../../src/util/exec.js';
import { waitFor } from '../../../src/util/wait.js';

export interface Proc {
  child: ChildProcess;
  lines: string[];
  stderr: () => string;
  /** Resolves with the first stdout line matching `re`. */
  line(re: RegExp, timeoutMs: number): Promise<string>;
}

export class NetLab {
  readonly namespaces: string[] = [];
  private readonly procs: ChildProcess[] = [];

  async ns(prefix = 'hw-t'): Promise<string> {
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

  spawn(ns: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
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

  /** Stops a tracked child by PID and waits for it to exit. */
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

  async cleanup(): Promise<void> {
    await Promise.all(this.procs.map((c) => this.kill(c)));
    for (const ns of this.namespaces) {
      // Anything still running inside a namespace we created was started by this test (by PID).
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
