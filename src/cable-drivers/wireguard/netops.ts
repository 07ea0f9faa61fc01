// The thin OS adapter of the WireGuard cable: the device's link state, our routes and rule, observed
// with `ip -j` and changed with `ip -batch` (one process per family), in the node's netns when given.
import { exec } from '../../util/exec.js';
import { HawserError } from '../../util/errors.js';
import type { NetObserved, ObservedRoute, ObservedRule } from './planner.js';

export interface LocalAddress {
  dev: string;
  address: string;
  family: 4 | 6;
}

export interface NetOps {
  observe(dev: string, table: number): Promise<NetObserved>;
  /** Applies planner lines; a leading `-6 ` marks an IPv6 line. */
  apply(lines: readonly string[]): Promise<void>;
  addresses(): Promise<LocalAddress[]>;
  linkExists(dev: string): Promise<boolean>;
  linkAdd(dev: string, kind: string): Promise<void>;
  linkDel(dev: string): Promise<void>;
}

type Json = Record<string, unknown>;

function jsonArray(text: string, what: string): Json[] {
  let v: unknown;
  try {
    v = JSON.parse(text.trim() || '[]');
  } catch (err) {
    throw new HawserError('EXEC', `cannot parse ${what} from ip -j: ${(err as Error).message}`);
  }
  if (!Array.isArray(v)) throw new HawserError('EXEC', `${what} from ip -j is not a list`);
  return v.filter((x): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x));
}

const str = (o: Json, k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined);

/** `ip route` prints host routes without a prefix length. */
function canonicalDst(dst: string, family: 4 | 6): string {
  if (dst === 'default') return family === 4 ? '0.0.0.0/0' : '::/0';
  return dst.includes('/') ? dst : `${dst}/${family === 4 ? 32 : 128}`;
}

export function parseRoutes(text: string, family: 4 | 6): ObservedRoute[] {
  const out: ObservedRoute[] = [];
  for (const r of jsonArray(text, 'routes')) {
    const dst = str(r, 'dst');
    if (!dst) continue;
    const route: ObservedRoute = { dst: canonicalDst(dst, family), family };
    const dev = str(r, 'dev');
    const protocol = str(r, 'protocol');
    const prefsrc = str(r, 'prefsrc');
    if (dev) route.dev = dev;
    if (protocol) route.protocol = protocol;
    if (prefsrc) route.prefsrc = prefsrc;
    out.push(route);
  }
  return out;
}

export function parseRules(text: string, family: 4 | 6): ObservedRule[] {
  const out: ObservedRule[] = [];
  for (const r of jsonArray(text, 'rules')) {
    const priority = r.priority;
    const table = str(r, 'table');
    if (typeof priority !== 'number' || !table) continue;
    const rule: ObservedRule = { priority, table, family };
    const protocol = str(r, 'protocol');
    if (protocol) rule.protocol = protocol;
    out.push(rule);
  }
  return out;
}

export class IpNetOps implements NetOps {
  constructor(readonly netns?: string) {}

  /** `ip -n NS ...`: ip enters the netns itself (one process, not `ip netns exec` + ip). */
  private ip(args: readonly string[], input?: string, allowFailure = false): ReturnType<typeof exec> {
    return exec('ip', this.netns ? ['-n', this.netns, ...args] : args, { input, allowFailure });
  }

  async observe(dev: string, table: number): Promise<NetObserved> {
    // one batch per family; the link goes last so that its absence (-force skips it) cannot shift the others
    const [v4, v6] = await Promise.all([
      this.ip(['-N', '-j', '-force', '-batch', '-'], `route show table ${table}\nrule show\nlink show dev ${dev}\n`, true),
      this.ip(['-6', '-N', '-j', '-force', '-batch', '-'], `route show table ${table}\nrule show\n`, true),
    ]);
    const [r4 = '[]', u4 = '[]', link = '[]'] = v4.stdout.split('\n').filter((l) => l.startsWith('['));
    const [r6 = '[]', u6 = '[]'] = v6.stdout.split('\n').filter((l) => l.startsWith('['));
    const links = jsonArray(link, 'links');
    const flags = links[0]?.flags;
    return {
      linkExists: links.length > 0,
      linkUp: Array.isArray(flags) && flags.includes('UP'),
      routes: [...parseRoutes(r4, 4), ...parseRoutes(r6, 6)],
      rules: [...parseRules(u4, 4), ...parseRules(u6, 6)],
    };
  }

  async apply(lines: readonly string[]): Promise<void> {
    const v4 = lines.filter((l) => !l.startsWith('-6 '));
    const v6 = lines.filter((l) => l.startsWith('-6 ')).map((l) => l.slice(3));
    if (v4.length) await this.ip(['-batch', '-'], v4.join('\n') + '\n');
    if (v6.length) await this.ip(['-6', '-batch', '-'], v6.join('\n') + '\n');
  }

  async addresses(): Promise<LocalAddress[]> {
    const r = await this.ip(['-j', 'addr', 'show']);
    const out: LocalAddress[] = [];
    for (const l of jsonArray(r.stdout, 'addresses')) {
      const dev = str(l, 'ifname');
      const infos = Array.isArray(l.addr_info) ? l.addr_info : [];
      for (const a of infos) {
        if (typeof a !== 'object' || a === null) continue;
        const ai = a as Json;
        const local = str(ai, 'local');
        const fam = str(ai, 'family');
        if (dev && local && (fam === 'inet' || fam === 'inet6')) out.push({ dev, address: local, family: fam === 'inet' ? 4 : 6 });
      }
    }
    return out;
  }

  async linkExists(dev: string): Promise<boolean> {
    return (await this.ip(['link', 'show', 'dev', dev], undefined, true)).code === 0;
  }

  async linkAdd(dev: string, kind: string): Promise<void> {
    await this.ip(['link', 'add', 'dev', dev, 'type', kind]);
  }

  async linkDel(dev: string): Promise<void> {
    await this.ip(['link', 'del', 'dev', dev], undefined, true);
  }
}
