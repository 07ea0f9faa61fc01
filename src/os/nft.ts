// nftables, the one door for every nft use in hawser: libnftables in this process (koffi), so a change is
// a library call and not a process; in another network namespace, the netns worker (nsworker.ts) runs the
// same library there, because a libnftables context talks to the netns it was created in and Node cannot
// setns(). The `nft` binary is the fallback when the library cannot be loaded (one warning). Each `run`
// is one atomic transaction; failures become NftError with the failing command line (nftables/errors.ts).
import { logger } from '../log/index.js';
import { errorMessage, HawserError } from '../util/errors.js';
import { binaryEngine, openLibnftables, type NftEngine, type NftResult, type NftRunOptions } from './nftables/engine.js';
import { nftFailure } from './nftables/errors.js';
import { NetnsWorker } from './nsworker.js';

export type { NftRunOptions } from './nftables/engine.js';
export { NftError, isNftError, type NftFailure } from './nftables/errors.js';

export type NftFamily = 'ip' | 'ip6' | 'inet' | 'arp' | 'bridge' | 'netdev';

export interface NftOptions {
  netns?: string;
  /** Use this nft binary instead of libnftables (tests of the fallback). */
  binary?: string;
  /** An engine to use as is (tests). */
  engine?: NftEngine;
}

let fallbackWarned = false;

/** libnftables in this process, else the `nft` binary with one warning per process. */
export function localEngine(): NftEngine {
  const lib = openLibnftables();
  if (!('unavailable' in lib)) return lib;
  if (!fallbackWarned) {
    fallbackWarned = true;
    logger().warn({ err: lib.unavailable }, 'libnftables cannot be loaded: falling back to one nft process per change (install libnftables1)');
  }
  return binaryEngine();
}

/** A stopped worker is started again on the next call; idle workers end so no namespace is kept alive. */
const WORKER_IDLE_MS = 10_000;

/** Runs nft commands through the netns worker of `netns`. */
function workerEngine(netns: string): NftEngine {
  let worker: Promise<NetnsWorker> | undefined;
  let idle: NodeJS.Timeout | undefined;
  let lastPid: number | undefined;
  let inFlight = 0;
  const stopWorker = (): void => {
    const w = worker;
    worker = undefined;
    void w?.then((x) => x.stop(), () => undefined);
  };
  return {
    kind: 'libnftables',
    committerPid: () => lastPid,
    async run(commands, opts = {}) {
      if (idle) clearTimeout(idle);
      inFlight++;
      try {
        worker ??= NetnsWorker.start(netns);
        const w = await worker.catch((err: unknown) => {
          worker = undefined;
          throw err;
        });
        const r = (await w.call('nft', commands, opts)) as NftResult & { pid: number | null };
        lastPid = r.pid ?? undefined;
        return r.ok ? { ok: true, output: r.output } : { ok: false, output: r.output, error: r.error };
      } finally {
        inFlight--;
        if (inFlight === 0) {
          idle = setTimeout(stopWorker, WORKER_IDLE_MS);
          idle.unref();
        }
      }
    },
    close() {
      if (idle) clearTimeout(idle);
      stopWorker();
    },
  };
}

export class Nft {
  readonly netns: string | undefined;
  private engineCache: NftEngine | undefined;

  constructor(private readonly opts: NftOptions = {}) {
    this.netns = opts.netns;
  }

  private get engine(): NftEngine {
    this.engineCache ??= this.opts.engine
      ?? (this.opts.binary ? binaryEngine(this.opts.binary) : this.netns ? workerEngine(this.netns) : localEngine());
    return this.engineCache;
  }

  /** `libnftables` (in process or in the netns worker) or `nft-binary`. */
  get kind(): NftEngine['kind'] {
    return this.engine.kind;
  }

  /** PID of the process that committed the last transaction (to tell our own notifications apart). */
  get committerPid(): number | undefined {
    return this.engine.committerPid();
  }

  /** Applies a script as one transaction: all of it or nothing. */
  async run(script: string): Promise<void> {
    await this.exec(script);
  }

  /** Runs commands and returns nft's output; throws NftError naming the failing command line. */
  async exec(commands: string, opts: NftRunOptions = {}): Promise<string> {
    let r: NftResult;
    try {
      r = await this.engine.run(commands, opts);
    } catch (err) {
      throw nftFailure(errorMessage(err), commands, this.where());
    }
    if (!r.ok) throw nftFailure(r.error, commands, this.where());
    return r.output;
  }

