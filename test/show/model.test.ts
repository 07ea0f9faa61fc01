import assert from 'node:assert/strict';
import { buildShowModel, renderShow, showFailed, ALL_SECTIONS } from '../../src/show/model.js';
import type { KubeObject } from '../../src/k8s/rest.js';

const epSpec = (c: string, ip: string, pub = ip) => ({ cluster_id: c, cable_name: `submariner-cable-${c}-${ip.replace(/\./g, '-')}`, hostname: `${c}-gw1`, subnets: ['10.43.0.0/16', '10.42.0.0/16'], private_ip: ip, public_ip: pub, nat_enabled: false, backend: 'wireguard' });

const fixtures = () => {
    const gateways: KubeObject[] = [{ metadata: { name: 'a-gw1' }, status: { haStatus: 'active', statusFailure: '', version: '0.1.0', localEndpoint: epSpec('a', '192.168.1.11'), connections: [{ status: 'connected', statusMessage: '', usingIP: '192.168.2.11', usingNAT: false, endpoint: epSpec('b', '192.168.2.11'), latencyRTT: { average: '412.341µs' } }] } }, { metadata: { name: 'a-gw2' }, status: { haStatus: 'passive', connections: [] } }];
    const endpoints: KubeObject[] = [{ metadata: { name: 'x' }, spec: epSpec('a', '192.168.1.11', '203.0.113.1') }, { metadata: { name: 'y', labels: { 'submariner-io/clusterID': 'b' } }, spec: epSpec('b', '192.168.2.11') }];
    const clusters: KubeObject[] = [{ metadata: { name: 'a' }, spec: { cluster_id: 'a', service_cidr: ['10.43.0.0/16'], cluster_cidr: ['10.42.0.0/16'], global_cidr: [] } }];
    return { gateways, endpoints, clusters };
};

describe('show: model and tables', () => {
  it('renders connections, endpoints, gateways, networks and versions like subctl', () => {
    const { gateways, endpoints, clusters } = fixtures();
    const text = renderShow(buildShowModel({ gateways, endpoints, clusters }), ALL_SECTIONS);
    assert.equal(text, [
      'Cluster "a"',
      ' ✓ Showing Connections',
      'GATEWAY  CLUSTER  REMOTE IP     NAT  CABLE DRIVER  SUBNETS                     STATUS     RTT avg.',
      'a-gw1    b        192.168.2.11  no   wireguard     10.43.0.0/16, 10.42.0.0/16  connected  412.341µs',
      ' ✓ Showing Endpoints',
      'CLUSTER  ENDPOINT IP   PUBLIC IP     CABLE DRIVER  TYPE',
      'a        192.168.1.11  203.0.113.1   wireguard     local',
      'b        192.168.2.11  192.168.2.11  wireguard     remote',
      ' ✓ Showing Gateways',
      'NODE   HA STATUS  SUMMARY',
      'a-gw1  active     All connections (1) are established',
      'a-gw2  passive    There are no connections',
      ' ✓ Showing Network details',
      '    Discovered network details via hawser:',
      '        Service CIDRs:   [10.43.0.0/16]',
      '        Cluster CIDRs:   [10.42.0.0/16]',
      ' ✓ Showing versions',
      'COMPONENT       NODE   RUNNING',
      'hawser-gateway  a-gw1  0.1.0',
      'hawser-gateway  a-gw2',
      '',
    ].join('\n'));
  });

  it('exits non-zero exactly when a section shows ✗', () => {
    const f = fixtures();
    assert.equal(showFailed(buildShowModel(f), ALL_SECTIONS), false);
    const down = fixtures();
    const conn = ((down.gateways[0]!.status as { connections: Record<string, unknown>[] }).connections[0]!);
    conn.status = 'error';
    conn.statusMessage = 'no IKE SA: peer 192.168.2.11 does not answer';
    const m = buildShowModel(down);
    assert.equal(showFailed(m, ALL_SECTIONS), true);
    assert.equal(showFailed(m, ['endpoints', 'networks']), false, 'only the sections shown count');
    const text = renderShow(m, ['connections']);
    assert.match(text, /^ ✗ Showing Connections$/m);
    assert.match(text, /^ {2}b: no IKE SA: peer 192\.168\.2\.11 does not answer$/m);
    assert.equal(showFailed(buildShowModel({ ...f, clusters: [] }), ['networks']), true);
  });

  it('a resource it may not read (403) makes its sections ✗ with the reason; the rest prints', () => {
    const f = fixtures();
    const reason = 'forbidden (403) in namespace submariner-operator: use a kubeconfig allowed to list routeagents.submariner.io';
    const m = buildShowModel({ ...f, routeAgents: [], unreadable: { routeagents: reason } });
    const text = renderShow(m, ALL_SECTIONS);
    assert.match(text, /^ ✓ Showing Connections$/m);
    assert.match(text, /^ ✓ Showing Endpoints$/m);
    assert.match(text, /^ ✓ Showing Network details$/m);
    // versions: what it could read (the gateways) and why the route agents are missing
    assert.match(text, / ✗ Showing versions\nCOMPONENT {7}NODE {3}RUNNING\nhawser-gateway {2}a-gw1 {2}0\.1\.0\nhawser-gateway {2}a-gw2\n {2}cannot read routeagents: forbidden \(403\)/);
    assert.equal(showFailed(m, ALL_SECTIONS), true);
    assert.equal(showFailed(m, ['connections', 'endpoints']), false);

    const noGw = buildShowModel({ ...f, gateways: [], unreadable: { gateways: 'forbidden (403)' } });
    const t2 = renderShow(noGw, ['connections', 'gateways', 'endpoints']);
    assert.equal(t2, [
      'Cluster "a"',
      ' ✗ Showing Connections',
      'cannot read gateways: forbidden (403)',
      ' ✗ Showing Gateways',
      'cannot read gateways: forbidden (403)',
      ' ✓ Showing Endpoints',
      'CLUSTER  ENDPOINT IP   PUBLIC IP     CABLE DRIVER  TYPE',
      'a        192.168.1.11  203.0.113.1   wireguard     local',
      'b        192.168.2.11  192.168.2.11  wireguard     remote',
      '',
    ].join('\n'));
    assert.deepEqual(noGw.unreadable, { gateways: 'forbidden (403)' }, 'in -o json/yaml too');
  });
});
