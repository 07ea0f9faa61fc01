import assert from 'node:assert/strict';
import { clusterView, podOwnerReference, remoteEndpointStatus, remoteGatewayIPs, routeAgentInput } from '../../src/routeagent/role.js';
import { parseEndpointSpec } from '../../src/k8s/resources.js';
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

describe('route agent role: RouteAgent status as Submariner writes it', () => {
  const parsed = parseEndpointSpec({ cluster_id: 'b', cable_name: 'c-b', hostname: 'bgw', subnets: ['10.52.0.0/16'], private_ip: '192.168.2.11', public_ip: '203.0.113.9', nat_enabled: false, backend: 'libreswan', healthCheckIP: '10.52.0.1' });
  assert.ok(parsed.ok);
  const e = parsed.value;
  const rtt = { lastNs: 1_500_000, minNs: 1_000_000, avgNs: 1_250_000, maxNs: 2_000_000, stddevNs: 250_000 };

  it('uses Submariner\'s statuses and messages', () => {
    const st = (o: Parameters<typeof remoteEndpointStatus>[1], ep = e): [string, unknown] => {
      const r = remoteEndpointStatus(ep, o);
      return [r.status, r.entry.statusMessage];
    };
    assert.deepEqual(st({ enabled: false, onGateway: false }), ['none', 'Health check is not enabled']);
    assert.deepEqual(st({ enabled: true, onGateway: true }), ['none', 'Health check is not performed on gateway nodes']);
    assert.deepEqual(st({ enabled: true, onGateway: false }, { ...e, healthCheckIP: '' }), ['none', 'Health checker IP is not configured']);
    assert.deepEqual(st({ enabled: true, onGateway: false }), ['connecting', '']);
    assert.deepEqual(st({ enabled: true, onGateway: false, health: { healthy: true } }), ['connecting', '']);
    const bad = st({ enabled: true, onGateway: false, health: { healthy: false, reason: 'no reply to the last 5 health-check pings to 10.52.0.1' } });
    assert.equal(bad[0], 'error');
    assert.match(String(bad[1]), /^Failed to successfully ping the remote endpoint IP "10\.52\.0\.1": no reply to the last 5/);
    const ok = remoteEndpointStatus(e, { enabled: true, onGateway: false, health: { healthy: true, rtt } });
    assert.equal(ok.status, 'connected');
    assert.deepEqual(ok.entry.latencyRTT, { last: '1.5ms', min: '1ms', average: '1.25ms', max: '2ms', stdDev: '250µs' });
  });

  it('owns the RouteAgent by the pod when its uid is known', () => {
    assert.equal(podOwnerReference(undefined), undefined);
    assert.equal(podOwnerReference({ metadata: { name: 'p' } }), undefined);
    assert.deepEqual(podOwnerReference({ metadata: { name: 'p', uid: 'u-1' } }), [{ apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'u-1' }]);
  });

  it('knows every address a remote gateway may be reached at', () => {
    assert.deepEqual(remoteGatewayIPs({ nodes: [], remoteEndpoints: [e, { ...e, publicIP: '' }] }), ['203.0.113.9', '192.168.2.11']);
  });
});
