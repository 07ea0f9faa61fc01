// A helper process living in another network namespace (started with `ip netns exec`) that holds the
// netlink socket, a libnftables context (os/nft.ts) and reads/writes /proc/sys there, answering JSON lines on stdin/stdout. One round
// trip per dump or per batch of writes, so a namespace costs one process, not one per call.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { HawserError } from '../util/errors.js';
import type { AddrInfo, LinkInfo, NeighInfo, OpOutcome, RouteInfo, Rtnl, RtnlOp, RuleInfo } from './netlink.js';
import type { EventHandlers, RtnlEvent, RtnlEventSource } from './rtnl-events.js';
import type { Sysctl } from './sysctl.js';

export interface WorkerRequest {
  id: number;
  method: WorkerMethod;
  params: unknown[];
}

export type WorkerMethod = 'links' | 'addresses' | 'routes' | 'rules' | 'neighbors' | 'apply' | 'sysctlGet' | 'sysctlSet' | 'subscribe' | 'barrier' | 'nft';

/** Unsolicited lines from a subscribed worker: notifications, or word that some were lost. */
export type WorkerNotice = { events: RtnlEvent[] } | { lost: string };

export type WorkerResponse = { id: number; result: unknown } | { id: number; error: { message: string; code?: string } };

const START_TIMEOUT_MS = 20_000;

interface Refable {
  ref?: () => void;
  unref?: () => void;
}

function workerEntry(): { file: string; loader: string[] } {
  const here = new URL(import.meta.url);
  const ts = here.pathname.endsWith('.ts');
  const file = fileURLToPath(new URL(`./nsworker-main.${ts ? 'ts' : 'js'}`, here));
  // running from sources: the child needs tsx's loader as well
  // createRequire works whether this module was loaded as ESM or transpiled to CommonJS by tsx
  return { file, loader: ts ? ['--import', pathToFileURL(createRequire(here).resolve('tsx')).href] : [] };
}

/** Methods without side effects: safe to ask again when the worker died before answering. */
const READ_ONLY: ReadonlySet<WorkerMethod> = new Set(['links', 'addresses', 'routes', 'rules', 'neighbors', 'sysctlGet']);

export class NetnsWorker {
  private child!: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private stderrTail = '';
  private exited: Error | undefined;
  private stopped = false;
  private users = 0;
  private ready!: Promise<void>;
  private eventHandlers: EventHandlers | undefined;

  private constructor(readonly netns: string) {
    this.spawnChild();
  }

