// The soak's failover recovery: event → the pairs through the failed-over cluster answering again, and the bound.
import assert from 'node:assert/strict';
import { FAILOVER_BAR_MS, FAILOVER_RECOVERY_BOUND_MS, RECOVERED_AFTER_OK_ROUNDS, failoverViolation, pingTimeline, probeWithinBar, recoveryMs, type PingRecord } from '../support/soak/recovery.js';

/** One round a second from t=0; each string is a round, one character per pair ('.' answered, 'x' lost). */
function rounds(pairs: string[], ...rs: string[]): PingRecord[] {
  return rs.flatMap((r, i) => pairs.map((pair, k) => ({ at: i * 1000, pair, ok: r[k] === '.' })));
}

describe('soak failover recovery', () => {
  const pairs = ['a→b', 'b→c', 'c→a'];

  it('is 0 when no round of the pairs failed after the event', () => {
    assert.equal(recoveryMs(rounds(pairs, 'x..', '...', '...'), 1000, ['a→b', 'c→a'], 60_000), 0);
  });

  it('is undefined when no round ran after the event (a stalled ping loop proves nothing)', () => {
    assert.equal(recoveryMs(rounds(pairs, '...', '...'), 5000, pairs, 10_000), undefined);
  });

  it('ignores a failing pair that does not cross the cluster', () => {
    assert.equal(recoveryMs(rounds(pairs, '.x.', '.x.', '.x.'), 0, ['a→b', 'c→a'], 60_000), 0);
  });

  it('is the first round of the first all-answering run after the first loss', () => {
    // lost at 1 s and 2 s, one lucky round at 3 s, lost at 4 s, then back from 5 s on
    const p = rounds(pairs, '...', 'x..', '..x', '...', 'x.x', '...', '...', '...', '...');
    assert.equal(RECOVERED_AFTER_OK_ROUNDS, 3);
    assert.equal(recoveryMs(p, 0, ['a→b', 'c→a'], 60_000), 5000);
  });

  it('counts a run cut short by the horizon when every round in it answered', () => {
    assert.equal(recoveryMs(rounds(pairs, 'x.x', 'x.x', '...', '...'), 0, pairs, 4000), 2000);
  });

  it('is undefined when the pairs never answer again within the horizon', () => {
    assert.equal(recoveryMs(rounds(pairs, '...', 'x..', 'x..', 'x..', '...'), 0, ['a→b'], 4000), undefined);
  });

  it('is a violation beyond the bound (or never), not within it', () => {
    const kind = 'failover (node loss)';
    assert.ok(FAILOVER_RECOVERY_BOUND_MS[kind] > FAILOVER_BAR_MS[kind]);
    assert.equal(failoverViolation(kind, 'x', FAILOVER_RECOVERY_BOUND_MS[kind]), undefined);
    assert.match(failoverViolation(kind, 'of a-gw1', FAILOVER_RECOVERY_BOUND_MS[kind] + 100) ?? '', /node loss\) of a-gw1: pings recovered after 10\.1 s \(bound 10 s = bar 4 s/);
    assert.match(failoverViolation('failover (graceful)', 'of b-gw2', undefined) ?? '', /did not recover/);
  });

  it('draws each pair\'s rounds around the event', () => {
    assert.equal(pingTimeline(rounds(pairs, '...', 'x..', 'xx.', '...'), 1000, ['a→b', 'b→c'], 1000, 2000), 'a→b .|xx, b→c .|.x');
  });

  it('judges the 10/s probe against the bar: at the bar is within, over it, NaN (never answered) or no probe is not', () => {
    assert.equal(probeWithinBar({ probeMs: 1000, bar: FAILOVER_BAR_MS['failover (graceful)'] }), true);
    assert.equal(probeWithinBar({ probeMs: 1100, bar: FAILOVER_BAR_MS['failover (graceful)'] }), false);
    assert.equal(probeWithinBar({ probeMs: NaN, bar: FAILOVER_BAR_MS['failover (node loss)'] }), false);
    assert.equal(probeWithinBar({ bar: FAILOVER_BAR_MS['failover (node loss)'] }), false);
  });
});
