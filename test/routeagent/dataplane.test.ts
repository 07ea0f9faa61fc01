import assert from 'node:assert/strict';
import { createLogger } from '../../src/log/index.js';
import { planRouteAgent, RouteAgentApplyError, RouteAgentDataplane, ROUTE_PROTO, type RouteAgentInput } from '../../src/routeagent/index.js';
import { mainTablePaths } from '../../src/routeagent/dataplane.js';
import { FakeNft, FakeRtnl, FakeSysctl } from './fakes.js';

const silent = createLogger({ level: 'fatal' });
const nodes = [
  { name: 'n1', ip: '10.0.0.11' },
  { name: 'n2', ip: '10.0.0.12' },
  { name: 'n3', ip: '10.0.0.13' },
];
const input: RouteAgentInput = {
  nodeName: 'n2',
  nodeIP: '10.0.0.12',
  nodes,
  activeGateway: { nodeName: 'n1', nodeIP: '10.0.0.11' },
  localClusterCidrs: ['10.244.0.0/16'],
  localServiceCidrs: ['10.96.0.0/12'],
  remoteCidrs: ['10.245.0.0/16', '10.112.0.0/12'],
  cableDriver: 'libreswan',
};

function world(): { rtnl: FakeRtnl; sysctl: FakeSysctl; nft: FakeNft; dp: RouteAgentDataplane } {
  const rtnl = new FakeRtnl();
  // what other software left on the node: must stay exactly as it is
  const eth0 = rtnl.addLink({ name: 'eth0', kind: 'veth', mtu: 1500, up: true, mac: '52:54:00:00:00:02' });
  const flannel = rtnl.addLink({ name: 'flannel.1', kind: 'vxlan', mtu: 1450, up: true, mac: '6e:00:00:00:00:01', vxlan: { vni: 1, port: 8472, learning: false } });
  rtnl.addrs.push({ ifindex: eth0.index, family: 4, address: '10.0.0.12', prefix: 24 });
  rtnl.neighs.push({ family: 'bridge', ifindex: flannel.index, mac: '6e:00:00:00:00:03', dst: '10.0.0.13', permanent: true, self: true });
  rtnl.routes_.push({ family: 4, table: 150, dst: '10.200.0.0/16', oif: eth0.index, protocol: 4, scope: 253, type: 1, onlink: false });
  rtnl.routes_.push({ family: 4, table: 254, dst: '10.244.3.0/24', gateway: '10.244.3.0', oif: flannel.index, protocol: 4, scope: 0, type: 1, onlink: true });
  rtnl.rules_.push({ family: 4, pref: 100, table: 200, action: 1, protocol: 3 });
  rtnl.rules_.push({ family: 4, pref: 150, table: 150, action: 1, protocol: 119 });
  const sysctl = new FakeSysctl(rtnl);
  const nft = new FakeNft();
  nft.tables.set('ip foreign', 'table ip foreign {\n}\n');
  return { rtnl, sysctl, nft, dp: new RouteAgentDataplane({ rtnl, sysctl, nft, log: silent }) };
}

const FOREIGN = `addr 10.0.0.12/24 dev eth0
fdb 6e:00:00:00:00:03 10.0.0.13 dev flannel.1
link eth0 veth mtu 1500 up 52:54:00:00:00:02
link flannel.1 vxlan mtu 1450 up 6e:00:00:00:00:01
route 10.200.0.0/16 dev eth0 table 150 proto 4
route 10.244.3.0/24 via 10.244.3.0 dev flannel.1 table 254 proto 4 onlink
rule 100 lookup 200 proto 3
rule 150 lookup 150 proto 119`;

function sorted(text: string): string {
  return text.trim().split('\n').sort().join('\n');
}

