// `hawser diagnose all` against a two-cluster lab, healthy and then with each fault injected in the lab's own
// namespaces (nft rules in a router or a node netns): each is found, named, and comes with its remedy, and the
// probes leave no table behind.
import assert from 'node:assert/strict';
import { Lab, waitForCables } from '../../src/lab/index.js';
import { diagnoseAll } from '../../src/diagnose/all.js';
import { labWorld } from '../../src/diagnose/lab-world.js';
import type { CheckResult } from '../../src/diagnose/checks.js';
import { PROBE_TABLE } from '../../src/diagnose/probes.js';
import { exec } from '../../src/util/exec.js';
import { waitFor } from '../../src/util/wait.js';
import { labFor } from '../support/lab.js';

const FAULT_TABLE = 'hw-fault';

describe('diagnose all @real: a two-cluster lab, healthy and with each fault injected', function () {
  this.timeout(120_000);
  let lab: Lab;
  let down = async (): Promise<void> => undefined;

  before(async function () {
    this.timeout(180_000);
    ({ lab, down } = await labFor('diagnose', { driver: 'wireguard', gatewaysPerCluster: 1, workersPerCluster: 1, podsPerNode: 1, roleEnv: { HAWSER_LEASE_DURATION: '10' } }));
    await waitForCables(lab, 60_000);
  });

  after(async () => {
    await down();
  });

  const run = async (): Promise<CheckResult[]> => {
    const { results } = await diagnoseAll(await labWorld(lab.netnsWorld(), 'submariner-operator'));
    for (const n of lab.topology.clusters.flatMap((c) => c.nodes)) {
      const r = await exec('ip', ['netns', 'exec', n.netns, 'nft', 'list', 'table', 'inet', PROBE_TABLE], { allowFailure: true });
      assert.notEqual(r.code, 0, `${PROBE_TABLE} left on ${n.name}`);
    }
    return results;
  };
  const failing = (rs: readonly CheckResult[]): CheckResult[] => rs.filter((r) => r.verdict === 'fail');
  const named = (rs: readonly CheckResult[], prefix: string): CheckResult => {
    const r = rs.find((x) => x.name.startsWith(prefix));
    assert.ok(r, `no finding ${prefix}; findings:\n${rs.map((x) => `${x.verdict} ${x.name}: ${x.detail}`).join('\n')}`);
    return r;
  };
  /** Applies an nft table in a lab netns for the duration of `body`, removed also when it fails. */
  const withFault = async <T>(target: string, chains: string, body: () => Promise<T>): Promise<T> => {
    const ns = lab.netns(target);
    await exec('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: `table inet ${FAULT_TABLE} {\n${chains}\n}\n` });
    try {
      return await body();
    } finally {
      await exec('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'inet', FAULT_TABLE], { allowFailure: true });
    }
  };

  it('finds nothing wrong in the healthy lab, and probed every port both ways', async () => {
    const rs = await run();
    assert.deepEqual(failing(rs).map((r) => `${r.name}: ${r.detail}`), []);
    for (const p of ['firewall inter-cluster cluster-a/a-gw1 -> cluster-b/b-gw1 UDP 4500', 'firewall inter-cluster cluster-b/b-gw1 -> cluster-a/a-gw1 UDP 4500',
      'firewall nat-discovery cluster-a/a-gw1 -> cluster-b/b-gw1 UDP 4490', 'firewall intra-cluster cluster-a/a-wk1 -> cluster-a/a-gw1 UDP 4800',
      'firewall intra-cluster cluster-b/b-wk1 -> cluster-b/b-gw1 UDP 4800', 'path MTU cluster-a/a-gw1 -> cluster-b', 'path MTU cluster-b/b-gw1 -> cluster-a']) {
      assert.equal(named(rs, p).verdict, 'ok', p);
    }
  });

  it('finds UDP 4800 dropped by the gateway node\'s host firewall, and says to open it between the nodes', async () => {
    const rs = await withFault('a-gw1', '  chain input_f { type filter hook input priority 0; policy accept; udp dport 4800 drop; }', run);
    const f = named(rs, 'firewall intra-cluster cluster-a/a-wk1 -> cluster-a/a-gw1 UDP 4800');
    assert.equal(f.verdict, 'fail');
    assert.match(f.detail, /0\/3 UDP probes .* vx-submariner/);
    assert.match(f.fix!, /open UDP 4800 between the nodes of cluster-a/);
    assert.equal(named(rs, 'firewall intra-cluster cluster-b/b-wk1 -> cluster-b/b-gw1 UDP 4800').verdict, 'ok');
  });

  it('finds a FORWARD chain with policy drop on the gateway, and says what to accept', async () => {
    const rs = await withFault('a-gw1', '  chain FORWARD { type filter hook forward priority 0; policy drop; }', run);
    const f = named(rs, 'cluster-a/a-gw1: FORWARD policy');
    assert.equal(f.verdict, 'fail');
    assert.match(f.detail, /inet hw-fault FORWARD \(policy drop\) drops forwarded packets/);
    assert.match(f.fix!, /iptables -I FORWARD -s 10\.\d+\.0\.0\/16 -j ACCEPT/);
    assert.equal(named(rs, 'cluster-b/b-gw1').verdict, 'ok');
  });

  it('finds an MTU black hole on the path (large UDP dropped by a router, no ICMP), with the MSS to clamp to', async () => {
    const rs = await withFault('a-rtr', '  chain forward_f { type filter hook forward priority 0; policy accept; meta l4proto udp ip length > 1200 drop; }', run);
    const f = named(rs, 'path MTU cluster-a/a-gw1 -> cluster-b');
    assert.equal(f.verdict, 'fail');
    assert.match(f.detail, /MTU black hole: DF packets up to \d+ bytes cross/);
    const crossing = Number(/up to (\d+) bytes/.exec(f.detail)![1]);
    // 1200 on the wire minus WireGuard's 60 bytes of outer headers, to the search's 8-byte precision
    assert.ok(crossing > 1100 && crossing <= 1140, `path MTU ${crossing}`);
    assert.match(f.fix!, /submariner\.io\/tcp-clamp-mss=\d+/);
  });

  it('finds the cable port dropped towards one gateway by a router, in that direction only', async () => {
    const rs = await withFault('a-rtr', '  chain forward_f { type filter hook forward priority 0; policy accept; ip daddr 172.16.0.11 udp dport 4500 drop; }', run);
    const f = named(rs, 'firewall inter-cluster cluster-b/b-gw1 -> cluster-a/a-gw1 UDP 4500');
    assert.equal(f.verdict, 'fail');
    assert.match(f.detail, /0\/3 UDP probes from b-gw1 reached 172\.16\.0\.11:4500 on a-gw1: the cable is blocked/);
    assert.match(f.fix!, /open UDP 4500 between the gateways of cluster-b and cluster-a/);
    assert.equal(named(rs, 'firewall inter-cluster cluster-a/a-gw1 -> cluster-b/b-gw1 UDP 4500').verdict, 'ok');
    assert.equal(named(rs, 'firewall nat-discovery cluster-b/b-gw1 -> cluster-a/a-gw1 UDP 4490').verdict, 'ok');
    // the cable recovers once the rule is gone
    await waitFor(async () => (await waitForCables(lab, 30_000)).length > 0, { timeoutMs: 40_000, what: 'cables back' });
  });
});
