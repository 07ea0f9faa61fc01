import assert from 'node:assert/strict';
import { clusterView, routeAgentInput } from '../../src/routeagent/role.js';
import { routeAgentConfigFromEnv } from '../../src/config/roles.js';
import type { KubeObject } from '../../src/k8s/rest.js';

const node = (name: string, ip: string, annotations?: Record<string, string>): KubeObject => ({ metadata: { name, ...(annotations ? { annotations } : {}) }, status: { addresses: [{ type: 'InternalIP', address: ip }] } });
const ep = (name: string, cluster: string, host: string, ip: string, created: string, label?: string, backend = 'wireguard'): KubeObject => ({
  metadata: { name, creationTimestamp: created, ...(label ? { labels: { 'submariner-io/clusterID': label } } : {}) },
  spec: { cluster_id: cluster, cable_name: `c-${name}`, hostname: host, subnets: cluster === 'a' ? ['10.42.0.0/16'] : ['10.52.0.0/16', '10.53.0.0/16'], private_ip: ip, public_ip: ip, nat_enabled: false, backend },
});
const cfg = routeAgentConfigFromEnv({ SUBMARINER_NAMESPACE: 'ns', SUBMARINER_CLUSTERID: 'a', NODE_NAME: 'w1', SUBMARINER_CLUSTERCIDR: '10.42.0.0/16', SUBMARINER_SERVICECIDR: '10.43.0.0/16' });

describe('route agent role: inputs from the API', () => {
  it('takes the active gateway from our newest local Endpoint and remote CIDRs from the others', () => {
    const view = clusterView(
      [node('gw1', '192.168.1.11'), node('gw2', '192.168.1.12'), node('w1', '192.168.1.13', { 'submariner.io/tcp-clamp-mss': '1300' })],
      [ep('old', 'a', 'gw1', '192.168.1.11', '2026-01-01T00:00:00Z'), ep('new', 'a', 'gw2', '192.168.1.12', '2026-01-01T00:01:00Z'), ep('b1', 'b', 'bgw', '192.168.2.11', '2026-01-01T00:00:00Z', 'b')],
      'a', 'w1');
    const input = routeAgentInput(cfg, view, { nodeInterface: { name: 'eth0', mtu: 1450 } });
    assert.ok(!('error' in input));
    assert.deepEqual(input.activeGateway, { nodeName: 'gw2', nodeIP: '192.168.1.12' });
    assert.deepEqual(input.remoteCidrs, ['10.52.0.0/16', '10.53.0.0/16']);
    assert.equal(input.nodeIP, '192.168.1.13');
    assert.equal(input.mtu, 1450);
    assert.equal(input.mssOverride, 1300);
    assert.equal(input.cableDriver, 'wireguard');
  });
  it('reports a node without InternalIP instead of planning', () => {
    const r = routeAgentInput(cfg, clusterView([{ metadata: { name: 'w1' } }], [], 'a', 'w1'), {});
    assert.ok('error' in r && /no IPv4 InternalIP/.test(r.error));
  });
});
