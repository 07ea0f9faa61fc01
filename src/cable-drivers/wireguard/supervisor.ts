// wireguard-go supervision: started in the foreground (-f) as a detached Daemon with a PID file, in the
// node's netns when given; a running one is adopted when its socket answers; a dead one is restarted.
import { accessSync, constants, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { HawserError } from '../../util/errors.js';
import type { Logger } from '../../log/index.js';
import { Daemon, pidAlive } from '../../os/daemon.js';
import type { UapiClient } from './wgctrl/index.js';

export interface WireGuardGoOptions {
  ifname: string;
  netns?: string;
  /** PID and log files go here. */
  stateDir: string;
  /** Default `wireguard-go`. */
  binary?: string;
  uapi: UapiClient;
  verbose?: boolean;
}

const cmdlineOf = (pid: number): string[] | undefined => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
};

/** The PID of a wireguard-go serving `ifname` (e.g. after our PID file was lost), if any. */
export function findWireguardGoPid(ifname: string, binary = 'wireguard-go'): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const argv = cmdlineOf(Number(e));
    if (!argv || argv.length < 2) continue;
    const exe = argv[0] ?? '';
    if (exe !== binary && !exe.endsWith(`/${binary.split('/').pop() ?? binary}`)) continue;
    if (argv[argv.length - 1] === ifname) return Number(e);
  }
  return undefined;
}

/** Whether `binary` is an executable path or found on PATH. */
export function findExecutable(binary: string, path = process.env.PATH ?? ''): string | undefined {
  const candidates = binary.includes('/') ? [binary] : path.split(delimiter).filter((d) => isAbsolute(d)).map((d) => join(d, binary));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export class WireGuardGo {
  readonly daemon: Daemon;
  readonly pidFile: string;
  readonly logFile: string;

  constructor(
    private readonly opts: WireGuardGoOptions,
    private readonly log: Logger,
  ) {
    this.pidFile = join(opts.stateDir, `${opts.ifname}.pid`);
    this.logFile = join(opts.stateDir, `${opts.ifname}.log`);
    const binary = opts.binary ?? 'wireguard-go';
    this.daemon = new Daemon(
      {
        name: 'wireguard-go',
        command: binary,
        args: ['-f', opts.ifname],
        netns: opts.netns,
        // -f already keeps it in the foreground; the variable covers builds that read only it. LOG_LEVEL
        // is wireguard-go's own (ours may say `info`, which it does not know).
        env: { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: opts.verbose ? 'verbose' : 'error' },
        pidFile: this.pidFile,
        logFile: this.logFile,
        ready: () => opts.uapi.answers(opts.ifname),
        readyTimeoutMs: 10_000,
        cmdlineMatch: `-f ${opts.ifname}`,
      },
      log,
    );
  }

  get pid(): number | undefined {
    return this.daemon.pid;
  }

  /** Adopts a running wireguard-go for the interface (re-finding its PID if the file is gone) or starts one. */
  async ensure(): Promise<'adopted' | 'started'> {
    if (this.daemon.pid === undefined) {
      const found = findWireguardGoPid(this.opts.ifname, this.opts.binary);
      if (found !== undefined && pidAlive(found) && (await this.opts.uapi.answers(this.opts.ifname))) {
        mkdirSync(dirname(this.pidFile), { recursive: true });
        writeFileSync(this.pidFile, `${found}\n`);
        this.log.info({ daemon: 'wireguard-go', pid: found }, 'found a running wireguard-go without a PID file; adopting it');
      }
    }
    if (this.daemon.pid === undefined && !findExecutable(this.opts.binary ?? 'wireguard-go')) {
      throw new HawserError('EXEC', `cannot start the WireGuard device ${this.opts.ifname}: ${this.opts.binary ?? 'wireguard-go'} is not installed or not executable (install the wireguard-go package, e.g. apt-get install wireguard-go, or load the kernel wireguard module)`);
    }
    return this.daemon.ensure();
  }

  watch(onRestart: () => Promise<void>, intervalMs?: number): void {
    this.daemon.watch(onRestart, intervalMs);
  }

  close(): void {
    this.daemon.close();
  }

  stop(): Promise<void> {
    return this.daemon.stop();
  }
}
