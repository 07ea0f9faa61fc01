// /healthz and /readyz from the registry of named checks: an event-loop stall, an informer that has not
// synced or stopped watching, a periodic loop that stopped completing each fail with their reason.
import assert from 'node:assert/strict';
import { HealthChecks, type InformerLike } from '../../src/metrics/health.js';
import { startMetricsServer, type MetricsServer } from '../../src/metrics/server.js';
import { GatewayMetrics } from '../../src/metrics/gateway.js';
import { RouteAgentMetrics } from '../../src/metrics/routeagent.js';
import { createRegistry } from '../../src/metrics/registry.js';

/** A registry on a clock the test moves (monotonic and wall clock together). */
function clocked(): { h: HealthChecks; advance: (ms: number) => void } {
  let t = 1_000_000;
  const h = new HealthChecks(undefined, () => t, () => t);
  return { h, advance: (ms) => void (t += ms) };
}

describe('metrics: health checks (/healthz, /readyz)', () => {
  const servers: MetricsServer[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });

  it('a periodic loop: not ready before its first pass; not live when passes stop for longer than the grace', () => {
    const { h, advance } = clocked();
    const loop = h.loop('gateway-status-sync', 5000);
    assert.match(h.run('ready').results[0]!.reason ?? '', /has not completed a pass yet/);
    assert.equal(h.run('live').ok, true, 'live during the start-up grace');
    advance(61_000);
    assert.match(h.run('live').results[0]!.reason ?? '', /not completed a pass in 61s since start/);
    loop.beat();
    assert.equal(h.run('live').ok, true);
    assert.equal(h.run('ready').ok, true);
    advance(16_000);
    assert.match(h.run('ready').results[0]!.reason ?? '', /not completed a pass for 16s \(period 5s\)/);
    assert.equal(h.run('live').ok, true, 'liveness waits for the grace (60 s)');
    advance(45_000);
    assert.equal(h.run('live').ok, false);
    loop.remove();
    assert.deepEqual(h.names(), []);
  });

  it('an informer: not ready until synced, not live when it never syncs or stops watching past the grace', () => {
    const { h, advance } = clocked();
    const inf: { hasSynced: boolean; lastError?: string; failingSinceMs?: number } = { hasSynced: false, lastError: 'connect ECONNREFUSED' };
    const untrack = h.trackInformer('/apis/submariner.io/v1/namespaces/x/endpoints', inf as InformerLike);
    assert.match(h.run('ready').results[0]!.reason ?? '', /has not synced after 0s: connect ECONNREFUSED/);
    assert.equal(h.run('live').ok, true);
    advance(121_000);
    assert.match(h.run('live').results[0]!.reason ?? '', /has not synced after 121s/);
    inf.hasSynced = true;
    delete inf.lastError;
    assert.equal(h.run('live').ok && h.run('ready').ok, true);
    inf.lastError = 'watch error event: too old';
    inf.failingSinceMs = 1_121_000;
    advance(1000);
    assert.match(h.run('ready').results[0]!.reason ?? '', /stopped watching 1s ago: watch error event/);
    assert.equal(h.run('live').ok, true);
    advance(120_000);
    assert.match(h.run('live').results[0]!.reason ?? '', /stopped watching 121s ago/);
    delete inf.failingSinceMs; // a successful list
    assert.equal(h.run('live').ok, true);
    untrack();
    assert.deepEqual(h.names(), []);
  });

  it('the roles\' metrics beat their loops: the gateway status sync and the route agent reconcile', () => {
    const { h } = clocked();
    const gw = new GatewayMetrics(createRegistry(), { health: h });
    const ra = new RouteAgentMetrics(createRegistry(), { health: h });
    assert.deepEqual(h.names().sort(), ['loop:gateway-status-sync', 'loop:route-agent-reconcile']);
    assert.equal(h.run('ready').ok, false);
    gw.syncIteration();
    ra.syncIteration();
    assert.equal(h.run('ready').ok, true);
  });

  it('serves the reasons: 500 and one line per failing check, 200 ok otherwise, ?verbose lists every check', async () => {
    const h = new HealthChecks();
    const loop = h.loop('route-agent-reconcile', 30_000);
    const s = await startMetricsServer({ port: 0, host: '127.0.0.1', registries: [createRegistry()], health: h, watchEventLoop: false });
    servers.push(s);
    const base = `http://127.0.0.1:${s.port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 500);
    assert.equal(await ready.text(), '[-]loop:route-agent-reconcile failed: route-agent-reconcile has not completed a pass yet\nreadyz check failed\n');
    loop.beat();
    const verbose = await fetch(`${base}/readyz?verbose`);
    assert.equal(verbose.status, 200);
    assert.equal(await verbose.text(), '[+]loop:route-agent-reconcile ok\nok\n');
  });

  it('an event-loop stall fails /healthz with how long it was, then clears', async () => {
    const h = new HealthChecks({ maxStallMs: 300, stallMemoryMs: 2000, informerGraceMs: 0, loopGracePeriods: 1, minLoopGraceMs: 0 });
    const s = await startMetricsServer({ port: 0, host: '127.0.0.1', registries: [createRegistry()], health: h });
    servers.push(s);
    const base = `http://127.0.0.1:${s.port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    // a real stall: the event loop is blocked for 800 ms
    const until = Date.now() + 800;
    while (Date.now() < until) { /* blocking on purpose */ }
    let res = await fetch(`${base}/healthz`);
    for (const deadline = Date.now() + 5000; res.status === 200 && Date.now() < deadline;) res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 500);
    assert.match(await res.text(), /^\[-\]event-loop failed: event loop stalled for 0\.[5-9]s|^\[-\]event-loop failed: event loop stalled for \d+(\.\d)?s/);
    // forgotten after stallMemoryMs (polled with a deadline)
    const deadline = Date.now() + 10_000;
    while ((res = await fetch(`${base}/healthz`)).status !== 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(res.status, 200);
  });
});
