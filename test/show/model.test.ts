import assert from 'node:assert/strict';
import { buildShowModel, renderShow, ALL_SECTIONS } from '../../src/show/model.js';
import type { KubeObject } from '../../src/k8s/rest.js';

const epSpec = (c: string, ip: string, pub = ip) => ({ cluster_id: c, cable_name: `submariner-cable-${c}-${ip.replace(/\./g, '-')}`, hostname: `${c}-gw1`, subnets: ['10.43.0.0/16', '10.42.0.0/16'], private_ip: ip, public_ip: pub, nat_enabled: false, backend: 'wireguard' });

describe('show: model and tables', () => {
  it('renders connections, endpoints, gateways, networks and versions like subctl', () => {
    const gateways: KubeObject[] = [{ metadata: { name: 'a-gw1' }, status: { haStatus: 'active', statusFailure: '', version: '0.1.0', localEndpoint: epSpec('a', '192.168.1.11'), connections: [{ status: 'connected', statusMessage: '', usingIP: '192.168.2.11', usingNAT: false, endpoint: epSpec('b', '192.168.2.11'), latencyRTT: { average: '412.341µs' } }] } }, { metadata: { name: 'a-gw2' }, status: { haStatus: 'passive', connections: [] } }];
    const endpoints: KubeObject[] = [{ metadata: { name: 'x' }, spec: epSpec('a', '192.168.1.11', '203.0.113.1') }, { metadata: { name: 'y', labels: { 'submariner-io/clusterID': 'b' } }, spec: epSpec('b', '192.168.2.11') }];
    const clusters: KubeObject[] = [{ metadata: { name: 'a' }, spec: { cluster_id: 'a', service_cidr: ['10.43.0.0/16'], cluster_cidr: ['10.42.0.0/16'], global_cidr: [] } }];
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
});
