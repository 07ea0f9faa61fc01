import assert from 'node:assert/strict';
import { bufferToIp, ipToBuffer, macToBuffer, bufferToMac, openRtnl, type Rtnl, type RtnlOp } from '../../src/os/netlink.js';
import { NetnsWorker } from '../../src/os/nsworker.js';
import { checkSysctlPath, sysctlDisplayName } from '../../src/os/sysctl.js';
import { createNetns, deleteNetns, netnsPids, uniqueName } from '../../src/os/netns.js';
import { exec } from '../../src/util/exec.js';
import { waitFor } from '../../src/util/wait.js';

describe('os/netlink codecs', () => {
  it('IP and MAC text <-> bytes', () => {
    assert.equal(bufferToIp(ipToBuffer('10.1.2.3')), '10.1.2.3');
    assert.equal(bufferToIp(ipToBuffer('fd00::1')), 'fd00::1');
    assert.equal(bufferToIp(ipToBuffer('2001:db8:0:1::')), '2001:db8:0:1::');
    assert.equal(bufferToIp(ipToBuffer('fe80::1:0:0:2')), 'fe80::1:0:0:2');
    assert.equal(bufferToMac(macToBuffer('02:68:0A:00:00:0c')), '02:68:0a:00:00:0c');
    assert.throws(() => ipToBuffer('10.1.2'), /not an IP address/);
    assert.throws(() => macToBuffer('02:68:0a'), /not a MAC address/);
  });

  it('sysctl paths cannot leave /proc/sys', () => {
    assert.equal(checkSysctlPath('net/ipv4/conf/eth0.100/rp_filter'), 'net/ipv4/conf/eth0.100/rp_filter');
    assert.throws(() => checkSysctlPath('net/../../etc/passwd'), /not a sysctl path/);
    assert.throws(() => checkSysctlPath('/net/ipv4/ip_forward'), /not a sysctl path/);
    assert.equal(sysctlDisplayName('net/ipv4/conf/eth0.100/rp_filter'), 'net.ipv4.conf.eth0/100.rp_filter');
  });
});

