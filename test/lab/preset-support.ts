// The body of the per-preset lab tests (preset-<name>.real.test.ts): a preset lab with VXLAN cables, then
// in order: the foreign (CNI/BIRD/kube-proxy) state snapshotted before hawser runs, hawser started on every
// node, that state unchanged; every pod reaches every remote pod and the other cluster's exported Service,
// with its own source address; a gateway failover; then `hawser uninstall node` on every node and the
// foreign state identical to before. Every process here runs inside the lab's namespaces and is ended by PID.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { OWNED_NODE_STATE } from '../../src/install/owned.js';
import { Lab, randomLabName, readGateways, waitForCables } from '../../src/lab/index.js';
import type { LabPreset, NodePlan, PodPlan } from '../../src/lab/topology.js';
import { waitFor } from '../../src/util/wait.js';

const OWNED_LINKS = new Set(OWNED_NODE_STATE.links.map((l) => l.name));
const OWNED_PROTOS = new Set(OWNED_NODE_STATE.protocols.map((p) => String(p.proto)));
const OWNED_TABLES = new Set(OWNED_NODE_STATE.nftTables.map((t) => `${t.family} ${t.name}`));

/** One node's state as text sections; `owned` picks hawser's part, otherwise everything else. */
const STATE_COMMANDS = {
  links: 'ip -o -d link show',
  routes: 'ip -N -4 route show table all',
  rules: 'ip -N -4 rule show',
  neigh: 'ip neigh show nud permanent',
  fdb: 'bridge fdb show',
  nft: 'nft list ruleset',
  ipsets: 'ipset save',
} as const;

export async function nodeState(lab: Lab, node: string, part: 'foreign' | 'owned'): Promise<Record<string, string[]>> {
  // One shell per node (the machine is loaded): each command's output after a `@@ <key>` line.
  const script = Object.entries(STATE_COMMANDS).map(([k, cmd]) => `echo "@@ ${k}"; ${cmd} 2>/dev/null`).join('; ');
  const dump = (await lab.exec(node, ['sh', '-c', script], { allowFailure: true, timeoutMs: 30_000 })).stdout;
  const sections = new Map<string, string>();
  for (const chunk of dump.split(/^@@ /m).slice(1)) sections.set(chunk.slice(0, chunk.indexOf('\n')), chunk.slice(chunk.indexOf('\n') + 1));
  const run = async (argv: string[]): Promise<string> => {
    const key = Object.entries(STATE_COMMANDS).find(([, cmd]) => cmd === argv.join(' '))?.[0];
    return key ? sections.get(key) ?? '' : (await lab.exec(node, argv, { allowFailure: true })).stdout;
  };
  const ownedDev = (line: string): boolean => [...OWNED_LINKS].some((l) => line.includes(`dev ${l} `) || line.endsWith(`dev ${l}`));
  const ownedProto = (line: string): boolean => OWNED_PROTOS.has(/ proto (\S+)/.exec(line)?.[1] ?? '');
  const pick = (owned: boolean): boolean => (part === 'owned' ? owned : !owned);
  const lines = (text: string): string[] => text.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');

  const links = lines(await run(['ip', '-o', '-d', 'link', 'show'])).map((l) => {
    const name = l.split(': ')[1]!.split('@')[0]!;
    // Name, MTU, master, MAC and link kind with its attributes: counters and operstate left out.
    const mtu = / mtu (\d+)/.exec(l)?.[1];
    const master = / master (\S+)/.exec(l)?.[1] ?? '';
    const mac = /link\/\S+ (\S+)/.exec(l)?.[1] ?? '';
    // `-o` joins the sections with `\`: the third, when there is one, starts with the kind; VXLAN keeps its id/local/port.
    const info = l.split('\\')[2]?.trim() ?? '';
    const kind = info.startsWith('vxlan ') ? info.slice(0, info.indexOf(' ageing')) : info.split(' ')[0]!;
    return { name, text: `${name} mtu ${mtu} master ${master} ${mac} ${kind}` };
  }).filter((l) => pick(OWNED_LINKS.has(l.name))).map((l) => l.text);
  const routes = lines(await run(['ip', '-N', '-4', 'route', 'show', 'table', 'all'])).filter((l) => pick(ownedDev(l) || ownedProto(l)));
  const rules = lines(await run(['ip', '-N', '-4', 'rule', 'show'])).filter((l) => pick(ownedProto(l)));
  // Permanent neighbour and FDB entries (flannel's); learnt ones come and go.
  const neigh = part === 'owned' ? [] : lines(await run(['ip', 'neigh', 'show', 'nud', 'permanent']));
  const fdb = part === 'owned' ? [] : lines(await run(['bridge', 'fdb', 'show'])).filter((l) => l.includes(' dst ') || l.includes('permanent')).filter((l) => !ownedDev(l));
  const nft = splitTables(await run(['nft', 'list', 'ruleset'])).filter((t) => pick(OWNED_TABLES.has(t.id))).map((t) => t.text.replace(/counter packets \d+ bytes \d+/g, 'counter'));
  const ipsets = part === 'owned' ? [] : lines(await run(['ipset', 'save']));
  return { links, routes, rules, neigh, fdb, nft, ipsets };
}

