// Gateway failover end to end on a two-cluster WireGuard lab: the active gateway of cluster A fails
// (SIGTERM of hawser, SIGKILL of hawser, its node's LAN link cut); a 10/s ping from a pod on A's worker
// to a pod on B's worker must come back through the standby, B must switch its cable, the old
// Endpoint must go, and the old gateway, when it returns, must stay passive with no cables.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BROKER_NAMESPACE, DEFAULT_STATE_ROOT, Lab, SUBMARINER_NAMESPACE, labDown, randomLabName, waitForCables } from '../../src/lab/index.js';
import { exec } from '../../src/util/exec.js';
import { waitFor } from '../../src/util/wait.js';
import { endpointHosts, gatewayViews, runFailover, violations, wgPeers, type FailoverResult, type FailureKind } from '../support/failover/scenario.js';
import { apiServerAvailable } from '../support/lab.js';

describe('gateway failover @real: election on the lab (WireGuard)', function () {
  this.timeout(110_000);
  let lab: Lab | undefined;
  let toIp = '';
  const figures: string[] = [];

  before(async function () {
    this.timeout(70_000);
    if (!(await apiServerAvailable())) this.skip();
    lab = await Lab.up({ name: randomLabName(), driver: 'wireguard' });
    await waitForCables(lab, 45_000);
    toIp = lab.node('b-wk1').pods[0]!.ip;
  });

  afterEach(function () {
    if (this.currentTest?.state !== 'failed' || !lab) return;
    for (const node of ['a-gw1', 'a-gw2']) {
      const file = lab.logFile(`${node}/gateway`);
      const tail = existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n').slice(-15).join('\n') : '(no log)';
      console.log(`      --- ${file} (last 15 lines)\n${tail}`);
    }
  });

  after(async () => {
    if (figures.length) console.log(`      failover figures: ${figures.join('; ')}`);
    if (lab && existsSync(join(DEFAULT_STATE_ROOT, lab.name))) await labDown(lab.name);
  });

  /** After a failover: B's copy, the broker and A itself know only the new gateway; B's cable goes to it. */
  async function assertSwitched(r: FailoverResult): Promise<void> {
    await waitFor(async () => {
      const [local, broker, remote, bGateways] = await Promise.all([
        endpointHosts(lab!, 'cluster-a', SUBMARINER_NAMESPACE, 'cluster-a'),
        endpointHosts(lab!, 'cluster-a', BROKER_NAMESPACE, 'cluster-a'),
        endpointHosts(lab!, 'cluster-b', SUBMARINER_NAMESPACE, 'cluster-a'),
        gatewayViews(lab!, 'cluster-b'),
      ]);
      const bActive = Object.values(bGateways).filter((g) => g.haStatus === 'active');
      const cables = bActive.flatMap((g) => g.connections).filter((c) => c.cluster === 'cluster-a');
      const want = [r.newActive];
      return JSON.stringify([local, broker, remote]) === JSON.stringify([want, want, want])
        && cables.length === 1 && cables[0]!.hostname === r.newActive && cables[0]!.status === 'connected';
    }, { timeoutMs: 15_000, intervalMs: 200, what: `only ${r.newActive}'s Endpoint in A, the broker and B, and B's cable to it` });
  }

  async function failover(kind: FailureKind): Promise<FailoverResult> {
    const r = await runFailover(lab!, { kind, cluster: 'cluster-a', fromPod: 'a-wk1-pod1', toIp, restoreTimeoutMs: 20_000, returnStableMs: 1000 });
    figures.push(`${kind}: ${r.outage.lost} lost (${r.outage.outageMs} ms), first reply ${Math.round(r.outage.firstReplyMs)} ms, lease taken ${Math.round(r.takeoverMs)} ms`);
    assert.notEqual(r.newActive, r.oldActive);
    assert.equal(r.outage.lostBefore, 0, 'the ping lost packets before the failure');
    assert.deepEqual(violations(r.returnSamples, r.oldActive), [], 'the old gateway served as active again');
    assert.ok(r.oldFencedMs !== undefined, `old gateway ${r.oldActive} did not end up passive without cables: last sample ${JSON.stringify(r.returnSamples.at(-1))}`);
    // A single lost ping happens on a starved CPU; more means the returning gateway broke the path.
    assert.ok((r.returnOutage?.lost ?? 0) <= 1, `the returning old gateway disturbed the path: ${r.returnOutage?.lost} pings lost`);
    assert.deepEqual(await wgPeers(lab!, r.oldActive), [], 'the old gateway still has WireGuard peers');
    await assertSwitched(r);
    return r;
  }

  it('`hawser show all` shows both clusters connected, with RTT', async () => {
    const kc = lab!.kubeconfig('cluster-a');
    // The RTT appears once the health check has answered: wait for it in the Gateway objects first.
    await waitFor(async () => Object.values(await gatewayViews(lab!, 'cluster-a')).some((g) => g.connections.some((c) => c.rtt)), { timeoutMs: 15_000, what: 'an RTT in the Gateway status' });
    const out = (await exec(join(lab!.topology.options.repoRoot, 'bin', 'hawser'), ['show', 'all', '--kubeconfig', kc], { timeoutMs: 60_000 })).stdout;
    const conn = out.split('\n').find((l) => /\bcluster-b\b.*\bconnected\b/.test(l));
    assert.ok(conn, `no connected cluster-b row in:\n${out}`);
    assert.match(conn, /\d+(\.\d+)?(µs|ms|s)\s*$/, `no RTT in: ${conn}`);
    assert.match(out, /cluster-a\s+\S+\s+\S+\s+wireguard\s+local/);
    assert.match(out, /cluster-b\s+\S+\s+\S+\s+wireguard\s+remote/);
  });

  it('SIGTERM of the active gateway: the standby takes over at once (lease released)', async () => {
    const r = await failover('sigterm');
    assert.ok(r.takeoverMs < 1500, `lease taken ${Math.round(r.takeoverMs)} ms after SIGTERM: was it released?`);
    assert.ok(r.outage.firstReplyMs < 4000, `graceful failover took ${Math.round(r.outage.firstReplyMs)} ms`);
  });

  it('SIGKILL of the active hawser (data path left up): the standby takes over after expiry; the old one removes its cables when it returns', async () => {
    const r = await failover('sigkill');
    assert.ok(r.takeoverMs >= 1500, `lease taken ${Math.round(r.takeoverMs)} ms after SIGKILL: before it could expire`);
    assert.ok(r.outage.firstReplyMs < 8000, `crash failover took ${Math.round(r.outage.firstReplyMs)} ms`);
  });

  it("the active gateway's node loses its link: the standby takes over; the old one fenced itself and stays passive when the link returns", async () => {
    const r = await failover('link');
    assert.ok(r.outage.firstReplyMs < 8000, `node-loss failover took ${Math.round(r.outage.firstReplyMs)} ms`);
    // Cut off, it cannot tell anyone: it must remove its own cables once its renew deadline (1.5 s) passed.
    assert.ok(r.oldCablesGoneMs !== undefined && r.oldCablesGoneMs < 1500 + 1500, `the cut-off gateway removed its cables after ${r.oldCablesGoneMs ?? '∞'} ms`);
    assert.ok(r.oldCablesGoneMs < r.takeoverMs, `the cut-off gateway still had cables (${r.oldCablesGoneMs} ms) when the standby took over (${Math.round(r.takeoverMs)} ms)`);
  });
});
