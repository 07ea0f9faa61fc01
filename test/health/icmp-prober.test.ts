// The in-process prober's bookkeeping (no socket): which probe a reply answers, its RTT from the send
// time, duplicates, timeouts in send order, late replies, and keys that stay unique across 16-bit wraps.
import assert from 'node:assert/strict';
import { ProbeLedger, probeTimeoutMs } from '../../src/health/icmp-prober.js';

describe('healthcheck: in-process prober ledger', () => {
  it("times out like fping's loop mode: the period, at most 2 s", () => {
    assert.equal(probeTimeoutMs(100), 100);
    assert.equal(probeTimeoutMs(1000), 1000);
    assert.equal(probeTimeoutMs(60_000), 2000);
  });

  it('matches a reply to its probe by sequence number, with the RTT from that probe\'s send time', () => {
    const l = new ProbeLedger();
    const a = l.sent('10.0.0.1', 1_000);
    const b = l.sent('10.0.0.2', 1_500);
    assert.deepEqual([a, b], [0, 1]);
    assert.deepEqual(l.lookup(b, 2_750), { target: '10.0.0.2', serial: 1, rttNs: 1_250 });
    assert.equal(l.lookup(7, 2_750), undefined, 'a sequence number never used');
    assert.equal(l.answer(b), true);
    assert.equal(l.answer(b), false, 'a duplicate reply');
  });

  it('declares unanswered probes lost once past the cutoff, oldest first, each once; late replies still match', () => {
    const l = new ProbeLedger();
    l.sent('10.0.0.1', 100);
    l.sent('10.0.0.2', 200);
    l.sent('10.0.0.3', 300);
    l.answer(1);
    const lost: string[] = [];
    l.expire(250, (t) => lost.push(t));
    assert.deepEqual(lost, ['10.0.0.1'], 'answered 10.0.0.2 is not lost; 10.0.0.3 not yet due');
    assert.equal(l.pending, 1);
    l.expire(250, (t) => lost.push(t));
    assert.deepEqual(lost, ['10.0.0.1'], 'no second verdict');
    l.expire(10_000, (t) => lost.push(t));
    assert.deepEqual(lost, ['10.0.0.1', '10.0.0.3']);
    // the late reply to the first probe: still attributed (the statistics turn the loss back)
    assert.deepEqual(l.lookup(0, 5_100), { target: '10.0.0.1', serial: 0, rttNs: 5_000 });
  });

  it('sizes itself to the targets (8 rounds), grows keeping what it holds, and forgets probes older than that', () => {
    const l = new ProbeLedger(10);
    assert.equal(l.capacity, 1024);
    const seq = l.sent('10.0.0.1', 5);
    l.fit(1000);
    assert.equal(l.capacity, 8192);
    assert.deepEqual(l.lookup(seq, 10), { target: '10.0.0.1', serial: 0, rttNs: 5 });
    l.fit(100_000);
    assert.equal(l.capacity, 65536, 'at most the sequence space');
    const small = new ProbeLedger(1);
    for (let i = 0; i < 1025; i++) small.sent(`t${i}`, i);
    assert.equal(small.lookup(0, 2000), undefined, 'overwritten: a reply this late is ignored');
    assert.equal(small.answer(0), false);
    assert.equal(small.lookup(1, 2000)?.target, 't1');
  });

  it('keeps serials unique when 16-bit sequence numbers wrap, and keeps its open list short', () => {
    const l = new ProbeLedger(65536);
    let lastSeq = -1;
    for (let i = 0; i < 65536 + 5; i++) {
      lastSeq = l.sent('10.0.0.1', i);
      l.answer(lastSeq);
      if (i % 1000 === 0) l.expire(i, () => assert.fail('answered probes are never lost'));
    }
    assert.equal(lastSeq, 4);
    assert.equal(l.lookup(4, 70_000)?.serial, 65540);
    l.expire(1e9, () => assert.fail('answered probes are never lost'));
    assert.equal(l.pending, 0);
  });
});