function splitTables(ruleset: string): { id: string; text: string }[] {
  const out: { id: string; text: string }[] = [];
  for (const block of ruleset.split(/^(?=table )/m)) {
    const m = /^table (\S+) (\S+) \{/.exec(block);
    if (m) out.push({ id: `${m[1]} ${m[2]}`, text: block.trimEnd() });
  }
  return out;
}

/** Foreign (or hawser's) state of every node of the lab. */
export async function labState(lab: Lab, part: 'foreign' | 'owned' = 'foreign'): Promise<Record<string, Record<string, string[]>>> {
  const names = lab.topology.clusters.flatMap((c) => c.nodes.map((n) => n.name));
  const states = await Promise.all(names.map((n) => nodeState(lab, n, part)));
  return Object.fromEntries(names.map((n, i) => [n, states[i]!]));
}

function allPods(lab: Lab): PodPlan[] {
  return lab.topology.clusters.flatMap((c) => c.nodes.flatMap((n) => n.pods));
}

/** Pings until answered or the deadline: true if answered. */
export async function reaches(lab: Lab, from: string, ip: string, timeoutMs = 20_000): Promise<boolean> {
  return waitFor(async () => (await lab.ping(from, ip)).ok, { timeoutMs, intervalMs: 200 }).catch(() => false);
}

/** Every pod → every pod of the other cluster; the cells that never answered. */
export async function crossClusterFailures(lab: Lab, fromPods?: readonly string[]): Promise<string[]> {
  const pods = allPods(lab);
  const jobs = pods.flatMap((from) => pods.filter((to) => to.cluster !== from.cluster && (!fromPods || fromPods.includes(from.name))).map((to) => ({ from, to })));
  const failed: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: 6 }, async () => {
    while (next < jobs.length) {
      const { from, to } = jobs[next++]!;
      if (!(await reaches(lab, from.name, to.ip))) failed.push(`${from.name} → ${to.name} ${to.ip}`);
    }
  }));
  return failed.sort();
}

// Answers one TCP connection with the peer address it saw (then exits).
const SERVER = "const s=require('net').createServer(k=>{k.end(String(k.remoteAddress).replace(/^::ffff:/,'')+'\\n');s.close()});s.listen(7070,'0.0.0.0',()=>console.log('listening'));setTimeout(()=>process.exit(1),30000).unref()";
const CLIENT = "const k=require('net').connect(7070,process.argv[1]);let d='';k.on('data',b=>d+=b).on('end',()=>{process.stdout.write(d);process.exit(0)});k.on('error',()=>process.exit(1));k.setTimeout(3000,()=>process.exit(1))";