describe('routeagent dataplane (fake kernel)', () => {
  it('an optional sysctl that cannot be written (read-only /proc/sys) is not a failure; a required one is', async () => {
    const { sysctl, dp } = world();
    const refuse = (path: string): void => {
      const set = sysctl.set.bind(sysctl);
      sysctl.set = async (p: string, v: string): Promise<void> => (p === path ? Promise.reject(new Error('EROFS: read-only file system')) : set(p, v));
    };
    refuse('net/ipv4/neigh/vx-submariner/retrans_time_ms');
    const r1 = await dp.reconcile(planRouteAgent(input));
    assert.deepEqual(r1.failures, []);
    refuse('net/ipv4/conf/vx-submariner/rp_filter');
    sysctl.values.set('net/ipv4/conf/vx-submariner/rp_filter', '0');
    dp.markStale();
    await assert.rejects(dp.reconcile(planRouteAgent(input)), /sysctl net\.ipv4\.conf\.vx-submariner\.rp_filter=2: EROFS/);
  });

  it('builds a non-gateway node from nothing, then a second reconcile writes nothing', async () => {
    const { rtnl, sysctl, nft, dp } = world();
    const r1 = await dp.reconcile(planRouteAgent(input));
    assert.deepEqual({ ...r1, durationMs: 0 }, { links: 1, addresses: 1, fdb: 2, neighbors: 0, routes: 2, rules: 1, sysctls: 3, nft: 1, total: 11, durationMs: 0, failures: [] });
    assert.equal(
      rtnl.dump(),
      sorted(`${FOREIGN}
addr 240.0.0.12/8 dev vx-submariner
fdb 00:00:00:00:00:00 10.0.0.11 dev vx-submariner
fdb 02:68:0a:00:00:0b 10.0.0.11 dev vx-submariner
link vx-submariner vxlan mtu 1450 up 02:68:0a:00:00:0c
route 10.112.0.0/12 via 240.0.0.11 dev vx-submariner table 150 proto ${ROUTE_PROTO} onlink
route 10.245.0.0/16 via 240.0.0.11 dev vx-submariner table 150 proto ${ROUTE_PROTO} onlink
rule 150 lookup 150 proto ${ROUTE_PROTO}`),
    );
    assert.deepEqual(sysctl.writes, ['net/ipv4/ip_forward=1', 'net/ipv4/conf/vx-submariner/rp_filter=2', 'net/ipv4/neigh/vx-submariner/retrans_time_ms=100']);
    assert.equal(nft.tables.get('ip foreign'), 'table ip foreign {\n}\n');
    rtnl.takeWrites();
    const r2 = await dp.reconcile(planRouteAgent(input));
    assert.equal(r2.total, 0);
    assert.deepEqual(rtnl.takeWrites(), []);
    assert.deepEqual(await dp.pending(planRouteAgent(input)), []);
  });

  it('failover re-points with adds and replaces before deletes, and no nft write', async () => {
    const { rtnl, nft, dp } = world();
    await dp.reconcile(planRouteAgent(input));
    rtnl.takeWrites();
    const scripts = nft.scripts.length;
    const moved = planRouteAgent({ ...input, activeGateway: { nodeName: 'n3', nodeIP: '10.0.0.13' } });
    assert.deepEqual(await dp.pending(moved), [
      'fdb append 00:00:00:00:00:00 dst 10.0.0.13 dev vx-submariner',
      'fdb replace 02:68:0a:00:00:0d dst 10.0.0.13 dev vx-submariner',
      'route replace 10.112.0.0/12 via 240.0.0.13 dev vx-submariner onlink table 150',
      'route replace 10.245.0.0/16 via 240.0.0.13 dev vx-submariner onlink table 150',
      'fdb del 00:00:00:00:00:00 dst 10.0.0.11 dev vx-submariner',
      'fdb del 02:68:0a:00:00:0b dst 10.0.0.11 dev vx-submariner',
    ]);
    const r = await dp.reconcile(moved);
    assert.equal(r.total, 6);
    assert.equal(nft.scripts.length, scripts, 'the firewall does not depend on the gateway');
    const firstDelete = rtnl.log.findIndex((l) => l.op.op.endsWith('-del'));
    assert.ok(rtnl.log.slice(firstDelete).every((l) => l.op.op.endsWith('-del')), 'no add after a delete');
    assert.ok(rtnl.log[firstDelete]!.stage > rtnl.log[firstDelete - 1]!.stage, 'deletes run in a later stage than adds');
    assert.match(rtnl.dump(), /route 10\.245\.0\.0\/16 via 240\.0\.0\.13 dev vx-submariner table 150/);
    assert.doesNotMatch(rtnl.dump(), /10\.0\.0\.11|240\.0\.0\.11/);
  });

  it('removes the permanent derived-MAC ARP entries an older hawser left; leaves ARP-resolved ones alone', async () => {
    const { rtnl, dp } = world();
    await dp.reconcile(planRouteAgent(input));
    const vx = (await rtnl.links()).find((l) => l.name === 'vx-submariner')!.index;
    rtnl.neighs.push({ family: 'inet', ifindex: vx, mac: '02:68:0a:00:00:0b', dst: '240.0.0.11', permanent: true, self: false });
    rtnl.neighs.push({ family: 'inet', ifindex: vx, mac: '5a:11:22:33:44:55', dst: '240.0.0.13', permanent: false, self: false });
    rtnl.takeWrites();
    assert.deepEqual(await dp.pending(planRouteAgent(input)), ['neighbor del 240.0.0.11 dev vx-submariner']);
    await dp.reconcile(planRouteAgent(input));
    assert.doesNotMatch(rtnl.dump(), /neigh \S+ 240\.0\.0\.11/);
    assert.match(rtnl.dump(), /5a:11:22:33:44:55 240\.0\.0\.13/);
  });

  it('on failover, forgets an ARP entry learned earlier for the new gateway\'s VTEP (its MAC may have changed), before the routes move', async () => {
    const { rtnl, dp } = world();
    await dp.reconcile(planRouteAgent(input));
    const vx = (await rtnl.links()).find((l) => l.name === 'vx-submariner')!.index;
    rtnl.neighs.push({ family: 'inet', ifindex: vx, mac: '5a:11:22:33:44:55', dst: '240.0.0.13', permanent: false, self: false });
    assert.deepEqual(await dp.pending(planRouteAgent(input)), [], 'no failover, nothing to forget');
    const moved = planRouteAgent({ ...input, activeGateway: { nodeName: 'n3', nodeIP: '10.0.0.13' } });
    const steps = await dp.pending(moved);
    const forget = steps.indexOf('neighbor del 240.0.0.13 dev vx-submariner (learned before the failover; resolve afresh)');
    assert.ok(forget >= 0, steps.join('\n'));
    assert.ok(forget < steps.findIndex((x) => x.startsWith('route replace')), 'forgotten before the routes move');
    await dp.reconcile(moved);
    assert.doesNotMatch(rtnl.dump(), /neigh \S+ 240\.0\.0\.13/);
    assert.deepEqual(await dp.pending(moved), []);
  });

  it('a new remote CIDR is one route and one firewall transaction', async () => {
    const { nft, dp } = world();
    await dp.reconcile(planRouteAgent(input));
    const more = planRouteAgent({ ...input, remoteCidrs: [...input.remoteCidrs, '192.168.200.0/24'] });
    assert.deepEqual(await dp.pending(more), [
      'route add 192.168.200.0/24 via 240.0.0.11 dev vx-submariner onlink table 150',
      'nft replace table ip hawser (plan changed)',
    ]);
    const r = await dp.reconcile(more);
    assert.equal(r.total, 2);
    assert.match(nft.scripts.at(-1)!, /SUBMARINER-REMOTECIDRS \{ type ipv4_addr; flags interval; elements = \{ 10\.112\.0\.0\/12, 10\.245\.0\.0\/16, 192\.168\.200\.0\/24 \}/);
    assert.equal((await dp.reconcile(more)).total, 0);
  });

  it('takes over a crashed gateway\'s leftover WireGuard route for a remote CIDR (replace, not EEXIST)', async () => {
    const { rtnl, dp } = world();
    const wg = rtnl.addLink({ name: 'submariner', kind: 'wireguard', mtu: 1420, up: true, mac: '' });
    rtnl.routes_.push({ family: 4, table: 150, dst: '10.245.0.0/16', oif: wg.index, protocol: 119, scope: 253, type: 1, onlink: false });
    const r = await dp.reconcile(planRouteAgent(input));
    assert.deepEqual(r.failures, []);
    const taken = rtnl.routes_.filter((x) => x.table === 150 && x.dst === '10.245.0.0/16');
    assert.deepEqual(taken.map((x) => [x.protocol, x.gateway]), [[ROUTE_PROTO, '240.0.0.11']]);
    assert.equal((await dp.reconcile(planRouteAgent(input))).total, 0);
  });

  it('repairs drift: restores what was removed behind its back, removes strays with its tag', async () => {
    const { rtnl, nft, dp } = world();
    await dp.reconcile(planRouteAgent(input));
    const before = rtnl.dump();
    rtnl.routes_ = rtnl.routes_.filter((r) => r.dst !== '10.245.0.0/16');
    rtnl.neighs = rtnl.neighs.filter((n) => !(n.family === 'bridge' && n.mac === '00:00:00:00:00:00'));
    rtnl.routes_.push({ family: 4, table: 150, dst: '10.9.0.0/16', oif: 11, protocol: ROUTE_PROTO, scope: 253, type: 1, onlink: false });
    const t = nft.tables.get('ip hawser')!;
    nft.tables.set('ip hawser', t.replace(/\n\t\tip saddr @SUBMARINER-LOCALCIDRS ip daddr @SUBMARINER-REMOTECIDRS snat[^\n]*/, ''));
    rtnl.takeWrites();
    const r = await dp.reconcile(planRouteAgent(input));
    assert.deepEqual(rtnl.takeWrites(), [
      'fdb append 00:00:00:00:00:00 dst 10.0.0.11 ifindex 12',
      'route add 10.245.0.0/16 via 240.0.0.11 oif 12 table 150',
      'route del 10.9.0.0/16 oif 11 table 150',
    ]);
    assert.equal(r.nft, 1, 'a rule missing from our table is drift too');
    assert.equal(rtnl.dump(), before);
  });

  it('keeps going past failures and reports them all in one error', async () => {
    const { rtnl, dp } = world();
    rtnl.failOn.push({ pattern: /route add 10\.112\.0\.0\/12/, errno: 'ENETUNREACH' }, { pattern: /^rule add/, errno: 'EPERM' });
    await assert.rejects(dp.reconcile(planRouteAgent(input)), (e: unknown) => {
      assert.ok(e instanceof RouteAgentApplyError);
      assert.deepEqual(e.report.failures, [
        'route add 10.112.0.0/12 via 240.0.0.11 dev vx-submariner onlink table 150: ENETUNREACH',
        'rule add pref 150 lookup 150: EPERM',
      ]);
      assert.equal(e.report.routes, 1);
      assert.equal(e.report.fdb, 2);
      assert.match(e.message, /2 failures/);
      return true;
    });
    assert.match(rtnl.dump(), /route 10\.245\.0\.0\/16 via 240\.0\.0\.11/);
    // the next reconcile retries only what is missing
    rtnl.failOn = [];
    rtnl.takeWrites();
    const r = await dp.reconcile(planRouteAgent(input));
    assert.equal(r.total, 2);
  });

  it('reports routes through a device that does not exist yet (cable not up) without failing the rest', async () => {
    const { rtnl, dp } = world();
    const gw = planRouteAgent({ ...input, nodeName: 'n1', nodeIP: '10.0.0.11', cableInterface: 'submariner' });
    await assert.rejects(dp.reconcile(gw), (e: unknown) => e instanceof RouteAgentApplyError && e.report.failures.length === 2 && /device submariner does not exist/.test(e.message));
    assert.match(rtnl.dump(), /fdb 00:00:00:00:00:00 10\.0\.0\.13 dev vx-submariner/);
    rtnl.addLink({ name: 'submariner', kind: 'wireguard', mtu: 1420, up: true });
    const r = await dp.reconcile(gw);
    assert.equal(r.routes, 2);
  });

  it('recreates vx-submariner when an immutable attribute differs, then rebuilds what was on it', async () => {
    const { rtnl, dp } = world();
    rtnl.addLink({ name: 'vx-submariner', kind: 'vxlan', mtu: 1450, up: true, mac: '02:68:0a:00:00:0c', vxlan: { vni: 99, port: 4800, local: '10.0.0.12', learning: false } });
    const r = await dp.reconcile(planRouteAgent(input));
    assert.equal(r.links, 2);
    assert.match(rtnl.dump(), /route 10\.245\.0\.0\/16 via 240\.0\.0\.11 dev vx-submariner/);
    const vx = rtnl.links_.find((l) => l.name === 'vx-submariner')!;
    assert.equal(vx.vxlan?.vni, 100);
  });

  it('uninstall removes exactly ours, from a fresh instance with no memory', async () => {
    const { rtnl, sysctl, nft, dp } = world();
    await dp.reconcile(planRouteAgent({ ...input, nodeName: 'n1', nodeIP: '10.0.0.11', cableInterface: 'eth0' }));
    assert.match(rtnl.dump(), /dev eth0 table 150 proto 147/);
    const fresh = new RouteAgentDataplane({ rtnl, sysctl, nft, log: silent });
    await fresh.uninstall();
    assert.equal(rtnl.dump(), sorted(FOREIGN));
    assert.deepEqual([...nft.tables.keys()], ['ip foreign']);
    await fresh.uninstall();
  });

  it('finds the main table\'s path to a remote gateway: longest prefix, then lowest metric; never our own routes', () => {
    const links = [{ index: 2, name: 'eth0', kind: 'veth', mtu: 1500, up: true, mac: '52:54:00:00:00:02' }, { index: 3, name: 'eth1', kind: 'veth', mtu: 1500, up: true, mac: '52:54:00:00:00:03' }];
    const r = (dst: string, extra: Record<string, unknown>): Parameters<typeof mainTablePaths>[1][number] => ({ family: 4, table: 254, dst, protocol: 4, scope: 0, type: 1, onlink: false, ...extra });
    const routes = [
      r('0.0.0.0/0', { gateway: '10.0.0.1', oif: 2 }),
      r('203.0.113.0/24', { gateway: '10.0.0.254', oif: 3, metric: 100 }),
      r('203.0.113.0/24', { gateway: '10.0.0.253', oif: 2, metric: 50 }),
      r('192.168.7.0/24', { oif: 3, scope: 253 }),
      r('198.51.100.0/24', { gateway: '240.0.0.11', oif: 2, protocol: ROUTE_PROTO }),
      { ...r('198.51.100.0/24', { gateway: '10.0.0.9', oif: 2 }), table: 150 },
    ];
    assert.deepEqual(mainTablePaths(['203.0.113.9', '192.168.7.7', '198.51.100.1'], routes, links), [
      { ip: '203.0.113.9', dev: 'eth0', via: '10.0.0.253' },
      { ip: '192.168.7.7', dev: 'eth1' },
      { ip: '198.51.100.1', dev: 'eth0', via: '10.0.0.1' },
    ]);
    assert.deepEqual(mainTablePaths(['8.8.8.8'], [], links), [{ ip: '8.8.8.8' }]);
  });
});
