import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, findRepoRoot, labDown, randomLabName } from '../../src/lab/lab.js';
import { processArgv } from '../../src/lab/procs.js';
import { readState, stateFilePath, type LabState } from '../../src/lab/state.js';
import { DEFAULT_STATE_ROOT, type ProcessPlan } from '../../src/lab/topology.js';
import { netnsPids } from '../../src/os/netns.js';
import { exec } from '../../src/util/exec.js';
import { waitFor } from '../../src/util/wait.js';
import { fileURLToPath } from 'node:url';
import { apiServerAvailable, assertNothingLeft } from '../support/lab.js';

const fakeHawser = fileURLToPath(new URL('./fixtures/fake-hawser.sh', import.meta.url));

const repo = findRepoRoot();
const hawser = join(repo, 'bin', 'hawser');

async function pings(lab: Lab, from: string, ip: string): Promise<boolean> {
  return (await lab.ping(from, ip)).ok;
}

describe('lab @real: network', function () {
  this.timeout(60_000);
  const made: string[] = [];
  const up = async (opts: Parameters<typeof Lab.up>[0]): Promise<Lab> => {
    const name = opts?.name ?? randomLabName();
    made.push(name);
    return Lab.up({ ...opts, name });
  };
  after(async () => {
    for (const n of made) if (existsSync(join(DEFAULT_STATE_ROOT, n))) await labDown(n).catch(() => undefined);
  });

  it('builds two clusters: pods reach pods in their cluster, gateways reach each other over the WAN, pods not across; down leaves nothing', async () => {
    const lab = await up({ apiserver: false });
    let state: LabState | undefined;
    try {
      state = lab.state();
      assert.equal(state.phase, 'up');
      assert.equal(state.netns.length, 17);
      // pod → pod on another node of the same cluster (host-gw routes), and on the same node.
      assert.ok(await pings(lab, 'a-gw1-pod1', '10.42.2.2'), 'a-gw1-pod1 → a-wk1-pod1');
      assert.ok(await pings(lab, 'b-wk1-pod1', '10.44.1.2'), 'b-wk1-pod1 → b-gw2-pod1');
      // gateway ↔ gateway over the routers and the WAN.
      assert.ok(await pings(lab, 'a-gw1', '172.17.0.12'), 'a-gw1 → b-gw2');
      assert.ok(await pings(lab, 'b-gw2', '172.16.0.11'), 'b-gw2 → a-gw1');
      // b's nodes reach cluster a's API server address (the broker) through the routers.
      assert.ok(await pings(lab, 'b-wk1', '172.16.0.2'), 'b-wk1 → broker address');
      // No tunnel yet: pod CIDRs are not routed between clusters.
      assert.equal(await pings(lab, 'a-gw1-pod1', '10.44.0.2'), false, 'cross-cluster pod traffic needs a cable');
      // The node's pod bridge holds the first address of its pod /24 (the CNI interface Submariner looks for).
      const r = await lab.exec('a-wk1', ['ip', '-o', '-4', 'addr', 'show', 'cni0']);
      assert.match(r.stdout, /10\.42\.2\.1\/24/);
    } finally {
      await lab.down();
    }
    await assertNothingLeft(lab.name, state, lab.stateDir);
  });

  it('runs two labs with the same addresses side by side (one with NAT)', async () => {
    const [l1, l2] = await Promise.all([up({ apiserver: false, nat: true }), up({ apiserver: false, gatewaysPerCluster: 1 })]);
    const states = [l1.state(), l2.state()];
    try {
      // Behind NAT, cluster b's gateways reach a's, but a cannot reach b's private address.
      assert.ok(await pings(l1, 'b-gw1', '172.16.0.11'));
      assert.equal(await pings(l1, 'a-gw1', '172.17.0.11'), false);
      assert.ok(await pings(l1, 'a-gw1', '198.18.0.2'), 'the NAT router\'s WAN address answers');
      assert.ok(await pings(l2, 'a-gw1', '172.17.0.11'));
      assert.ok(await pings(l2, 'b-wk1-pod1', '10.44.0.2'));
    } finally {
      await Promise.all([l1.down(), l2.down()]);
    }
    await assertNothingLeft(l1.name, states[0], l1.stateDir);
    await assertNothingLeft(l2.name, states[1], l2.stateDir);
  });

  it('gives each node a private /var/run/wireguard and hostname that daemons keep and a restarted process sees', async () => {
    const lab = await up({ apiserver: false, clusters: 1, workersPerCluster: 0 });
    const [gw1, gw2] = [lab.node('a-gw1'), lab.node('a-gw2')];
    const sock = '/var/run/wireguard/hawser-lab-probe.sock';
    const plan = (n: typeof gw1, argv: string[]): ProcessPlan => ({
      id: 'probe', kind: 'gateway', netns: n.netns, argv, env: {}, log: '/dev/null',
      privateMount: { hostname: n.name, wireguardDir: `${n.dir}/wireguard` },
    });
    const run = async (n: typeof gw1, argv: string[]): Promise<{ code: number; stdout: string }> => {
      const [cmd, ...args] = processArgv(plan(n, argv));
      return exec(cmd!, args, { allowFailure: true, timeoutMs: 10_000 });
    };
    const server = `require('net').createServer((c) => c.end(require('os').hostname() + '\\n')).listen(${JSON.stringify(sock)})`;
    const client = `require('net').connect(${JSON.stringify(sock)}).on('data', (d) => { process.stdout.write(d); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(3); })`;
    let state: LabState | undefined;
    try {
      // A "role" starts a detached daemon (own session, as wireguard-go is started) and exits.
      const started = await run(gw1, ['sh', '-c', 'setsid "$0" -e "$1" </dev/null >/dev/null 2>&1 & exit 0', process.execPath, server]);
      assert.equal(started.code, 0);
      await waitFor(() => existsSync(`${gw1.dir}/wireguard/hawser-lab-probe.sock`), { timeoutMs: 5000, what: 'the daemon socket in the node dir' });
      assert.equal(existsSync(sock), false, 'the host /var/run/wireguard must not see it');
      // A new process on the same node (a restarted role) reaches the daemon through the same path.
      const again = await run(gw1, [process.execPath, '-e', client]);
      assert.deepEqual([again.code, again.stdout], [0, 'a-gw1\n'], 'daemon kept the mount and hostname');
      // Another node's namespace has its own directory: no socket there.
      const other = await run(gw2, [process.execPath, '-e', client]);
      assert.deepEqual([other.code, other.stdout.trim()], [3, 'ENOENT']);
      assert.equal((await netnsPids(gw1.netns)).length, 1, 'the daemon runs inside the node netns');
      state = lab.state();
    } finally {
      await lab.down();
    }
    await assertNothingLeft(lab.name, state, lab.stateDir);
  });

  async function killMidBuild(extraArgs: string[], when: (name: string) => Promise<boolean>): Promise<void> {
    const name = randomLabName();
    made.push(name);
    const child = spawn(hawser, ['lab', 'up', '--name', name, ...extraArgs], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await waitFor(() => when(name), { timeoutMs: 30_000, intervalMs: 5, what: 'the kill point' });
    child.kill('SIGKILL');
    await exited;
    const state = readState(stateFilePath(DEFAULT_STATE_ROOT, name));
    assert.equal(state.phase, 'building');
    const r = await exec(hawser, ['lab', 'down', '--name', name]);
    assert.match(r.stdout, new RegExp(`lab ${name} removed`));
    await assertNothingLeft(name, state, join(DEFAULT_STATE_ROOT, name));
  }

  it('lab down cleans up after `lab up` was killed -9 while creating namespaces', async () => {
    await killMidBuild(['--no-apiserver'], async (name) => (await exec('ip', ['netns', 'list'])).stdout.includes(`hw-${name}-`));
  });

  it('lab down cleans up after `lab up` was killed -9 while starting processes', async function () {
    if (!(await apiServerAvailable())) this.skip();
    await killMidBuild(['--no-roles'], async (name) => {
      try {
        return readState(stateFilePath(DEFAULT_STATE_ROOT, name)).processes.some((p) => p.pid !== undefined);
      } catch {
        return false;
      }
    });
  });

  it('lab down cleans up after the process holding a lab was killed -9', async () => {
    const name = randomLabName();
    made.push(name);
    // With the API servers (and stub roles) when they exist, so there are processes in and outside the namespaces.
    const api = await apiServerAvailable();
    const opts = JSON.stringify({ name, apiserver: api, roleCommand: fakeHawser });
    const script = `const { Lab } = await import(${JSON.stringify(join(repo, 'src/lab/lab.ts'))}); await Lab.up(${opts}); console.log('UP'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], cwd: repo });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('UP') && resolve());
      child.once('exit', (code) => reject(new Error(`lab holder exited ${code}`)));
    });
    child.kill('SIGKILL');
    const state = readState(stateFilePath(DEFAULT_STATE_ROOT, name));
    assert.equal(state.phase, 'up');
    if (api) assert.ok(state.processes.length >= 5, 'API servers, relays, forwarder and roles were running');
    await labDown(name);
    await assertNothingLeft(name, state, join(DEFAULT_STATE_ROOT, name));
  });
});
