// Node cleanup: observe what is on this node, plan (pure) the removal of exactly what OWNED_NODE_STATE
// lists, apply through the kernel door (src/os: rtnetlink, nftables) and signals. Each step's failure is
// recorded and the others still run. The step texts keep `ip`/`nft` wording: they are what an operator
// would type to do the same by hand.
import { existsSync, rmSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Logger } from '../log/index.js';
import { pidAlive, readPid } from '../os/daemon.js';
import { openRtnl, type Rtnl, type RtnlOp } from '../os/netlink.js';
import { Nft, type NftFamily } from '../os/nft.js';
import { errorMessage } from '../util/errors.js';
import { waitFor } from '../util/wait.js';
import { OWNED_NODE_STATE, type OwnedNodeState } from './owned.js';

export interface ObservedRoute { dst: string; table: string; protocol: string; dev?: string; gateway?: string; type?: string; family: 4 | 6 }
export interface ObservedRule { priority: number; table: string; protocol?: string; src?: string; srclen?: number; dst?: string; dstlen?: number; fwmark?: string; family: 4 | 6 }
export interface ObservedAddress { dev: string; address: string; prefixlen: number; label?: string }
export interface ObservedDaemon { name: string; pid: number; ours: boolean }

export interface NodeObservation {
  links: string[];
  routes: ObservedRoute[];
  rules: ObservedRule[];
  addresses: ObservedAddress[];
  nftTables: { family: string; name: string }[];
  daemons: ObservedDaemon[];
  /** Owned paths that exist, absolute. */
  paths: string[];
}

export type UninstallStep =
  | { kind: 'stop-daemon'; name: string; pid: number; text: string }
  | { kind: 'link-del'; name: string; text: string }
  | { kind: 'route-del'; route: ObservedRoute; text: string }
  | { kind: 'rule-del'; rule: ObservedRule; text: string }
  | { kind: 'addr-del'; address: ObservedAddress; text: string }
  | { kind: 'nft-table-del'; family: string; name: string; text: string }
  | { kind: 'rm'; path: string; text: string };

const ROUTE_TYPES: Record<string, string> = { '1': 'unicast', '2': 'local', '3': 'broadcast', '4': 'anycast', '5': 'multicast', '6': 'blackhole', '7': 'unreachable', '8': 'prohibit', '9': 'throw' };

function resolvePath(stateDir: string, p: { path: string; base: 'state' | 'absolute' }): string {
  return p.base === 'state' || !isAbsolute(p.path) ? join(stateDir, p.path) : p.path;
}

