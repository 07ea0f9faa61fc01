// Supervision of the daemons hawser drives (wireguard-go, charon): started detached so that a restart of
// hawser never takes the data path down, adopted through a PID file, restarted with backoff when they die.
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log/index.js';
import { HawserError } from '../util/errors.js';
import { Backoff, sleep, waitFor } from '../util/wait.js';

export interface DaemonSpec {
  /** Short name for logs, e.g. `wireguard-go`. */
  name: string;
  command: string;
  args: string[];
  netns?: string;
  env?: NodeJS.ProcessEnv;
  pidFile: string;
  /** Daemon's stdout/stderr go here (append). */
  logFile?: string;
  /** True when the daemon answers on its control socket. */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
  /** Substring that must appear in /proc/PID/cmdline, guarding against PID reuse. */
  cmdlineMatch?: string;
}

export function pidAlive(pid: number, cmdlineMatch?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    if (cmdlineMatch) {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (!cmd.includes(cmdlineMatch)) return false;
    }
  } catch {
    return false;
  }
  return true;
}

export function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The last non-empty line of a (daemon's) log file, at most 300 characters; undefined when there is none. */
export function lastLine(file: string): string | undefined {
  try {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      const buf = Buffer.alloc(Math.min(size, 4096));
      readSync(fd, buf, 0, buf.length, size - buf.length);
      const line = buf.toString('utf8').trimEnd().split('\n').at(-1)?.trim();
      return line ? line.slice(0, 300) : undefined;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

export class Daemon {
  private watchTimer: NodeJS.Timeout | undefined;
  private restarting = false;
  private readonly backoff = new Backoff(200, 10_000);
  private stopped = false;

  constructor(
    readonly spec: DaemonSpec,
    private readonly log: Logger,
  ) {}

  get pid(): number | undefined {
    const pid = readPid(this.spec.pidFile);
    return pid !== undefined && pidAlive(pid, this.spec.cmdlineMatch ?? this.spec.command) ? pid : undefined;
  }

  /** Adopts a running daemon (PID file + control socket answers) or starts one. */
  async ensure(): Promise<'adopted' | 'started'> {
    const pid = this.pid;
    if (pid !== undefined && (await this.spec.ready().catch(() => false))) return 'adopted';
    if (pid !== undefined) {
      // Alive but not answering: wait briefly (it may be starting), then replace it.
      const ok = await waitFor(() => this.spec.ready().catch(() => false), { timeoutMs: 2000, what: `${this.spec.name} socket` }).catch(() => false);
      if (ok) return 'adopted';
      await this.kill(pid);
    }
    await this.start();
    return 'started';
  }

  private async start(): Promise<void> {
    mkdirSync(dirname(this.spec.pidFile), { recursive: true });
    const [file, argv] = this.spec.netns
      ? ['ip', ['netns', 'exec', this.spec.netns, this.spec.command, ...this.spec.args]]
      : [this.spec.command, this.spec.args];
    let out: number | 'ignore' = 'ignore';
    if (this.spec.logFile) {
      mkdirSync(dirname(this.spec.logFile), { recursive: true });
      out = openSync(this.spec.logFile, 'a');
    }
    const child = spawn(file, argv, { detached: true, stdio: ['ignore', out, out], env: this.spec.env ?? process.env });
    if (typeof out === 'number') closeSync(out);
    const spawnError = new Promise<never>((_, reject) => child.once('error', (err) => reject(new HawserError('EXEC', `cannot start ${this.spec.name} (${this.spec.command}): ${err.message}; is it installed?`, { cause: err }))));
    spawnError.catch(() => undefined);
    child.unref();
    if (child.pid === undefined) await spawnError;
    writeFileSync(this.spec.pidFile, `${child.pid}\n`);
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, sig) => {
        // Its last words are usually the reason (wireguard-go: "Failed to listen on uapi socket: too many open files"
        // when the host's inotify instances are used up), so the error and the status say it, not only where to look.
        const last = this.spec.logFile ? lastLine(this.spec.logFile) : undefined;
        reject(new HawserError('EXEC', `${this.spec.name} exited during start (code ${code ?? '-'}${sig ? `, ${sig}` : ''})${last ? `: ${last}` : ''}${this.spec.logFile ? `; see ${this.spec.logFile}` : ''}`));
      }),
    );
    exited.catch(() => undefined);
    await Promise.race([
      waitFor(() => this.spec.ready().catch(() => false), { timeoutMs: this.spec.readyTimeoutMs ?? 10_000, intervalMs: 50, what: `${this.spec.name} to answer on its socket` }),
      exited,
      spawnError,
    ]);
    this.log.info({ daemon: this.spec.name, pid: child.pid }, 'daemon started');
  }

  /**
   * Polls liveness; on death restarts with backoff and calls `onRestart` so the owner re-applies
   * its state (peers, connections). Errors from onRestart are logged and retried on the next tick.
   */
  watch(onRestart: () => Promise<void>, intervalMs = 250): void {
    this.stopped = false;
    // Set when the daemon was restarted but re-applying state failed: retried even though the PID is alive.
    let reapplyPending = false;
    const tick = async (): Promise<void> => {
      if (this.stopped || this.restarting) return;
      const alive = this.pid !== undefined;
      if (alive && !reapplyPending) {
        this.backoff.reset();
        return;
      }
      this.restarting = true;
      try {
        if (!alive) {
          this.log.warn({ daemon: this.spec.name }, 'daemon is not running; restarting it');
          await sleep(this.backoff.next());
          if (this.stopped) return;
          await this.ensure();
          reapplyPending = true;
        } else await sleep(this.backoff.next());
        await onRestart();
        reapplyPending = false;
        this.log.info({ daemon: this.spec.name, pid: this.pid }, 'daemon restarted and state re-applied');
      } catch (err) {
        this.log.error({ daemon: this.spec.name, err }, 'daemon restart or re-apply failed; will retry');
      } finally {
        this.restarting = false;
      }
    };
    this.watchTimer = setInterval(() => void tick(), intervalMs);
    this.watchTimer.unref();
  }

  /** Stops watching; the daemon keeps running (to be adopted by the next hawser). */
  close(): void {
    this.stopped = true;
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.watchTimer = undefined;
  }

  /** Stops watching and ends the daemon (uninstall, tests). */
  async stop(): Promise<void> {
    this.close();
    const pid = this.pid;
    if (pid !== undefined) await this.kill(pid);
    rmSync(this.spec.pidFile, { force: true });
  }

  private async kill(pid: number): Promise<void> {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    const gone = await waitFor(() => !pidAlive(pid), { timeoutMs: 3000, intervalMs: 50 }).catch(() => false);
    if (!gone) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      await waitFor(() => !pidAlive(pid), { timeoutMs: 2000, intervalMs: 50 }).catch(() => undefined);
    }
  }
}
