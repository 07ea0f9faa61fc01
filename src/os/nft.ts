// nftables through the `nft` CLI: each change is one atomic transaction (`nft -f -`) confined to a
// table hawser owns; reads are text listings of that table only.
import { exec } from '../util/exec.js';
import { HawserError, isHawserError } from '../util/errors.js';

export type NftFamily = 'ip' | 'ip6' | 'inet' | 'arp' | 'bridge' | 'netdev';

export interface NftOptions {
  netns?: string;
  /** Path or name of the nft binary. */
  binary?: string;
}

export class Nft {
  private readonly netns: string | undefined;
  private readonly binary: string;

  constructor(opts: NftOptions = {}) {
    this.netns = opts.netns;
    this.binary = opts.binary ?? 'nft';
  }

  /** Applies a script as one transaction: all of it or nothing. */
  async run(script: string): Promise<void> {
    await this.nft(['-f', '-'], script);
  }

  /**
   * The table as `nft list table` prints it, or undefined when it does not exist. `terse` leaves out
   * set elements, which nft is slow to print for large interval sets.
   */
  async listTable(family: NftFamily, name: string, opts: { terse?: boolean } = {}): Promise<string | undefined> {
    const r = await this.nft([...(opts.terse ? ['-t'] : []), 'list', 'table', family, checkName(name)], undefined, true);
    if (r.code === 0) return r.stdout;
    if (/No such file or directory|does not exist/i.test(r.stderr)) return undefined;
    throw new HawserError('NFT', `nft list table ${family} ${name}${this.where()} failed: ${r.stderr.trim()}`);
  }

  /** Deletes the table if present (in one transaction, so it is idempotent); true if it existed. */
  async deleteTable(family: NftFamily, name: string): Promise<boolean> {
    const existed = (await this.listTable(family, name)) !== undefined;
    if (existed) await this.run(`table ${family} ${checkName(name)}\ndelete table ${family} ${checkName(name)}\n`);
    return existed;
  }

  async listRuleset(): Promise<string> {
    return (await this.nft(['list', 'ruleset'])).stdout;
  }

  private where(): string {
    return this.netns ? ` (netns ${this.netns})` : '';
  }

  private async nft(args: string[], input?: string, allowFailure = false): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const r = await exec(this.binary, args, { netns: this.netns, input, allowFailure: true });
      if (r.code !== 0 && !allowFailure) {
        const first = input ? ` (script starts: ${input.split('\n').slice(0, 3).join(' | ')})` : '';
        throw new HawserError('NFT', `nft ${args.join(' ')}${this.where()} failed: ${r.stderr.trim() || `exit ${r.code}`}${first}`);
      }
      return r;
    } catch (err) {
      if (isHawserError(err, 'EXEC')) {
        throw new HawserError('NFT', `cannot run ${this.binary}${this.where()}: ${err.message}; install the nftables package (Debian: apt-get install nftables)`, { cause: err });
      }
      throw err;
    }
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
