import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { alwaysLeader, GlobalnetController, inputsFromObjects, type LeaderSignal, type SourceObjects } from '../../src/nat/controller.js';
import { GlobalnetMetrics } from '../../src/nat/metrics.js';
import type { Dataplane, SyncResult } from '../../src/nat/nft.js';
import { internalServiceName } from '../../src/nat/names.js';
import { createLogger } from '../../src/log/index.js';
import { FakeApi } from '../support/fake-api.js';

const NS = 'submariner-operator';
const log = createLogger({ destination: { write: () => undefined } });

class RecordingDataplane {
  synced: Dataplane[] = [];
  invalidated = 0;
  async sync(d: Dataplane): Promise<SyncResult> {
    this.synced.push(d);
    return { mode: 'incremental', changes: 0 };
  }
  invalidate(): void {
    this.invalidated++;
  }
}

function world(): FakeApi {
  const api = new FakeApi();
  api.seed('/apis/submariner.io/v1/namespaces/blue/globalegressips/ns-wide', { metadata: { name: 'ns-wide' }, spec: {} }, '2024-01-01T00:00:01Z');
  api.seed('/api/v1/namespaces/blue/services/web', { metadata: { name: 'web' }, spec: { type: 'ClusterIP', clusterIP: '10.43.0.10', selector: { app: 'web' }, ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }] } });
  api.seed('/apis/multicluster.x-k8s.io/v1alpha1/namespaces/blue/serviceexports/web', { metadata: { name: 'web' } });
  api.seed('/api/v1/namespaces/blue/pods/web-0', { metadata: { name: 'web-0', labels: { app: 'web' } }, spec: {}, status: { podIP: '10.42.1.11', phase: 'Running' } });
  api.seed(`/apis/submariner.io/v1/namespaces/${NS}/endpoints/remote`, { metadata: { name: 'remote' }, spec: { cluster_id: 'b', cable_name: 'c', backend: 'vxlan', hostname: 'h', subnets: ['242.1.0.0/16'], private_ip: '192.168.1.2', nat_enabled: false } });
  api.seed(`/apis/submariner.io/v1/namespaces/${NS}/endpoints/local`, { metadata: { name: 'local' }, spec: { cluster_id: 'a', cable_name: 'c', backend: 'vxlan', hostname: 'h', subnets: ['242.0.0.0/16'], private_ip: '192.168.1.1', nat_enabled: false } });
  api.seed(`/apis/submariner.io/v1/namespaces/${NS}/clusters/a`, { metadata: { name: 'a' }, spec: { cluster_id: 'a', cluster_cidr: ['10.42.0.0/16'], service_cidr: ['10.43.0.0/16'], global_cidr: ['242.0.0.0/16'], color_codes: ['blue'] } });
  return api;
}

function controller(api: FakeApi, dp: RecordingDataplane, opts: { leader?: LeaderSignal; sources?: () => SourceObjects; metrics?: GlobalnetMetrics } = {}): GlobalnetController {
  return new GlobalnetController({
    client: api.asClient(), namespace: NS, clusterId: 'a', leader: opts.leader ?? alwaysLeader(), dataplane: dp, log,
    now: () => new Date('2024-02-01T00:00:00Z'), sources: opts.sources ?? (() => api.sources(NS)),
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
  });
}

