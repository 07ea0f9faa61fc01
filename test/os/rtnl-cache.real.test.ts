// The event-kept cache against a real namespace: after changes made behind its back with `ip`, its
// model equals a fresh dump, without another full dump; a lost-notification report triggers one.
import { strict as assert } from 'node:assert';
import { openRtnl, type Rtnl, type RtnlOp } from '../../src/os/netlink.js';
import { LocalRtnlEvents, type RtnlEvent } from '../../src/os/rtnl-events.js';
import { openRtnlCache, type RtnlCache } from '../../src/os/rtnl-cache.js';
import { waitFor } from '../../src/util/wait.js';
import { ipIn, Namespaces } from '../support/netns-commands.js';

async function snapshot(r: Rtnl): Promise<string> {
  // the address label (IFA_LABEL) is left out: the dump of netlink.ts does not carry it yet
  const sort = (xs: unknown[]): string[] => xs.map((x) => JSON.stringify(x, Object.keys(x as object).filter((k) => k !== 'label').sort())).sort();
  const [links, addrs, routes, rules, fdb, neigh] = await Promise.all([r.links(), r.addresses(), r.routes(), r.rules(), r.neighbors('bridge'), r.neighbors('inet')]);
  return JSON.stringify({ links: sort(links), addrs: sort(addrs), routes: sort(routes), rules: sort(rules), fdb: sort(fdb), neigh: sort(neigh.filter((n) => n.permanent)) }, null, 1);
}

