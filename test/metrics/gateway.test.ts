import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { GatewayMetrics, type ConnectionSample, type LocalGateway } from '../../src/metrics/gateway.js';
import { findSamples, parseExposition, type Sample } from '../../src/metrics/exposition.js';

const local: LocalGateway = { cluster: 'cluster-a', hostname: 'gw-a1', endpointIP: '198.51.100.1', driver: 'wireguard' };

const toB: ConnectionSample = {
  remoteCluster: 'cluster-b', remoteHostname: 'gw-b1', remoteEndpointIP: '198.51.100.2', status: 'connected',
  rxBytes: 1000, txBytes: 2000, establishedAt: 1_700_000_000_000, rttSeconds: 0.0012, lossRatio: 0, lastHandshakeAgeSeconds: 7,
  healthCheckAvailable: true,
};
const toC: ConnectionSample = { remoteCluster: 'cluster-c', remoteHostname: 'gw-c1', remoteEndpointIP: '198.51.100.3', status: 'connecting' };

const cableB = {
  cable_driver: 'wireguard', local_cluster: 'cluster-a', local_hostname: 'gw-a1', local_endpoint_ip: '198.51.100.1',
  remote_cluster: 'cluster-b', remote_hostname: 'gw-b1', remote_endpoint_ip: '198.51.100.2',
};

async function scrape(r: Registry): Promise<{ text: string; samples: Sample[] }> {
  const text = await r.metrics();
  return { text, samples: parseExposition(text) };
}

/** Every series of one metric as `name{k="v",...} value` lines with sorted labels, for exact comparison. */
function lines(samples: Sample[], name: string): string[] {
  return findSamples(samples, name).map((s) => {
    const labels = Object.keys(s.labels).sort().map((k) => `${k}="${s.labels[k]}"`).join(',');
    return `${name}{${labels}} ${s.value}`;
  }).sort();
}

