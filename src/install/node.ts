// Node cleanup: observe what is on this node, plan (pure) the removal of exactly what OWNED_NODE_STATE
// lists, apply with `ip`/`nft`/signals. Each step's failure is recorded and the others still run.
import { existsSync, rmSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Logger } from '../log/index.js';
import { pidAlive, readPid } from '../os/daemon.js';
import { errorMessage } from '../util/errors.js';
import { exec } from '../util/exec.js';
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
  | { kind: 'ip'; args: string[]; text: string }
  | { kind: 'nft'; args: string[]; text: string }
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
    steps.push({ kind: 'ip', args: ['link', 'del', l], text: `ip link del ${l}` });
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
    steps.push({ kind: 'ip', args, text: `ip ${args.join(' ')}` });
  }
  for (const r of obs.rules) {
    if (r.protocol === undefined || !protos.has(r.protocol)) continue;
    const args = [`-${r.family}`, 'rule', 'del', 'pref', String(r.priority)];
    if (r.src && r.src !== 'all') args.push('from', r.srclen !== undefined ? `${r.src}/${r.srclen}` : r.src);
    if (r.dst && r.dst !== 'all') args.push('to', r.dstlen !== undefined ? `${r.dst}/${r.dstlen}` : r.dst);
    if (r.fwmark) args.push('fwmark', r.fwmark);
    args.push('lookup', r.table, 'proto', r.protocol);
    steps.push({ kind: 'ip', args, text: `ip ${args.join(' ')}` });
  }
  for (const a of obs.addresses) {
    if (!owned.addressLabels.some((o) => o.dev === a.dev && o.label === a.label)) continue;
    const args = ['address', 'del', `${a.address}/${a.prefixlen}`, 'dev', a.dev, 'label', a.label!];
    steps.push({ kind: 'ip', args, text: `ip ${args.join(' ')}` });
  }
  for (const t of obs.nftTables) {
    if (!owned.nftTables.some((o) => o.family === t.family && o.name === t.name)) continue;
    steps.push({ kind: 'nft', args: ['delete', 'table', t.family, t.name], text: `nft delete table ${t.family} ${t.name}` });
  }
  for (const p of obs.paths) steps.push({ kind: 'rm', path: p, text: `rm -r ${p}` });
  return steps;
}

function parseJson(text: string): unknown {
  const t = text.trim();
  return t ? JSON.parse(t) as unknown : [];
}
const rec = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? v as Record<string, unknown> : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);

