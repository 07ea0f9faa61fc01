import assert from 'node:assert/strict';
import { decide, fingerprint, microTime, type LeaseRecord } from '../../src/election/lease.js';

const T = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250, releaseOnCancel: true };
const rec = (holder: string, renew = '2026-01-01T00:00:00.000000Z', seconds = 2): LeaseRecord => ({ holderIdentity: holder, leaseDurationSeconds: seconds, renewTime: renew, leaseTransitions: 3 });

describe('election: decide', () => {
  it('creates a missing lease', () => assert.deepEqual(decide(undefined, undefined, 'me', 0, T), { kind: 'create' }));
  it('renews our own lease', () => assert.deepEqual(decide(rec('me'), undefined, 'me', 0, T), { kind: 'renew' }));
  it('takes a released lease at once', () => assert.deepEqual(decide(rec(''), undefined, 'me', 0, T), { kind: 'acquire', reason: 'released' }));
  it('takes a live foreign lease at once only when preempt says its holder is done', () => {
    const r = rec('other');
    assert.deepEqual(decide(r, undefined, 'me', 1000, T, (h) => h === 'other'), { kind: 'acquire', reason: 'preempted' });
    assert.deepEqual(decide(r, undefined, 'me', 1000, T, () => false), { kind: 'wait', holder: 'other', expiresInMs: 2000 });
    assert.deepEqual(decide(rec('me'), undefined, 'me', 0, T, () => true), { kind: 'renew' });
  });
  it('waits a full lease duration from our first sight of a foreign record', () => {
    const r = rec('other');
    assert.deepEqual(decide(r, undefined, 'me', 1000, T), { kind: 'wait', holder: 'other', expiresInMs: 2000 });
    const obs = { fingerprint: fingerprint(r), seenAtMs: 1000 };
    assert.deepEqual(decide(r, obs, 'me', 2500, T), { kind: 'wait', holder: 'other', expiresInMs: 500 });
    assert.deepEqual(decide(r, obs, 'me', 3000, T), { kind: 'acquire', reason: 'expired' });
  });
  it('restarts the clock when the holder renews (whatever its timestamps say)', () => {
    const old = rec('other', '2020-01-01T00:00:00.000000Z');
    const renewed = rec('other', '2020-01-01T00:00:01.000000Z');
    const obs = { fingerprint: fingerprint(old), seenAtMs: 0 };
    assert.equal(decide(renewed, obs, 'me', 5000, T).kind, 'wait');
  });
  it("respects a holder's longer lease (a Submariner gateway's 15 s)", () => {
    const r = rec('submariner', undefined, 15);
    const obs = { fingerprint: fingerprint(r), seenAtMs: 0 };
    assert.equal(decide(r, obs, 'me', 10_000, T).kind, 'wait');
    assert.equal(decide(r, obs, 'me', 15_000, T).kind, 'acquire');
  });
  it('writes MicroTime with microseconds', () => assert.equal(microTime(new Date('2026-01-02T03:04:05.678Z')), '2026-01-02T03:04:05.678000Z'));
});