  /**
   * The table as `nft list table` prints it, or undefined when it does not exist. `terse` leaves out
   * set elements, which nft is slow to print for large interval sets.
   */
  async listTable(family: NftFamily, name: string, opts: { terse?: boolean } = {}): Promise<string | undefined> {
    const r = await this.engine.run(`list table ${family} ${checkName(name)}\n`, { terse: opts.terse });
    if (r.ok) return r.output;
    const err = nftFailure(r.error, `list table ${family} ${name}`, this.where());
    if (err.failure === 'not-found') return undefined;
    throw err;
  }

  /** Deletes the table if present (in one transaction, so it is idempotent); true if it existed. */
  async deleteTable(family: NftFamily, name: string): Promise<boolean> {
    const existed = (await this.listTable(family, name, { terse: true })) !== undefined;
    if (existed) await this.run(`table ${family} ${checkName(name)}\ndelete table ${family} ${checkName(name)}\n`);
    return existed;
  }

  async listRuleset(): Promise<string> {
    return this.exec('list ruleset\n');
  }

  /** Frees the library context or ends the netns worker. */
  close(): void {
    this.engineCache?.close();
    this.engineCache = undefined;
  }

  private where(): string {
    return this.netns ? ` (netns ${this.netns})` : '';
  }
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_./-]{0,255}$/;

/** Table, chain and set names hawser writes; anything else is refused before it reaches a script. */
export function checkName(name: string): string {
  if (!NAME_RE.test(name)) throw new HawserError('INVALID', `not a valid nftables name: ${JSON.stringify(name)}`);
  return name;
}

/** A double-quoted nft string (comments, interface names); quotes and newlines are refused. */
export function nftString(s: string): string {
  if (/["\n\r\\]/.test(s) || s.length > 128) throw new HawserError('INVALID', `cannot put ${JSON.stringify(s)} in an nftables string`);
  return `"${s}"`;
}

export interface TableListing {
  comment?: string;
  /** Rules per chain, in listing order. */
  chains: Map<string, string[]>;
  /** Elements per set as printed (`10.0.0.0/8`, `10.1.2.3`, `10.0.0.1-10.0.0.9`), in listing order. */
  sets: Map<string, string[]>;
}

/** Reads what hawser needs from `nft list table` text: the table comment, chains with their rules, sets with their elements. */
export function parseTableListing(text: string): TableListing {
  const out: TableListing = { chains: new Map(), sets: new Map() };
  let chain: string | undefined;
  let set: string | undefined;
  let elements: string | undefined;
  let depth = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    if (elements !== undefined) {
      elements += ' ' + line;
    } else if (depth === 1) {
      const c = /^comment "(.*)"$/.exec(line);
      if (c) out.comment = c[1];
      const ch = /^chain (\S+) \{$/.exec(line);
      if (ch) {
        chain = ch[1]!;
        out.chains.set(chain, []);
      }
      const st = /^(?:set|map) (\S+) \{/.exec(line);
      if (st) {
        set = st[1]!;
        out.sets.set(set, []);
        // a one-line set (as hawser renders it) carries its elements on this line
        const inline = /elements = \{([^}]*)\}/.exec(line);
        if (inline) out.sets.set(set, splitElements(inline[1]!));
      }
    } else if (depth === 2 && chain !== undefined && !line.endsWith('{') && line !== '}') {
      if (!/^(type |policy |comment |devices )/.test(line)) out.chains.get(chain)!.push(line);
    } else if (depth === 2 && set !== undefined && line.startsWith('elements = {')) {
      elements = line.slice('elements = {'.length);
    }
    if (elements !== undefined && elements.includes('}')) {
      out.sets.set(set!, splitElements(elements.slice(0, elements.indexOf('}'))));
      elements = undefined;
    }
    depth += (line.match(/\{/g) ?? []).length - (line.match(/\}/g) ?? []).length;
    if (depth < 2) {
      chain = undefined;
      set = undefined;
    }
  }
  return out;
}

function splitElements(text: string): string[] {
  return text.split(',').map((e) => e.trim()).filter(Boolean);
}
