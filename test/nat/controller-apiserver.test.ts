// The Globalnet controller against hawser's embedded API server (real informers, CRDs, status
// subresources): allocation, GlobalIngressIP and internal Service lifecycle, and a restart that finds a
// deleted export and a conflicting status.
import assert from 'node:assert/strict';
import { RestClient, resourcePath, type KubeObject } from '../../src/k8s/rest.js';
import { alwaysLeader, GlobalnetController } from '../../src/nat/controller.js';
import { internalServiceName } from '../../src/nat/names.js';
import type { Dataplane, SyncResult } from '../../src/nat/nft.js';
import { waitFor } from '../../src/util/wait.js';
import { startTestServer, type TestServer } from '../support/apiserver.js';
import { kubeConfigFromFile, ignoringWatchAbort, quietLog } from '../support/fixtures.js';

const NS = 'submariner-operator';
const SM = (plural: string, ns?: string, name?: string, sub?: string): string => resourcePath('submariner.io', 'v1', plural, ns, name, sub);

class RecordingDataplane {
  last: Dataplane | undefined;
  async sync(d: Dataplane): Promise<SyncResult> {
    this.last = d;
    return { mode: 'incremental', changes: 0 };
  }
  invalidate(): void {}
}

describe('nat: Globalnet controller against the embedded API server', function () {
  this.timeout(30_000);
  let server: TestServer;
  let api: RestClient;

  before(async () => {
    server = await startTestServer();
    api = new RestClient(kubeConfigFromFile(server.kubeconfig));
    for (const n of [NS, 'blue']) await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: n } });
    await api.create(SM('clusters', NS), { apiVersion: 'submariner.io/v1', kind: 'Cluster', metadata: { name: 'a' }, spec: { cluster_id: 'a', color_codes: ['blue'], cluster_cidr: ['10.42.0.0/16'], service_cidr: ['10.43.0.0/16'], global_cidr: ['242.0.0.0/16'] } });
    await api.create(SM('endpoints', NS), {
      apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: { name: 'b-remote' },
      spec: { cluster_id: 'b', cable_name: 'submariner-cable-b-192-168-1-2', hostname: 'gw-b', subnets: ['242.1.0.0/16'], private_ip: '192.168.1.2', public_ip: '', nat_enabled: false, backend: 'vxlan' },
    });
    await api.create('/api/v1/namespaces/blue/services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } });
    await api.create(resourcePath('multicluster.x-k8s.io', 'v1alpha1', 'serviceexports', 'blue'), { apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name: 'web' } });
    await api.create(SM('globalegressips', 'blue'), { apiVersion: 'submariner.io/v1', kind: 'GlobalEgressIP', metadata: { name: 'ns-wide' }, spec: { numberOfIPs: 2 } });
  });

  after(async () => {
    await server?.close();
  });

  function newController(dp: RecordingDataplane): GlobalnetController {
    return new GlobalnetController({ client: api, namespace: NS, clusterId: 'a', leader: alwaysLeader(), dataplane: dp, log: quietLog, debounceMs: 20, stopTimeoutMs: 200 });
  }

  const status = (o: KubeObject | undefined): Record<string, unknown> => (o?.status ?? {}) as Record<string, unknown>;

  it('allocates, creates the GlobalIngressIP and internal Service, and programs the data plane', async () => {
    const dp = new RecordingDataplane();
    const c = newController(dp);
    await c.start();
    try {
      const cge = await waitFor(async () => {
        const o = await api.getOrUndefined(SM('clusterglobalegressips', undefined, 'cluster-egress.submariner.io'));
        return (status(o).allocatedIPs as string[] | undefined)?.length === 8 ? o : undefined;
      }, { timeoutMs: 10_000, what: 'the default ClusterGlobalEgressIP with 8 IPs' });
      const geip = await api.get(SM('globalegressips', 'blue', 'ns-wide'));
      assert.deepEqual(status(geip).allocatedIPs, ['242.0.0.1', '242.0.0.2'], 'the older object got the lowest block');
      assert.deepEqual(status(cge).allocatedIPs, ['242.0.0.3', '242.0.0.4', '242.0.0.5', '242.0.0.6', '242.0.0.7', '242.0.0.8', '242.0.0.9', '242.0.0.10']);
      const giip = await waitFor(async () => {
        const o = await api.getOrUndefined(SM('globalingressips', 'blue', 'web'));
        return status(o).allocatedIP ? o : undefined;
      }, { timeoutMs: 10_000, what: 'GlobalIngressIP blue/web allocated' });
      assert.equal(status(giip).allocatedIP, '242.0.255.254');
      const conds = status(giip).conditions as { type: string; status: string; reason: string }[];
      assert.deepEqual(conds.map((x) => [x.type, x.status, x.reason]), [['Allocated', 'True', 'Success']]);
      const svc = await waitFor(() => api.getOrUndefined(`/api/v1/namespaces/blue/services/${internalServiceName('web')}`), { timeoutMs: 10_000, what: 'internal Service' });
      assert.deepEqual((svc.spec as { externalIPs: string[] }).externalIPs, ['242.0.255.254']);
      const clusterIP = ((await api.get('/api/v1/namespaces/blue/services/web')).spec as { clusterIP: string }).clusterIP;
      await waitFor(() => dp.last?.ingress.get('242.0.255.254') === clusterIP, { timeoutMs: 5000, what: 'ingress mapping to the ClusterIP' });
      assert.deepEqual(dp.last!.remoteGlobalCidrs, ['242.1.0.0/16']);
    } finally {
      await ignoringWatchAbort(() => c.stop());
    }
  });

  it('after a restart: frees what was unexported while down and re-allocates a conflicting status', async () => {
    // While Globalnet is down: the export goes, and a new GlobalEgressIP arrives with a status that claims
    // an address the older ns-wide holds (what Submariner #4122 left behind).
    await api.delete(resourcePath('multicluster.x-k8s.io', 'v1alpha1', 'serviceexports', 'blue', 'web'));
    const young = await api.create(SM('globalegressips', 'blue'), { apiVersion: 'submariner.io/v1', kind: 'GlobalEgressIP', metadata: { name: 'young' }, spec: {} });
    await api.replace(SM('globalegressips', 'blue', 'young', 'status'), { ...young, status: { allocatedIPs: ['242.0.0.1'] } });

    const dp = new RecordingDataplane();
    const c = newController(dp);
    await c.start();
    try {
      await waitFor(async () => (await api.getOrUndefined(SM('globalingressips', 'blue', 'web'))) === undefined, { timeoutMs: 10_000, what: 'GlobalIngressIP deleted' });
      await waitFor(async () => (await api.getOrUndefined(`/api/v1/namespaces/blue/services/${internalServiceName('web')}`)) === undefined, { timeoutMs: 10_000, what: 'internal Service deleted' });
      const y = await waitFor(async () => {
        const o = await api.get(SM('globalegressips', 'blue', 'young'));
        const conds = (status(o).conditions ?? []) as { reason: string; message: string }[];
        return conds.some((x) => x.reason === 'Reallocated') ? o : undefined;
      }, { timeoutMs: 10_000, what: 'young re-allocated' });
      // .254 still belonged to the GlobalIngressIP being deleted in the same run: never handed out twice.
      assert.deepEqual(status(y).allocatedIPs, ['242.0.255.253']);
      const msg = (status(y).conditions as { message: string }[])[0]!.message;
      assert.match(msg, /242\.0\.0\.1 is also claimed by the older GlobalEgressIP blue\/ns-wide/);
      const nsWide = await api.get(SM('globalegressips', 'blue', 'ns-wide'));
      assert.deepEqual(status(nsWide).allocatedIPs, ['242.0.0.1', '242.0.0.2'], 'the older claim kept its addresses');
      await waitFor(() => dp.last?.ingress.size === 0, { timeoutMs: 5000, what: 'no ingress mapping left' });
    } finally {
      await ignoringWatchAbort(() => c.stop());
    }
  });
});