  /** (Re)starts the process; a worker that died is started again on the next call. */
  private spawnChild(): void {
    const { file, loader } = workerEntry();
    const netns = this.netns;
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, ...loader, file], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = undefined;
    this.stderrTail = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-2000);
    });
    let markReady: () => void = () => undefined;
    let failStart: (e: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    const timer = setTimeout(() => failStart(new HawserError('TIMEOUT', `netns worker in ${netns} did not start within ${START_TIMEOUT_MS} ms: ${this.stderrTail.trim()}`)), START_TIMEOUT_MS);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof msg !== 'object' || msg === null) return;
      if ('ready' in msg) {
        clearTimeout(timer);
        markReady();
        return;
      }
      // notifications come on the same ordered stream as answers: those of a write precede its answer
      if ('events' in msg && Array.isArray(msg.events)) {
        this.eventHandlers?.events(msg.events as RtnlEvent[]);
        return;
      }
      if ('lost' in msg) {
        this.eventHandlers?.lost(String(msg.lost));
        return;
      }
      const m = msg as WorkerResponse;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if ('error' in m) p.reject(new HawserError(m.error.code === 'NETLINK' ? 'NETLINK' : 'EXEC', `${m.error.message} (netns ${netns})`));
      else p.resolve(m.result);
    });
    const onGone = (why: string): void => {
      clearTimeout(timer);
      if (this.child !== child) return;
      const err = new HawserError('EXEC', `netns worker in ${netns} ${why}: ${this.stderrTail.trim() || 'no output'}`);
      this.exited = err;
      failStart(err);
      // a new worker starts with a new subscription: whatever happened in between is unknown
      if (this.eventHandlers) this.eventHandlers.lost(`netns worker in ${netns} ${why}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    child.on('error', (e) => onGone(`could not start (${e.message})`));
    child.on('exit', (code, signal) => onGone(`exited (${signal ?? code})`));
    child.stdin?.on('error', () => undefined);
    child.stderr?.on('error', () => undefined);
    (child.stderr as unknown as Refable | null)?.unref?.();
    this.setRef(true);
    void this.ready.then(() => this.setRef(this.pending.size > 0), () => undefined);
  }

  /** Referenced only while a call is outstanding: an idle worker never keeps a finished program alive. */
  private setRef(on: boolean): void {
    const pipes = [this.child.stdout, this.child.stdin] as unknown as (Refable | null)[];
    if (on) {
      this.child.ref();
      for (const p of pipes) p?.ref?.();
    } else {
      this.child.unref();
      for (const p of pipes) p?.unref?.();
    }
  }

  /** Starts a worker in `netns` and waits until it answers. */
  static async start(netns: string): Promise<NetnsWorker> {
    const w = new NetnsWorker(netns);
    try {
      await w.ready;
    } catch (err) {
      w.stopped = true;
      w.kill();
      throw err;
    }
    return w;
  }

  static async rtnl(netns: string): Promise<Rtnl> {
    const w = await NetnsWorker.start(netns);
    return w.rtnl();
  }

  static async sysctl(netns: string): Promise<Sysctl> {
    const w = await NetnsWorker.start(netns);
    return w.sysctl();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  async call(method: WorkerMethod, ...params: unknown[]): Promise<unknown> {
    try {
      return await this.callOnce(method, params);
    } catch (err) {
      // A read sent just as the worker died (its exit not yet seen here) is asked again of a new worker.
      if (this.exited && !this.stopped && READ_ONLY.has(method)) return this.callOnce(method, params);
      throw err;
    }
  }

  private async callOnce(method: WorkerMethod, params: unknown[]): Promise<unknown> {
    if (this.stopped) throw new HawserError('EXEC', `netns worker in ${this.netns} was stopped`);
    if (this.exited) {
      this.spawnChild();
      if (this.eventHandlers && method !== 'subscribe') {
        await this.ready;
        await this.call('subscribe');
      }
    }
    await this.ready;
    const id = this.nextId++;
    const req: WorkerRequest = { id, method, params };
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.setRef(true);
      this.pending.set(id, {
        resolve: (v) => {
          if (this.pending.size === 0) this.setRef(false);
          resolve(v);
        },
        reject: (e) => {
          if (this.pending.size === 0) this.setRef(false);
          reject(e);
        },
      });
      this.child.stdin!.write(JSON.stringify(req) + '\n');
    });
  }

  /** An Rtnl over this worker; closing the last user (rtnl or sysctl view) ends the worker. */
  rtnl(): Rtnl {
    this.users++;
    // results come from our own worker, which serializes the same typed values
    return {
      links: async () => (await this.call('links')) as LinkInfo[],
      addresses: async () => (await this.call('addresses')) as AddrInfo[],
      routes: async () => (await this.call('routes')) as RouteInfo[],
      rules: async () => (await this.call('rules')) as RuleInfo[],
      neighbors: async (family) => (await this.call('neighbors', family)) as NeighInfo[],
      apply: async (ops: readonly RtnlOp[]) => (await this.call('apply', ops)) as OpOutcome[],
      close: () => this.release(),
    };
  }

  /** Notifications of the worker's namespace, relayed over its stdout (a restarted worker resubscribes). */
  events(): RtnlEventSource {
    this.users++;
    return {
      subscribe: async (h: EventHandlers) => {
        this.eventHandlers = h;
        await this.call('subscribe');
      },
      // the worker answers only after relaying what its socket had queued (its apply does the same)
      barrier: async () => {
        await this.call('barrier');
      },
      close: async () => {
        this.eventHandlers = undefined;
        await this.release();
      },
    };
  }

  sysctl(): Sysctl {
    this.users++;
    return {
      get: async (path) => {
        const v = await this.call('sysctlGet', path);
        return typeof v === 'string' ? v : undefined;
      },
      set: async (path, value) => {
        await this.call('sysctlSet', path, value);
      },
      close: () => this.release(),
    };
  }

  private async release(): Promise<void> {
    this.users = Math.max(0, this.users - 1);
    if (this.users === 0) await this.stop();
  }

  /** Ends the worker: closing stdin makes it exit; it is killed by PID if it does not within 2 s. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.exited || this.child.exitCode !== null) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin?.end();
    const t = setTimeout(() => this.kill(), 2000);
    await gone;
    clearTimeout(t);
  }

  private kill(): void {
    if (this.child.pid !== undefined && this.child.exitCode === null) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
