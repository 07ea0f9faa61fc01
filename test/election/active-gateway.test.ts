// Globalnet's election against the embedded API server: it leads only while this node's Gateway says
// active and it holds the Lease; turning passive gives the Lease up and calls onInactive.
import assert from 'node:assert/strict';
import { ActiveGatewayElection, GLOBALNET_LEASE } from '../../src/election/active-gateway.js';
import { RestClient, resourcePath } from '../../src/k8s/rest.js';
import { waitFor } from '../../src/util/wait.js';
import { startTestServer, type TestServer } from '../support/apiserver.js';
import { endpointSpec, gatewayObject, quietLog } from '../support/fixtures.js';

const NS = 'submariner-operator';
const NODE = 'gw-1';

describe('election: Globalnet follows the active gateway', function () {
  this.timeout(30_000);
  let server: TestServer;
  let api: RestClient;

  before(async () => {
    server = await startTestServer();
    api = new RestClient(server.kc);
    await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  });
  after(async () => server.close());

  it('joins when its Gateway turns active, leaves (Lease released, onInactive) when it turns passive', async () => {
    const gwPath = resourcePath('submariner.io', 'v1', 'gateways', NS);
    const created = await api.create(gwPath, { apiVersion: 'submariner.io/v1', kind: 'Gateway', ...gatewayObject({ name: NODE, namespace: NS, status: { haStatus: 'passive', localEndpoint: endpointSpec({ cluster: 'a', privateIP: '192.168.1.1' }) } }) });
    let inactive = 0;
    const events: string[] = [];
    const e = new ActiveGatewayElection({
      client: api, namespace: NS, nodeName: NODE, log: quietLog,
      timings: { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 200, releaseOnCancel: true },
      onInactive: async () => void inactive++,
    });
    e.on('started', () => events.push('started'));
    e.on('stopped', () => events.push('stopped'));
    e.start();
    try {
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(e.isLeader(), false, 'passive gateway: not the leader');
      await api.replace(`${gwPath}/${NODE}`, { ...created, status: { ...(created.status as object), haStatus: 'active' } });
      await waitFor(() => e.isLeader(), { timeoutMs: 10_000, what: 'leadership after the Gateway turned active' });
      assert.deepEqual(events, ['started']);
      const lease = await api.get(resourcePath('coordination.k8s.io', 'v1', 'leases', NS, GLOBALNET_LEASE));
      assert.equal((lease.spec as { holderIdentity?: string }).holderIdentity, `${NODE}-submariner-globalnet`);
      const cur = await api.get(`${gwPath}/${NODE}`);
      await api.replace(`${gwPath}/${NODE}`, { ...cur, status: { ...(cur.status as object), haStatus: 'passive' } });
      await waitFor(() => inactive === 1, { timeoutMs: 10_000, what: 'onInactive after the Gateway turned passive' });
      assert.equal(e.isLeader(), false);
      assert.equal(events.at(-1), 'stopped');
    } finally {
      await e.stop();
    }
  });

  /** A lost node's Globalnet holds a fresh 60 s Lease; `me` must take it once that node's Gateway turns passive. */
  async function takeOver(lost: string, me: string, ips: [string, string], retryPeriodMs: number): Promise<void> {
    const gwPath = resourcePath('submariner.io', 'v1', 'gateways', NS);
    const leasePath = resourcePath('coordination.k8s.io', 'v1', 'leases', NS);
    const old = await api.create(gwPath, { apiVersion: 'submariner.io/v1', kind: 'Gateway', ...gatewayObject({ name: lost, namespace: NS, status: { haStatus: 'active', localEndpoint: endpointSpec({ cluster: 'a', privateIP: ips[0] }) } }) });
    await api.create(gwPath, { apiVersion: 'submariner.io/v1', kind: 'Gateway', ...gatewayObject({ name: me, namespace: NS, status: { haStatus: 'active', localEndpoint: endpointSpec({ cluster: 'a', privateIP: ips[1] }) } }) });
    // The lost node's Globalnet holds a fresh 60 s Lease it will never renew or release.
    const now = new Date().toISOString().replace('Z', '000Z');
    const existing = await api.getOrUndefined(`${leasePath}/${GLOBALNET_LEASE}`);
    const spec = { holderIdentity: `${lost}-submariner-globalnet`, leaseDurationSeconds: 60, acquireTime: now, renewTime: now, leaseTransitions: 1 };
    if (existing) await api.replace(`${leasePath}/${GLOBALNET_LEASE}`, { ...existing, spec });
    else await api.create(leasePath, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: GLOBALNET_LEASE, namespace: NS }, spec });
    const e = new ActiveGatewayElection({
      client: api, namespace: NS, nodeName: me, log: quietLog,
      timings: { leaseDurationMs: 20_000, renewDeadlineMs: 15_000, retryPeriodMs, releaseOnCancel: true },
    });
    e.start();
    try {
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(e.isLeader(), false, 'the lost node still says active: its lease is respected');
      await api.replace(`${gwPath}/${lost}`, { ...old, status: { ...(old.status as object), haStatus: 'passive' } });
      await waitFor(() => e.isLeader(), { timeoutMs: 5_000, what: 'leadership once the lost node\'s Gateway turned passive' });
      const lease = await api.get(`${leasePath}/${GLOBALNET_LEASE}`);
      assert.equal((lease.spec as { holderIdentity?: string }).holderIdentity, `${me}-submariner-globalnet`);
    } finally {
      await e.stop();
    }
  }

  it('takes over a lost node\'s Lease once that node\'s Gateway is no longer active, without waiting out the lease', async () => {
    await takeOver('gw-lost', 'gw-new', ['192.168.1.2', '192.168.1.3'], 200);
  });

  it('decides again as soon as the holder\'s Gateway turns passive, not at its next retry', async () => {
    // A 60 s retry period: only the Gateway change can make the candidate try again within takeOver's 5 s.
    await takeOver('gw-lost2', 'gw-new2', ['192.168.1.4', '192.168.1.5'], 60_000);
  });

});