describe('nat: Globalnet controller wiring (fake API)', () => {
  it('reads global and local CIDRs from the Cluster object and remote global CIDRs from other clusters\' Endpoints', () => {
    const inp = inputsFromObjects(world().sources(NS), { clusterId: 'a' }, new Date('2024-02-01T00:00:00.123Z'));
    assert.equal(inp.globalCidr, '242.0.0.0/16');
    assert.deepEqual(inp.localCidrs, ['10.42.0.0/16', '10.43.0.0/16']);
    assert.deepEqual(inp.remoteGlobalCidrs, ['242.1.0.0/16']);
    assert.equal(inp.now, '2024-02-01T00:00:00Z');
    assert.throws(() => inputsFromObjects({ ...world().sources(NS), clusters: [] }, { clusterId: 'a' }, new Date()), /set SUBMARINER_GLOBALCIDR/);
  });

  it('converges: default ClusterGlobalEgressIP, statuses, GlobalIngressIP, internal Service, then no writes', async () => {
    const api = world();
    const dp = new RecordingDataplane();
    const metrics = new GlobalnetMetrics();
    const c = controller(api, dp, { metrics });
    let r = await c.reconcile();
    assert.deepEqual(r.errors, []);
    assert.deepEqual(api.writes.sort(), [
      'create /apis/submariner.io/v1/clusterglobalegressips/cluster-egress.submariner.io',
      'create /apis/submariner.io/v1/namespaces/blue/globalingressips/web',
      'replace /apis/submariner.io/v1/namespaces/blue/globalegressips/ns-wide/status',
    ]);
    const geip = api.find('submariner.io/v1/globalegressips', 'blue', 'ns-wide')!;
    assert.deepEqual(geip.status, {
      conditions: [{ type: 'Allocated', status: 'True', reason: 'Success', message: 'Allocated 1 global IP(s)', lastTransitionTime: '2024-02-01T00:00:00Z' }],
      allocatedIPs: ['242.0.255.254'],
    });
    for (let i = 0; i < 3; i++) r = await c.reconcile();
    assert.deepEqual(r.errors, []);
    assert.equal(r.writes, 0, 'converged');
    assert.deepEqual(api.find('submariner.io/v1/clusterglobalegressips', '', 'cluster-egress.submariner.io')!.status, {
      conditions: [{ type: 'Allocated', status: 'True', reason: 'Success', message: 'Allocated 8 global IP(s)', lastTransitionTime: '2024-02-01T00:00:00Z' }],
      allocatedIPs: ['242.0.0.1', '242.0.0.2', '242.0.0.3', '242.0.0.4', '242.0.0.5', '242.0.0.6', '242.0.0.7', '242.0.0.8'],
    });
    const giip = api.find('submariner.io/v1/globalingressips', 'blue', 'web')!;
    assert.deepEqual(giip.spec, { target: 'ClusterIPService', serviceRef: { name: 'web' } });
    assert.equal((giip.status as { allocatedIP: string }).allocatedIP, '242.0.255.253');
    const svc = api.find('core/v1/services', 'blue', internalServiceName('web'))!;
    assert.deepEqual(svc.metadata.labels, { 'submariner.io/exportedServiceRef': 'web' });
    assert.deepEqual(svc.metadata.finalizers, ['submariner.io/globalnet-internal-service']);
    assert.deepEqual(svc.spec, { ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }], selector: { app: 'web' }, externalIPs: ['242.0.255.253'], ipFamilyPolicy: 'SingleStack' });
    const last = dp.synced.at(-1)!;
    assert.deepEqual([...last.ingress], [['242.0.255.253', '10.43.0.10']]);
    assert.deepEqual([...last.egressCluster], [['10.42.0.0/16', '242.0.0.1-242.0.0.8'], ['10.43.0.0/16', '242.0.0.1-242.0.0.8']]);
    assert.deepEqual(last.remoteGlobalCidrs, ['242.1.0.0/16']);
    const text = await metrics.registry.metrics();
    assert.match(text, /submariner_global_IP_allocated\{cidr="242\.0\.0\.0\/16"\} 10/);
    assert.match(text, /submariner_global_IP_availability\{cidr="242\.0\.0\.0\/16"\} 65524/);
    assert.match(text, /submariner_cluster_global_egress_IP_allocated\{cidr="242\.0\.0\.0\/16"\} 8/);
    assert.match(text, /submariner_global_egress_IP_allocated\{cidr="242\.0\.0\.0\/16"\} 1/);
    assert.match(text, /submariner_global_ingress_IP_allocated\{cidr="242\.0\.0\.0\/16"\} 1/);

    // Unexport: the GlobalIngressIP goes, then the internal Service (finalizer removed first), then its IP.
    await api.delete('/apis/multicluster.x-k8s.io/v1alpha1/namespaces/blue/serviceexports/web');
    for (let i = 0; i < 3; i++) await c.reconcile();
    assert.equal(api.find('submariner.io/v1/globalingressips', 'blue', 'web'), undefined);
    assert.equal(api.find('core/v1/services', 'blue', internalServiceName('web')), undefined);
    assert.equal(dp.synced.at(-1)!.ingress.size, 0);
  });

  it('does nothing while not the leader, and rebuilds the data plane when leadership starts', async () => {
    const api = world();
    const dp = new RecordingDataplane();
    let leading = false;
    const leader = Object.assign(new EventEmitter(), { isLeader: () => leading });
    const c = controller(api, dp, { leader });
    await c.start();
    const r = await c.reconcile();
    assert.equal(r.skipped, 'not the leader');
    assert.deepEqual(api.writes, []);
    leading = true;
    leader.emit('started');
    assert.equal(dp.invalidated, 1);
    assert.equal((await c.reconcile()).writes > 0, true);
    await c.stop();
  });

  it('a plan from a cache that has not seen our last status write does not hand the address out again', async () => {
    const api = world();
    const dp = new RecordingDataplane();
    const box: { frozen?: SourceObjects } = {};
    const c = controller(api, dp, { sources: () => box.frozen ?? api.sources(NS) });
    const stale = api.find('submariner.io/v1/globalegressips', 'blue', 'ns-wide')!;
    await c.reconcile(); // ns-wide gets 242.0.255.254
    // The informer lags (still the version without status) while an older GlobalEgressIP appears.
    const older = api.seed('/apis/submariner.io/v1/namespaces/red/globalegressips/older', { metadata: { name: 'older' }, spec: {} }, '2023-12-31T00:00:00Z');
    box.frozen = { ...api.sources(NS), egressIPs: [stale, older] };
    const r = await c.reconcile();
    assert.deepEqual(r.errors, []);
    const ips = ['ns-wide', 'older'].map((n) => (api.find('submariner.io/v1/globalegressips', n === 'older' ? 'red' : 'blue', n)!.status as { allocatedIPs?: string[] } | undefined)?.allocatedIPs ?? []);
    assert.deepEqual(ips[0], ['242.0.255.254']);
    assert.notDeepEqual(ips[1], ['242.0.255.254'], 'the older object must not get the address already written to ns-wide');
  });

  it('counts a conflict as a replan, other failures as errors, and keeps going', async () => {
    const api = world();
    const dp = new RecordingDataplane();
    const c = controller(api, dp);
    api.failNext = { path: '/apis/submariner.io/v1/namespaces/blue/globalegressips/ns-wide/status', status: 409 };
    let r = await c.reconcile();
    assert.equal(r.conflicts, 1);
    assert.deepEqual(r.errors, []);
    assert.ok(r.writes >= 2, 'the other writes happened');
    api.failNext = { path: '/apis/submariner.io/v1/namespaces/blue/globalegressips/ns-wide/status', status: 500 };
    r = await c.reconcile();
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0]!, /status of GlobalEgressIP blue\/ns-wide: fake 500/);
    r = await c.reconcile();
    assert.deepEqual(r.errors, []);
  });
});
