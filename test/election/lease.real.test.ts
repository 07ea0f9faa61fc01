// LeaderElector against the real embedded API server (loopback, ephemeral port): one leader among several,
// takeover after expiry, release → immediate takeover, 409s, and fencing when the API stops answering.
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { k8s } from '../../src/k8s/client.js';
import { RestClient, resourcePath, type KubeObject } from '../../src/k8s/rest.js';
import type { RunningApiServer } from '../../src/apiserver/index.js';
import { ADMIN_TOKEN as TOKEN, startTestServer, type TestServer } from '../support/apiserver.js';
import { quietLog as log } from '../support/fixtures.js';
import { LeaderElector } from '../../src/election/lease.js';
import type { ElectionTimings } from '../../src/config/roles.js';
import { sleep, waitFor } from '../../src/util/wait.js';

const NS = 'default';
/** Fast timings with hawser's proportions (2 / 1.5 / 0.25 s scaled down). */
const T: ElectionTimings = { leaseDurationMs: 1000, renewDeadlineMs: 750, retryPeriodMs: 100, releaseOnCancel: true };

/** A TCP relay to the API server that can be frozen: connections stay open, nothing gets through. */
class FreezableProxy {
  private readonly pairs = new Set<[Socket, Socket | undefined]>();
  private frozen = false;
  private server: Server | undefined;
  port = 0;