describe('os/netlink rtnetlink adapter @real', function () {
  this.timeout(30_000);
  const ns = uniqueName('hw-nl', 5);
  let rtnl: Rtnl;
  let eth0 = 0;

  before(async () => {
    await createNetns(ns);
    await exec('ip', ['-n', ns, '-batch', '-'], { input: 'link add eth0 type veth peer name eth1\naddress add 192.168.77.2/24 dev eth0\nlink set eth0 up\nlink set eth1 up\n' });
    rtnl = await openRtnl({ netns: ns });
    eth0 = (await rtnl.links()).find((l) => l.name === 'eth0')!.index;
  });

  after(async () => {
    await rtnl?.close();
    for (const pid of await netnsPids(ns)) process.kill(pid, 'SIGKILL');
    await deleteNetns(ns);
  });

  const ok = async (ops: RtnlOp[]): Promise<void> => {
    const r = await rtnl.apply(ops);
    assert.deepEqual(r, ops.map(() => ({ ok: true })));
  };

  it('creates a VXLAN link and reads its attributes back', async () => {
    await ok([{ op: 'link-add', link: { name: 'vxt', kind: 'vxlan', vxlan: { vni: 100, port: 4800, local: '192.168.77.2', learning: false }, mtu: 1450, mac: '02:68:c0:a8:4d:02', up: true } }]);
    const vx = (await rtnl.links()).find((l) => l.name === 'vxt')!;
    assert.deepEqual({ ...vx, index: 0 }, { index: 0, name: 'vxt', kind: 'vxlan', mtu: 1450, up: true, mac: '02:68:c0:a8:4d:02', vxlan: { vni: 100, port: 4800, local: '192.168.77.2', learning: false } });
    await ok([{ op: 'link-set', index: vx.index, mtu: 1400, mac: '02:68:c0:a8:4d:03' }]);
    const again = (await rtnl.links()).find((l) => l.name === 'vxt')!;
    assert.equal(again.mtu, 1400);
    assert.equal(again.mac, '02:68:c0:a8:4d:03');
    const dup = await rtnl.apply([{ op: 'link-add', link: { name: 'vxt', kind: 'vxlan', vxlan: { vni: 1, port: 4789 } } }]);
    assert.deepEqual(dup, [{ ok: false, errno: 'EEXIST', error: 'link add vxt type vxlan: EEXIST' }]);
  });

  it('addresses, FDB (append, del), permanent ARP, routes (add, replace, del), rules with a protocol', async () => {
    const vx = (await rtnl.links()).find((l) => l.name === 'vxt')!.index;
    await ok([{ op: 'addr-add', ifindex: vx, address: '240.168.77.2', prefix: 8 }]);
    await ok([
      { op: 'neigh-append', neigh: { family: 'bridge', ifindex: vx, mac: '00:00:00:00:00:00', dst: '192.168.77.3' } },
      { op: 'neigh-append', neigh: { family: 'bridge', ifindex: vx, mac: '00:00:00:00:00:00', dst: '192.168.77.4' } },
      { op: 'neigh-replace', neigh: { family: 'bridge', ifindex: vx, mac: '02:68:c0:a8:4d:04', dst: '192.168.77.4' } },
      { op: 'neigh-replace', neigh: { family: 'inet', ifindex: vx, mac: '02:68:c0:a8:4d:04', dst: '240.168.77.4' } },
      { op: 'route-add', route: { table: 150, dst: '10.99.0.0/16', oif: vx, gateway: '240.168.77.4', onlink: true, protocol: 147 } },
      { op: 'route-add', route: { table: 1000, dst: '10.98.0.0/16', oif: eth0, protocol: 147, prefsrc: '192.168.77.2' } },
      { op: 'rule-add', rule: { pref: 150, table: 150, protocol: 147 } },
      { op: 'rule-add', rule: { pref: 151, table: 1000, protocol: 147, src: '10.244.0.0/16' } },
    ]);
    assert.deepEqual((await rtnl.addresses()).filter((a) => a.ifindex === vx && a.family === 4), [{ ifindex: vx, family: 4, address: '240.168.77.2', prefix: 8, label: 'vxt' }]);
    const fdb = (await rtnl.neighbors('bridge')).filter((n) => n.ifindex === vx).map((n) => `${n.mac} ${n.dst} ${n.permanent} ${n.self}`).sort();
    assert.deepEqual(fdb, ['00:00:00:00:00:00 192.168.77.3 true true', '00:00:00:00:00:00 192.168.77.4 true true', '02:68:c0:a8:4d:04 192.168.77.4 true true']);
    const arp = (await rtnl.neighbors('inet')).filter((n) => n.ifindex === vx);
    assert.deepEqual(arp, [{ family: 'inet', ifindex: vx, mac: '02:68:c0:a8:4d:04', dst: '240.168.77.4', permanent: true, self: false }]);
    const ours = (await rtnl.routes()).filter((r) => r.protocol === 147);
    assert.deepEqual(ours, [
      { family: 4, table: 150, dst: '10.99.0.0/16', protocol: 147, scope: 0, type: 1, onlink: true, gateway: '240.168.77.4', oif: vx },
      { family: 4, table: 1000, dst: '10.98.0.0/16', protocol: 147, scope: 253, type: 1, onlink: false, oif: eth0, prefsrc: '192.168.77.2' },
    ]);
    const rules = (await rtnl.rules()).filter((r) => r.protocol === 147);
    assert.deepEqual(rules, [
      { family: 4, pref: 150, table: 150, action: 1, protocol: 147 },
      { family: 4, pref: 151, table: 1000, action: 1, protocol: 147, src: '10.244.0.0/16' },
    ]);
    assert.match((await exec('ip', ['-n', ns, 'rule'])).stdout, /151:\tfrom 10\.244\.0\.0\/16 lookup 1000 proto 147/);

    await ok([{ op: 'route-replace', route: { table: 150, dst: '10.99.0.0/16', oif: vx, gateway: '240.168.77.3', onlink: true, protocol: 147 } }]);
    assert.equal((await rtnl.routes()).find((r) => r.table === 150)?.gateway, '240.168.77.3');

    await ok([
      { op: 'neigh-del', neigh: { family: 'bridge', ifindex: vx, mac: '00:00:00:00:00:00', dst: '192.168.77.3' } },
      { op: 'neigh-del', neigh: { family: 'inet', ifindex: vx, mac: '02:68:c0:a8:4d:04', dst: '240.168.77.4' } },
      { op: 'route-del', route: { table: 150, dst: '10.99.0.0/16', protocol: 147, scope: 0 } },
      { op: 'route-del', route: { table: 1000, dst: '10.98.0.0/16', protocol: 147, scope: 253 } },
      { op: 'rule-del', rule: { pref: 150, table: 150, protocol: 147 } },
      { op: 'rule-del', rule: { pref: 151, table: 1000, protocol: 147, src: '10.244.0.0/16' } },
      { op: 'addr-del', ifindex: vx, address: '240.168.77.2', prefix: 8 },
    ]);
    assert.deepEqual((await rtnl.routes()).filter((r) => r.protocol === 147), []);
    assert.deepEqual((await rtnl.rules()).filter((r) => r.protocol === 147), []);
    assert.equal((await rtnl.neighbors('bridge')).filter((n) => n.ifindex === vx && n.mac === '00:00:00:00:00:00').length, 1);
  });

  it('reports each failed op with its errno and carries on with the rest', async () => {
    const r = await rtnl.apply([
      { op: 'route-add', route: { table: 150, dst: '10.97.0.0/16', oif: 9999, protocol: 147 } },
      { op: 'route-add', route: { table: 150, dst: '10.96.0.0/16', oif: eth0, protocol: 147 } },
      { op: 'route-del', route: { table: 150, dst: '10.95.0.0/16', protocol: 147 } },
    ]);
    assert.deepEqual(r.map((o) => (o.ok ? 'ok' : o.errno)), ['ENODEV', 'ok', 'ESRCH']);
    const bad = await rtnl.apply([{ op: 'neigh-replace', neigh: { family: 'inet', ifindex: eth0, mac: 'zz', dst: '192.168.77.9' } }]);
    assert.deepEqual(bad, [{ ok: false, errno: 'EINVAL', error: 'neigh replace zz dst 192.168.77.9 ifindex ' + eth0 + ': not a MAC address: "zz"' }]);
  });

  it('applies 1000 routes in one call (bounded in flight) and deletes them again', async () => {
    const adds: RtnlOp[] = [];
    for (let i = 0; i < 1000; i++) adds.push({ op: 'route-add', route: { table: 151, dst: `10.${100 + (i >> 8)}.${i & 255}.0/24`, oif: eth0, protocol: 147 } });
    await ok(adds);
    assert.equal((await rtnl.routes()).filter((r) => r.table === 151).length, 1000);
    await ok(adds.map((a) => (a.op === 'route-add' ? { op: 'route-del', route: { ...a.route, scope: 253 } } : a)));
    assert.equal((await rtnl.routes()).filter((r) => r.table === 151).length, 0);
  });

  it('dumps IPv6 routes and rules beside the IPv4 ones', async () => {
    await ok([
      { op: 'route-add', route: { table: 152, dst: 'fd00:97::/64', oif: eth0, protocol: 147 } },
      { op: 'rule-add', rule: { pref: 152, table: 152, protocol: 147, family: 6 } },
      { op: 'route-add', route: { table: 152, dst: '10.152.0.0/16', oif: eth0, protocol: 147 } },
    ]);
    const routes = (await rtnl.routes()).filter((r) => r.table === 152);
    assert.deepEqual(routes.map((r) => [r.family, r.dst, r.oif, r.protocol]).sort(), [[4, '10.152.0.0/16', eth0, 147], [6, 'fd00:97::/64', eth0, 147]]);
    assert.deepEqual((await rtnl.rules()).filter((r) => r.table === 152).map((r) => [r.family, r.pref, r.protocol]), [[6, 152, 147]]);
    await ok([
      { op: 'route-del', route: { table: 152, dst: 'fd00:97::/64', oif: eth0, protocol: 147 } },
      { op: 'rule-del', rule: { pref: 152, table: 152, protocol: 147, family: 6 } },
      { op: 'route-del', route: { table: 152, dst: '10.152.0.0/16', protocol: 147 } },
    ]);
    assert.deepEqual((await rtnl.routes()).filter((r) => r.table === 152), []);
  });

  it('a netns worker reads and writes sysctls there, and ends when closed', async () => {
    const w = await NetnsWorker.start(ns);
    const s = w.sysctl();
    assert.equal(await s.get('net/ipv4/conf/eth0/rp_filter').then((v) => typeof v), 'string');
    await s.set('net/ipv4/conf/eth0/rp_filter', '2');
    assert.equal(await s.get('net/ipv4/conf/eth0/rp_filter'), '2');
    assert.equal((await exec('sysctl', ['-n', 'net.ipv4.conf.eth0.rp_filter'], { netns: ns })).stdout.trim(), '2');
    assert.equal(await s.get('net/ipv4/conf/nosuchdev/rp_filter'), undefined);
    await assert.rejects(s.get('../etc/passwd'), /not a sysctl path/);
    // a worker that dies is started again on the next call
    const first = w.pid!;
    process.kill(first, 'SIGKILL');
    await waitFor(async () => !(await netnsPids(ns)).includes(first), { timeoutMs: 3000, what: 'worker killed' });
    assert.equal(await s.get('net/ipv4/conf/eth0/rp_filter'), '2');
    assert.notEqual(w.pid, first);
    const pid = w.pid!;
    await s.close();
    await waitFor(async () => !(await netnsPids(ns)).includes(pid), { timeoutMs: 3000, what: 'worker exit' });
  });

  it('a worker for a namespace that does not exist fails with a clear error', async () => {
    await assert.rejects(NetnsWorker.start('hw-nosuch-ns'), /netns worker in hw-nosuch-ns (could not start|exited)/);
  });
});
