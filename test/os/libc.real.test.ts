// The one libc door: socketInNetns makes the socket in the named namespace and always brings the thread
// back to its own, also when the socket call throws; a bad or missing namespace is a clear error.
import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { AF_NETLINK, SOCK_CLOEXEC, SOCK_RAW, libc, socketInNetns } from '../../src/os/libc.js';
import { createNetns, deleteNetns, uniqueName } from '../../src/os/netns.js';
import { HawserError } from '../../src/util/errors.js';

const NETLINK_ROUTE = 0;
const here = (): string => readlinkSync('/proc/thread-self/ns/net');

describe('os/libc socketInNetns @real', function () {
  this.timeout(30_000);
  const ns = uniqueName('hw-libc', 5);

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    await createNetns(ns);
  });

  after(async () => {
    await deleteNetns(ns);
  });

  it('creates the socket in the namespace and returns the thread to its own', () => {
    const c = libc();
    const home = here();
    let inside = '';
    const fd = socketInNetns(ns, () => {
      inside = here();
      return c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE) as number;
    });
    try {
      assert.ok(fd >= 0);
      assert.notEqual(inside, home);
      assert.equal(readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:'), true);
      assert.equal(here(), home);
    } finally {
      c.close(fd);
    }
  });

  it('returns to its own namespace when the create step throws, and passes that error on', () => {
    const home = here();
    assert.throws(() => socketInNetns(ns, () => {
      throw new Error('create failed');
    }), /create failed/);
    assert.equal(here(), home);
  });

  it('a missing or malformed namespace name is a HawserError and nothing is created', () => {
    let called = false;
    const create = (): number => {
      called = true;
      return -1;
    };
    assert.throws(() => socketInNetns(`${ns}-absent`, create), (e: unknown) => e instanceof HawserError && e.code === 'NOT_FOUND' && /cannot open netns/.test(e.message));
    assert.throws(() => socketInNetns('../x', create), (e: unknown) => e instanceof HawserError && e.code === 'INVALID');
    assert.equal(called, false);
  });
});
