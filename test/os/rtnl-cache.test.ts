import { strict as assert } from 'node:assert';
import { RtnlCache } from '../../src/os/rtnl-cache.js';
import type { RtnlEvent } from '../../src/os/rtnl-events.js';
import { waitFor } from '../../src/util/wait.js';
import { FakeRtnl } from '../support/fake-rtnl.js';

describe('os/rtnl-cache (fake kernel)', () => {
  it('one dump on start, then reads follow writes and changes behind its back by notifications', async () => {
    const fake = new FakeRtnl();
    const eth = fake.addLink({ name: 'eth0', mtu: 1500, up: true });
    const cache = new RtnlCache(fake, fake.events(), { resyncIntervalMs: 0 });
    const seen: RtnlEvent[] = [];
    cache.onChange((evs) => seen.push(...evs));
    await cache.start();
    assert.equal(cache.stats.fullDumps, 1);
    assert.deepEqual((await cache.links()).map((l) => l.name), ['eth0']);

    assert.deepEqual(await cache.apply([
      { op: 'link-add', link: { name: 'vx0', kind: 'vxlan', vxlan: { vni: 100, port: 4800 }, up: true } },
      { op: 'route-add', route: { table: 150, dst: '10.1.0.0/16', oif: eth.index, protocol: 147 } },
      { op: 'rule-add', rule: { pref: 150, table: 150, protocol: 147 } },
    ]), [{ ok: true }, { ok: true }, { ok: true }]);
    assert.deepEqual((await cache.routes()).map((r) => r.dst), ['10.1.0.0/16']);
    assert.equal((await cache.rules()).length, 1);
    assert.ok(seen.some((e) => e.kind === 'link' && e.link.name === 'vx0' && e.link.kind === 'vxlan'));

    // someone deletes the rule and the route
    fake.rules_ = [];
    fake.routes_ = [];
    fake.changed();
    assert.deepEqual(await cache.routes(), []);
    assert.deepEqual(await cache.rules(), []);
    assert.ok(seen.some((e) => e.kind === 'rule' && e.del));
    assert.equal(cache.stats.fullDumps, 1, 'no dump for notified changes');

    // a deleted link takes its routes along (IPv4 sends no route deletions for that)
    await cache.apply([{ op: 'route-add', route: { table: 150, dst: '10.2.0.0/16', oif: eth.index, protocol: 147 } }]);
    fake.links_ = fake.links_.filter((l) => l.index !== eth.index);
    fake.changed();
    assert.deepEqual(await cache.routes(), []);

    // lost notifications: one full dump
    fake.overflow();
    await waitFor(() => cache.stats.fullDumps === 2, { timeoutMs: 2000, what: 'resync after overflow' });
    assert.equal(cache.stats.lost, 1);
    await cache.close();
  });

  it('labels and link kinds of the shared fake', async () => {
    const fake = new FakeRtnl();
    const lo = fake.addLink({ name: 'lo', mtu: 65536, up: true });
    const out = await fake.apply([
      { op: 'link-add', link: { name: 'submariner', kind: 'wireguard' } as never },
      { op: 'addr-add', ifindex: lo.index, address: '10.96.0.1', prefix: 32, label: 'lo:hawser' } as never,
    ]);
    assert.deepEqual(out, [{ ok: true }, { ok: true }]);
    assert.equal((await fake.links()).find((l) => l.name === 'submariner')?.kind, 'wireguard');
    assert.equal(((await fake.addresses())[0] as { label?: string }).label, 'lo:hawser');
  });
});
