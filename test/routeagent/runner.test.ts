import assert from 'node:assert/strict';
import { createLogger } from '../../src/log/index.js';
import { RouteAgentApplyError, RouteAgentRunner, type ApplyReport, type RouteAgentInput, type RouteAgentPlan, type RunResult } from '../../src/routeagent/index.js';
import { waitFor } from '../../src/util/wait.js';

const log = createLogger({ level: 'fatal' });
const input = (gw: string): RouteAgentInput => ({
  nodeName: 'n2',
  nodeIP: '10.0.0.12',
  nodes: [{ name: 'n1', ip: '10.0.0.11' }, { name: 'n3', ip: '10.0.0.13' }],
  activeGateway: { nodeName: gw, nodeIP: gw === 'n1' ? '10.0.0.11' : '10.0.0.13' },
  localClusterCidrs: ['10.244.0.0/16'],
  localServiceCidrs: [],
  remoteCidrs: ['10.245.0.0/16'],
  cableDriver: 'libreswan',
});
const report = (total: number, failures: string[] = []): ApplyReport => ({ links: 0, addresses: 0, fdb: 0, neighbors: 0, routes: total, rules: 0, sysctls: 0, nft: 0, total, durationMs: 1, failures });

/** A dataplane whose reconciles finish when the test says so. */
class SlowDataplane {
  calls: string[] = [];
  private gates: (() => void)[] = [];
  fail = 0;
  async reconcile(plan: RouteAgentPlan): Promise<ApplyReport> {
    this.calls.push(plan.gateway?.name ?? 'none');
    await new Promise<void>((resolve) => this.gates.push(resolve));
    if (this.fail > 0) {
      this.fail--;
      throw new RouteAgentApplyError('route agent reconcile', report(0, ['route add: EPERM']));
    }
    return report(1);
  }
  release(): void {
    for (const g of this.gates.splice(0)) g();
  }
}

describe('routeagent runner', () => {
  it('applies at once when idle, then only the latest of the inputs that came meanwhile', async () => {
    const dp = new SlowDataplane();
    const results: RunResult[] = [];
    const r = new RouteAgentRunner({ dataplane: dp, log, onResult: (x) => results.push(x) });
    r.update(input('n1'));
    await waitFor(() => dp.calls.length === 1, { timeoutMs: 1000, intervalMs: 1 });
    r.update(input('n3'));
    r.update(input('n1'));
    r.update(input('n3'));
    dp.release();
    await waitFor(() => dp.calls.length === 2, { timeoutMs: 1000, intervalMs: 1 });
    dp.release();
    await r.settled();
    assert.deepEqual(dp.calls, ['n1', 'n3']);
    assert.deepEqual(results.map((x) => x.report?.total), [1, 1]);
  });

  it('retries a failed reconcile with backoff', async () => {
    const dp = new SlowDataplane();
    dp.fail = 2;
    const results: RunResult[] = [];
    const r = new RouteAgentRunner({ dataplane: dp, log, retryBaseMs: 5, retryMaxMs: 5, onResult: (x) => results.push(x) });
    r.update(input('n1'));
    const release = setInterval(() => dp.release(), 2);
    try {
      await waitFor(() => results.length === 3, { timeoutMs: 2000, intervalMs: 2, what: 'two failures and a success' });
    } finally {
      clearInterval(release);
    }
    assert.deepEqual(results.map((x) => (x.error ? x.report?.failures : 'ok')), [['route add: EPERM'], ['route add: EPERM'], 'ok']);
    assert.deepEqual(dp.calls, ['n1', 'n1', 'n1']);
    await r.stop();
  });

  it('a new input does not wait for a pending retry', async () => {
    const dp = new SlowDataplane();
    dp.fail = 1;
    const r = new RouteAgentRunner({ dataplane: dp, log, retryBaseMs: 60_000 });
    r.update(input('n1'));
    await waitFor(() => dp.calls.length === 1, { timeoutMs: 1000, intervalMs: 1 });
    dp.release();
    await r.settled();
    r.update(input('n3'));
    await waitFor(() => dp.calls.length === 2, { timeoutMs: 1000, intervalMs: 1 });
    dp.release();
    assert.equal((await r.settled())?.error, undefined);
    assert.deepEqual(dp.calls, ['n1', 'n3']);
    await r.stop();
  });

  it('an input that cannot be planned is reported and not retried', async () => {
    const dp = new SlowDataplane();
    const results: RunResult[] = [];
    const r = new RouteAgentRunner({ dataplane: dp, log, retryBaseMs: 1, onResult: (x) => results.push(x) });
    r.update({ ...input('n1'), nodeIP: 'not-an-ip' });
    const last = await r.settled();
    assert.equal(last?.plan, undefined);
    assert.match(last?.error?.message ?? '', /is not an IPv4 address/);
    assert.deepEqual(dp.calls, []);
    assert.equal(results.length, 1);
  });

  it('stops: no reconcile after stop()', async () => {
    const dp = new SlowDataplane();
    const r = new RouteAgentRunner({ dataplane: dp, log });
    const stopped = r.stop();
    r.update(input('n1'));
    await stopped;
    assert.deepEqual(dp.calls, []);
  });
});
