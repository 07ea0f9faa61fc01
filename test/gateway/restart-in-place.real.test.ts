// Restarting the active gateway in place (issue 15's rolling upgrade): SIGTERM on a node that stays keeps the
// Lease (held for the restart, not released), the cables and the daemons; the new process re-takes the Lease
// under the same identity and adopts the cables. Two gateways per cluster, so a standby is there and ready
// to take over: it must not. A 10/s pod-to-pod ping across clusters loses nothing.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_STATE_ROOT, Lab, labDown, randomLabName, readGateways, waitForCables } from '../../src/lab/index.js';
import { RestClient, resourcePath } from '../../src/k8s/rest.js';
import { sleep, waitFor } from '../../src/util/wait.js';
import { apiServerAvailable } from '../support/lab.js';
import { pidsMatching, startPings } from '../support/lab.js';

const NS = 'submariner-operator';
const BROKER_NS = 'submariner-k8s-broker';
const LEASE = resourcePath('coordination.k8s.io', 'v1', 'leases', NS, 'submariner-gateway-lock');

describe('gateway @real: restart of the active gateway in place (WireGuard lab, 2 gateways per cluster)', function () {
  this.timeout(150_000);
  let lab: Lab | undefined;
  const clients: RestClient[] = [];

  before(async function () {
    this.timeout(90_000);
    if (!(await apiServerAvailable())) this.skip();
    // The lab's gateways hand over on SIGTERM by default (its SIGTERM stands for a node going away).
    lab = await Lab.up({ name: randomLabName(), driver: 'wireguard', roleEnv: { HAWSER_RELEASE_ON_STOP: 'false' } });
    await waitForCables(lab, 60_000);
  });

  after(async () => {
    for (const c of clients) c.close();
    if (lab && existsSync(join(DEFAULT_STATE_ROOT, lab.name))) await labDown(lab.name);
  });

  function client(cluster: string): RestClient {
    const c = new RestClient(lab!.kubeConfig(cluster));
    clients.push(c);
    return c;
  }

  it('0 pings lost at 10/s, no Lease transition, the Endpoint unchanged everywhere, wireguard-go kept and adopted', async () => {
    const l = lab!;
    const a = client('cluster-a');
    const b = client('cluster-b');
    const active = (await readGateways(l.kubeConfig('cluster-a'), 'cluster-a')).find((g) => g.haStatus === 'active')?.name;
    assert.ok(active, 'cluster-a has an active gateway');
    const leaseSpec = async (): Promise<{ holderIdentity: string; leaseTransitions: number }> => (await a.get(LEASE)).spec as { holderIdentity: string; leaseTransitions: number };
    const endpointsOfA = async (): Promise<string> => {
      const lists = await Promise.all([
        a.list(resourcePath('submariner.io', 'v1', 'endpoints', NS)),
        a.list(resourcePath('submariner.io', 'v1', 'endpoints', BROKER_NS)),
        b.list(resourcePath('submariner.io', 'v1', 'endpoints', NS)),
      ]);
      return JSON.stringify(lists.map((x) => x.items.filter((o) => (o.spec as { cluster_id?: string }).cluster_id === 'cluster-a').map((o) => [o.metadata.name, o.spec])));
    };
    const lease0 = await leaseSpec();
    const eps0 = await endpointsOfA();
    const [wg0, ...moreWg] = await pidsMatching(l, active, /^wireguard-go /);
    assert.ok(wg0 !== undefined && moreWg.length === 0, `one wireguard-go on ${active}`);

    const pings = await startPings(l, 'a-wk1-pod1', l.node('b-wk1').pods[0]!.ip);
    const holders = new Set<string>();
    let watching = true;
    const watch = (async () => {
      while (watching) {
        holders.add((await leaseSpec().catch(() => ({ holderIdentity: '?' }))).holderIdentity);
        await sleep(100);
      }
    })();
    let result: { transmitted: number; lost: number };
    try {
      await waitFor(() => pings.replies() >= 10, { timeoutMs: 10_000, what: '10 ping replies before the restart' });
      const t0 = Date.now();
      await l.restartRole(active, 'gateway');
      // The new process says active again (its own write: updated after the restart).
      await waitFor(async () => {
        const g = (await readGateways(l.kubeConfig('cluster-a'), 'cluster-a')).find((x) => x.name === active);
        const updated = Number((await a.get(resourcePath('submariner.io', 'v1', 'gateways', NS, active))).metadata.annotations?.['update-timestamp'] ?? 0);
        return g?.haStatus === 'active' && updated * 1000 >= t0 - 1000;
      }, { timeoutMs: 60_000, intervalMs: 200, what: `${active} to report active again after its restart` });
      await waitForCables(l, 30_000);
      const n = pings.replies();
      await waitFor(() => pings.replies() >= n + 20, { timeoutMs: 10_000, what: '20 more ping replies' });
      console.log(`      ${active} restarted in place; active again after ${Date.now() - t0} ms`);
    } finally {
      watching = false;
      await watch;
      result = await pings.stop();
    }
    console.log(`      ${result.transmitted} pings sent at 10/s, ${result.lost} lost; Lease holders seen: ${[...holders].join(', ')}`);
    assert.equal(result.lost, 0, `${result.lost} pings lost across the restart`);
    const lease1 = await leaseSpec();
    assert.deepEqual([...holders], [lease0.holderIdentity], 'the Lease never changed hands');
    assert.equal(lease1.leaseTransitions, lease0.leaseTransitions, 'no Lease transition');
    assert.equal(await endpointsOfA(), eps0, 'cluster-a\'s Endpoint is unchanged locally, on the broker and in cluster-b');
    assert.deepEqual(await pidsMatching(l, active, /^wireguard-go /), [wg0], 'the same wireguard-go runs (kept across the restart, adopted)');
    const passive = (await readGateways(l.kubeConfig('cluster-a'), 'cluster-a')).filter((g) => g.name !== active);
    assert.ok(passive.every((g) => g.haStatus === 'passive'), `the standby stayed passive: ${JSON.stringify(passive.map((g) => [g.name, g.haStatus]))}`);
  });
});
