// A restart in place: the leader stops without releasing, holding the Lease for the restart; standbys honour
// the longer duration; the restarted process (same identity) renews at once, with no Lease transition.
import assert from 'node:assert/strict';
import { decide, LeaderElector, type LeaseRecord } from '../../src/election/lease.js';
import { ApiError, type KubeObject, type RestClient } from '../../src/k8s/rest.js';
import { waitFor } from '../../src/util/wait.js';
import { quietLog } from '../support/apiserver.js';

const T = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 50, releaseOnCancel: true };

/** One Lease in memory with resourceVersion checks (409 on a stale write), as the API server does. */
function leaseStore(): { client: RestClient; lease: () => KubeObject | undefined } {
  let lease: KubeObject | undefined;
  let rv = 0;
  const write = (obj: KubeObject): KubeObject => {
    lease = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++rv) } };
    return lease;
  };
  const client = {
    getOrUndefined: async () => lease,
    get: async () => {
      if (!lease) throw new ApiError(404, 'NotFound', 'no lease');
      return lease;
    },
    create: async (_path: string, obj: KubeObject) => {
      if (lease) throw new ApiError(409, 'AlreadyExists', 'exists');
      return write(obj);
    },
    replace: async (_path: string, obj: KubeObject) => {
      if (obj.metadata.resourceVersion !== lease?.metadata.resourceVersion) throw new ApiError(409, 'Conflict', 'stale');
      return write(obj);
    },
    watch: (_path: string, _q: unknown, _cb: unknown, signal: AbortSignal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })),
  } as unknown as RestClient;
  return { client, lease: () => lease };
}

const spec = (o: KubeObject | undefined): LeaseRecord => o!.spec as LeaseRecord;

describe('election: holding the lease for a restart in place', () => {
  it('stop({ release: false, holdForMs }) keeps the holder and lengthens the lease; the same identity renews at once', async () => {
    const store = leaseStore();
    const elector = (): LeaderElector => new LeaderElector({ client: store.client, namespace: 'ns', name: 'lock', identity: 'gw-1', timings: T, log: quietLog });
    const first = elector();
    first.start();
    await waitFor(() => first.isLeader(), { timeoutMs: 5000, what: 'the first elector to lead' });
    await first.stop({ release: false, holdForMs: 20_000 });
    const held = spec(store.lease());
    assert.equal(held.holderIdentity, 'gw-1');
    assert.equal(held.leaseDurationSeconds, 20);
    // A standby seeing this record waits the held duration, not its own 2 s.
    assert.deepEqual(decide(held, undefined, 'gw-2', 0, T), { kind: 'wait', holder: 'gw-1', expiresInMs: 20_000 });

    const second = elector();
    let started = 0;
    second.on('started', () => started++);
    second.start();
    await waitFor(() => second.isLeader(), { timeoutMs: 5000, what: 'the restarted elector to lead' });
    const renewed = spec(store.lease());
    assert.equal(started, 1);
    assert.equal(renewed.holderIdentity, 'gw-1');
    assert.equal(renewed.leaseTransitions, held.leaseTransitions, 'no transition');
    assert.equal(renewed.leaseDurationSeconds, 2, 'back to the configured duration');
    await second.stop();
    assert.equal(spec(store.lease()).holderIdentity, '', 'released by default (releaseOnCancel)');
  });
});

describe('election: a read that hangs through a partition', () => {
  it('dates a foreign record from the answer, not the question: no early takeover of a live lease', async () => {
    const store = leaseStore();
    const now = Date.now();
    await store.client.create('', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'lock' }, spec: { holderIdentity: 'gw-2', leaseDurationSeconds: 2, renewTime: 'x', leaseTransitions: 4 } });
    // The first read hangs 2.5 s (longer than the lease); the record does not change afterwards.
    let reads = 0;
    const get = store.client.getOrUndefined.bind(store.client);
    store.client.getOrUndefined = async (path: string) => {
      if (reads++ === 0) await new Promise((r) => setTimeout(r, 2500));
      return get(path);
    };
    let answeredAt = 0;
    const e = new LeaderElector({ client: store.client, namespace: 'ns', name: 'lock', identity: 'gw-1', timings: T, log: quietLog });
    e.on('leader', () => (answeredAt ||= Date.now()));
    e.start();
    try {
      await waitFor(() => e.isLeader(), { timeoutMs: 10_000, what: 'the expired lease to be taken' });
      const takenAt = Date.now();
      assert.ok(answeredAt - now >= 2400, 'the first answer came after the hang');
      assert.ok(takenAt - answeredAt >= T.leaseDurationMs - 50, `taken ${takenAt - answeredAt} ms after the record was first seen (lease 2000 ms)`);
    } finally {
      await e.stop({ release: false });
    }
  });
});
