// Creates (and removes) a planned lab network: one `ip -batch` for all namespaces, one for all veths
// (each end created directly in its netns, so nothing ever appears in the root netns), then one
// `ip -batch` per namespace, run in parallel.
import { exec } from '../util/exec.js';
import { HawserError } from '../util/errors.js';
import { sleep } from '../util/wait.js';
import type { LabTopology, NetnsPlan } from './topology.js';

/** Names of every network namespace on the machine. */
export async function listNetns(): Promise<Set<string>> {
  const r = await exec('ip', ['netns', 'list'], { allowFailure: true });
  return new Set(r.stdout.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean));
}

/** Throws if any planned namespace already exists (another lab, or a stale one of this name). */
export async function assertNetnsFree(names: readonly string[]): Promise<void> {
  const existing = await listNetns();
  const taken = names.filter((n) => existing.has(n));
  if (taken.length) throw new HawserError('EXISTS', `network namespaces already exist: ${taken.join(', ')}; pick another --name or run hawser lab down`);
}

export function netnsAddLines(t: LabTopology): string[] {
  return t.namespaces.map((n) => `netns add ${n.name}`);
}

export function vethLines(t: LabTopology): string[] {
  return t.veths.map((v) => `link add name ${v.a.name} netns ${v.a.netns} type veth peer name ${v.b.name} netns ${v.b.netns}`);
}

async function configureNetns(ns: NetnsPlan): Promise<void> {
  // One process per namespace: sysctls, then the ip batch from stdin.
  const script = 'if [ $# -gt 0 ]; then sysctl -q -e -w "$@" >/dev/null; fi; exec ip -batch -';
  await exec('ip', ['netns', 'exec', ns.name, 'sh', '-c', script, 'lab-netns', ...ns.sysctls], { input: ns.ip.join('\n') + '\n' });
  if (ns.nft) await exec('nft', ['-f', '-'], { netns: ns.name, input: ns.nft });
  for (const c of ns.commands ?? []) await exec(c.argv[0]!, c.argv.slice(1), { netns: ns.name, input: c.input });
}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Builds the whole network. The caller has recorded every namespace in the state file first. */
export async function buildNetwork(t: LabTopology, concurrency = 6): Promise<void> {
  await exec('ip', ['-batch', '-'], { input: netnsAddLines(t).join('\n') + '\n' });
  await exec('ip', ['-batch', '-'], { input: vethLines(t).join('\n') + '\n' });
  // Links made in one namespace for another (a pod's macvlan) exist before anyone configures either.
  for (const ns of t.namespaces) if (ns.links?.length) await exec('ip', ['-n', ns.name, '-batch', '-'], { input: ns.links.join('\n') + '\n' });
  await mapLimit(t.namespaces, concurrency, configureNetns);
  await waitLinksReady(t.namespaces.map((n) => n.name));
}

/**
 * Links that are not ready yet, as `netns/link:operstate[/bridge port state]`, from `ip -o -d link` output
 * per namespace (sections start with `@@ <netns>`).
 */
export function linksNotReady(dump: string): string[] {
  const out: string[] = [];
  let ns = '';
  for (const line of dump.split('\n')) {
    if (line.startsWith('@@ ')) {
      ns = line.slice(3).trim();
      continue;
    }
    const name = line.split(': ')[1]?.split('@')[0];
    if (!name || name === 'lo') continue;
    const oper = / state (\S+) mode /.exec(line)?.[1];
    const port = /bridge_slave state (\S+)/.exec(line)?.[1];
    // VXLAN devices (flannel.1) have no carrier notion: their operstate stays UNKNOWN once up (a bridge's
    // UNKNOWN, though, means its ports are not forwarding yet).
    const vxlanUp = oper === 'UNKNOWN' && / vxlan id /.test(line) && /[<,]UP[,>]/.test(line);
    if ((oper !== 'UP' && !vxlanUp) || (port !== undefined && port !== 'forwarding')) out.push(`${ns}/${name}:${oper ?? '?'}${port ? `/${port}` : ''}`);
  }
  return out;
}

/**
 * The kernel applies carrier changes asynchronously (linkwatch, up to ~1 s): until then bridge ports are
 * `disabled` and the first packets through them vanish. Wait until every link is UP and every bridge
 * port forwarding, so the lab is usable the moment `up` returns.
 */
export async function waitLinksReady(names: readonly string[], timeoutMs = 10_000): Promise<void> {
  const script = 'for ns; do echo "@@ $ns"; ip -n "$ns" -o -d link show; done';
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await exec('sh', ['-c', script, 'lab-links', ...names]);
    const pending = linksNotReady(r.stdout);
    if (pending.length === 0) return;
    if (Date.now() > deadline) throw new HawserError('TIMEOUT', `lab links not up after ${timeoutMs / 1000} s: ${pending.slice(0, 8).join(', ')}`);
    await sleep(50);
  }
}

/**
 * Deletes those of `names` that exist (links inside go with them). Processes inside must be gone
 * first, or the kernel keeps the namespace alive after its name is removed.
 */
export async function deleteNetnsList(names: readonly string[]): Promise<string[]> {
  const existing = await listNetns();
  const present = names.filter((n) => existing.has(n));
  if (present.length === 0) return [];
  // -force: keep going past one failure so one odd namespace does not strand the rest.
  await exec('ip', ['-force', '-batch', '-'], { input: present.map((n) => `netns delete ${n}`).join('\n') + '\n', allowFailure: true });
  const after = await listNetns();
  const left = present.filter((n) => after.has(n));
  if (left.length) throw new HawserError('EXEC', `could not delete network namespaces: ${left.join(', ')}`);
  return present;
}
