// Debouncer: coalescing, one run at a time, earliest deadline wins, retry after an error, close.
import assert from 'node:assert/strict';
import { Debouncer } from '../../src/util/loop.js';
import { waitFor } from '../../src/util/wait.js';

describe('Debouncer', () => {
  const open: Debouncer[] = [];
  afterEach(() => {
    for (const d of open.splice(0)) d.close();
  });
  function make(fn: () => Promise<void>, delayMs: number, onError: (err: unknown) => void = () => undefined, retryMs = 1000): Debouncer {
    const d = new Debouncer(fn, delayMs, onError, retryMs, false);
    open.push(d);
    return d;
  }

  it('coalesces a burst of triggers into one run', async () => {
    let runs = 0;
    const d = make(async () => {
      runs++;
    }, 20);
    for (let i = 0; i < 50; i++) d.trigger();
    await waitFor(() => runs === 1 && !d.busy, { timeoutMs: 2000, intervalMs: 5 });
    assert.equal(runs, 1);
  });

  it('a trigger during a run causes exactly one more run, never two at once', async () => {
    let runs = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    let release: (() => void) | undefined;
    const d = make(async () => {
      runs++;
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      if (runs === 1) await new Promise<void>((r) => (release = r));
      concurrent--;
    }, 1);
    d.trigger();
    await waitFor(() => release !== undefined, { timeoutMs: 2000, intervalMs: 5 });
    d.trigger();
    d.trigger();
    release!();
    await waitFor(() => runs === 2 && !d.busy, { timeoutMs: 2000, intervalMs: 5 });
    assert.equal(maxConcurrent, 1);
  });

  it('a shorter delay brings a pending run forward; a longer one does not push it back', async () => {
    let ranAt = 0;
    const d = make(async () => {
      ranAt = Date.now();
    }, 60_000);
    const t0 = Date.now();
    d.trigger(); // due in a minute
    d.trigger(10); // brought forward
    d.trigger(30_000); // ignored: later than the pending one
    await waitFor(() => ranAt > 0, { timeoutMs: 2000, intervalMs: 5 });
    assert.ok(ranAt - t0 < 1000, `ran after ${ranAt - t0} ms`);
    assert.equal(d.busy, false);
  });

  it('a deadline asked for during a run is kept for the run after it (not run at once)', async () => {
    const ranAt: number[] = [];
    const d = make(async () => {
      ranAt.push(Date.now());
      if (ranAt.length === 1) d.trigger(300); // e.g. a retry deadline computed by the run itself
    }, 1);
    d.trigger();
    await waitFor(() => ranAt.length === 2 && !d.busy, { timeoutMs: 3000, intervalMs: 5 });
    assert.ok(ranAt[1]! - ranAt[0]! >= 250, `second run ${ranAt[1]! - ranAt[0]!} ms after the first`);
  });

  it('an error is reported and the run retried after retryMs', async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const d = make(async () => {
      runs++;
      if (runs === 1) throw new Error('first fails');
    }, 1, (e) => errors.push(e), 10);
    d.trigger();
    await waitFor(() => runs === 2 && !d.busy, { timeoutMs: 2000, intervalMs: 5 });
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /first fails/);
  });

  it('close() cancels a pending run and ignores later triggers', async () => {
    let runs = 0;
    const d = make(async () => {
      runs++;
    }, 10);
    d.trigger();
    d.close();
    d.trigger(0);
    assert.equal(d.busy, false, 'no run scheduled');
    assert.equal(runs, 0);
  });
});
