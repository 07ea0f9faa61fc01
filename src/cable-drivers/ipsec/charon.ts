// Supervision of hawser's own charon: writes its strongswan.conf, starts charon-systemd detached (so a
// hawser restart keeps the SAs), adopts it by PID file (charon-systemd writes none: we do) + environment +
// VICI answer. The driver notices a death by its VICI socket closing and calls ensure() again.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../log/index.js';
import { Daemon, readPid } from '../../os/daemon.js';
import { HawserError } from '../../util/errors.js';
import { renderStrongswanConf, type CharonConfOptions } from './charon-conf.js';
import { ViciClient } from './vici/index.js';

export const CHARON_BINARY = '/usr/sbin/charon-systemd';
export const LIBIPSEC_PLUGIN = '/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so';

export interface CharonPaths {
  dir: string;
  conf: string;
  socket: string;
  pidFile: string;
  /** charon's own log (filelog). */
  logFile: string;
  /** charon's stdout/stderr. */
  outFile: string;
  /** What hawser loaded into this charon (for adoption by the next hawser). */
  stateFile: string;
}

export function charonPaths(dir: string): CharonPaths {
  return {
    dir,
    conf: join(dir, 'strongswan.conf'),
    socket: join(dir, 'charon.vici'),
    pidFile: join(dir, 'charon.pid'),
    logFile: join(dir, 'charon.log'),
    outFile: join(dir, 'charon.out'),
    stateFile: join(dir, 'conns.json'),
  };
}

export interface CharonOptions {
  /** Directory for the config, socket, PID file and logs (one per charon). */
  dir: string;
  /** Network namespace to run charon in (tests, lab); default: hawser's own. */
  netns?: string;
  conf: Omit<CharonConfOptions, 'viciSocket' | 'logFile'>;
  binary?: string;
  log: Logger;
}

/** Asks charon's VICI socket for its version with short deadlines: the liveness probe. */
export async function viciAnswers(socket: string, timeoutMs = 1000): Promise<boolean> {
  const c = new ViciClient({ socketPath: socket, connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs });
  try {
    await c.version();
    return true;
  } catch {
    return false;
  } finally {
    c.close();
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** A process that exited but was not yet reaped by its parent (state Z in /proc/<pid>/stat). */
function isZombie(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export class Charon {
  readonly paths: CharonPaths;
  private readonly daemon: Daemon;
  private readonly binary: string;
  private logOffset = 0;

  constructor(private readonly opts: CharonOptions) {
    this.paths = charonPaths(opts.dir);
    this.binary = opts.binary ?? CHARON_BINARY;
    this.daemon = new Daemon(
      {
        name: 'charon',
        command: this.binary,
        args: [],
        netns: opts.netns,
        env: { ...process.env, STRONGSWAN_CONF: this.paths.conf },
        pidFile: this.paths.pidFile,
        logFile: this.paths.outFile,
        ready: () => this.ready(),
        readyTimeoutMs: 10_000,
        cmdlineMatch: 'charon-systemd',
      },
      opts.log,
    );
  }

  get pid(): number | undefined {
    return this.daemon.pid;
  }

  /** Fails with what to install when charon (or kernel-libipsec, or TUN) is missing. */
  preflight(): void {
    if (!existsSync(this.binary)) {
      throw new HawserError('EXEC', `charon not found at ${this.binary}: install the Debian package charon-systemd (with strongswan-swanctl and libstrongswan-standard-plugins)`);
    }
    if (this.opts.conf.userspace) {
      if (!existsSync(LIBIPSEC_PLUGIN)) throw new HawserError('EXEC', `HAWSER_IPSEC_USERSPACE=true needs charon's kernel-libipsec plugin (${LIBIPSEC_PLUGIN}): install the Debian package libcharon-extra-plugins`);
      if (!existsSync('/dev/net/tun')) throw new HawserError('EXEC', 'HAWSER_IPSEC_USERSPACE=true needs /dev/net/tun (kernel-libipsec makes a TUN device): give the container the device or run with the kernel data path');
    }
  }

  /** Writes strongswan.conf; returns whether it changed (a running charon reads it at its next start). */
  writeConfig(): boolean {
    mkdirSync(this.paths.dir, { recursive: true, mode: 0o700 });
    const text = renderStrongswanConf({ ...this.opts.conf, viciSocket: this.paths.socket, logFile: this.paths.logFile });
    let old: string | undefined;
    try {
      old = readFileSync(this.paths.conf, 'utf8');
    } catch {
      old = undefined;
    }
    if (old === text) return false;
    writeFileSync(this.paths.conf, text, { mode: 0o600 });
    return true;
  }

  /** Adopts the running charon (PID file, its STRONGSWAN_CONF, VICI answers) or starts one. */
  async ensure(): Promise<'adopted' | 'started'> {
    this.forgetForeignPid();
    this.logOffset = fileSize(this.paths.logFile);
    return this.daemon.ensure();
  }

  /**
   * Problems charon logged while starting that leave it running but useless (it cannot bind its IKE
   * sockets when another IKE daemon holds the ports). Lines of the start made by the last ensure().
   */
  startupProblems(): string[] {
    let text = '';
    try {
      text = readFileSync(this.paths.logFile, 'utf8').slice(this.logOffset);
    } catch {
      return [];
    }
    return text.split('\n').filter((l) => /could not create any sockets|could not open IPv4 socket|unable to bind socket/.test(l)).map((l) => l.replace(/^\S+ \S+ /, ''));
  }

  /** Stops watching and ends charon (uninstall). */
  async stop(): Promise<void> {
    this.forgetForeignPid();
    await this.daemon.stop();
  }

  /**
   * A PID file naming a live process that is not our charon (PID reused, e.g. by a system strongSwan after a
   * reboot with a persistent state directory) is dropped, so that process is never adopted nor killed.
   */
  private forgetForeignPid(): void {
    const pid = readPid(this.paths.pidFile);
    if (pid === undefined || this.isOurs(pid)) return;
    try {
      process.kill(pid, 0);
    } catch {
      return; // dead: the Daemon treats it as such
    }
    if (isZombie(pid)) return; // our charon, killed a moment ago and not reaped yet: dead too
    this.opts.log.warn({ pid, pidFile: this.paths.pidFile }, 'PID file names a process that is not hawser\'s charon; ignoring it');
    rmSync(this.paths.pidFile, { force: true });
  }

  private isOurs(pid: number): boolean {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`STRONGSWAN_CONF=${this.paths.conf}`);
    } catch {
      return false;
    }
  }

  /** Ready = the PID in our file is a charon started with our STRONGSWAN_CONF, and our socket answers. */
  private async ready(): Promise<boolean> {
    const pid = readPid(this.paths.pidFile);
    if (pid === undefined || !this.isOurs(pid)) return false;
    return viciAnswers(this.paths.socket);
  }
}
