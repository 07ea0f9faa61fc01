// nftables change notifications (NFNLGRP_NFTABLES) through one long-lived `nft monitor` child: events are
// grouped by the generation that committed them, with the committing process, so a consumer can skip its
// own transactions and react to changes made behind its back without listing anything.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { netnsArgv } from '../../util/exec.js';

export interface NftMonitorEvent {
  op: 'add' | 'delete';
  /** `table`, `chain`, `set`, `map`, `element`, `rule`, ... as nft prints it. */
  object: string;
  family: string;
  table: string;
  /** Chain, set or map name (absent for tables). */
  name?: string;
  /** Element events: the elements as printed (`10.0.0.1 : 242.0.0.1/32`, `10.9.0.0/16`). */
  elements?: string[];
}

export interface NftGeneration {
  generation: number;
  /** The process that committed it (`# new generation N by process PID (name)`). */
  pid?: number;
  process?: string;
  /** Raw event lines; `parse()` turns them into events (skipped entirely for one's own generations). */
  lines: string[];
}

const EVENT_RE = /^(add|delete) (table|chain|set|map|element|rule|flowtable|counter|quota|limit|secmark|synproxy|ct \S+) (\S+) (\S+)(?: (\S+))?(.*)$/;
const GEN_RE = /^# new generation (\d+) by process (\d+) \((.*)\)$/;

/** One event line, or undefined for lines this parser does not know. */
export function parseMonitorLine(line: string): NftMonitorEvent | undefined {
  const m = EVENT_RE.exec(line.trim());
  if (!m) return undefined;
  const [, op, object, family, table, name, rest] = m;
  const ev: NftMonitorEvent = { op: op as 'add' | 'delete', object: object!, family: family!, table: table!, ...(name ? { name } : {}) };
  if (object === 'element') {
    const body = /\{(.*)\}/.exec(rest ?? '');
    ev.elements = body ? body[1]!.split(',').map((e) => e.trim()).filter(Boolean) : [];
  }
  return ev;
}

/** The key of a printed element (`k : v` -> `k`). */
export function elementKey(printed: string): string {
  const i = printed.indexOf(' : ');
  return i < 0 ? printed : printed.slice(0, i);
}

export function parseGeneration(g: NftGeneration): NftMonitorEvent[] {
  const out: NftMonitorEvent[] = [];
  for (const l of g.lines) {
    const e = parseMonitorLine(l);
    if (e) out.push(e);
  }
  return out;
}

/**
 * Emits `generation` (NftGeneration) per committed transaction and `lost` (reason) when the stream broke
 * (the child died or the kernel dropped notifications: ENOBUFS); after `lost` the consumer must resync
 * from a listing. A dead child is restarted with backoff until stop(); `unavailable` (reason) means nft
 * cannot be run at all and nothing more will come.
 */
export class NftMonitor extends EventEmitter {
  private child: ChildProcess | undefined;
  private pending: string[] = [];
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Restart delay after the child died; doubles up to a minute, back to 1 s once events flow again. */
  private backoffMs = 1000;

  constructor(private readonly opts: { netns?: string; binary?: string } = {}) {
    super();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the child (see nextGenerationBy() for knowing when it listens). */
  start(): void {
    this.stopped = false;
    this.spawnChild();
  }

  private spawnChild(): void {
    const [file, argv] = netnsArgv(this.opts.binary ?? 'nft', ['monitor'], this.opts.netns);
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.pending = [];
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-1000);
      // nft monitor reports a lost notification (ENOBUFS) on stderr and goes on
      if (/No buffer space|ENOBUFS/i.test(d)) this.emit('lost', `notifications lost: ${d.trim()}`);
    });
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => this.onLine(line));
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (this.stopped) return;
      this.emit('lost', `nft monitor exited (${signal ?? code}): ${stderr.trim() || 'no output'}`);
      this.restartTimer = setTimeout(() => this.spawnChild(), this.backoffMs);
      this.restartTimer.unref();
      this.backoffMs = Math.min(this.backoffMs * 2, 60_000);
    });
    child.on('error', (err) => {
      if (this.child !== child || this.stopped) return;
      // No nft binary: nothing to restart; the owner falls back to its periodic resync.
      this.child = undefined;
      this.stopped = true;
      this.emit('unavailable', `cannot run nft monitor: ${err.message}; install the nftables package`);
    });
  }

  /**
   * Resolves with the first generation committed by `pid` after this call (or undefined after
   * `timeoutMs`): run a no-op transaction, then await this to know the subscription is live.
   */
  nextGenerationBy(pid: number | undefined, timeoutMs = 3000): Promise<NftGeneration | undefined> {
    return new Promise((resolve) => {
      const onGen = (g: NftGeneration): void => {
        if (pid !== undefined && g.pid !== pid) return;
        done(g);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      timer.unref();
      const done = (g: NftGeneration | undefined): void => {
        clearTimeout(timer);
        this.off('generation', onGen);
        resolve(g);
      };
      this.on('generation', onGen);
    });
  }

  private onLine(line: string): void {
    const g = GEN_RE.exec(line);
    if (g) {
      const gen: NftGeneration = { generation: Number(g[1]), pid: Number(g[2]), process: g[3]!, lines: this.pending };
      this.pending = [];
      this.backoffMs = 1000;
      this.emit('generation', gen);
      return;
    }
    if (line.trim()) this.pending.push(line);
  }

  stop(): void {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const c = this.child;
    this.child = undefined;
    if (c?.pid !== undefined && c.exitCode === null) {
      try {
        process.kill(c.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
}
