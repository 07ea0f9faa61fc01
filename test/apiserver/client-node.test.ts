// Conformance through @kubernetes/client-node 1.4: what the agents, the lab and broker sync use.
import * as k8s from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { waitFor } from '../../src/util/wait.js';
import { startTestServer, type TestServer } from '../support/apiserver.js';

type Obj = k8s.KubernetesObject & { spec?: Record<string, unknown>; status?: Record<string, unknown>; data?: Record<string, string> };

function code(err: unknown): number | undefined {
  return err instanceof k8s.ApiException ? err.code : undefined;
}

async function rejectsWith(p: Promise<unknown>, status: number, reason?: string): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    assert.equal(code(err), status, `expected HTTP ${status}, got ${String(err)}`);
    const body = JSON.parse((err as k8s.ApiException<string>).body) as Record<string, unknown>;
    assert.equal(body.kind, 'Status');
    if (reason) assert.equal(body.reason, reason);
    return body;
  }
  assert.fail(`expected HTTP ${status}`);
}

/** Writes through the server's own object API (fast): enough of them push old events out of the history. */
function churn(ts: TestServer, name: string, n: number): void {
  const t = ts.srv.registry.get('', 'v1', 'configmaps')!;
  for (let i = 0; i < n; i++) ts.srv.objects.patch(t, 'default', name, 'merge', JSON.stringify({ data: { n: String(i) } }));
}

const patchAs = (type: string): ReturnType<typeof k8s.setHeaderOptions> => k8s.setHeaderOptions('Content-Type', type);

function endpointObject(name: string, cluster: string, labels: Record<string, string> = {}): Obj {
  return {
    apiVersion: 'submariner.io/v1',
    kind: 'Endpoint',
    metadata: { name, namespace: 'submariner-operator', labels },
    spec: {
      cluster_id: cluster,
      cable_name: `submariner-cable-${cluster}-10-0-0-1`,
      hostname: 'gw1',
      subnets: ['10.1.0.0/16'],
      private_ip: '10.0.0.1',
      public_ip: '203.0.113.1',
      nat_enabled: false,
      backend: 'wireguard',
      backend_config: { 'udp-port': '4500', 'natt-discovery-port': '4490', publicKey: 'k8jD0kH2+Yp6cP4JcZqvZ0cGmS3F1m0w4mY2B6mV5Vw=', 'interface-name': 'submariner' },
      healthCheckIP: '10.1.0.1',
    },
  };
}

