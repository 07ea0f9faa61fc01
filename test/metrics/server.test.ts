import assert from 'node:assert/strict';
import { Counter, Gauge, Registry } from 'prom-client';
import { GatewayMetrics } from '../../src/metrics/gateway.js';
import { RouteAgentMetrics } from '../../src/metrics/routeagent.js';
import { createRegistry } from '../../src/metrics/registry.js';
import { renderRegistries, startMetricsServer, type MetricsServer } from '../../src/metrics/server.js';
import { findSamples, parseExposition } from '../../src/metrics/exposition.js';
import { HealthChecks } from '../../src/metrics/health.js';
import { isHawserError } from '../../src/util/errors.js';

describe('metrics: server', () => {
  const servers: MetricsServer[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });

  it('serves /metrics from several registries and /healthz', async () => {
    const gw = createRegistry({ component: 'gateway', version: '0.1.0' });
    const ra = createRegistry();
    const g = new GatewayMetrics(gw);
    g.setConnections({ cluster: 'a', hostname: 'h', endpointIP: '192.0.2.1', driver: 'vxlan' },
      [{ remoteCluster: 'b', remoteHostname: 'hb', remoteEndpointIP: '192.0.2.2', status: 'connected' }]);
    g.reconcileError('cable');
    new RouteAgentMetrics(ra).reconcileError('routes');
    let healthy = true;
    const s = await startMetricsServer({ port: 0, host: '127.0.0.1', registries: [gw, ra], health: new HealthChecks(), unhealthy: () => (healthy ? undefined : 'cable engine stopped') });
    servers.push(s);
    const base = `http://127.0.0.1:${s.port}`;

    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const samples = parseExposition(text);
    assert.equal(findSamples(samples, 'submariner_connections', { status: 'connected' }).length, 1);
    assert.equal(findSamples(samples, 'hawser_build_info', { component: 'gateway', version: '0.1.0' }).length, 1);
    assert.ok(findSamples(samples, 'process_cpu_user_seconds_total').length === 1, 'process metrics once, though both registries have them');
    assert.equal(text.match(/^# TYPE process_cpu_user_seconds_total /gm)?.length, 1);
    // the shared counter family appears once with the series of both roles
    assert.equal(text.match(/^# TYPE hawser_reconcile_errors_total /gm)?.length, 1);
    assert.deepEqual(findSamples(samples, 'hawser_reconcile_errors_total').map((x) => x.labels.subsystem).sort(), ['cable', 'routes']);

    assert.equal(await (await fetch(`${base}/healthz`)).text(), 'ok\n');
    healthy = false;
    const bad = await fetch(`${base}/healthz`);
    assert.equal(bad.status, 500);
    assert.equal(await bad.text(), '[-]role failed: cable engine stopped\nhealthz check failed\n');
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
  });

  it('says which variable to change when the port is taken', async () => {
    const first = await startMetricsServer({ port: 0, host: '127.0.0.1', registries: [new Registry()] });
    servers.push(first);
    await assert.rejects(startMetricsServer({ port: first.port, host: '127.0.0.1', registries: [new Registry()] }),
      (err: unknown) => isHawserError(err, 'EXISTS') && /SUBMARINER_METRICSPORT/.test(err.message));
  });

  it('keeps the first family when two registries disagree on a type', async () => {
    const a = new Registry();
    const b = new Registry();
    new Counter({ name: 'x_total', help: 'a', registers: [a] }).inc(2);
    new Gauge({ name: 'x_total', help: 'b', registers: [b] }).set(9);
    const samples = parseExposition(await renderRegistries([a, b]));
    assert.deepEqual(findSamples(samples, 'x_total').map((x) => x.value), [2]);
  });
});
