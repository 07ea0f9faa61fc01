import assert from 'node:assert/strict';
import { cableStates, formatConnections, formatPingMatrix, parseGateway, type PingCell } from '../../src/lab/observe.js';
import { planLab, resolveOptions } from '../../src/lab/topology.js';

const GW_A1 = {
  metadata: { name: 'a-gw1' },
  status: {
    haStatus: 'active',
    statusFailure: '',
    connections: [{
      status: 'connected', statusMessage: '', usingIP: '172.17.0.11', usingNAT: false,
      endpoint: { cluster_id: 'cluster-b', hostname: 'b-gw1', backend: 'wireguard', subnets: ['10.45.0.0/16', '10.44.0.0/16'] },
      latencyRTT: { average: '412.341µs' },
    }],
  },
};

describe('lab: observing gateways and pings', () => {
  it('reads a Gateway object of any shape into a summary', () => {
    assert.deepEqual(parseGateway('cluster-a', GW_A1), {
      cluster: 'cluster-a', name: 'a-gw1', haStatus: 'active', failure: '',
      connections: [{
        cluster: 'cluster-b', hostname: 'b-gw1', status: 'connected', message: '', usingIP: '172.17.0.11', usingNAT: false,
        backend: 'wireguard', subnets: ['10.45.0.0/16', '10.44.0.0/16'], rttAvg: '412.341µs',
      }],
    });
    assert.deepEqual(parseGateway('cluster-a', { metadata: { name: 'x' }, status: { connections: 'nope' } }).connections, []);
    assert.equal(parseGateway('cluster-a', null).name, '');
  });

  it('says per cluster what is missing until every cable is connected', () => {
    const passive = parseGateway('cluster-b', { metadata: { name: 'b-gw2' }, status: { haStatus: 'passive', connections: [] } });
    const connecting = parseGateway('cluster-b', {
      metadata: { name: 'b-gw1' },
      status: { haStatus: 'active', connections: [{ status: 'connecting', statusMessage: 'waiting for handshake', endpoint: { cluster_id: 'cluster-a' } }] },
    });
    assert.deepEqual(cableStates(['cluster-a', 'cluster-b'], { 'cluster-a': [parseGateway('cluster-a', GW_A1)], 'cluster-b': [connecting, passive] }), [
      { cluster: 'cluster-a', connected: ['cluster-b'], missing: '' },
      { cluster: 'cluster-b', connected: [], missing: 'cluster-a connecting (waiting for handshake)' },
    ]);
    assert.deepEqual(cableStates(['cluster-a', 'cluster-b'], { 'cluster-a': [], 'cluster-b': [passive] }).map((s) => s.missing), [
      'no Gateway objects yet', 'no active gateway (b-gw2: passive)',
    ]);
    assert.equal(cableStates(['cluster-a'], { 'cluster-a': '404 Not Found' })[0]!.missing, 'cannot read Gateways: 404 Not Found');
  });

  it('prints connections like subctl show connections', () => {
    assert.equal(formatConnections([parseGateway('cluster-a', GW_A1)]), [
      'GATEWAY  CLUSTER    REMOTE IP    NAT  CABLE DRIVER  SUBNETS                     STATUS     RTT avg.',
      'a-gw1    cluster-b  172.17.0.11  no   wireguard     10.45.0.0/16, 10.44.0.0/16  connected  412.341µs',
    ].join('\n') + '\n');
  });

  it('prints the ping matrix with ✓ and RTT, ✗, and – for targets without an address', () => {
    const t = planLab(resolveOptions({ name: 'x1', repoRoot: '/repo', gatewaysPerCluster: 1, workersPerCluster: 0 }), { psk: 'p', adminTokens: {}, brokerTokens: {} });
    const cells: PingCell[] = [
      { from: 'a-gw1-pod1', to: 'b-gw1-pod1', ip: '10.44.0.2', ok: true, rttMs: 0.4321 },
      { from: 'b-gw1-pod1', to: 'a-gw1-pod1', ip: '', ok: false },
    ];
    assert.equal(formatPingMatrix(t, cells), [
      'FROM \\ TO             a-gw1-pod1 10.42.0.2  b-gw1-pod1 10.44.0.2',
      'a-gw1-pod1 10.42.0.2  ·                     ✓ 0.43 ms',
      'b-gw1-pod1 10.44.0.2  – no IP               ·',
    ].join('\n') + '\n');
  });
});
