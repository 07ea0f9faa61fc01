import assert from 'node:assert/strict';
import { buildShowModel, renderShow, showFailed, ALL_SECTIONS } from '../../src/show/model.js';
import type { KubeObject } from '../../src/k8s/rest.js';
import { brokerProblems, buildBroker, renderBroker } from '../../src/show/broker.js';

const epSpec = (c: string, ip: string, pub = ip) => ({ cluster_id: c, cable_name: `submariner-cable-${c}-${ip.replace(/\./g, '-')}`, hostname: `${c}-gw1`, subnets: ['10.43.0.0/16', '10.42.0.0/16'], private_ip: ip, public_ip: pub, nat_enabled: false, backend: 'wireguard' });

const fixtures = () => {
    const gateways: KubeObject[] = [{ metadata: { name: 'a-gw1', annotations: { 'update-timestamp': '998' } }, status: { haStatus: 'active', statusFailure: '', version: '0.1.0', localEndpoint: epSpec('a', '192.168.1.11'), connections: [{ status: 'connected', statusMessage: '', usingIP: '192.168.2.11', usingNAT: false, endpoint: epSpec('b', '192.168.2.11'), latencyRTT: { average: '412.341µs' } }] } }, { metadata: { name: 'a-gw2', annotations: { 'update-timestamp': '997' } }, status: { haStatus: 'passive', connections: [] } }];
    const endpoints: KubeObject[] = [{ metadata: { name: 'x' }, spec: epSpec('a', '192.168.1.11', '203.0.113.1') }, { metadata: { name: 'y', labels: { 'submariner-io/clusterID': 'b' } }, spec: epSpec('b', '192.168.2.11') }];
    const clusters: KubeObject[] = [{ metadata: { name: 'a' }, spec: { cluster_id: 'a', service_cidr: ['10.43.0.0/16'], cluster_cidr: ['10.42.0.0/16'], global_cidr: [] } }];
    return { gateways, endpoints, clusters, nowSeconds: 1000 };
};

describe('show: model and tables', () => {
  it('renders connections, endpoints, gateways, networks and versions like subctl', () => {
    const { gateways, endpoints, clusters } = fixtures();
    const text = renderShow(buildShowModel({ gateways, endpoints, clusters, nowSeconds: 1000 }), ALL_SECTIONS);
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
      'COMPONENT       NODE   RUNNING  STATUS   LAST SEEN  IMAGE',
      'hawser-gateway  a-gw1  0.1.0    running  2s ago',
      'hawser-gateway  a-gw2           running  3s ago',
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
    assert.match(text, / ✗ Showing versions\nCOMPONENT {7}NODE {3}RUNNING {2}STATUS {3}LAST SEEN {2}IMAGE\nhawser-gateway {2}a-gw1 {2}0\.1\.0 {4}running {2}2s ago\nhawser-gateway {2}a-gw2 {11}running {2}3s ago\n {2}cannot read routeagents: forbidden \(403\)/);
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

  it('versions and gateways from live signals: a stale Gateway or RouteAgent, or a pod not running, is ✗; no signal is "unknown", not ✗', () => {
    const f = fixtures();
    const ra = (node: string, ts?: number): KubeObject => ({ metadata: { name: node, ...(ts ? { annotations: { 'update-timestamp': String(ts) } } : {}) }, status: { version: '0.1.0' } });
    const pod = (node: string, phase: string, ready: string): KubeObject => ({ metadata: { name: `submariner-routeagent-${node}`, labels: { app: 'submariner-routeagent' } }, spec: { nodeName: node, containers: [{ image: 'quay.io/hawser/hawser:0.1.0' }] }, status: { phase, conditions: [{ type: 'Ready', status: ready }] } });
    const m = buildShowModel({ ...f, routeAgents: [ra('a-wk1', 950), ra('a-wk2', 700), ra('a-wk3'), ra('a-wk4', 990)], pods: [pod('a-wk1', 'Running', 'True'), pod('a-wk4', 'Running', 'False')] });
    const v = Object.fromEntries(m.versions.map((x) => [x.node, x]));
    assert.equal(v['a-wk1']!.status, 'running');
    assert.equal(v['a-wk1']!.image, 'quay.io/hawser/hawser:0.1.0');
    assert.equal(v['a-wk2']!.status, 'stale');
    assert.equal(v['a-wk3']!.status, 'unknown', 'Submariner\'s route agent writes no timestamp');
    assert.equal(v['a-wk4']!.status, 'not running');
    const text = renderShow(m, ['versions']);
    assert.match(text, /^ ✗ Showing versions$/m);
    assert.match(text, /^ {2}hawser-routeagent on a-wk2: not refreshed for 300 s \(a live one refreshes within 150 s\): stopped or stuck$/m);
    assert.match(text, /^ {2}hawser-routeagent on a-wk4: pod submariner-routeagent-a-wk4 is Running, not ready$/m);
    assert.doesNotMatch(text, /a-wk3:/);
    assert.equal(showFailed(buildShowModel({ ...f, routeAgents: [ra('a-wk3')] }), ['versions']), false);
    // a gateway that stopped: its Gateway object goes stale
    const stopped = buildShowModel({ ...f, nowSeconds: 1100 });
    assert.match(renderShow(stopped, ['gateways']), /^ ✗ Showing Gateways$[^]*a-gw1: Gateway not refreshed for 102 s: its gateway is stopped or stuck/m);
    assert.match(renderShow({ ...m, unreadable: { pods: 'forbidden (403)' } }, ['versions']), /pod status not shown: cannot read pods: forbidden \(403\)/);
  });

  it('the broker: registered clusters with their Endpoints; a Cluster without an Endpoint, a shown cluster missing, or no access is ✗', () => {
    const ep = (c: string): KubeObject => ({ metadata: { name: `${c}-ep` }, spec: epSpec(c, '192.168.1.11') });
    const cl = (c: string): KubeObject => ({ metadata: { name: c }, spec: { cluster_id: c, service_cidr: [], cluster_cidr: [], global_cidr: [] } });
    const ok = buildBroker('https://b:6443', 'submariner-k8s-broker', { clusters: [cl('b'), cl('a')], endpoints: [ep('b'), ep('a')] });
    assert.deepEqual(ok.clusters, ['a', 'b']);
    assert.deepEqual(brokerProblems(ok, ['a', 'b']), []);
    assert.match(renderBroker(ok), /^Broker https:\/\/b:6443 \(namespace submariner-k8s-broker\)\n ✓ Showing Brokers\nCLUSTER {2}ENDPOINT IP/);
    const missing = buildBroker('https://b:6443', 'ns', { clusters: [cl('a'), cl('b')], endpoints: [ep('a')] });
    assert.deepEqual(brokerProblems(missing, ['a', 'c']), ['b has a Cluster but no Endpoint on the broker: its active gateway is not syncing (gateway log, broker token)', 'c is not registered on the broker: its gateway cannot reach or write to it (BROKER_K8S_* / broker-info)']);
    const denied = buildBroker('https://b:6443', 'ns', { error: 'forbidden (403)' });
    assert.match(renderBroker(denied), / ✗ Showing Brokers\ncannot read the broker: forbidden \(403\)/);
  });
});
