// The soak's pure parts: discrepancies from an observation, the grace rule that turns them into violations,
// and the verb of a logged API request.
import assert from 'node:assert/strict';
import { InvariantTracker, check, type NodeObservation, type Observation } from '../support/soak/invariants.js';
import { requestVerb, slope } from '../support/measure.js';

function node(name: string, o: Partial<NodeObservation> = {}): NodeObservation {
  return { node: name, cluster: 'cluster-a', gateway: true, wgPeers: [], wgRoutes: [], rules: {}, raRoutes: [], procs: {}, zombies: 0, ...o };
}

function observation(o: Partial<Observation> = {}): Observation {
  return {
    at: 0,
    brokerEndpoints: { 'cluster-a': { publicKey: 'KA', subnets: ['242.0.0.0/16'] }, 'cluster-b': { publicKey: 'KB', subnets: ['242.1.0.0/16'] } },
    clusters: [{ cluster: 'cluster-a', leaseHolder: 'a-gw1', globalnetLeaseHolder: 'a-gw1', activeGateways: ['a-gw1'], ingressIPs: ['242.0.0.5'], nodeGlobalIPs: ['242.0.0.1'] }],
    nodes: [
      node('a-gw1', { wgPeers: ['KB'], wgRoutes: ['242.1.0.0/16'], nftIngress: ['242.0.0.1', '242.0.0.5'], nftRemoteCidrs: ['242.1.0.0/16'], procs: { 'wireguard-go': 1, fping: 1 } }),
      node('a-gw2'),
    ],
    roles: [{ node: 'a-gw1', role: 'gateway', pid: 1, openFds: 30, activeResources: 10 }],
    ...o,
  };
}