  async start(targetPort: number): Promise<void> {
    this.server = createServer((client) => {
      const pair: [Socket, Socket | undefined] = [client, undefined];
      this.pairs.add(pair);
      client.on('error', () => undefined);
      client.on('close', () => this.pairs.delete(pair));
      if (this.frozen) return client.pause();
      const upstream = connect(targetPort, '127.0.0.1');
      upstream.on('error', () => client.destroy());
      pair[1] = upstream;
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : 0;
  }

  freeze(): void {
    this.frozen = true;
    for (const [c, u] of this.pairs) {
      c.unpipe();
      u?.unpipe();
      c.pause();
      u?.pause();
    }
  }

  async close(): Promise<void> {
    for (const [c, u] of this.pairs) {
      c.destroy();
      u?.destroy();
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe('election @real: LeaderElector against the embedded API server', function () {
  this.timeout(30_000);
  let ts: TestServer;
  let srv: RunningApiServer;
  const electors: LeaderElector[] = [];
  let leaseSeq = 0;

  const kubeConfig = (port: number): k8s.KubeConfig => {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caData: Buffer.from(srv.caPem!).toString('base64') }],
      users: [{ name: 'u', token: TOKEN }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    return kc;
  };
  const direct = (): RestClient => new RestClient(kubeConfig(srv.port), 2000);

  const elector = (name: string, identity: string, opts: { client?: RestClient; timings?: Partial<ElectionTimings> } = {}): LeaderElector => {
    const e = new LeaderElector({ client: opts.client ?? direct(), namespace: NS, name, identity, timings: { ...T, ...opts.timings }, log });
    electors.push(e);
    return e;
  };
  const leasePath = (name: string): string => resourcePath('coordination.k8s.io', 'v1', 'leases', NS, name);
  const holder = async (name: string): Promise<string> => {
    const o = await direct().getOrUndefined(leasePath(name));
    return String((o?.spec as { holderIdentity?: unknown } | undefined)?.holderIdentity ?? '');
  };
  const leaders = (es: readonly LeaderElector[]): LeaderElector[] => es.filter((e) => e.isLeader());
  const newLease = (): string => `lease-${++leaseSeq}`;

  before(async () => {
    ts = await startTestServer();
    srv = ts.srv;
  });

  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop()));
  });

  after(async () => {
    await ts?.close();
  });

  it('three electors: exactly one leads, and the Lease names it', async () => {
    const name = newLease();
    const es = ['a', 'b', 'c'].map((id) => elector(name, id));
    es.forEach((e) => e.start());
    const leader = await waitFor(() => leaders(es)[0], { timeoutMs: 5000, what: 'a leader' });
    // Watch a few lease durations: never two leaders, and the same one keeps renewing.
    const until = Date.now() + 2.5 * T.leaseDurationMs;
    while (Date.now() < until) {
      assert.ok(leaders(es).length <= 1, `two leaders: ${leaders(es).map((e) => e.identity).join(', ')}`);
      await sleep(20);
    }
    assert.deepEqual(leaders(es).map((e) => e.identity), [leader.identity]);
    assert.equal(await holder(name), leader.identity);
    for (const e of es) assert.equal(e.holder, leader.identity, `${e.identity} sees the leader`);
  });

  it('a crashed leader (no release) is replaced only after the lease expires', async () => {
    const name = newLease();
    const a = elector(name, 'a', { timings: { releaseOnCancel: false } });
    a.start();
    await waitFor(() => a.isLeader(), { timeoutMs: 5000, what: 'a to lead' });
    const b = elector(name, 'b');
    b.start();
    await sleep(2 * T.leaseDurationMs);
    assert.equal(b.isLeader(), false, 'b must not take a lease that is being renewed');
    await a.stop();
    const stoppedAt = performance.now();
    let startedAt = 0;
    b.once('started', () => (startedAt = performance.now()));
    await waitFor(() => b.isLeader(), { timeoutMs: 5000, what: 'b to take over' });
    const took = startedAt - stoppedAt;
    // b counts a whole lease duration from the last renewal it saw (at most one retry before the stop).
    assert.ok(took >= T.leaseDurationMs - T.retryPeriodMs - 50, `took over after ${took.toFixed(0)} ms, before the lease could expire`);
    assert.ok(took <= T.leaseDurationMs + 3 * T.retryPeriodMs + 300, `took over after ${took.toFixed(0)} ms`);
    assert.equal(await holder(name), 'b');
  });

  it('a released lease is taken at once', async () => {
    const name = newLease();
    const a = elector(name, 'a');
    a.start();
    await waitFor(() => a.isLeader(), { timeoutMs: 5000, what: 'a to lead' });
    const b = elector(name, 'b');
    b.start();
    await waitFor(() => b.holder === 'a', { timeoutMs: 2000, what: 'b to see a' });
    const t0 = performance.now();
    await a.stop();
    await waitFor(() => b.isLeader(), { timeoutMs: 2000, intervalMs: 10, what: 'b to take the released lease' });
    const took = performance.now() - t0;
    assert.ok(took < T.leaseDurationMs / 2, `released lease taken after ${took.toFixed(0)} ms (expiry would be ${T.leaseDurationMs} ms)`);
    const o = await direct().get(leasePath(name));
    const spec = o.spec as { holderIdentity: string; leaseTransitions: number };
    assert.equal(spec.holderIdentity, 'b');
    assert.equal(spec.leaseTransitions, 1);
  });

  it('a standby acts on a release within a round trip, not at its next retry (it watches the Lease)', async () => {
    const slow = { leaseDurationMs: 6000, renewDeadlineMs: 4000, retryPeriodMs: 2000 };
    for (const round of [1, 2]) {
      const name = newLease();
      const a = elector(name, `a${round}`, { timings: slow });
      a.start();
      await waitFor(() => a.isLeader(), { timeoutMs: 5000, what: 'a to lead' });
      const b = elector(name, `b${round}`, { timings: slow });
      b.start();
      await waitFor(() => b.holder === a.identity, { timeoutMs: 5000, what: 'b to see a' });
      // Let b settle into its 2 s wait, so only a wake-up can make it act early.
      await sleep(300);
      const t0 = performance.now();
      await a.stop();
      await waitFor(() => b.isLeader(), { timeoutMs: 5000, intervalMs: 5, what: 'b to take the released lease' });
      const took = performance.now() - t0;
      assert.ok(took < 400, `round ${round}: released lease taken after ${took.toFixed(0)} ms (retry period ${slow.retryPeriodMs} ms)`);
    }
  });

  it('loses cleanly on 409: a write that raced another writer does not lead', async () => {
    const name = newLease();
    // Someone else's lease, released: the elector will try to acquire it.
    await direct().create(resourcePath('coordination.k8s.io', 'v1', 'leases', NS), {
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: NS },
      spec: { holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 4 },
    });
    // A client whose first PUT is overtaken by an intruder's acquisition: the elector's PUT carries a stale
    // resourceVersion and gets 409.
    let raced = 0;
    class RacingClient extends RestClient {
      override async replace(path: string, obj: unknown): Promise<KubeObject> {
        if (raced === 0) {
          raced++;
          const cur = await direct().get(path);
          await direct().replace(path, { ...cur, spec: { ...(cur.spec as object), holderIdentity: 'intruder', leaseDurationSeconds: 60, renewTime: new Date().toISOString().replace('Z', '000Z') } });
        }
        return super.replace(path, obj);
      }
    }
    const e = elector(name, 'me', { client: new RacingClient(kubeConfig(srv.port), 2000) });
    let started = 0;
    e.on('started', () => started++);
    e.start();
    await waitFor(() => raced === 1 && e.holder === 'intruder', { timeoutMs: 3000, what: 'the race and the intruder seen' });
    await sleep(5 * T.retryPeriodMs);
    assert.equal(started, 0, 'never led');
    assert.equal(e.isLeader(), false);
    assert.equal(await holder(name), 'intruder');
  });

