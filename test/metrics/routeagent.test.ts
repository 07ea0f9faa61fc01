import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { RouteAgentMetrics } from '../../src/metrics/routeagent.js';
import { findSamples, parseExposition } from '../../src/metrics/exposition.js';

describe('metrics: RouteAgentMetrics', () => {
  it('publishes remote endpoint health level-triggered and removes vanished endpoints', async () => {
    const r = new Registry();
    const m = new RouteAgentMetrics(r, { subsystems: ['routes'] });
    m.setRemoteEndpoints([
      { remoteCluster: 'cluster-b', remoteEndpointIP: '10.2.0.5', status: 'connected', rttSeconds: 0.001 },
      { remoteCluster: 'cluster-c', remoteEndpointIP: '10.3.0.5', status: 'error' },
    ]);
    m.setRemoteEndpoints([{ remoteCluster: 'cluster-b', remoteEndpointIP: '10.2.0.5', status: 'error' }]);
    const samples = parseExposition(await r.metrics());
    assert.deepEqual(findSamples(samples, 'hawser_route_agent_remote_endpoint_status').map((s) => `${s.labels.remote_cluster}=${s.labels.status}`), ['cluster-b=error']);
    assert.deepEqual(findSamples(samples, 'hawser_route_agent_remote_latency_seconds'), []);
    assert.equal(findSamples(samples, 'hawser_reconcile_errors_total', { subsystem: 'routes' })[0]?.value, 0);
  });

  it('counts sync passes and what is installed', async () => {
    const r = new Registry();
    const m = new RouteAgentMetrics(r);
    m.syncIteration(1_700_000_000_000);
    m.setInstalled({ routes: 4, rules: 1, fdb_entries: 2 });
    m.setInstalled({ routes: 5, rules: 1 });
    m.reconcileError('vxlan');
    const samples = parseExposition(await r.metrics());
    assert.equal(findSamples(samples, 'hawser_route_agent_sync_iterations_total')[0]?.value, 1);
    assert.equal(findSamples(samples, 'hawser_route_agent_last_sync_timestamp_seconds')[0]?.value, 1_700_000_000);
    assert.deepEqual(findSamples(samples, 'hawser_route_agent_installed').map((s) => `${s.labels.kind}=${s.value}`).sort(), ['routes=5', 'rules=1']);
    assert.equal(findSamples(samples, 'hawser_reconcile_errors_total', { subsystem: 'vxlan' })[0]?.value, 1);
  });
});