/** The source address `to` sees for a TCP connection from `from` (pod IPs on both ends). */
export async function sourceSeen(lab: Lab, from: PodPlan, to: PodPlan): Promise<string> {
  const { spawn } = await import('node:child_process');
  const server = spawn('ip', ['netns', 'exec', to.netns, process.execPath, '-e', SERVER], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  try {
    await waitFor(() => out.includes('listening') || server.exitCode !== null, { timeoutMs: 10_000, intervalMs: 50, what: `a TCP server in ${to.name}` });
    return await waitFor(async () => {
      const r = await lab.exec(from.name, [process.execPath, '-e', CLIENT, to.ip], { allowFailure: true, timeoutMs: 8000 });
      return r.code === 0 ? r.stdout.trim() : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200, what: `${from.name} → ${to.name} over TCP` });
  } finally {
    if (server.exitCode === null && server.pid !== undefined) process.kill(server.pid, 'SIGKILL');
  }
}

async function activeGateway(lab: Lab, cluster: string): Promise<string | undefined> {
  const gws = await readGateways(lab.kubeConfig(cluster), cluster).catch(() => []);
  return gws.find((g) => g.haStatus === 'active' && g.connections.some((c) => c.status === 'connected'))?.name;
}

export interface PresetSuite {
  lab(): Lab;
  nodes(): NodePlan[];
}

/**
 * Registers the preset's tests; `more` adds preset-specific ones (run after failover, before uninstall).
 */
export function describePreset(preset: LabPreset, more?: (s: PresetSuite) => void): void {
  describe(`lab @real: preset ${preset}`, function () {
    this.timeout(120_000);
    let lab: Lab | undefined;
    let before: Record<string, Record<string, string[]>> = {};
    const L = (): Lab => {
      if (!lab) throw new Error('the lab did not come up');
      return lab;
    };
    const nodes = (): NodePlan[] => L().topology.clusters.flatMap((c) => c.nodes);
    const pod = (name: string): PodPlan => allPods(L()).find((p) => p.name === name)!;

    after(async () => {
      await lab?.down();
    });

    it('builds the topology; hawser starts on every node, connects, and leaves the foreign state as it was', async () => {
      lab = await Lab.up({ name: randomLabName(), preset, driver: 'vxlan', roles: false });
      before = await labState(lab);
      for (const n of nodes()) for (const role of n.roles) await lab.startRole(n.name, role);
      await waitForCables(lab, 90_000);
      assert.deepEqual(await labState(lab), before, 'foreign state while hawser runs');
      // The snapshots see both sides: the CNI's state, and hawser's (what the comparison leaves out).
      for (const [node, st] of Object.entries(await labState(lab, 'owned'))) assert.ok(st.links!.length > 0 && st.rules!.length > 0, `hawser's links and rules on ${node}: ${JSON.stringify(st)}`);
      for (const [node, st] of Object.entries(before)) assert.ok(st.routes!.length > 0 && st.nft!.length > 0, `the foreign routes and nft tables on ${node}`);
    });

    it('every pod reaches every pod of the other cluster, with its own source address', async () => {
      assert.deepEqual(await crossClusterFailures(L()), []);
      const [a, b] = L().topology.clusters;
      const from = a!.nodes.at(-1)!.pods[0]!;
      const to = b!.nodes.at(-1)!.pods[0]!;
      assert.equal(await sourceSeen(L(), from, pod(to.name)), from.ip, `${to.name} sees ${from.name}'s own address (no CNI masquerade on the way)`);
      assert.equal(await sourceSeen(L(), to, pod(from.name)), to.ip, `${from.name} sees ${to.name}'s own address`);
    });

    it("every pod reaches the other cluster's exported Service (ClusterIP)", async () => {
      const failed: string[] = [];
      for (const c of L().topology.clusters) {
        const other = L().topology.clusters.find((x) => x !== c)!;
        for (const n of c.nodes) for (const p of n.pods) if (!(await reaches(L(), p.name, other.exportedService!.clusterIp))) failed.push(`${p.name} → ${other.id}/${other.exportedService!.name}`);
      }
      assert.deepEqual(failed, []);
    });

    it("survives a gateway failover in each cluster (the active gateway's role stopped, the other takes over)", async () => {
      for (const c of L().topology.clusters) {
        const was = await activeGateway(L(), c.id);
        assert.ok(was, `${c.id} has an active, connected gateway`);
        await L().stopRole(was, 'gateway', 'SIGTERM');
        const now = await waitFor(async () => {
          const g = await activeGateway(L(), c.id);
          return g && g !== was ? g : undefined;
        }, { timeoutMs: 60_000, intervalMs: 500, what: `another gateway of ${c.id} to take over from ${was}` });
        assert.notEqual(now, was);
        await waitForCables(L(), 60_000);
        assert.deepEqual(await crossClusterFailures(L(), c.nodes.map((n) => n.pods[0]!.name)), [], `after ${was} → ${now}`);
        await L().startRole(was, 'gateway');
      }
      assert.deepEqual(await labState(L()), before, 'foreign state after the failovers');
    });

    if (more) more({ lab: L, nodes });

    it('`hawser uninstall node` on every node leaves exactly the foreign state there was before hawser', async () => {
      const hawser = join(L().topology.options.repoRoot, 'bin', 'hawser');
      await Promise.all(nodes().flatMap((n) => n.roles.map((role) => L().stopRole(n.name, role, 'SIGTERM'))));
      const runs = await Promise.all(nodes().map((n) => L().exec(n.name, [hawser, 'uninstall', 'node', '--state-dir', join(n.dir, 'state')], { allowFailure: true, timeoutMs: 90_000, env: { NODE_NAME: n.name } })));
      runs.forEach((r, i) => assert.equal(r.code, 0, `uninstall node on ${nodes()[i]!.name}: ${r.stdout}${r.stderr}`));
      const owned = await labState(L(), 'owned');
      for (const [node, s] of Object.entries(owned)) assert.deepEqual(Object.values(s).flat(), [], `hawser's state left on ${node}`);
      assert.deepEqual(await labState(L()), before, 'foreign state after uninstall');
    });
  });
}
