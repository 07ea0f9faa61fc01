import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { randomLabName } from '../../src/lab/lab.js';
import { runDemo } from '../../src/lab/demo.js';
import { apiServerAvailable, assertNothingLeft } from '../support/lab.js';
import { DEFAULT_STATE_ROOT } from '../../src/lab/topology.js';

const fakeHawser = fileURLToPath(new URL('./fixtures/fake-hawser.sh', import.meta.url));

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

describe('lab @real: demo', function () {
  this.timeout(90_000);

  it('shows what exists, says what is missing, exits non-zero and tears down when no cable comes up', async function () {
    if (!(await apiServerAvailable())) this.skip();
    const name = randomLabName();
    const out = sink();
    const progress = sink();
    // Stub roles never write Gateway objects: the demo must wait out its deadline, not hang or crash.
    const code = await runDemo({ name, roleCommand: fakeHawser, timeoutS: 3, out: out.stream, progressOut: progress.stream, podsPerNode: 1, workersPerCluster: 0, gatewaysPerCluster: 1 });
    assert.equal(code, 1);
    const text = out.text();
    assert.match(text, /=== cluster-a: hawser show all/);
    assert.match(text, /=== pod-to-pod across clusters/);
    assert.match(text, /a-gw1-pod1 10\.42\.0\.2 +· +✗/);
    assert.match(text, /demo incomplete after [\d.]+ s; missing:\n {2}- cluster-a: no Gateway objects yet/);
    assert.match(text, /2\/2 cross-cluster pings failed/);
    assert.match(progress.text(), /✓ tearing the lab down/);
    await assertNothingLeft(name, undefined, `${DEFAULT_STATE_ROOT}/${name}`);
  });
});