  it('a leader whose lease was taken over (its renewal gets 409) stops leading at its next attempt', async () => {
    const name = newLease();
    const a = elector(name, 'a');
    a.start();
    await waitFor(() => a.isLeader(), { timeoutMs: 5000, what: 'a to lead' });
    let stopped = 0;
    a.on('stopped', () => stopped++);
    // The intruder's write races a's renewals (every retry period): read-modify-write until it lands.
    await waitFor(async () => {
      const cur = await direct().get(leasePath(name));
      await direct().replace(leasePath(name), { ...cur, spec: { ...(cur.spec as object), holderIdentity: 'intruder', leaseDurationSeconds: 60 } });
      return true;
    }, { timeoutMs: 5000, intervalMs: 10, what: 'the intruder to take the lease' });
    await waitFor(() => stopped === 1, { timeoutMs: 3 * T.retryPeriodMs + 1000, intervalMs: 10, what: 'a to stop leading' });
    assert.equal(a.isLeader(), false);
    assert.equal(a.holder, 'intruder');
    assert.equal(await holder(name), 'intruder', 'a did not overwrite the new holder');
  });

  it('fences when the API stops answering: isLeader() false and `stopped` within the renew deadline, before anyone takes over', async () => {
    const name = newLease();
    const proxy = new FreezableProxy();
    await proxy.start(srv.port);
    try {
      const a = elector(name, 'a', { client: new RestClient(kubeConfig(proxy.port), 2000), timings: { releaseOnCancel: false } });
      const b = elector(name, 'b');
      a.start();
      await waitFor(() => a.isLeader(), { timeoutMs: 5000, what: 'a to lead' });
      b.start();
      await sleep(3 * T.retryPeriodMs);
      let stoppedAt = 0;
      let bStartedAt = 0;
      let aLeaderWhenBStarted: boolean | undefined;
      a.once('stopped', () => (stoppedAt = performance.now()));
      b.once('started', () => {
        bStartedAt = performance.now();
        aLeaderWhenBStarted = a.isLeader();
      });
      const frozenAt = performance.now();
      proxy.freeze();
      // Requests now hang (no error to react to): only the fence timer can end a's leadership in time.
      await waitFor(() => stoppedAt > 0, { timeoutMs: 3000, intervalMs: 10, what: 'a to fence itself' });
      assert.equal(a.isLeader(), false);
      assert.ok(stoppedAt - frozenAt <= T.renewDeadlineMs + 50, `fenced ${(stoppedAt - frozenAt).toFixed(0)} ms after the API froze (renew deadline ${T.renewDeadlineMs} ms)`);
      await waitFor(() => b.isLeader(), { timeoutMs: 5000, what: 'b to take over the expired lease' });
      assert.equal(aLeaderWhenBStarted, false, 'a still claimed leadership when b took over');
      assert.ok(bStartedAt > stoppedAt, 'b led before a fenced');
      assert.equal(await holder(name), 'b');
    } finally {
      await proxy.close();
    }
  });
});