describe('soak invariants', () => {
  it('finds nothing in a lab that matches its objects', () => {
    assert.deepEqual(check(observation()), []);
  });

  it('reports two active gateways, a passive gateway with peers, stale and missing peers and routes', () => {
    const o = observation();
    o.clusters[0]!.activeGateways = ['a-gw1', 'a-gw2'];
    o.nodes[0]!.wgPeers = ['KB', 'KOLD'];
    o.nodes[0]!.wgRoutes = ['242.9.0.0/16'];
    o.nodes[1]!.wgPeers = ['KB'];
    const keys = check(o).map((d) => d.key);
    assert.ok(keys.includes('cluster-a: two active gateways'));
    assert.ok(keys.includes('a-gw1: stale WireGuard peer KOLD'));
    assert.ok(keys.includes('a-gw1: stale route 242.9.0.0/16'));
    assert.ok(keys.includes('a-gw1: missing route 242.1.0.0/16'));
    assert.ok(keys.includes('a-gw2: passive with 1 peers'));
    assert.ok(keys.includes('cluster-a: cables on 2 gateways'));
  });

  it('reports a route agent with no reconcile pass without failures for over 90 s (counted from its start if none yet)', () => {
    const ra = (lastCleanSyncS: number, startS: number): Observation['roles'][number] => ({ node: 'a-gw1', role: 'route-agent', pid: 2, lastCleanSyncS, startS });
    const key = 'a-gw1/route-agent: no reconcile without failures';
    const at = 1_000_000_000;
    assert.deepEqual(check(observation({ at: at * 1000, roles: [ra(at - 30, at - 3600)] })), [], 'synced 30 s ago');
    assert.deepEqual(check(observation({ at: at * 1000, roles: [ra(0, at - 60)] })), [], 'started 60 s ago, not synced yet');
    assert.deepEqual(check(observation({ at: at * 1000, roles: [ra(0, at - 600)] })).map((d) => d.key), [key], 'started 10 minutes ago, never synced');
    assert.deepEqual(check(observation({ at: at * 1000, roles: [ra(at - 120, at - 3600)] })).map((d) => d.key), [key], 'last clean pass 2 minutes ago');
  });

  it('compares the Globalnet nft maps with the IPAM statuses and Endpoint subnets', () => {
    const o = observation();
    o.nodes[0]!.nftIngress = ['242.0.0.1', '242.0.0.9'];
    o.nodes[0]!.nftRemoteCidrs = ['242.1.0.0/16', '242.7.0.0/16'];
    const keys = check(o).map((d) => d.key);
    assert.ok(keys.includes('a-gw1: nft ingress element 242.0.0.9 without allocation'));
    assert.ok(keys.includes('a-gw1: GlobalIngressIP 242.0.0.5 not in nft'));
    assert.ok(keys.includes('a-gw1: nft remote_global_cidrs has stale 242.7.0.0/16'));
  });

  it('reports leaked route-agent routes, extra daemons, zombies and fd/timer growth', () => {
    const o = observation();
    o.nodes[1]!.raRoutes = ['100 242.200.0.0/16', '100 242.1.0.0/16'];
    o.nodes[1]!.procs = { 'wireguard-go': 2, fping: 3 };
    o.nodes[1]!.zombies = 1;
    o.roles[0]!.openFds = 300;
    o.roles[0]!.activeResources = 5000;
    const keys = check(o).map((d) => d.key);
    assert.ok(keys.includes('a-gw2: stale route-agent route 100 242.200.0.0/16'));
    assert.ok(!keys.some((k) => k.includes('242.1.0.0/16')));
    assert.ok(keys.includes('a-gw2: 2 wireguard-go'));
    assert.ok(keys.includes('a-gw2: 3 fping'));
    assert.ok(keys.includes('a-gw2: 1 zombies'));
    assert.ok(keys.includes('a-gw1/gateway: 300 fds'));
    assert.ok(keys.includes('a-gw1/gateway: 5000 active resources'));
  });

  it('does not judge an observation the broker could not answer', () => {
    assert.deepEqual(check(observation({ error: 'broker: connection refused', clusters: [] })), []);
  });

  it('counts a discrepancy as a violation only once it persisted for the grace period, and all at the end', () => {
    const t = new InvariantTracker(30_000);
    const d = [{ key: 'x', detail: 'x is wrong' }];
    assert.deepEqual(t.record(0, d), []);
    assert.deepEqual(t.record(20_000, d), []);
    assert.deepEqual(t.record(25_000, []), []);
    assert.deepEqual(t.record(40_000, d), []);
    assert.equal(t.record(70_000, d).length, 1);
    assert.equal(t.record(60_000, [{ key: 'late', detail: '' }]).length, 0);
    t.final([{ key: 'y', detail: 'y left over' }]);
    assert.deepEqual([...t.violations.keys()], ['x', 'y']);
    assert.equal(t.checks, 6);
  });
});

describe('scale measurements', () => {
  it('derives the Kubernetes verb of a logged request', () => {
    assert.equal(requestVerb('GET', '/apis/submariner.io/v1/namespaces/ns/endpoints?watch=true&resourceVersion=5'), 'watch');
    assert.equal(requestVerb('GET', '/apis/submariner.io/v1/namespaces/ns/endpoints'), 'list');
    assert.equal(requestVerb('GET', '/apis/submariner.io/v1/namespaces/ns/gateways/a-gw1'), 'get');
    assert.equal(requestVerb('GET', '/api/v1/nodes/a-gw1'), 'get');
    assert.equal(requestVerb('GET', '/api/v1/namespaces/default'), 'get');
    assert.equal(requestVerb('GET', '/apis'), 'discovery');
    assert.equal(requestVerb('PUT', '/apis/coordination.k8s.io/v1/namespaces/x/leases/l'), 'update');
    assert.equal(requestVerb('POST', '/api/v1/namespaces/x/pods'), 'create');
  });

  it('fits a least-squares slope', () => {
    assert.equal(slope([0, 1, 2, 3], [1, 3, 5, 7]), 2);
    assert.ok(Number.isNaN(slope([1], [1])));
  });
});
