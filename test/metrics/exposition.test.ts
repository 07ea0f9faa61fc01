import assert from 'node:assert/strict';
import { Gauge, Registry } from 'prom-client';
import { findSamples, parseExposition } from '../../src/metrics/exposition.js';

describe('metrics: exposition parser', () => {
  it('reads what prom-client writes, escapes and special values included', async () => {
    const r = new Registry();
    const g = new Gauge({ name: 'g', help: 'h', labelNames: ['a', 'b'], registers: [r] });
    g.set({ a: 'x"y\\z', b: 'line\nbreak' }, Infinity);
    g.set({ a: 'plain', b: '' }, 0.25);
    const samples = parseExposition(await r.metrics());
    assert.deepEqual(findSamples(samples, 'g', { a: 'x"y\\z' }).map((s) => [s.labels.b, s.value]), [['line\nbreak', Infinity]]);
    assert.deepEqual(findSamples(samples, 'g', { a: 'plain' }).map((s) => s.value), [0.25]);
  });

  it('reads unlabelled samples and ignores comments', () => {
    assert.deepEqual(parseExposition('# HELP x y\n# TYPE x counter\nx 3\nx_total{} -Inf\n').map((s) => ({ ...s, labels: { ...s.labels } })), [
      { name: 'x', labels: {}, value: 3 },
      { name: 'x_total', labels: {}, value: -Infinity },
    ]);
  });
});