/** The removal plan: daemons first (charon takes its SAs/policies along), then links, routes, rules, addresses, nft tables, files. */
export function planNodeUninstall(obs: NodeObservation, owned: OwnedNodeState = OWNED_NODE_STATE): UninstallStep[] {
  const steps: UninstallStep[] = [];
  for (const d of obs.daemons) {
    if (d.ours) steps.push({ kind: 'stop-daemon', name: d.name, pid: d.pid, text: `stop ${d.name} (pid ${d.pid})` });
  }
  const ownedLinks = new Set(owned.links.map((l) => l.name));
  const goneLinks = new Set<string>();
  for (const l of obs.links) {
    if (!ownedLinks.has(l)) continue;
    goneLinks.add(l);
    steps.push({ kind: 'link-del', name: l, text: `ip link del ${l}` });
  }
  const protos = new Set(owned.protocols.map((p) => String(p.proto)));
  for (const r of obs.routes) {
    // a deleted link takes its routes along
    if (!protos.has(r.protocol) || (r.dev && goneLinks.has(r.dev))) continue;
    const args = [`-${r.family}`, 'route', 'del'];
    if (r.type && ROUTE_TYPES[r.type] && r.type !== '1') args.push(ROUTE_TYPES[r.type]!);
    args.push(r.dst, 'table', r.table, 'proto', r.protocol);
    if (r.gateway) args.push('via', r.gateway);
    if (r.dev) args.push('dev', r.dev);
    steps.push({ kind: 'route-del', route: r, text: `ip ${args.join(' ')}` });
  }
  for (const r of obs.rules) {
    if (r.protocol === undefined || !protos.has(r.protocol)) continue;
    const args = [`-${r.family}`, 'rule', 'del', 'pref', String(r.priority)];
    if (r.src && r.src !== 'all') args.push('from', r.srclen !== undefined ? `${r.src}/${r.srclen}` : r.src);
    if (r.dst && r.dst !== 'all') args.push('to', r.dstlen !== undefined ? `${r.dst}/${r.dstlen}` : r.dst);
    if (r.fwmark) args.push('fwmark', r.fwmark);
    args.push('lookup', r.table, 'proto', r.protocol);
    steps.push({ kind: 'rule-del', rule: r, text: `ip ${args.join(' ')}` });
  }
  for (const a of obs.addresses) {
    if (!owned.addressLabels.some((o) => o.dev === a.dev && o.label === a.label)) continue;
    const args = ['address', 'del', `${a.address}/${a.prefixlen}`, 'dev', a.dev, 'label', a.label!];
    steps.push({ kind: 'addr-del', address: a, text: `ip ${args.join(' ')}` });
  }
  for (const t of obs.nftTables) {
    if (!owned.nftTables.some((o) => o.family === t.family && o.name === t.name)) continue;
    steps.push({ kind: 'nft-table-del', family: t.family, name: t.name, text: `nft delete table ${t.family} ${t.name}` });
  }
  for (const p of obs.paths) steps.push({ kind: 'rm', path: p, text: `rm -r ${p}` });
  return steps;
}

/** `10.0.0.0/16` → address and length; a bare address (as rules may carry) has no length. */
function splitPrefix(cidr: string | undefined): { addr?: string; len?: number } {
  if (!cidr) return {};
  const [addr, len] = cidr.split('/');
  return len === undefined ? { addr } : { addr, len: Number(len) };
}

/** `nft list tables` output → family and name of each table. */
function parseTables(text: string): { family: string; name: string }[] {
  return text.split('\n').flatMap((l) => {
    const m = /^table (\S+) (\S+)$/.exec(l.trim());
    return m ? [{ family: m[1]!, name: m[2]! }] : [];
  });
}

/**
 * Reads the node's state through rtnetlink and nftables (src/os) and PID files, in `netns` or the current
 * namespace. Routes and rules are IPv4: hawser installs no IPv6 route or rule (and `Rtnl` dumps IPv4 only).
 */
export async function observeNode(opts: { netns?: string; stateDir: string; owned?: OwnedNodeState; rtnl?: Rtnl; nft?: Nft }): Promise<NodeObservation> {
  const owned = opts.owned ?? OWNED_NODE_STATE;
  const rtnl = opts.rtnl ?? (await openRtnl({ netns: opts.netns }));
  const nft = opts.nft ?? new Nft({ netns: opts.netns });
  let kernel: { links: string[]; routes: ObservedRoute[]; rules: ObservedRule[]; addresses: ObservedAddress[]; nftTables: { family: string; name: string }[] };
  try {
    const [links, routeList, ruleList, addrs, tables] = await Promise.all([rtnl.links(), rtnl.routes(), rtnl.rules(), rtnl.addresses(), nft.exec('list tables\n')]);
    const nameOf = new Map(links.map((l) => [l.index, l.name]));
    const routes: ObservedRoute[] = routeList.map((r) => ({
      family: r.family, dst: r.dst, protocol: String(r.protocol), table: String(r.table), type: String(r.type),
      ...(r.oif !== undefined && nameOf.has(r.oif) ? { dev: nameOf.get(r.oif)! } : {}), ...(r.gateway ? { gateway: r.gateway } : {}),
    }));
    const rules: ObservedRule[] = ruleList.map((r) => {
      const src = splitPrefix(r.src);
      const dst = splitPrefix(r.dst);
      return {
        family: r.family, priority: r.pref, table: String(r.table),
        ...(r.protocol !== undefined ? { protocol: String(r.protocol) } : {}),
        ...(src.addr ? { src: src.addr } : {}), ...(src.len !== undefined ? { srclen: src.len } : {}),
        ...(dst.addr ? { dst: dst.addr } : {}), ...(dst.len !== undefined ? { dstlen: dst.len } : {}),
        ...(r.fwmark ? { fwmark: `0x${r.fwmark.toString(16)}` } : {}),
      };
    });
    const addresses: ObservedAddress[] = addrs.flatMap((a) => {
      const dev = nameOf.get(a.ifindex);
      return dev ? [{ dev, address: a.address, prefixlen: a.prefix, ...(a.label ? { label: a.label } : {}) }] : [];
    });
    kernel = { links: links.map((l) => l.name), routes, rules, addresses, nftTables: parseTables(tables) };
  } finally {
    if (!opts.rtnl) await rtnl.close().catch(() => undefined);
    if (!opts.nft) nft.close();
  }
  const daemons: ObservedDaemon[] = [];
  for (const d of owned.daemons) {
    const pid = readPid(join(opts.stateDir, d.pidFile));
    if (pid === undefined) continue;
    if (!pidAlive(pid)) continue;
    daemons.push({ name: d.name, pid, ours: pidAlive(pid, d.cmdline) });
  }
  const paths = owned.paths.map((p) => resolvePath(opts.stateDir, p)).filter((p) => existsSync(p));
  return { ...kernel, daemons, paths };
}