describe('apiserver: @kubernetes/client-node conformance', function () {
  this.timeout(30_000);
  let ts: TestServer;
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;
  let coord: k8s.CoordinationV1Api;

  before(async () => {
    ts = await startTestServer({ historySize: 200, bookmarkIntervalMs: 200 });
    core = ts.kc.makeApiClient(k8s.CoreV1Api);
    custom = ts.kc.makeApiClient(k8s.CustomObjectsApi);
    coord = ts.kc.makeApiClient(k8s.CoordinationV1Api);
    await core.createNamespace({ body: { metadata: { name: 'submariner-operator' } } });
  });
  after(async () => ts?.close());

  it('serves version and discovery', async () => {
    const v = await ts.kc.makeApiClient(k8s.VersionApi).getCode();
    assert.equal(v.major, '1');
    const groups = await ts.kc.makeApiClient(k8s.ApisApi).getAPIVersions();
    assert.ok(groups.groups.some((g) => g.name === 'submariner.io'));
    const res = await ts.kc.makeApiClient(k8s.CustomObjectsApi).getAPIResources({ group: 'submariner.io', version: 'v1' });
    assert.ok(res.resources.some((r) => r.name === 'clusterglobalegressips' && !r.namespaced && r.shortNames?.includes('cgeip')));
  });

  it('creates, reads, replaces and deletes with Kubernetes metadata semantics', async () => {
    const created = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { generateName: 'cm-' }, data: { a: '1' } } });
    const name = created.metadata!.name!;
    assert.match(name, /^cm-[a-z0-9]{5}$/);
    assert.match(created.metadata!.uid!, /^[0-9a-f-]{36}$/);
    assert.ok(created.metadata!.creationTimestamp instanceof Date);
    const rv1 = Number(created.metadata!.resourceVersion);
    const replaced = await core.replaceNamespacedConfigMap({ name, namespace: 'default', body: { ...created, data: { a: '2' } } });
    assert.ok(Number(replaced.metadata!.resourceVersion) > rv1);
    assert.equal(replaced.metadata!.uid, created.metadata!.uid);
    // a stale resourceVersion is a conflict
    const body = await rejectsWith(core.replaceNamespacedConfigMap({ name, namespace: 'default', body: { ...created, data: { a: '3' } } }), 409, 'Conflict');
    assert.match(String(body.message), /the object has been modified/);
    await rejectsWith(core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name }, data: {} } }), 409, 'AlreadyExists');
    await core.deleteNamespacedConfigMap({ name, namespace: 'default' });
    await rejectsWith(core.readNamespacedConfigMap({ name, namespace: 'default' }), 404, 'NotFound');
    await rejectsWith(core.createNamespacedConfigMap({ namespace: 'no-such-ns', body: { metadata: { name: 'x' } } }), 404, 'NotFound');
  });

  it('applies merge, JSON, strategic merge and server-side apply patches', async () => {
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'p1', labels: { a: '1' } }, data: { x: '1' } } });
    let cm = await core.patchNamespacedConfigMap({ name: 'p1', namespace: 'default', body: { data: { y: '2' }, metadata: { labels: { a: null } } } }, patchAs(k8s.PatchStrategy.MergePatch));
    assert.deepEqual(cm.data, { x: '1', y: '2' });
    assert.deepEqual(cm.metadata!.labels ?? {}, {});
    cm = await core.patchNamespacedConfigMap({ name: 'p1', namespace: 'default', body: [{ op: 'replace', path: '/data/x', value: 'j' }] }, patchAs(k8s.PatchStrategy.JsonPatch));
    assert.equal(cm.data!.x, 'j');
    cm = await core.patchNamespacedConfigMap({ name: 'p1', namespace: 'default', body: { data: { z: '3' } } }, patchAs(k8s.PatchStrategy.StrategicMergePatch));
    assert.deepEqual(cm.data, { x: 'j', y: '2', z: '3' });
    const applied = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'p2', namespace: 'default' }, data: { k: 'v' } };
    cm = await core.patchNamespacedConfigMap({ name: 'p2', namespace: 'default', body: applied, fieldManager: 'test' }, patchAs(k8s.PatchStrategy.ServerSideApply));
    assert.deepEqual(cm.data, { k: 'v' });
    cm = await core.patchNamespacedConfigMap({ name: 'p2', namespace: 'default', body: { ...applied, data: { k2: 'v2' } }, fieldManager: 'test' }, patchAs(k8s.PatchStrategy.ServerSideApply));
    assert.deepEqual(cm.data, { k2: 'v2' }, 'fields the applier stopped applying are removed');
    assert.equal(cm.metadata!.managedFields?.[0]?.manager, 'test');
    // strategic merge is for built-in kinds only
    await custom.createNamespacedCustomObject({ group: 'submariner.io', version: 'v1', namespace: 'submariner-operator', plural: 'endpoints', body: endpointObject('ep-patch', 'c1') });
    await rejectsWith(custom.patchNamespacedCustomObject({ group: 'submariner.io', version: 'v1', namespace: 'submariner-operator', plural: 'endpoints', name: 'ep-patch', body: { spec: { hostname: 'x' } } }, patchAs(k8s.PatchStrategy.StrategicMergePatch)), 415);
    const ep = (await custom.patchNamespacedCustomObject({ group: 'submariner.io', version: 'v1', namespace: 'submariner-operator', plural: 'endpoints', name: 'ep-patch', body: { spec: { hostname: 'gw9' } } }, patchAs(k8s.PatchStrategy.MergePatch))) as Obj;
    assert.equal(ep.spec!.hostname, 'gw9');
    assert.equal(ep.metadata!.generation, 2);
  });

  it('accepts Submariner objects as Submariner writes them, and rejects invalid ones with 422', async () => {
    const ep = (await custom.createNamespacedCustomObject({ group: 'submariner.io', version: 'v1', namespace: 'submariner-operator', plural: 'endpoints', body: endpointObject('cluster-b-submariner-cable-cluster-b-10-0-0-1', 'cluster-b', { 'submariner-io/clusterID': 'cluster-b' }) })) as Obj;
    assert.equal((ep.spec!.backend_config as Record<string, string>).publicKey, 'k8jD0kH2+Yp6cP4JcZqvZ0cGmS3F1m0w4mY2B6mV5Vw=');
    const gw = {
      apiVersion: 'submariner.io/v1',
      kind: 'Gateway',
      metadata: { name: 'gw1', namespace: 'submariner-operator', annotations: { 'update-timestamp': String(Math.floor(Date.now() / 1000)) } },
      status: {
        haStatus: 'active',
        statusFailure: '',
        version: 'hawser-0.1.0',
        localEndpoint: endpointObject('x', 'cluster-a').spec,
        connections: [{ status: 'connected', statusMessage: 'Connected to 10.0.0.2:4500', endpoint: endpointObject('y', 'cluster-b').spec, usingIP: '10.0.0.2', usingNAT: false, latencyRTT: { last: '412.341µs', min: '300µs', average: '400µs', max: '1ms', stdDev: '20µs' } }],
      },
    };
    const created = (await custom.createNamespacedCustomObject({ group: 'submariner.io', version: 'v1', namespace: 'submariner-operator', plural: 'gateways', body: gw })) as Obj;
    assert.equal((created.status!.connections as unknown[]).length, 1, 'Gateway has no status subresource: status is written with create');
    const bad = endpointObject('bad', 'cluster-c');
    delete bad.spec!.cable_name;
    bad.spec!.nat_enabled = 'yes';
    const body = await rejectsWith(custom.createNamespacedCustomObject({ group: 'submariner.io', version: 'v1', namespace: 'submariner-operator', plural: 'endpoints', body: bad }), 422, 'Invalid');
    assert.match(String(body.message), /spec\.cable_name: Required value/);
    assert.match(String(body.message), /spec\.nat_enabled/);
  });

  it('lists with label (set-based) and field selectors, and pages with limit/continue', async () => {
    for (const [i, env] of ['prod', 'dev', 'test', 'prod'].entries()) {
      await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: `sel-${i}`, labels: { env, ...(i === 3 ? { canary: 'y' } : {}) } } } });
    }
    const names = async (labelSelector?: string, fieldSelector?: string): Promise<string[]> =>
      (await core.listNamespacedConfigMap({ namespace: 'default', labelSelector, fieldSelector })).items.map((c) => c.metadata!.name!).filter((n) => n.startsWith('sel-'));
    assert.deepEqual(await names('env in (prod,dev),!canary'), ['sel-0', 'sel-1']);
    assert.deepEqual(await names('env notin (prod)'), ['sel-1', 'sel-2']);
    assert.deepEqual(await names('canary'), ['sel-3']);
    assert.deepEqual(await names(undefined, 'metadata.name=sel-2'), ['sel-2']);
    await rejectsWith(core.listNamespacedConfigMap({ namespace: 'default', labelSelector: 'env in prod' }), 400, 'BadRequest');
    await rejectsWith(core.listNamespacedConfigMap({ namespace: 'default', fieldSelector: 'data.x=1' }), 400, 'BadRequest');
    const seen: string[] = [];
    let cont: string | undefined;
    do {
      const page = await core.listNamespacedConfigMap({ namespace: 'default', labelSelector: 'env', limit: 3, _continue: cont });
      assert.ok(page.items.length <= 3);
      seen.push(...page.items.map((c) => c.metadata!.name!));
      cont = page.metadata?._continue;
    } while (cont);
    assert.deepEqual(seen, ['sel-0', 'sel-1', 'sel-2', 'sel-3']);
  });

  it('keeps status and spec apart where the CRD has a status subresource', async () => {
    const base = { group: 'submariner.io', version: 'v1', namespace: 'submariner-operator', plural: 'globalegressips' };
    const created = (await custom.createNamespacedCustomObject({ ...base, body: { apiVersion: 'submariner.io/v1', kind: 'GlobalEgressIP', metadata: { name: 'geip' }, spec: { numberOfIPs: 2 }, status: { allocatedIPs: ['1.1.1.1'] } } })) as Obj;
    assert.equal(created.status, undefined, 'status is dropped on create');
    const withStatus = (await custom.replaceNamespacedCustomObjectStatus({ ...base, name: 'geip', body: { ...created, spec: { numberOfIPs: 9 }, status: { allocatedIPs: ['242.0.255.254', '242.0.255.253'] } } })) as Obj;
    assert.deepEqual(withStatus.status!.allocatedIPs, ['242.0.255.254', '242.0.255.253']);
    assert.equal(withStatus.spec!.numberOfIPs, 2, 'spec changes are ignored on /status');
    assert.equal(withStatus.metadata!.generation, 1, 'a status write does not bump generation');
    const main = (await custom.replaceNamespacedCustomObject({ ...base, name: 'geip', body: { ...withStatus, spec: { numberOfIPs: 3 }, status: { allocatedIPs: [] } } })) as Obj;
    assert.equal(main.spec!.numberOfIPs, 3);
    assert.deepEqual(main.status!.allocatedIPs, ['242.0.255.254', '242.0.255.253'], 'status changes are ignored on the main resource');
    assert.equal(main.metadata!.generation, 2);
    const patched = (await custom.patchNamespacedCustomObjectStatus({ ...base, name: 'geip', body: { status: { allocatedIPs: ['242.0.255.252'] } } }, patchAs(k8s.PatchStrategy.MergePatch))) as Obj;
    assert.deepEqual(patched.status!.allocatedIPs, ['242.0.255.252']);
    await rejectsWith(custom.replaceNamespacedCustomObject({ ...base, name: 'geip', body: { ...main, metadata: { ...main.metadata, resourceVersion: undefined } } }), 422, 'Invalid');
  });

  it('creates and renews a Lease with microsecond times; a stale renewal conflicts', async () => {
    const now = new Date();
    const lease = await coord.createNamespacedLease({
      namespace: 'submariner-operator',
      body: { metadata: { name: 'submariner-gateway-lock' }, spec: { holderIdentity: 'gw1-submariner-gateway', leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 0 } },
    });
    assert.equal(lease.spec!.holderIdentity, 'gw1-submariner-gateway');
    const renewed = await coord.replaceNamespacedLease({ name: 'submariner-gateway-lock', namespace: 'submariner-operator', body: { ...lease, spec: { ...lease.spec, renewTime: new Date(now.getTime() + 1000) } } });
    assert.ok(renewed.spec!.renewTime! > lease.spec!.renewTime!);
    await rejectsWith(coord.replaceNamespacedLease({ name: 'submariner-gateway-lock', namespace: 'submariner-operator', body: { ...lease, spec: { ...lease.spec, holderIdentity: 'gw2' } } }), 409, 'Conflict');
  });

  it('watches from a resourceVersion, with bookmarks, and reports 410 as an ERROR event', async () => {
    const list = await core.listNamespacedConfigMap({ namespace: 'default' });
    const rv = list.metadata!.resourceVersion!;
    const events: string[] = [];
    const watch = new k8s.Watch(ts.kc);
    let bookmarks = 0;
    const req = await watch.watch('/api/v1/namespaces/default/configmaps', { resourceVersion: rv, allowWatchBookmarks: true }, (type, obj: Obj) => {
      if (type === 'BOOKMARK') bookmarks++;
      else events.push(`${type} ${obj.metadata!.name}`);
    }, () => undefined);
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'w1' } } });
    await core.patchNamespacedConfigMap({ name: 'w1', namespace: 'default', body: { data: { a: 'b' } } }, patchAs(k8s.PatchStrategy.MergePatch));
    await core.deleteNamespacedConfigMap({ name: 'w1', namespace: 'default' });
    await waitFor(() => events.length >= 3 && bookmarks > 0, { timeoutMs: 5000, what: 'watch events and a bookmark' });
    assert.deepEqual(events, ['ADDED w1', 'MODIFIED w1', 'DELETED w1']);
    req.abort();
    // push the old resourceVersion out of the kept history
    churn(ts, 'sel-0', 210);
    const errors: Record<string, unknown>[] = [];
    let done = false;
    await watch.watch('/api/v1/namespaces/default/configmaps', { resourceVersion: rv }, (type, obj: Record<string, unknown>) => {
      if (type === 'ERROR') errors.push(obj);
    }, () => (done = true));
    await waitFor(() => done, { timeoutMs: 5000, what: 'the expired watch to end' });
    assert.equal(errors[0]?.code, 410);
    assert.equal(errors[0]?.reason, 'Expired');
  });

  it('runs an informer that relists after 410 and reports what changed meanwhile', async () => {
    const path = '/api/v1/namespaces/submariner-operator/configmaps';
    const informer = k8s.makeInformer(ts.kc, path, () => core.listNamespacedConfigMap({ namespace: 'submariner-operator' }));
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata!.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata!.name}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata!.name}`));
    await informer.start();
    await core.createNamespacedConfigMap({ namespace: 'submariner-operator', body: { metadata: { name: 'i1' } } });
    await core.createNamespacedConfigMap({ namespace: 'submariner-operator', body: { metadata: { name: 'i2' } } });
    await waitFor(() => seen.length >= 2, { timeoutMs: 5000, what: 'informer adds' });
    await informer.stop();
    // while it is stopped: enough churn elsewhere to expire its resourceVersion, and a delete it must notice
    await core.deleteNamespacedConfigMap({ name: 'i1', namespace: 'submariner-operator' });
    churn(ts, 'sel-1', 210);
    await informer.start();
    await core.createNamespacedConfigMap({ namespace: 'submariner-operator', body: { metadata: { name: 'i3' } } });
    await waitFor(() => seen.includes('delete i1') && seen.includes('add i3'), { timeoutMs: 10_000, what: 'informer relist after 410' });
    assert.deepEqual(informer.list().map((o) => o.metadata!.name).sort(), ['i2', 'i3']);
    await informer.stop();
  });
});
