// The shared netns harness (test/support/netns.ts): unique hw- names, traffic only between its own
// namespaces, and cleanup by PID and name that also runs when the test body fails.
import assert from 'node:assert/strict';
import { netnsExists } from '../../src/os/netns.js';
import { canUseNetns, NetnsHarness, withNetns } from '../support/netns.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('test support: netns harness @real', function () {
  this.timeout(30_000);
  before(function () {
    if (!canUseNetns()) this.skip();
  });

  it('links two namespaces, runs processes inside, and removes both by PID and name', async () => {
    const h = new NetnsHarness();
    let names: string[] = [];
    let pid = 0;
    try {
      const a = await h.ns('hw-ta');
      const b = await h.ns('hw-tb');
      names = [a, b];
      assert.match(a, /^hw-ta-[0-9a-f]{6}$/);
      await h.link(a, 'va', '192.168.77.1/30', b, 'vb', '192.168.77.2/30');
      const ping = await h.run(a, 'ping', ['-c', '1', '-W', '2', '192.168.77.2']);
      assert.equal(ping.code, 0);
      const sleeper = h.spawn(b, 'sleep', ['60']);
      pid = sleeper.child.pid!;
      assert.ok(alive(pid));
    } finally {
      await h.cleanup();
    }
    assert.equal(alive(pid), false, 'the process inside was ended');
    for (const n of names) assert.equal(await netnsExists(n), false, `${n} deleted`);
  });

  it('cleans up when the body throws', async () => {
    let name = '';
    let pid = 0;
    await assert.rejects(
      withNetns(async (h) => {
        name = await h.ns('hw-tf');
        pid = h.spawn(name, 'sleep', ['60']).child.pid!;
        throw new Error('test body failed');
      }),
      /test body failed/,
    );
    assert.equal(alive(pid), false);
    assert.equal(await netnsExists(name), false);
  });

  it('refuses a namespace name without the hw- prefix', async () => {
    await assert.rejects(new NetnsHarness().ns('other'), /hw-/);
  });
});