export interface UninstallReport {
  done: string[];
  failures: string[];
  /** Foreign things seen and left alone (e.g. a PID file naming someone else's process). */
  leftAlone: string[];
}

async function stopDaemon(pid: number, cmdline: string): Promise<void> {
  const alive = (): boolean => pidAlive(pid, cmdline);
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  try {
    await waitFor(() => !alive(), { timeoutMs: 5_000, what: `pid ${pid} to exit` });
  } catch {
    if (alive()) process.kill(pid, 'SIGKILL');
    await waitFor(() => !alive(), { timeoutMs: 3_000, what: `pid ${pid} to exit after SIGKILL` });
  }
}

/** The rtnetlink op of a step, with names resolved to interface indexes; undefined when its device is gone. */
function rtnlOp(s: UninstallStep, indexOf: ReadonlyMap<string, number>): RtnlOp | undefined {
  const idx = (dev: string | undefined): number | undefined => (dev === undefined ? undefined : indexOf.get(dev));
  switch (s.kind) {
    case 'link-del': {
      const index = idx(s.name);
      return index === undefined ? undefined : { op: 'link-del', index };
    }
    case 'route-del': {
      const r = s.route;
      const oif = idx(r.dev);
      if (r.dev && oif === undefined) return undefined;
      return { op: 'route-del', route: { table: Number(r.table), dst: r.dst, protocol: Number(r.protocol), ...(r.type ? { type: Number(r.type) } : {}), ...(r.gateway ? { gateway: r.gateway } : {}), ...(oif !== undefined ? { oif } : {}) } };
    }
    case 'rule-del': {
      const r = s.rule;
      const cidr = (a: string | undefined, len: number | undefined): string | undefined => (a && a !== 'all' ? (len !== undefined ? `${a}/${len}` : a) : undefined);
      const src = cidr(r.src, r.srclen);
      const dst = cidr(r.dst, r.dstlen);
      return { op: 'rule-del', rule: { family: r.family, pref: r.priority, table: Number(r.table), ...(r.protocol !== undefined ? { protocol: Number(r.protocol) } : {}), ...(src ? { src } : {}), ...(dst ? { dst } : {}) } };
    }
    case 'addr-del': {
      const ifindex = idx(s.address.dev);
      return ifindex === undefined ? undefined : { op: 'addr-del', ifindex, address: s.address.address, prefix: s.address.prefixlen, ...(s.address.label ? { label: s.address.label } : {}) };
    }
    default:
      return undefined;
  }
}