describe('os/rtnl-cache @real', function () {
  this.timeout(30_000);
  const nss = new Namespaces();
  let ns = '';
  let cache: RtnlCache | undefined;
  let direct: Rtnl | undefined;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    ns = await nss.create('hw-rcache');
    await ipIn(ns, 'link add d0 type veth peer name d1\nlink set d1 up\nlink set d0 up\naddress add 192.168.77.1/24 dev d0\nlink set lo up');
    cache = await openRtnlCache({ netns: ns, resyncIntervalMs: 0 });
    direct = await openRtnl({ netns: ns });
  });
  after(async () => {
    await cache?.close();
    await direct?.close();
    await nss.cleanup();
  });

  it('follows links, addresses, routes, rules and neighbours changed behind its back, with no further dump', async () => {
    assert.equal(cache!.stats.fullDumps, 1);
    assert.equal(await snapshot(cache!), await snapshot(direct!));
    await ipIn(ns, `link add vx0 type vxlan id 7 dstport 4800 local 192.168.77.1 nolearning
link set vx0 up
address add 240.0.0.1/8 dev vx0
route add 10.9.0.0/16 via 240.0.0.2 dev vx0 onlink table 150 proto 147
route add 10.10.0.0/16 dev d0 table 150 proto 147 src 192.168.77.1
rule add pref 150 lookup 150 proto 147
neigh add 240.0.0.9 lladdr 02:00:00:00:00:09 dev vx0 nud permanent`);
    await ipIn(ns, 'route del 10.10.0.0/16 table 150');
    const want = await snapshot(direct!);
    await waitFor(async () => (await snapshot(cache!)) === want, { timeoutMs: 5000, intervalMs: 20, what: 'cache equal to a dump' }).catch(async () => {
      assert.equal(await snapshot(cache!), want);
    });
    // a deleted link takes its addresses, routes and neighbours with it (IPv4 sends no route deletions for that)
    await ipIn(ns, 'link del vx0');
    const after = await snapshot(direct!);
    await waitFor(async () => (await snapshot(cache!)) === after, { timeoutMs: 5000, intervalMs: 20, what: 'cache equal after link del' }).catch(async () => {
      assert.equal(await snapshot(cache!), after);
    });
    assert.equal(cache!.stats.fullDumps, 1, 'no full dump after the first');
    assert.ok(cache!.stats.events > 5);
  });

  it('keeps two rules that differ only in protocol (the route agent\'s 147, the WireGuard driver\'s 119) apart', async () => {
    // the route agent's rule first, then the driver's: with protocol out of the cache's key the second
    // replaced the first, and the route agent re-added its "missing" rule for ever (EEXIST)
    assert.deepEqual(await cache!.apply([{ op: 'rule-add', rule: { pref: 160, table: 160, protocol: 147 } }]), [{ ok: true }]);
    await ipIn(ns, 'rule add pref 160 lookup 160 proto 119');
    const protos = async (): Promise<string> => JSON.stringify((await cache!.rules()).filter((r) => r.pref === 160).map((r) => r.protocol).sort());
    await waitFor(async () => (await protos()) === '[119,147]', { timeoutMs: 5000, intervalMs: 20, what: 'both rules in the cache' }).catch(async () => {
      assert.equal(await protos(), '[119,147]');
    });
    await ipIn(ns, 'rule del pref 160 lookup 160 proto 119');
    await waitFor(async () => (await protos()) === '[147]', { timeoutMs: 5000, intervalMs: 20, what: 'the route agent\'s rule left alone' }).catch(async () => {
      assert.equal(await protos(), '[147]');
    });
    assert.equal(await snapshot(cache!), await snapshot(direct!));
  });

  it('its own writes are visible to the next read at once', async () => {
    const [d0] = (await cache!.links()).filter((l) => l.name === 'd0');
    const out = await cache!.apply([{ op: 'route-add', route: { table: 151, dst: '10.11.0.0/16', oif: d0!.index, protocol: 147 } }]);
    assert.deepEqual(out, [{ ok: true }]);
    assert.ok((await cache!.routes()).some((r) => r.dst === '10.11.0.0/16' && r.table === 151));
  });

  it('its own writes are marked own (their drift is none), someone else\'s are not; 1,000 at once go in slices without a resync', async () => {
    const [d0] = (await cache!.links()).filter((l) => l.name === 'd0');
    const seen: RtnlEvent[] = [];
    const off = cache!.onChange((evs) => seen.push(...evs));
    try {
      const dumps = cache!.stats.fullDumps;
      const ops: RtnlOp[] = Array.from({ length: 1000 }, (_, i) => ({ op: 'route-add', route: { table: 152, dst: `10.${100 + (i >> 8)}.${i & 255}.0/24`, oif: d0!.index, protocol: 147 } }));
      const out = await cache!.apply(ops);
      assert.equal(out.filter((o) => o.ok).length, 1000);
      await ipIn(ns, 'route add 10.12.0.0/16 dev d0 table 152 proto 147');
      await cache!.sync();
      const routes = seen.filter((e): e is Extract<RtnlEvent, { kind: 'route' }> => e.kind === 'route' && e.route.table === 152);
      assert.equal(routes.filter((e) => e.own).length, 1000, 'every route this process wrote is its own');
      assert.deepEqual(routes.filter((e) => !e.own).map((e) => e.route.dst), ['10.12.0.0/16']);
      assert.equal((await cache!.routes()).filter((r) => r.table === 152).length, 1001);
      assert.equal(cache!.stats.fullDumps, dumps, 'no notification lost');
    } finally {
      off();
    }
  });

  it('a report of lost notifications resyncs from one full dump', async () => {
    const before = cache!.stats.fullDumps;
    await cache!.resync('test');
    assert.equal(cache!.stats.fullDumps, before + 1);
    assert.equal(await snapshot(cache!), await snapshot(direct!));
  });
});

describe('os/rtnl-events receive buffer @real', () => {
  it('the notification socket gets a receive buffer far past the default rmem_max (an overflow aborts inside the netlink package)', async function () {
    if (process.getuid?.() !== 0) this.skip();
    const ev = new LocalRtnlEvents();
    await ev.subscribe({ events: () => undefined, lost: () => undefined });
    try {
      // the kernel reports twice what was set (its bookkeeping share included)
      assert.ok((ev.receiveBufferBytes() ?? 0) >= 16 * 1024 * 1024, `receive buffer ${ev.receiveBufferBytes()}`);
    } finally {
      await ev.close();
    }
  });
});
