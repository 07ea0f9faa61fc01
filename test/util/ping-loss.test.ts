// The lab tests' "lost pings" figure (test/support/lab.ts pingLoss): a reply still on its way when ping is
// stopped is not a loss; every other missing reply is.
import assert from 'node:assert/strict';
import { pingLoss } from '../support/lab.js';

describe('test support: ping loss from a stopped ping run', () => {
  it('counts gaps before the last reply and a tail of two or more; one request in flight at the stop is not lost', () => {
    assert.equal(pingLoss(30, Array.from({ length: 30 }, (_, i) => i + 1)), 0);
    assert.equal(pingLoss(30, Array.from({ length: 29 }, (_, i) => i + 1)), 0, 'the last request was in flight');
    assert.equal(pingLoss(30, Array.from({ length: 28 }, (_, i) => i + 1)), 2, 'two unanswered at the end');
    assert.equal(pingLoss(30, [1, 2, 5, 6, 30]), 25);
    assert.equal(pingLoss(10, [1, 2, 2, 4, 5, 6, 7, 8, 9, 10]), 1, 'a duplicate reply counts once; seq 3 lost');
    assert.equal(pingLoss(5, []), 5);
    assert.equal(pingLoss(1, []), 0, 'one request, still in flight');
  });
});
