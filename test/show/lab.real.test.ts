// `hawser show` against a two-cluster lab: every context of one kubeconfig, the broker, liveness from live
// signals (a killed gateway and a stopped route agent turn ✗), and a role's own ServiceAccount.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { Lab, findRepoRoot, waitForCables } from '../../src/lab/index.js';
import { exec } from '../../src/util/exec.js';
import { waitFor } from '../../src/util/wait.js';
import { labFor } from '../support/lab.js';

interface KubeconfigDoc { clusters: Array<{ name: string }>; users: Array<{ name: string }>; contexts: Array<{ name: string; context: { cluster: string; user: string } }>; 'current-context': string }

describe('show @real: a two-cluster lab through every context, the broker and live signals', function () {
  this.timeout(120_000);
  let lab: Lab;
  let down = async (): Promise<void> => undefined;
  let dir: string;
  let merged: string;
  const bin = join(findRepoRoot(), 'bin', 'hawser');
  const show = (args: readonly string[], env: NodeJS.ProcessEnv = {}) => exec(bin, ['show', ...args], { allowFailure: true, timeoutMs: 60_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...env } });
  const kubectl = (cluster: string, args: readonly string[]) => exec('kubectl', ['--kubeconfig', lab.kubeconfig(cluster), ...args]);

  before(async function () {
    this.timeout(180_000);
    ({ lab, down } = await labFor('show', { driver: 'wireguard', gatewaysPerCluster: 1, workersPerCluster: 1, podsPerNode: 1, roleEnv: { HAWSER_LEASE_DURATION: '10' } }));
    await waitForCables(lab, 60_000);
    dir = mkdtempSync(join(tmpdir(), 'hw-show-'));
    // one kubeconfig with a context per cluster, named a and b (not the cluster IDs)
    const doc: KubeconfigDoc = { clusters: [], users: [], contexts: [], 'current-context': 'a' };
    for (const c of lab.topology.clusters) {
      const k = parse(readFileSync(lab.kubeconfig(c.id), 'utf8')) as KubeconfigDoc;
      doc.clusters.push(...k.clusters);
      doc.users.push(...k.users);
      doc.contexts.push({ name: c.letter, context: k.contexts[0]!.context });
    }
    merged = join(dir, 'merged.kubeconfig');
    writeFileSync(merged, stringify({ apiVersion: 'v1', kind: 'Config', ...doc }), { mode: 0o600 });
  });

  after(async () => {
    await down();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows every context of the kubeconfig and the broker, all ✓, exit 0; --contexts picks one', async () => {
    let r = await show(['all', '--kubeconfig', merged, '--broker', lab.kubeconfig('cluster-a')]);
    // the route agents write their RouteAgent every 60 s: the first may still be on its way
    await waitFor(async () => {
      r = await show(['all', '--kubeconfig', merged, '--broker', lab.kubeconfig('cluster-a')]);
      return r.code === 0;
    }, { timeoutMs: 70_000, intervalMs: 2000, what: 'show all exit 0' }).catch(() => undefined);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^Cluster "cluster-a" \(context a\)$/m);
    assert.match(r.stdout, /^Cluster "cluster-b" \(context b\)$/m);
    assert.match(r.stdout, /^a-gw1 +cluster-b +172\.17\.0\.11 +no +wireguard .* connected(?: |$)/m); // the RTT column stays empty until the first health-check result is written
    assert.match(r.stdout, /^b-gw1 +cluster-a +172\.16\.0\.11 +no +wireguard .* connected(?: |$)/m);
    assert.match(r.stdout, /^hawser-routeagent +a-wk1 +0\.1\.0 +running +\d+s ago/m);
    assert.match(r.stdout, /^Broker https:\/\/127\.0\.0\.1:\d+ \(namespace submariner-k8s-broker\)\n ✓ Showing Brokers\nCLUSTER +ENDPOINT IP +PUBLIC IP +CABLE DRIVER +HOSTNAME\ncluster-a +172\.16\.0\.11 .*\ncluster-b +172\.17\.0\.11 /m);
    assert.doesNotMatch(r.stdout, /✗/);

    const one = await show(['connections', '--kubeconfig', merged, '--contexts', 'b']);
    assert.equal(one.code, 0, one.stderr);
    assert.doesNotMatch(one.stdout, /cluster-a"/);
    assert.match(one.stdout, /^Cluster "cluster-b" \(context b\)$/m);

    const json = await show(['all', '-o', 'json', '--kubeconfig', merged, '--broker', lab.kubeconfig('cluster-a')]);
    const doc = JSON.parse(json.stdout) as { clusters: Array<{ cluster: string; versions: Array<{ status: string }> }>; broker: { clusters: string[] } };
    assert.deepEqual(doc.clusters.map((c) => c.cluster), ['cluster-a', 'cluster-b']);
    assert.deepEqual(doc.broker.clusters, ['cluster-a', 'cluster-b']);
    assert.ok(doc.clusters.every((c) => c.versions.every((v) => v.status === 'running')));

    const bad = await show(['all', '--kubeconfig', merged, '--contexts', 'c']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /has no context c \(it has: a, b\)/);
  });

  it('as the gateway\'s own ServiceAccount (deploy/ RBAC): the sections it may not read say so, the rest prints, exit 1', async () => {
    await kubectl('cluster-a', ['apply', '-f', join(findRepoRoot(), 'deploy', 'base', 'gateway', 'rbac.yaml')]);
    const token = (await kubectl('cluster-a', ['-n', 'submariner-operator', 'create', 'token', 'submariner-gateway'])).stdout.trim();
    const k = parse(readFileSync(lab.kubeconfig('cluster-a'), 'utf8')) as KubeconfigDoc & { users: Array<{ name: string; user: { token: string } }> };
    k.users[0]!.user = { token };
    const sa = join(dir, 'gateway-sa.kubeconfig');
    writeFileSync(sa, stringify(k), { mode: 0o600 });
    const r = await show(['all', '--kubeconfig', sa]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^ ✓ Showing Connections$/m);
    assert.match(r.stdout, /^ ✓ Showing Gateways$/m);
    assert.match(r.stdout, /^ ✗ Showing versions\n[^]*cannot read routeagents: forbidden \(403\)/m);
  });

  it('a stopped route agent and a killed gateway turn ✗ from their stale objects, not their last CR status', async () => {
    await lab.stopRole('a-wk1', 'route-agent');
    // its RouteAgent would go stale after 150 s: age it instead of waiting (nothing rewrites it now)
    const old = String(Math.floor(Date.now() / 1000) - 300);
    await kubectl('cluster-a', ['-n', 'submariner-operator', 'annotate', '--overwrite', 'routeagents.submariner.io', 'a-wk1', `update-timestamp=${old}`]);
    const ra = await show(['versions', '--kubeconfig', lab.kubeconfig('cluster-a')]);
    assert.equal(ra.code, 1, ra.stdout);
    assert.match(ra.stdout, /^hawser-routeagent +a-wk1 +0\.1\.0 +stale +30\ds ago/m);
    assert.match(ra.stdout, /^ {2}hawser-routeagent on a-wk1: not refreshed for 30\d s \(a live one refreshes within 150 s\): stopped or stuck$/m);

    await lab.stopRole('a-gw1', 'gateway', 'SIGKILL');
    let r = await show(['gateways', '--kubeconfig', lab.kubeconfig('cluster-a')]);
    await waitFor(async () => {
      r = await show(['gateways', '--kubeconfig', lab.kubeconfig('cluster-a')]);
      return r.code === 1;
    }, { timeoutMs: 40_000, intervalMs: 2000, what: 'the killed gateway\'s Gateway to go stale' });
    assert.match(r.stdout, /^ ✗ Showing Gateways$/m);
    assert.match(r.stdout, /^ {2}a-gw1: Gateway not refreshed for \d+ s: its gateway is stopped or stuck$/m);
  });
});
