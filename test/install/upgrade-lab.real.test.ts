// A rolling upgrade of every role, one at a time, in DaemonSet order (per cluster: the standby gateway,
// the route agents, then the active gateway, which restarts in place on SIGTERM, keeping its Lease), from this build to a second build of the same tree with another version, while a worker pod
// pings a worker pod of the other cluster 10 times a second. Each replaced role must come back reporting
// the new version before the next one goes, as `kubectl rollout status` would wait.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, waitForCables, readGateways } from '../../src/lab/index.js';
import { RestClient, resourcePath } from '../../src/k8s/rest.js';
import { exec } from '../../src/util/exec.js';
import { waitFor } from '../../src/util/wait.js';
import { spawnIn } from '../support/lab.js';

const ROOT = new URL('../../', import.meta.url).pathname;
/** Fast takeover (release on SIGTERM, 0.25 s retry) with a little more room than the default against CPU starvation. */
const LEASE = { HAWSER_LEASE_DURATION: '4', HAWSER_RENEW_DEADLINE: '3', HAWSER_RETRY_PERIOD: '0.25' };
/** A rolling update restarts each pod on its own node: the active gateway restarts in place (keeps its Lease, cables and daemons). */
const ROLLING = { ...LEASE, HAWSER_RELEASE_ON_STOP: 'false' };

describe('install: rolling upgrade of every role while pinging @real', function () {
  this.timeout(600_000);
  let lab: Lab | undefined;
  let build2 = '';
  let v2 = '';

  before(async () => {
    // the second build: this tree (as committed) with another version in package.json
    build2 = mkdtempSync(join(tmpdir(), 'hw-upgrade-build-'));
    await exec('sh', ['-c', `git -C "${ROOT}" archive HEAD | tar -x -C "${build2}"`]);
    symlinkSync(join(ROOT, 'node_modules'), join(build2, 'node_modules'));
    const pkg = JSON.parse(readFileSync(join(build2, 'package.json'), 'utf8')) as { version: string };
    v2 = `${pkg.version}-upgrade.1`;
    writeFileSync(join(build2, 'package.json'), JSON.stringify({ ...pkg, version: v2 }, null, 2));
    lab = await Lab.up({ driver: 'wireguard', gatewaysPerCluster: 2, workersPerCluster: 1, podsPerNode: 1, roleEnv: ROLLING });
    await waitForCables(lab, 90_000);
  });

  after(async () => {
    await lab?.down();
    rmSync(build2, { recursive: true, force: true });
  });

  it('every gateway and route agent replaced by the new version one by one: 0 pings lost', async () => {
    const l = lab!;
    const podIp = (node: string): string => l.topology.clusters.flatMap((c) => c.nodes).find((n) => n.name === node)!.pods[0]!.ip;
    // ping's own sequence numbers tell which replies are missing, and so in which step they were lost
    const ping = spawnIn(l, 'a-wk1-pod1', ['ping', '-n', '-i', '0.1', '-W', '1', podIp('b-wk1')]);
    await waitFor(() => /icmp_seq=1 /.test(ping.out()), { timeoutMs: 5000, intervalMs: 20, what: 'first ping reply' });
    const started = Date.now() - 100;
    const seqNow = (): number => Math.floor((Date.now() - started) / 100);
    const missing = (from: number, to: number): number => {
      const seen = new Set([...ping.out().matchAll(/icmp_seq=(\d+) /g)].map((m) => Number(m[1])));
      let n = 0;
      for (let q = Math.max(1, from); q < to; q++) if (!seen.has(q)) n++;
      return n;
    };
    const lostIn: { step: string; lost: number; handover: boolean }[] = [];
    const reportedVersion = async (cluster: string, plural: 'gateways' | 'routeagents', node: string): Promise<string | undefined> => {
      const c = new RestClient(l.kubeConfig(cluster));
      try {
        const o = await c.getOrUndefined(resourcePath('submariner.io', 'v1', plural, 'submariner-operator', node));
        return (o?.status as { version?: string } | undefined)?.version;
      } finally {
        c.close();
      }
    };
    const steps: string[] = [];
    for (const cluster of l.topology.clusters) {
      const gws = await readGateways(l.kubeConfig(cluster.id), cluster.id);
      const active = gws.find((g) => g.haStatus === 'active')?.name;
      assert.ok(active, `${cluster.id} has no active gateway`);
      const gatewayNodes = cluster.nodes.filter((n) => n.roles.includes('gateway')).map((n) => n.name);
      const order: [string, 'gateway' | 'route-agent'][] = [
        ...gatewayNodes.filter((n) => n !== active).map((n) => [n, 'gateway'] as [string, 'gateway']),
        ...cluster.nodes.map((n) => [n.name, 'route-agent'] as [string, 'route-agent']),
        [active, 'gateway'],
      ];
      for (const [node, role] of order) {
        const t0 = Date.now();
        const firstSeq = seqNow();
        await l.stopRole(node, role, 'SIGTERM');
        await l.startRoleWith(node, role, { command: join(build2, 'bin', 'hawser') });
        const plural = role === 'gateway' ? 'gateways' : 'routeagents';
        await waitFor(async () => (await reportedVersion(cluster.id, plural, node)) === v2, { timeoutMs: 60_000, intervalMs: 250, what: `${node} ${role} to report version ${v2}` });
        if (role === 'gateway') await waitForCables(l, 60_000);
        // replies may lag up to the 1 s ping timeout: count this step's window once the next second is in
        await new Promise((r) => setTimeout(r, 0));
        const lastSeq = seqNow();
        lostIn.push({ step: `${node}/${role}`, lost: -1, handover: node === active && role === 'gateway' });
        steps.push(`${node}/${role} ${((Date.now() - t0) / 1000).toFixed(1)} s [icmp_seq ${firstSeq}..${lastSeq}]`);
        (lostIn.at(-1) as { range?: [number, number] }).range = [firstSeq, lastSeq];
      }
    }
    await waitForCables(l, 60_000);
    await waitFor(() => seqNow() > ((lostIn.at(-1) as { range?: [number, number] }).range?.[1] ?? 0) + 20, { timeoutMs: 5000, what: 'late replies' });
    for (const x of lostIn) {
      const [a, b] = (x as { range?: [number, number] }).range!;
      x.lost = missing(a, b);
    }
    const total = missing(1, seqNow() - 15);
    ping.proc.kill('SIGINT');
    process.stdout.write(`      upgraded ${steps.length} roles one by one (10 pings/s a-wk1-pod1 → b-wk1-pod1):\n${steps.map((s, i) => `        ${s}: ${lostIn[i]!.lost} lost`).join('\n')}\n      total: ${seqNow()} sent, ${total} lost\n`);
    assert.ok(seqNow() > 50, 'the ping ran too briefly to mean anything');
    // A rolling update loses nothing: standby gateways and route agents adopt what they find, and the
    // active gateway restarts in place (no Lease hand-over, same Endpoint, same daemons).
    for (const x of lostIn) assert.equal(x.lost, 0, `${x.step}: ${x.lost} pings lost`);
    assert.equal(total, 0, `${total} pings lost over the whole upgrade`);
  });
});
