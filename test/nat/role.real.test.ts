// The whole `globalnet` role against the embedded API server, programming nftables in a netns: it acts
// only while its node's Gateway is active and it holds submariner-globalnet-lock, and takes its table
// away when the node turns passive.
import assert from 'node:assert/strict';
import { globalnetConfigFromEnv } from '../../src/config/roles.js';
import { RestClient, resourcePath } from '../../src/k8s/rest.js';
import { GlobalnetMetrics } from '../../src/nat/metrics.js';
import { startGlobalnet, type RunningGlobalnet } from '../../src/nat/role.js';
import { createNetns, deleteNetns, uniqueName } from '../../src/os/netns.js';
import { exec } from '../../src/util/exec.js';
import { waitFor } from '../../src/util/wait.js';
import { startTestServer, type TestServer } from '../support/apiserver.js';
import { kubeConfigFromFile, ignoringWatchAbort, quietLog } from '../support/fixtures.js';

const NS = 'submariner-operator';
const SM = (plural: string, ns?: string, name?: string, sub?: string): string => resourcePath('submariner.io', 'v1', plural, ns, name, sub);

describe('nat: the globalnet role with election, API server and nftables @real', function () {
  this.timeout(40_000);
  let server: TestServer;
  let api: RestClient;
  let role: RunningGlobalnet | undefined;
  const netns = uniqueName('hw-gnr');

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    server = await startTestServer();
    api = new RestClient(kubeConfigFromFile(server.kubeconfig));
    await createNetns(netns);
    for (const n of [NS, 'blue']) await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: n } });
    const pod = await api.create('/api/v1/namespaces/blue/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } });
    await api.replace('/api/v1/namespaces/blue/pods/p/status', { ...pod, status: { phase: 'Running', podIP: '10.42.3.7' } });
    await api.create(SM('globalegressips', 'blue'), { apiVersion: 'submariner.io/v1', kind: 'GlobalEgressIP', metadata: { name: 'ns-wide' }, spec: {} });
  });

  after(async () => {
    if (role) await ignoringWatchAbort(() => role!.stop());
    await deleteNetns(netns);
    await server?.close();
  });

  const table = async (): Promise<string> => (await exec('nft', ['list', 'ruleset'], { netns })).stdout;

  it('waits for the active gateway, leads, programs, and removes its table when the node turns passive', async () => {
    const cfg = globalnetConfigFromEnv({
      SUBMARINER_NAMESPACE: NS, SUBMARINER_CLUSTERID: 'a', NODE_NAME: 'gw-1', SUBMARINER_GLOBALCIDR: '242.0.0.0/24',
      SUBMARINER_CLUSTERCIDR: '10.42.0.0/16', SUBMARINER_SERVICECIDR: '10.43.0.0/16',
      HAWSER_LEASE_DURATION: '2', HAWSER_RENEW_DEADLINE: '1.5', HAWSER_RETRY_PERIOD: '0.2',
    });
    role = await startGlobalnet(cfg, {
      kubeConfig: kubeConfigFromFile(server.kubeconfig), netns, leader: 'election', log: quietLog, serveMetrics: false,
      metrics: new GlobalnetMetrics(), controller: { debounceMs: 20, stopTimeoutMs: 200 },
    });
    // No Gateway object yet: a passive node does nothing.
    assert.doesNotMatch(await table(), /hawser-globalnet/);
    const gw = await api.create(SM('gateways', NS), {
      apiVersion: 'submariner.io/v1', kind: 'Gateway', metadata: { name: 'gw-1' },
      status: { haStatus: 'active', connections: [], statusFailure: '', version: 'test', localEndpoint: { cluster_id: 'a', cable_name: 'c', hostname: 'gw-1', subnets: [], private_ip: '192.168.0.1', public_ip: '', nat_enabled: false, backend: 'vxlan' } },
    });
    await waitFor(async () => /10\.42\.3\.7 : 242\.0\.0\.254\/32/.test(await table()), { timeoutMs: 15_000, what: 'the egress_ns element in the netns' });
    const lease = await api.get(resourcePath('coordination.k8s.io', 'v1', 'leases', NS, 'submariner-globalnet-lock'));
    assert.equal((lease.spec as { holderIdentity: string }).holderIdentity, 'gw-1-submariner-globalnet');
    const geip = await api.get(SM('globalegressips', 'blue', 'ns-wide'));
    assert.deepEqual((geip.status as { allocatedIPs: string[] }).allocatedIPs, ['242.0.0.254']);

    const cur = await api.get(SM('gateways', NS, 'gw-1'));
    await api.replace(SM('gateways', NS, 'gw-1'), { ...cur, status: { ...(cur.status as object), haStatus: 'passive' } });
    await waitFor(async () => !/hawser-globalnet/.test(await table()), { timeoutMs: 10_000, what: 'the table removed on the passive node' });
    const released = await api.get(resourcePath('coordination.k8s.io', 'v1', 'leases', NS, 'submariner-globalnet-lock'));
    assert.equal((released.spec as { holderIdentity: string }).holderIdentity, '', 'the Lease is released for the new active gateway');
    assert.ok(gw);
  });
});
