// `hawser show plan`'s Globalnet section against a real hawser-globalnet table in a namespace: it reads the
// table nft lists (the plan applied by the real applier leaves nothing pending) and writes nothing, neither
// to the kernel nor to the API (the client sees lists only).
import assert from 'node:assert/strict';
import { globalnetSection } from '../../src/cli/commands/show-globalnet.js';
import { routeAgentConfigFromEnv } from '../../src/config/roles.js';
import type { KubeObject, RestClient } from '../../src/k8s/rest.js';
import { inputsFromObjects } from '../../src/nat/controller.js';
import { planGlobalnet } from '../../src/nat/desired.js';
import { NftDataplane } from '../../src/nat/nft.js';
import { exec } from '../../src/util/exec.js';
import type { FakeApi } from '../support/fake-api.js';
import { globalnetWorld } from '../support/globalnet-world.js';
import { quietLog } from '../support/fixtures.js';
import { canUseNetns, useNetns } from '../support/netns.js';

const NS = 'submariner-operator';
const NOW = new Date('2026-01-01T00:00:00Z');

/** Lists by path from a FakeApi; every other call is recorded as a write (there must be none). */
function listOnlyClient(api: FakeApi, calls: string[]): RestClient {
  const src = api.sources(NS);
  const byPath: Record<string, readonly KubeObject[]> = {
    '/apis/submariner.io/v1/clusterglobalegressips': src.clusterEgressIPs, '/apis/submariner.io/v1/globalegressips': src.egressIPs,
    '/apis/submariner.io/v1/globalingressips': src.ingressIPs, '/apis/multicluster.x-k8s.io/v1alpha1/serviceexports': src.serviceExports,
    '/api/v1/services': src.services, '/api/v1/pods': src.pods, '/api/v1/endpoints': src.endpoints, '/api/v1/nodes': [],
    [`/apis/submariner.io/v1/namespaces/${NS}/endpoints`]: src.submarinerEndpoints, [`/apis/submariner.io/v1/namespaces/${NS}/clusters`]: src.clusters,
  };
  const write = (op: string) => async (path: string): Promise<never> => {
    calls.push(`${op} ${path}`);
    throw new Error(`show plan must not ${op} ${path}`);
  };
  const client = {
    list: async (path: string) => {
      calls.push(`list ${path}`);
      return { items: [...(byPath[path] ?? [])] };
    },
    create: write('create'), replace: write('replace'), delete: write('delete'), patch: write('patch'), merge: write('merge'),
  };
  return client as unknown as RestClient;
}

describe('show plan: Globalnet section against a real table @real', function () {
  this.timeout(60_000);
  const h = useNetns();
  before(function () {
    if (!canUseNetns()) this.skip();
  });

  it('reads the applied table (nothing pending), then a changed world as pending changes; writes nothing', async () => {
    const netns = await h.ns('hw-sgn');
    const api = globalnetWorld(NS);
    const cfg = routeAgentConfigFromEnv({ SUBMARINER_NAMESPACE: NS, SUBMARINER_CLUSTERID: 'a', NODE_NAME: 'gw1', SUBMARINER_CLUSTERCIDR: '10.42.0.0/16', SUBMARINER_SERVICECIDR: '10.43.0.0/16', SUBMARINER_GLOBALCIDR: '242.0.0.0/24', SUBMARINER_HEALTHCHECKENABLED: 'false' });
    const inputsCfg = { clusterId: 'a', globalCidr: '242.0.0.0/24', localCidrs: ['10.42.0.0/16', '10.43.0.0/16'], nodeName: 'gw1' };
    const dp = new NftDataplane({ netns });
    try {
      await dp.sync(planGlobalnet(inputsFromObjects(api.sources(NS), inputsCfg, NOW)).dataplane);
    } finally {
      dp.close();
    }
    const ruleset = async (): Promise<string> => (await exec('nft', ['list', 'ruleset'], { netns })).stdout;
    const before = await ruleset();
    assert.match(before, /table ip hawser-globalnet/);

    const calls: string[] = [];
    const s = await globalnetSection({ client: listOnlyClient(api, calls), cfg, log: quietLog, netns, now: NOW });
    assert.ok(s && !s.error, JSON.stringify(s));
    assert.deepEqual(s.pending, [], s.pending?.join('\n'));

    // Another remote cluster appears: its global CIDR is pending, and still nothing is written.
    api.seed(`/apis/submariner.io/v1/namespaces/${NS}/endpoints/c-ep`, {
      metadata: { name: 'c-ep', labels: { 'submariner-io/clusterID': 'c' } },
      spec: { cluster_id: 'c', cable_name: 'c-c', hostname: 'cgw', subnets: ['242.2.0.0/24'], private_ip: '192.168.3.11', public_ip: '192.168.3.11', nat_enabled: false, backend: 'vxlan' },
    });
    const s2 = await globalnetSection({ client: listOnlyClient(api, calls), cfg, log: quietLog, netns, now: NOW });
    assert.ok(s2?.pending?.some((l) => l.includes('remote_global_cidrs') && l.includes('242.2.0.0/24')), s2?.pending?.join('\n'));
    assert.equal(await ruleset(), before, 'the kernel table is unchanged');
    assert.deepEqual(calls.filter((c) => !c.startsWith('list ')), [], 'no API writes');
  });
});