/** Reads the node's state (`ip -j -N`, `nft -j`, PID files) in `netns` or the current namespace. */
export async function observeNode(opts: { netns?: string; stateDir: string; owned?: OwnedNodeState }): Promise<NodeObservation> {
  const owned = opts.owned ?? OWNED_NODE_STATE;
  const ip = async (args: string[]): Promise<unknown[]> => arr(parseJson((await exec('ip', ['-j', '-N', ...args], { netns: opts.netns })).stdout));
  const [links, routes4, routes6, rules4, rules6, addrs] = await Promise.all([
    ip(['link', 'show']), ip(['-4', 'route', 'show', 'table', 'all']), ip(['-6', 'route', 'show', 'table', 'all']),
    ip(['-4', 'rule', 'show']), ip(['-6', 'rule', 'show']), ip(['address', 'show']),
  ]);
  const routes: ObservedRoute[] = [];
  for (const [family, list] of [[4, routes4], [6, routes6]] as const) {
    for (const r of list.map(rec)) {
      const dst = str(r.dst);
      const protocol = str(r.protocol);
      if (!dst || !protocol) continue;
      routes.push({ family, dst, protocol, table: str(r.table) ?? 'main', dev: str(r.dev), gateway: str(r.gateway), type: str(r.type) });
    }
  }
  const rules: ObservedRule[] = [];
  for (const [family, list] of [[4, rules4], [6, rules6]] as const) {
    for (const r of list.map(rec)) {
      const priority = Number(r.priority);
      const table = str(r.table);
      if (!Number.isInteger(priority) || !table) continue;
      rules.push({
        family, priority, table, protocol: str(r.protocol), src: str(r.src), dst: str(r.dst), fwmark: str(r.fwmark),
        ...(typeof r.srclen === 'number' ? { srclen: r.srclen } : {}), ...(typeof r.dstlen === 'number' ? { dstlen: r.dstlen } : {}),
      });
    }
  }
  const addresses: ObservedAddress[] = [];
  for (const l of addrs.map(rec)) {
    const dev = str(l.ifname);
    if (!dev) continue;
    for (const a of arr(l.addr_info).map(rec)) {
      const address = str(a.local);
      if (address && typeof a.prefixlen === 'number') addresses.push({ dev, address, prefixlen: a.prefixlen, label: str(a.label) });
    }
  }
  const nftOut = await exec('nft', ['-j', 'list', 'tables'], { netns: opts.netns });
  const nftTables = arr(rec(parseJson(nftOut.stdout)).nftables).map((e) => rec(rec(e).table))
    .flatMap((t) => (str(t.family) && str(t.name) ? [{ family: str(t.family)!, name: str(t.name)! }] : []));
  const daemons: ObservedDaemon[] = [];
  for (const d of owned.daemons) {
    const pid = readPid(join(opts.stateDir, d.pidFile));
    if (pid === undefined) continue;
    if (!pidAlive(pid)) continue;
    daemons.push({ name: d.name, pid, ours: pidAlive(pid, d.cmdline) });
  }
  const paths = owned.paths.map((p) => resolvePath(opts.stateDir, p)).filter((p) => existsSync(p));
  return {
    links: links.map(rec).flatMap((l) => (str(l.ifname) ? [str(l.ifname)!] : [])),
    routes, rules, addresses, nftTables, daemons, paths,
  };
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

/** Carries out a plan; every step is tried, failures are collected. */
export async function applyNodeUninstall(steps: readonly UninstallStep[], opts: { netns?: string; log: Logger; owned?: OwnedNodeState }): Promise<UninstallReport> {
  const owned = opts.owned ?? OWNED_NODE_STATE;
  const report: UninstallReport = { done: [], failures: [], leftAlone: [] };
  for (const s of steps) {
    try {
      switch (s.kind) {
        case 'stop-daemon': await stopDaemon(s.pid, owned.daemons.find((d) => d.name === s.name)?.cmdline ?? s.name); break;
        case 'ip': await exec('ip', s.args, { netns: opts.netns }); break;
        case 'nft': await exec('nft', s.args, { netns: opts.netns }); break;
        case 'rm': rmSync(s.path, { recursive: true, force: true }); break;
      }
      report.done.push(s.text);
      opts.log.info({ step: s.text }, 'uninstall: removed');
    } catch (err) {
      // a link or daemon that went away on its own (wireguard-go takes its TUN along) is not a failure
      const msg = errorMessage(err);
      if (/Cannot find device|No such process|No such file|does not exist/i.test(msg)) continue;
      report.failures.push(`${s.text}: ${msg}`);
      opts.log.error({ step: s.text, err: msg }, 'uninstall: step failed');
    }
  }
  return report;
}

/** Observe → plan → apply, then observe again: what is still there is reported as a failure. */
export async function uninstallNode(opts: { netns?: string; stateDir: string; log: Logger; dryRun?: boolean }): Promise<UninstallReport & { planned: string[] }> {
  const before = await observeNode(opts);
  const steps = planNodeUninstall(before);
  const leftAlone = before.daemons.filter((d) => !d.ours).map((d) => `pid ${d.pid} in ${d.name}'s PID file is not ${d.name}: left alone`);
  if (opts.dryRun) return { planned: steps.map((s) => s.text), done: [], failures: [], leftAlone };
  const report = await applyNodeUninstall(steps, opts);
  report.leftAlone.push(...leftAlone);
  const after = planNodeUninstall(await observeNode(opts));
  for (const s of after) report.failures.push(`still present after uninstall: ${s.text}`);
  return { planned: steps.map((s) => s.text), ...report };
}

/** Whether SUBMARINER_UNINSTALL asks for the uninstall path (Submariner's operator sets it on its cleanup DaemonSets). */
export function uninstallRequested(env: NodeJS.ProcessEnv): boolean {
  return /^(true|1|yes)$/i.test(env.SUBMARINER_UNINSTALL?.trim() ?? '');
}

