// `hawser show plan` on a node in a namespace: the route agent's plan and dry run, and the cable engine's
// selection, computed from the API and the kernel without writing to either. A real route agent dataplane
// then applies the same plan, after which the dry run is empty.
import assert from 'node:assert/strict';
import { planSections } from '../../src/cli/commands/show.js';
import { routeAgentConfigFromEnv } from '../../src/config/roles.js';
import { localAccess } from '../../src/k8s/access.js';
import { RestClient, resourcePath } from '../../src/k8s/rest.js';
import { RouteAgentDataplane, planRouteAgent } from '../../src/routeagent/index.js';
import { renderPlan } from '../../src/show/plan.js';
import { exec } from '../../src/util/exec.js';
import { quietLog } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/apiserver.js';
import { canUseNetns, useNetns } from '../support/netns.js';

const NS = 'submariner-operator';
const SM = (plural: string): string => resourcePath('submariner.io', 'v1', plural, NS);
const GW = { name: 'gw1', ip: '192.168.62.11' };
const W1 = { name: 'w1', ip: '192.168.62.13', cni: '10.44.13.1' };

/** Everything a write would change, as text: links, addresses, routes and rules of every table, nft, FDB. */
async function kernelState(ns: string): Promise<string> {
  const parts = await Promise.all([
    exec('ip', ['-n', ns, 'link', 'show']), exec('ip', ['-n', ns, 'address', 'show']), exec('ip', ['-n', ns, 'route', 'show', 'table', 'all']),
    exec('ip', ['-n', ns, 'rule', 'show']), exec('ip', ['-n', ns, 'neigh', 'show']), exec('bridge', ['-n', ns, 'fdb', 'show']), exec('nft', ['list', 'ruleset'], { netns: ns }),
    exec('sysctl', ['-a', '-r', 'rp_filter'], { netns: ns }),
  ]);
  return parts.map((p) => p.stdout).join('\n---\n');
}

describe('show plan: what the planners would do on this node @real', function () {
  this.timeout(60_000);
  const h = useNetns();
  let server: TestServer | undefined;
  let client: RestClient | undefined;

  before(function () {
    if (!canUseNetns()) this.skip();
  });
  afterEach(async () => {
    client?.close();
    client = undefined;
    await server?.close();
    server = undefined;
  });

  it('prints the route agent plan and its pending writes without writing; empty once applied; the cables the engine wants', async () => {
    const node = await h.ns('hw-splan');
    const lan = await h.ns('hw-splan-lan');
    // no IPv6 link-local addresses whose DAD would change the dumps between two reads
    await exec('sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'], { netns: node });
    await h.link(node, 'eth0', `${W1.ip}/24`, lan, 'eth0', `${GW.ip}/24`);
    await h.ip(node, 'link', 'add', 'cni0', 'type', 'bridge');
    await h.ip(node, 'address', 'add', `${W1.cni}/24`, 'dev', 'cni0');
    await h.ip(node, 'link', 'set', 'cni0', 'up');

    server = await startTestServer();
    client = new RestClient(await localAccess(server.kubeconfig));
    await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    for (const n of [GW, W1]) await client.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: n.name }, status: { addresses: [{ type: 'InternalIP', address: n.ip }] } });
    await client.create(SM('endpoints'), {
      apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: { name: 'a-local' },
      spec: { cluster_id: 'a', cable_name: 'submariner-cable-a-192-168-62-11', hostname: 'gw1', subnets: ['10.44.0.0/16', '10.45.0.0/16'], private_ip: GW.ip, public_ip: GW.ip, nat_enabled: false, backend: 'libreswan' },
    });
    await client.create(SM('endpoints'), {
      apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: { name: 'b-remote', labels: { 'submariner-io/clusterID': 'b' } },
      spec: { cluster_id: 'b', cable_name: 'submariner-cable-b-172-21-0-2', hostname: 'bgw', subnets: ['10.54.0.0/16'], private_ip: '172.21.0.2', public_ip: '172.21.0.2', nat_enabled: false, backend: 'libreswan' },
    });
    await client.create(SM('endpoints'), {
      apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: { name: 'c-remote', labels: { 'submariner-io/clusterID': 'c' } },
      spec: { cluster_id: 'c', cable_name: 'submariner-cable-c-172-22-0-2', hostname: 'cgw', subnets: ['10.64.0.0/16'], private_ip: '172.22.0.2', public_ip: '172.22.0.2', nat_enabled: false, backend: 'wireguard' },
    });
    const cfg = routeAgentConfigFromEnv({
      SUBMARINER_NAMESPACE: NS, SUBMARINER_CLUSTERID: 'a', NODE_NAME: W1.name, SUBMARINER_CLUSTERCIDR: '10.44.0.0/16', SUBMARINER_SERVICECIDR: '10.45.0.0/16', SUBMARINER_HEALTHCHECKENABLED: 'false',
    });

    const before = await kernelState(node);
    const sections = await planSections({ client, cfg, log: quietLog, netns: node });
    assert.equal(await kernelState(node), before, 'show plan wrote nothing to the kernel');
    const [ra, cables] = sections;
    const text = renderPlan(sections);
    assert.equal(ra?.error, undefined, text);
    assert.ok(ra.plan.some((l) => /^link vx-submariner vxlan vni 100 dstport 4800 local 192\.168\.62\.13/.test(l)), text);
    assert.ok(ra.plan.some((l) => l.startsWith('route 10.54.0.0/16')), text);
    assert.ok(ra.plan.some((l) => l.startsWith('nft table ip hawser')), text);
    assert.ok((ra.pending?.length ?? 0) > 0, 'nothing installed yet: the dry run lists the writes');
    assert.ok(ra.pending!.some((l) => l.includes('vx-submariner')), text);
    assert.match(text, /^✓ route agent \(node w1, cluster a\)$/m);
    assert.match(text, /pending: \d+ change\(s\) a reconcile would make now/);
    // the cable engine: b is connected to, c uses another cable driver and is set aside with why
    assert.equal(cables?.error, undefined, text);
    assert.deepEqual(cables.plan, ['connect submariner-cable-b-172-21-0-2 via 172.21.0.2 [new]']);
    assert.match(cables.warnings.join('\n'), /remote cluster c uses cable driver "wireguard" but this cluster uses libreswan/);

    // a route agent applies the same plan: the dry run is now empty
    const dp = new RouteAgentDataplane({ netns: node, log: quietLog, resyncIntervalMs: 0 });
    try {
      const input = (await import('../../src/routeagent/role.js')).routeAgentInput(cfg,
        (await import('../../src/routeagent/role.js')).clusterView((await client.list('/api/v1/nodes')).items, (await client.list(SM('endpoints'))).items, 'a', W1.name),
        await dp.discoverHost(W1.ip, ['10.44.0.0/16']));
      assert.ok(!('error' in input));
      await dp.reconcile(planRouteAgent(input));
      const again = await planSections({ client, cfg, log: quietLog, netns: node });
      assert.deepEqual(again[0]?.pending, [], renderPlan(again));
      assert.match(renderPlan(again), /pending: none \(the kernel matches the plan\)/);
    } finally {
      await dp.uninstall().catch(() => undefined);
      await dp.close();
    }
  });
});
