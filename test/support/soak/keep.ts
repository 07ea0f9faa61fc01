// What a failed soak leaves behind: every process's log of the lab (roles, API servers, relays), a snapshot of
// each node's and router's kernel state and WireGuard peers, and the Submariner objects of every cluster, copied
// into a folder outside the lab before it is torn down. Also the short "why" that a failure message carries: the
// warnings and errors the roles logged, read from those logs. Secrets stay out: the lab's state file (role env
// with tokens and the PSK) is not copied, WireGuard private keys are not written, Secrets are not listed.
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UapiClient } from '../../../src/cable-drivers/wireguard/wgctrl/index.js';
import { RestClient, resourcePath } from '../../../src/k8s/rest.js';
import type { Lab, ProcessPlan } from '../../../src/lab/index.js';
import { errorMessage } from '../../../src/util/errors.js';

/** Where kept runs go unless HAWSER_SOAK_KEEP_DIR says otherwise (outside the lab's state dir, which `down` removes). */
export const DEFAULT_KEEP_ROOT = '/var/tmp/hawser-soak';

interface LogRecord {
  at: number;
  level: string;
  text: string;
}

const FIELDS = ['cluster', 'endpoint', 'cable', 'driver', 'node', 'cidr', 'status', 'why', 'reason', 'state', 'from', 'to'] as const;

/** One JSON log line of a role as `[level] msg (field=value …)`, or undefined for anything else. */
export function parseLogLine(line: string): LogRecord | undefined {
  if (!line.startsWith('{')) return undefined;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const at = typeof o.time === 'string' ? Date.parse(o.time) : typeof o.time === 'number' ? o.time : NaN;
  if (!Number.isFinite(at)) return undefined;
  const fields = FIELDS.flatMap((k) => (typeof o[k] === 'string' || typeof o[k] === 'number' ? [`${k}=${String(o[k])}`] : []));
  const err = o.err as { message?: unknown } | undefined;
  if (typeof err?.message === 'string' && err.message !== o.msg) fields.push(`err=${err.message.split('\n')[0]!.slice(0, 160)}`);
  return { at, level: String(o.level ?? '?'), text: `${String(o.msg ?? '')}${fields.length ? ` (${fields.join(' ')})` : ''}` };
}

function readLog(file: string): LogRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').flatMap((l) => parseLogLine(l) ?? []);
}

/** A process's log lines from `fromMs` on, times relative to `relTo`. */
export function roleLogLines(lab: Lab, id: string, fromMs: number, relTo: number, levels?: readonly string[]): string[] {
  const plan = lab.topology.processes.find((p) => p.id === id);
  if (!plan) return [];
  return readLog(plan.log)
    .filter((r) => r.at >= fromMs && (!levels || levels.includes(r.level)))
    .map((r) => `${r.at >= relTo ? '+' : '-'}${(Math.abs(r.at - relTo) / 1000).toFixed(1)} s [${r.level}] ${r.text}`);
}

/**
 * The warnings and errors the roles of `clusters` logged since `fromMs` (the last `perRole` of each distinct text
 * per process, oldest first): what a failure message shows so that "why" is there without opening the folder.
 */
export function warningDigest(processes: ReadonlyArray<Pick<ProcessPlan, 'id' | 'kind' | 'cluster' | 'log'>>, clusters: readonly string[], fromMs: number, perRole = 6): string {
  const out: string[] = [];
  for (const p of processes) {
    if (!p.cluster || !clusters.includes(p.cluster) || !['gateway', 'route-agent', 'globalnet'].includes(p.kind)) continue;
    const seen = new Map<string, { at: number; level: string; n: number }>();
    for (const r of readLog(p.log)) {
      if (r.at < fromMs || (r.level !== 'warn' && r.level !== 'error' && r.level !== 'fatal')) continue;
      const s = seen.get(r.text);
      seen.set(r.text, { at: r.at, level: r.level, n: (s?.n ?? 0) + 1 });
    }
    const last = [...seen].sort((a, b) => a[1].at - b[1].at).slice(-perRole);
    if (last.length === 0) continue;
    out.push(`${p.id}:`);
    for (const [text, s] of last) {
      out.push(`  ${new Date(s.at).toISOString().slice(11, 23)} [${s.level}]${s.n > 1 ? ` ×${s.n}` : ''} ${text}`);
      // "…; see <daemon log>": that log's last line is usually the reason (it goes with the lab).
      const file = /\bsee (\/\S+\.log)\b/.exec(text)?.[1];
      const tail = file && existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n').at(-1) : undefined;
      if (tail) out.push(`    its log ends: ${tail.slice(0, 240)}`);
    }
  }
  return out.length ? out.join('\n') : '(no warnings or errors logged by those clusters\' roles)';
}

