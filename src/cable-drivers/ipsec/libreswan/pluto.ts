// hawser's own pluto (libreswan's IKE daemon): its files in one directory (control socket, NSS database,
// secrets, log), started detached so a hawser restart keeps the SAs, adopted by PID file + control socket,
// restarted when it dies. Driven with `whack`, as Submariner's libreswan driver does.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../../../log/index.js';
import { Daemon } from '../../../os/daemon.js';
import { HawserError } from '../../../util/errors.js';
import { exec, type ExecResult } from '../../../util/exec.js';

export interface PlutoPaths {
  dir: string;
  runDir: string;
  ctl: string;
  nssDir: string;
  ipsecDir: string;
  conf: string;
  secrets: string;
  logFile: string;
  outFile: string;
  pidFile: string;
  stateFile: string;
}

export function plutoPaths(dir: string): PlutoPaths {
  const runDir = join(dir, 'run');
  return {
    dir, runDir, ctl: join(runDir, 'pluto.ctl'), nssDir: join(dir, 'nss'), ipsecDir: join(dir, 'ipsec.d'),
    conf: join(dir, 'ipsec.conf'), secrets: join(dir, 'ipsec.secrets'), logFile: join(dir, 'pluto.log'),
    outFile: join(dir, 'pluto.out'), pidFile: join(dir, 'pluto.daemon.pid'), stateFile: join(dir, 'conns.json'),
  };
}

export interface PlutoOptions {
  dir: string;
  netns?: string;
  /**
   * Where libreswan's files are: '' when installed (a Submariner-style image), else the root of an unpacked
   * package (tests: Debian's libreswan conflicts with charon-systemd). pluto then runs in a private mount
   * namespace with `<root>/usr/libexec` bound over /usr/libexec, where it looks for its helpers.
   */
  root?: string;
  log: Logger;
}

/** Shell single-quoting for the start script (paths are ours, but be safe). */
function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (ok: boolean): void => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export class Pluto {
  readonly paths: PlutoPaths;
  readonly root: string;
  private readonly daemon: Daemon;
  private logOffset = 0;

  constructor(private readonly opts: PlutoOptions) {
    this.paths = plutoPaths(opts.dir);
    this.root = opts.root ?? '';
    const p = this.paths;
    const mount = this.root ? `mount --bind ${q(`${this.root}/usr/libexec`)} /usr/libexec || exit 1; ` : '';
    const script = `${mount}[ -f ${q(`${p.nssDir}/cert9.db`)} ] || ipsec initnss --nssdir ${q(p.nssDir)} >/dev/null || exit 1; `
      + `rm -f ${q(`${p.runDir}/pluto.pid`)} ${q(p.ctl)}; `
      + `exec /usr/libexec/ipsec/pluto --nofork --config ${q(p.conf)} --secretsfile ${q(p.secrets)} --nssdir ${q(p.nssDir)} `
      + `--rundir ${q(p.runDir)} --ipsecdir ${q(p.ipsecDir)} --dumpdir ${q(p.runDir)} --logfile ${q(p.logFile)}`;
    const path = this.root ? `${this.root}/usr/sbin:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` : process.env.PATH;
    this.daemon = new Daemon(
      {
        name: 'pluto',
        command: this.root ? 'unshare' : 'sh',
        args: this.root ? ['-m', '--propagation', 'private', 'sh', '-c', script] : ['-c', script],
        netns: opts.netns,
        env: { ...process.env, PATH: path },
        pidFile: p.pidFile,
        logFile: p.outFile,
        ready: () => socketAnswers(p.ctl),
        readyTimeoutMs: 20_000,
        cmdlineMatch: `--config ${p.conf}`,
      },
      opts.log,
    );
  }

  get pid(): number | undefined {
    return this.daemon.pid;
  }

  get whackBinary(): string {
    return `${this.root}/usr/libexec/ipsec/whack`;
  }

  /** Fails with what to install when libreswan is missing. */
  preflight(): void {
    for (const f of [`${this.root}/usr/libexec/ipsec/pluto`, this.whackBinary, `${this.root}/usr/sbin/ipsec`]) {
      if (!existsSync(f)) throw new HawserError('EXEC', `libreswan not found (${f} is missing): install libreswan (4.x or later), or set HAWSER_IPSEC_BACKEND=strongswan`);
    }
  }

  /** The PSK file (`%any %any : PSK "<text>"`, as Submariner writes it) and an empty ipsec.conf. */
  writeConfig(psk: string): boolean {
    const p = this.paths;
    for (const d of [p.dir, p.runDir, p.nssDir, p.ipsecDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
    if (!existsSync(p.conf)) writeFileSync(p.conf, 'config setup\n', { mode: 0o600 });
    const text = `%any %any : PSK "${psk.replace(/"/g, '')}"\n`;
    let old: string | undefined;
    try {
      old = readFileSync(p.secrets, 'utf8');
    } catch {
      old = undefined;
    }
    if (old === text) return false;
    writeFileSync(p.secrets, text, { mode: 0o600 });
    return true;
  }

  async ensure(): Promise<'adopted' | 'started'> {
    try {
      this.logOffset = statSync(this.paths.logFile).size;
    } catch {
      this.logOffset = 0;
    }
    return this.daemon.ensure();
  }

  /** `whack --ctlsocket <ours> <args>`; never throws for a non-zero exit (the caller judges the output). */
  async whack(args: readonly string[], timeoutMs = 5_000): Promise<ExecResult> {
    return exec(this.whackBinary, ['--ctlsocket', this.paths.ctl, ...args], { allowFailure: true, timeoutMs });
  }

  /** New lines of pluto's log since the last call (the start of this pluto on the first call). */
  readNewLogLines(): string[] {
    let size = 0;
    try {
      size = statSync(this.paths.logFile).size;
    } catch {
      return [];
    }
    if (size < this.logOffset) this.logOffset = 0; // rotated or truncated
    if (size === this.logOffset) return [];
    const buf = readFileSync(this.paths.logFile);
    const text = buf.subarray(this.logOffset, size).toString('utf8');
    const lastNl = text.lastIndexOf('\n');
    if (lastNl < 0) return [];
    this.logOffset += Buffer.byteLength(text.slice(0, lastNl + 1));
    return text.slice(0, lastNl).split('\n');
  }

  watch(onRestart: () => Promise<void>): void {
    this.daemon.watch(onRestart);
  }

  close(): void {
    this.daemon.close();
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
  }

  /** Removes pluto's files (after stop). */
  removeFiles(): void {
    rmSync(this.paths.dir, { recursive: true, force: true });
  }
}