/** errnos that mean the object went away on its own (wireguard-go takes its TUN along): not a failure. */
const GONE = new Set(['ENODEV', 'ENOENT', 'ESRCH', 'EADDRNOTAVAIL']);

/** Carries out a plan through src/os (rtnetlink, nftables) and signals; every step is tried, failures are collected. */
export async function applyNodeUninstall(steps: readonly UninstallStep[], opts: { netns?: string; log: Logger; owned?: OwnedNodeState; rtnl?: Rtnl; nft?: Nft }): Promise<UninstallReport> {
  const owned = opts.owned ?? OWNED_NODE_STATE;
  const report: UninstallReport = { done: [], failures: [], leftAlone: [] };
  let rtnl: Rtnl | undefined = opts.rtnl;
  const nft = opts.nft ?? new Nft({ netns: opts.netns });
  const fail = (s: UninstallStep, msg: string): void => {
    report.failures.push(`${s.text}: ${msg}`);
    opts.log.error({ step: s.text, err: msg }, 'uninstall: step failed');
  };
  try {
    for (const s of steps) {
      try {
        if (s.kind === 'stop-daemon') await stopDaemon(s.pid, owned.daemons.find((d) => d.name === s.name)?.cmdline ?? s.name);
        else if (s.kind === 'rm') rmSync(s.path, { recursive: true, force: true });
        else if (s.kind === 'nft-table-del') {
          // a table that went away on its own is not a failure (deleteTable is a no-op then)
          await nft.deleteTable(s.family as NftFamily, s.name);
        } else {
          rtnl ??= await openRtnl({ netns: opts.netns });
          // indexes now: a daemon stopped above may have taken its device along
          const indexOf = new Map((await rtnl.links()).map((l) => [l.name, l.index]));
          const op = rtnlOp(s, indexOf);
          if (!op) continue;
          const [out] = await rtnl.apply([op]);
          if (out && !out.ok) {
            if (out.errno && GONE.has(out.errno)) continue;
            fail(s, out.error);
            continue;
          }
        }
        report.done.push(s.text);
        opts.log.info({ step: s.text }, 'uninstall: removed');
      } catch (err) {
        const msg = errorMessage(err);
        if (/No such process|No such file|does not exist/i.test(msg)) continue;
        fail(s, msg);
      }
    }
  } finally {
    if (rtnl && rtnl !== opts.rtnl) await rtnl.close().catch(() => undefined);
    if (!opts.nft) nft.close();
  }
  return report;
}

/** Observe → plan → apply, then observe again: what is still there is reported as a failure. One rtnetlink socket and one nft context serve all three. */
export async function uninstallNode(opts: { netns?: string; stateDir: string; log: Logger; dryRun?: boolean }): Promise<UninstallReport & { planned: string[] }> {
  const rtnl = await openRtnl({ netns: opts.netns });
  const nft = new Nft({ netns: opts.netns });
  const o = { ...opts, rtnl, nft };
  try {
    const before = await observeNode(o);
    const steps = planNodeUninstall(before);
    const leftAlone = before.daemons.filter((d) => !d.ours).map((d) => `pid ${d.pid} in ${d.name}'s PID file is not ${d.name}: left alone`);
    if (opts.dryRun) return { planned: steps.map((s) => s.text), done: [], failures: [], leftAlone };
    const report = await applyNodeUninstall(steps, o);
    report.leftAlone.push(...leftAlone);
    const after = planNodeUninstall(await observeNode(o));
    for (const s of after) report.failures.push(`still present after uninstall: ${s.text}`);
    return { planned: steps.map((s) => s.text), ...report };
  } finally {
    await rtnl.close().catch(() => undefined);
    nft.close();
  }
}

/** Whether SUBMARINER_UNINSTALL asks for the uninstall path (Submariner's operator sets it on its cleanup DaemonSets). */
export function uninstallRequested(env: NodeJS.ProcessEnv): boolean {
  return /^(true|1|yes)$/i.test(env.SUBMARINER_UNINSTALL?.trim() ?? '');
}