/** Kernel state and WireGuard peers of one node or router, as text (commands that fail say so and go on). */
async function snapshotOf(lab: Lab, target: string, wgDir: string | undefined): Promise<string> {
  const cmds = [['ip', '-br', 'link'], ['ip', '-br', 'addr'], ['ip', 'rule'], ['ip', 'route', 'show', 'table', 'all'], ['ip', 'neigh'], ['nft', 'list', 'ruleset']];
  const parts: string[] = [];
  for (const argv of cmds) {
    const r = await lab.exec(target, argv, { allowFailure: true, timeoutMs: 15_000 }).catch((err: unknown) => ({ code: -1, stdout: '', stderr: errorMessage(err) }));
    parts.push(`### ${argv.join(' ')}${r.code ? ` (exit ${r.code}: ${r.stderr.trim().slice(0, 200)})` : ''}\n${r.stdout}`);
  }
  if (wgDir) {
    try {
      const dev = await new UapiClient({ socketDir: wgDir, timeoutMs: 3000 }).device('submariner');
      const peers = dev.peers.map((p) => `peer ${p.publicKey} endpoint ${p.endpoint ?? '-'} handshake ${p.lastHandshakeMs ? new Date(p.lastHandshakeMs).toISOString() : 'never'} rx ${p.rxBytes} tx ${p.txBytes} allowed ${p.allowedIPs.join(',')}`);
      parts.push(`### WireGuard submariner (public key ${dev.publicKey ?? '-'}, port ${dev.listenPort})\n${peers.join('\n')}\n`);
    } catch (err) {
      parts.push(`### WireGuard submariner: ${errorMessage(err)}\n`);
    }
  }
  return parts.join('\n');
}

/** Submariner objects (and Leases, Nodes) of one cluster as JSON text; Secrets are never read. */
async function objectsOf(lab: Lab, cluster: string): Promise<Record<string, unknown>> {
  const c = new RestClient(lab.kubeConfig(cluster), 10_000);
  const out: Record<string, unknown> = {};
  const kinds: Array<[string, string, string]> = [
    ['submariner.io', 'v1', 'gateways'], ['submariner.io', 'v1', 'endpoints'], ['submariner.io', 'v1', 'clusters'],
    ['submariner.io', 'v1', 'routeagents'], ['submariner.io', 'v1', 'globalingressips'], ['submariner.io', 'v1', 'globalegressips'],
    ['submariner.io', 'v1', 'clusterglobalegressips'], ['coordination.k8s.io', 'v1', 'leases'], ['', 'v1', 'nodes'],
  ];
  try {
    for (const [g, v, plural] of kinds) {
      try {
        out[plural] = (await c.list(resourcePath(g, v, plural))).items;
      } catch (err) {
        out[plural] = `cannot list: ${errorMessage(err).split('\n')[0]}`;
      }
    }
  } finally {
    c.close();
  }
  return out;
}

/**
 * Copies the lab's logs and a snapshot of its state into `<root>/<lab>-<time>/` with `why` in README.txt; returns
 * the folder. Never throws: a part it cannot get is noted in the folder instead.
 */
export async function keepLabEvidence(lab: Lab, why: string, extra: Readonly<Record<string, string>> = {}, root = process.env.HAWSER_SOAK_KEEP_DIR ?? DEFAULT_KEEP_ROOT): Promise<string> {
  const dir = join(root, `${lab.name}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(dir, name), text);
  const notes: string[] = [];
  try {
    cpSync(join(lab.stateDir, 'logs'), join(dir, 'logs'), { recursive: true });
  } catch (err) {
    notes.push(`logs not copied: ${errorMessage(err)}`);
  }
  // The daemons' own logs (wireguard-go, charon, fping…) live in each node's state directory.
  for (const n of lab.topology.clusters.flatMap((c) => c.nodes)) {
    try {
      cpSync(join(n.dir, 'state'), join(dir, 'daemons', n.name), { recursive: true, filter: (src) => statSync(src).isDirectory() || src.endsWith('.log') });
    } catch (err) {
      if (!isNotFound(err)) notes.push(`${n.name}: daemon logs not copied: ${errorMessage(err)}`);
    }
  }
  const targets = lab.topology.clusters.flatMap((c) => [...c.nodes.map((n) => ({ name: n.name, wg: n.gateway ? join(n.dir, 'wireguard') : undefined })), { name: `${c.letter}-rtr`, wg: undefined }]);
  mkdirSync(join(dir, 'kernel'), { recursive: true });
  await Promise.all(targets.map(async (t) => {
    try {
      writeFileSync(join(dir, 'kernel', `${t.name}.txt`), await snapshotOf(lab, t.name, t.wg));
    } catch (err) {
      notes.push(`${t.name}: no snapshot: ${errorMessage(err)}`);
    }
  }));
  mkdirSync(join(dir, 'objects'), { recursive: true });
  await Promise.all(lab.topology.clusters.map(async (c) => {
    try {
      writeFileSync(join(dir, 'objects', `${c.id}.json`), JSON.stringify(await objectsOf(lab, c.id), null, 1));
    } catch (err) {
      notes.push(`${c.id}: no objects: ${errorMessage(err)}`);
    }
  }));
  const layout = 'logs/<node>.<role>.log (roles, appended across restarts), logs/<cluster>.apiserver.log; daemons/<node>/… (wireguard-go, charon and other daemon logs from the node\'s state directory); kernel/<node>.txt (links, addresses, rules, routes, neighbours, nft, WireGuard peers at the failure); objects/<cluster>.json (Gateways, Endpoints, Clusters, RouteAgents, Globalnet objects, Leases, Nodes); soak.json (the run\'s faults and every ping round, when the soak got that far)';
  writeFileSync(join(dir, 'README.txt'), `lab ${lab.name}, kept ${new Date().toISOString()}\n\n${why}\n\n${layout}\n${notes.length ? `\n${notes.join('\n')}\n` : ''}`);
  return dir;
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}