describe('metrics: GatewayMetrics', () => {
  it("uses Submariner's metric names, types and label sets", async () => {
    const r = new Registry();
    const m = new GatewayMetrics(r, { cluster: 'cluster-a', hostname: 'gw-a1', driver: 'wireguard' });
    m.setConnections(local, [toB]);
    m.syncIteration();
    const { text, samples } = await scrape(r);

    for (const [name, type] of [
      ['submariner_gateway_sync_iterations', 'counter'], ['submariner_gateway_rx_bytes', 'gauge'], ['submariner_gateway_tx_bytes', 'gauge'],
      ['submariner_connections', 'gauge'], ['submariner_connections_short', 'gauge'],
      ['submariner_connection_established_timestamp', 'gauge'], ['submariner_connection_latency_seconds', 'gauge'],
    ]) assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);

    assert.deepEqual(lines(samples, 'submariner_connections'), [
      'submariner_connections{cable_driver="wireguard",local_cluster="cluster-a",local_endpoint_ip="198.51.100.1",local_hostname="gw-a1",remote_cluster="cluster-b",remote_endpoint_ip="198.51.100.2",remote_hostname="gw-b1",status="connected"} 1',
    ]);
    assert.deepEqual(lines(samples, 'submariner_connections_short'), ['submariner_connections_short{cable_driver="wireguard",status="connected"} 1']);
    const one = (name: string): number => {
      const found = findSamples(samples, name, cableB);
      assert.equal(found.length, 1, name);
      assert.deepEqual(Object.keys(found[0]!.labels).sort(), Object.keys(cableB).sort(), `${name} label set`);
      return found[0]!.value;
    };
    assert.equal(one('submariner_gateway_rx_bytes'), 1000);
    assert.equal(one('submariner_gateway_tx_bytes'), 2000);
    assert.equal(one('submariner_connection_established_timestamp'), 1_700_000_000);
    assert.equal(one('submariner_connection_latency_seconds'), 0.0012);
    assert.equal(one('hawser_connection_packet_loss_ratio'), 0);
    assert.equal(one('hawser_connection_last_handshake_age_seconds'), 7);
    assert.equal(one('hawser_connection_health_check_available'), 1);
    assert.deepEqual(lines(samples, 'submariner_gateway_sync_iterations'), ['submariner_gateway_sync_iterations{} 1']);
  });

  it('keeps one connections series per cable, for its current status', async () => {
    const r = new Registry();
    const m = new GatewayMetrics(r);
    m.setConnections(local, [toB, toC]);
    m.setConnections(local, [{ ...toB, status: 'error' }, { ...toC, status: 'connected' }]);
    const { samples } = await scrape(r);
    assert.deepEqual(findSamples(samples, 'submariner_connections').map((s) => `${s.labels.remote_cluster}=${s.labels.status}`).sort(),
      ['cluster-b=error', 'cluster-c=connected']);
    assert.deepEqual(lines(samples, 'submariner_connections_short'), [
      'submariner_connections_short{cable_driver="wireguard",status="connected"} 1',
      'submariner_connections_short{cable_driver="wireguard",status="error"} 1',
    ]);
  });

  it('removes every series of a connection that vanished (Submariner leaks them)', async () => {
    const r = new Registry();
    const m = new GatewayMetrics(r, { cluster: 'cluster-a', driver: 'wireguard' });
    m.setConnections(local, [toB, { ...toC, rttSeconds: 0.002, rxBytes: 5 }]);
    m.cableConnect('cluster-b');
    m.setConnections(local, [toB]);
    const { text, samples } = await scrape(r);
    assert.ok(!text.includes('cluster-c'), `cluster-c series left behind:\n${text}`);
    assert.equal(findSamples(samples, 'submariner_connections').length, 1);
    assert.deepEqual(lines(samples, 'submariner_connections_short'), ['submariner_connections_short{cable_driver="wireguard",status="connected"} 1']);
    assert.deepEqual(lines(samples, 'hawser_cable_connects_total'), [
      'hawser_cable_connects_total{cable_driver="wireguard",local_cluster="cluster-a",remote_cluster="cluster-b"} 1',
    ]);

    m.setConnections(local, []);
    const after = await scrape(r);
    for (const name of ['submariner_connections', 'submariner_connections_short', 'submariner_gateway_rx_bytes',
      'submariner_connection_latency_seconds', 'submariner_connection_established_timestamp', 'hawser_cable_connects_total']) {
      assert.deepEqual(findSamples(after.samples, name), [], name);
    }
  });

  it('moves series when the remote endpoint changes (failover on the remote side)', async () => {
    const r = new Registry();
    const m = new GatewayMetrics(r);
    m.setConnections(local, [toB]);
    m.setConnections(local, [{ ...toB, remoteHostname: 'gw-b2', remoteEndpointIP: '198.51.100.22' }]);
    const { samples } = await scrape(r);
    assert.deepEqual(findSamples(samples, 'submariner_gateway_rx_bytes').map((s) => s.labels.remote_hostname), ['gw-b2']);
    assert.deepEqual(findSamples(samples, 'submariner_connections').map((s) => s.labels.remote_hostname), ['gw-b2']);
  });

  it('is idempotent: the same set twice gives the same exposition', async () => {
    const r = new Registry();
    const m = new GatewayMetrics(r);
    m.setConnections(local, [toB, toC], 1_000_000);
    const first = await r.metrics();
    m.setConnections(local, [toB, toC], 2_000_000);
    assert.equal(await r.metrics(), first);
  });

  it('stamps establishment when first seen connected if the engine gives no time, and keeps it', async () => {
    const r = new Registry();
    const m = new GatewayMetrics(r);
    const c: ConnectionSample = { ...toC };
    m.setConnections(local, [c], 1_000_000);
    assert.deepEqual(findSamples((await scrape(r)).samples, 'submariner_connection_established_timestamp'), []);
    m.setConnections(local, [{ ...c, status: 'connected' }], 5_000_000);
    m.setConnections(local, [{ ...c, status: 'connected' }], 9_000_000);
    assert.deepEqual(findSamples((await scrape(r)).samples, 'submariner_connection_established_timestamp').map((s) => s.value), [5000]);
    m.setConnections(local, [{ ...c, status: 'error' }], 10_000_000);
    m.setConnections(local, [{ ...c, status: 'connected' }], 12_000_000);
    assert.deepEqual(findSamples((await scrape(r)).samples, 'submariner_connection_established_timestamp').map((s) => s.value), [12000]);
  });

  it('drops values that are not finite non-negative numbers instead of exporting them', async () => {
    const r = new Registry();
    const m = new GatewayMetrics(r);
    m.setConnections(local, [{ ...toC, rxBytes: NaN, rttSeconds: -1, lossRatio: 3 }]);
    const { samples } = await scrape(r);
    assert.deepEqual(findSamples(samples, 'submariner_gateway_rx_bytes'), []);
    assert.deepEqual(findSamples(samples, 'submariner_connection_latency_seconds'), []);
    assert.deepEqual(findSamples(samples, 'hawser_connection_packet_loss_ratio').map((s) => s.value), [1]);
  });

  it('counts leader transitions, reconcile errors and tracks whether this gateway is active', async () => {
    const r = new Registry();
    const m = new GatewayMetrics(r, { cluster: 'cluster-a', hostname: 'gw-a1', subsystems: ['cable', 'broker-sync'] });
    let { samples } = await scrape(r);
    assert.deepEqual(lines(samples, 'hawser_gateway_active'), ['hawser_gateway_active{local_cluster="cluster-a",local_hostname="gw-a1"} 0']);
    assert.deepEqual(lines(samples, 'hawser_reconcile_errors_total'), [
      'hawser_reconcile_errors_total{subsystem="broker-sync"} 0', 'hawser_reconcile_errors_total{subsystem="cable"} 0',
    ]);
    m.leaderTransition('active');
    m.reconcileError('cable');
    m.reconcileError('cable');
    ({ samples } = await scrape(r));
    assert.deepEqual(lines(samples, 'hawser_gateway_active'), ['hawser_gateway_active{local_cluster="cluster-a",local_hostname="gw-a1"} 1']);
    assert.deepEqual(lines(samples, 'hawser_leader_transitions_total'), [
      'hawser_leader_transitions_total{local_cluster="cluster-a",local_hostname="gw-a1",role="active"} 1',
      'hawser_leader_transitions_total{local_cluster="cluster-a",local_hostname="gw-a1",role="passive"} 0',
    ]);
    assert.equal(findSamples(samples, 'hawser_reconcile_errors_total', { subsystem: 'cable' })[0]?.value, 2);
    m.leaderTransition('passive');
    ({ samples } = await scrape(r));
    assert.equal(findSamples(samples, 'hawser_gateway_active')[0]?.value, 0);
  });
});
