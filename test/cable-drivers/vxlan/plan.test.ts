import assert from 'node:assert/strict';
import {
  type VxlanAction, type VxlanCable, type VxlanObserved, cniAddress, planCable, planCleanup, planDevice, planDisconnect, planSweep, planText, vtepFor,
} from '../../../src/cable-drivers/vxlan/plan.js';
import { fdbEntries, routeEntries, RtnlVxlanKernel, ruleEntries } from '../../../src/cable-drivers/vxlan/kernel.js';
import { FakeRtnl, FakeSysctl } from '../../support/fake-rtnl.js';
import { parseCidr } from '../../../src/config/parse.js';
import { VxlanDriver } from '../../../src/cable-drivers/vxlan/driver.js';
import type { VxlanKernel } from '../../../src/cable-drivers/vxlan/kernel.js';
import type { DriverContext } from '../../../src/cable-drivers/types.js';
import type { GatewayConfig } from '../../../src/config/roles.js';
import { logSink, natEndpointSpec } from '../../support/fixtures.js';

const empty = (): VxlanObserved => ({ fdb: [], routes: [], rules: [] });
const goodLink = { name: 'vxlan-tunnel', kind: 'vxlan', vni: 1000, port: 4500, mtu: 1450, up: true, addrs: ['241.168.1.10/8'] };
const ourRule = { priority: 100, table: 100, protocol: 104, selective: false };
const dev = { port: 4500, mtu: 1450, vtep: '241.168.1.10' };

const cableB: VxlanCable = {
  cableName: 'cable-b', remoteVtep: '241.168.2.20', useIP: '192.168.2.20', subnets: ['10.20.0.0/16', '10.120.0.0/16'], candidateIPs: ['192.168.2.20', '203.0.113.2'],
};
const routeB = (dst: string, extra: Partial<VxlanObserved['routes'][number]> = {}): VxlanObserved['routes'][number] => ({
  dst, gateway: '241.168.2.20', dev: 'vxlan-tunnel', src: '241.168.1.10', protocol: 104, metric: 100, ...extra,
});

describe('vxlan: planners', () => {
  it('derives VTEPs in 241/8', () => {
    assert.equal(vtepFor('192.168.2.20'), '241.168.2.20');
    assert.equal(vtepFor('10.0.0.1'), '241.0.0.1');
    assert.equal(vtepFor('fd00::1'), undefined);
  });

  const deviceCases: Array<[string, VxlanObserved, string]> = [
    ['nothing there: create everything', empty(), [
      'ip link add vxlan-tunnel mtu 1450 type vxlan id 1000 dstport 4500',
      'ip addr add 241.168.1.10/8 dev vxlan-tunnel',
      'ip link set dev vxlan-tunnel up',
      'ip rule add pref 100 lookup 100 protocol 104',
      'sysctl -w net.ipv4.conf.vxlan-tunnel.rp_filter=2',
    ].join('\n')],
    ['all in place: nothing', { ...empty(), link: goodLink, rules: [ourRule], rpFilter: 2 }, ''],
    ['wrong VNI: recreate', { ...empty(), link: { ...goodLink, vni: 7 }, rules: [ourRule], rpFilter: 2 }, [
      'ip link del vxlan-tunnel',
      'ip link add vxlan-tunnel mtu 1450 type vxlan id 1000 dstport 4500',
      'ip addr add 241.168.1.10/8 dev vxlan-tunnel',
      'ip link set dev vxlan-tunnel up',
      'sysctl -w net.ipv4.conf.vxlan-tunnel.rp_filter=2',
    ].join('\n')],
    ['drifted: MTU, stale VTEP address, down, rp_filter, rule with a selector is not ours', {
      ...empty(), link: { ...goodLink, mtu: 1500, up: false, addrs: ['241.168.1.99/8', '10.9.9.9/24'] }, rules: [{ ...ourRule, selective: true }], rpFilter: 1,
    }, [
      'ip link set dev vxlan-tunnel mtu 1450',
      'ip addr del 241.168.1.99/8 dev vxlan-tunnel',
      'ip addr add 241.168.1.10/8 dev vxlan-tunnel',
      'ip link set dev vxlan-tunnel up',
      'ip rule add pref 100 lookup 100 protocol 104',
      'sysctl -w net.ipv4.conf.vxlan-tunnel.rp_filter=2',
    ].join('\n')],
  ];
  for (const [name, obs, want] of deviceCases) it(`device: ${name}`, () => assert.equal(planText(planDevice(dev, obs)), want));

  const cableCases: Array<[string, VxlanCable, VxlanObserved, Set<string>, string]> = [
    ['new cable', cableB, empty(), new Set(), [
      'bridge fdb append 00:00:00:00:00:00 dev vxlan-tunnel dst 192.168.2.20',
      'ip route replace 10.20.0.0/16 via 241.168.2.20 dev vxlan-tunnel src 241.168.1.10 table 100 proto 104 metric 100',
      'ip route replace 10.120.0.0/16 via 241.168.2.20 dev vxlan-tunnel src 241.168.1.10 table 100 proto 104 metric 100',
    ].join('\n')],
    ['in place: nothing', cableB, { ...empty(), fdb: [{ mac: '00:00:00:00:00:00', dst: '192.168.2.20' }], routes: [routeB('10.20.0.0/16'), routeB('10.120.0.0/16')] }, new Set(), ''],
    ['NAT decision moved to the public IP (learned entries to the old IP go too); a subnet left', { ...cableB, useIP: '203.0.113.2', subnets: ['10.20.0.0/16'] }, {
      ...empty(),
      fdb: [{ mac: '00:00:00:00:00:00', dst: '192.168.2.20' }, { mac: '00:00:00:00:00:00', dst: '192.168.3.30' }, { mac: '02:aa:bb:cc:dd:ee', dst: '192.168.2.20' }],
      routes: [routeB('10.20.0.0/16'), routeB('10.120.0.0/16'), { dst: '10.99.0.0/16', gateway: '241.168.2.20', dev: 'vxlan-tunnel', protocol: 4, metric: 100 }],
    }, new Set(['192.168.3.30']), [
      'bridge fdb append 00:00:00:00:00:00 dev vxlan-tunnel dst 203.0.113.2',
      'bridge fdb del 00:00:00:00:00:00 dev vxlan-tunnel dst 192.168.2.20',
      'bridge fdb del 02:aa:bb:cc:dd:ee dev vxlan-tunnel dst 192.168.2.20',
      'ip route del 10.120.0.0/16 via 241.168.2.20 dev vxlan-tunnel table 100 proto 104 metric 100',
    ].join('\n')],
    ['remote port differs: entry re-added with the port; route via an old VTEP replaced', { ...cableB, port: 4501, subnets: ['10.20.0.0/16'] }, {
      ...empty(), fdb: [{ mac: '00:00:00:00:00:00', dst: '192.168.2.20' }], routes: [routeB('10.20.0.0/16', { gateway: '241.168.2.99' })],
    }, new Set(), [
      'bridge fdb del 00:00:00:00:00:00 dev vxlan-tunnel dst 192.168.2.20',
      'bridge fdb append 00:00:00:00:00:00 dev vxlan-tunnel dst 192.168.2.20 port 4501',
      'ip route replace 10.20.0.0/16 via 241.168.2.20 dev vxlan-tunnel src 241.168.1.10 table 100 proto 104 metric 100',
    ].join('\n')],
    ['an IP another cable uses is never removed', { ...cableB, useIP: '203.0.113.2' }, {
      ...empty(), fdb: [{ mac: '00:00:00:00:00:00', dst: '192.168.2.20' }, { mac: '00:00:00:00:00:00', dst: '203.0.113.2' }], routes: [routeB('10.20.0.0/16'), routeB('10.120.0.0/16')],
    }, new Set(['192.168.2.20']), ''],
  ];
  for (const [name, c, obs, others, want] of cableCases) it(`cable: ${name}`, () => assert.equal(planText(planCable(c, '241.168.1.10', obs, others)), want));

  it('cable routes move to the CNI IP as source (Submariner\'s cable/vxlan), replaced in place', () => {
    const obs = { ...empty(), fdb: [{ mac: '00:00:00:00:00:00', dst: '192.168.2.20' }], routes: [routeB('10.20.0.0/16'), routeB('10.120.0.0/16', { src: '10.10.1.1' })] };
    assert.equal(planText(planCable(cableB, '10.10.1.1', obs, new Set())), 'ip route replace 10.20.0.0/16 via 241.168.2.20 dev vxlan-tunnel src 10.10.1.1 table 100 proto 104 metric 100');
  });

  it('finds the CNI IP: an address in a local cluster CIDR, never on the tunnels', () => {
    const cidrs = [parseCidr('10.10.0.0/16')!];
    assert.equal(cniAddress([{ dev: 'eth0', ip: '192.168.1.10' }, { dev: 'vxlan-tunnel', ip: '10.10.9.9' }, { dev: 'cni0', ip: '10.10.1.1' }], cidrs), '10.10.1.1');
    assert.equal(cniAddress([{ dev: 'eth0', ip: '192.168.1.10' }], cidrs), undefined);
  });

  it('disconnect removes this cable only', () => {
    const obs: VxlanObserved = {
      ...empty(),
      fdb: [{ mac: '00:00:00:00:00:00', dst: '192.168.2.20' }, { mac: '00:00:00:00:00:00', dst: '192.168.3.30' }, { mac: '42:79:07:a5:6a:13', dst: '192.168.2.20' }],
      routes: [routeB('10.20.0.0/16'), routeB('10.30.0.0/16', { gateway: '241.168.3.30' }), routeB('10.21.0.0/16', { protocol: 3 })],
    };
    assert.equal(planText(planDisconnect('241.168.2.20', ['192.168.2.20', '203.0.113.2'], obs, new Set())), [
      'bridge fdb del 00:00:00:00:00:00 dev vxlan-tunnel dst 192.168.2.20',
      'bridge fdb del 42:79:07:a5:6a:13 dev vxlan-tunnel dst 192.168.2.20',
      'ip route del 10.20.0.0/16 via 241.168.2.20 dev vxlan-tunnel table 100 proto 104 metric 100',
    ].join('\n'));
  });

  it('sweep removes state of cables nobody asked for, keeps known ones and untagged routes', () => {
    const obs: VxlanObserved = {
      ...empty(),
      fdb: [{ mac: '00:00:00:00:00:00', dst: '192.168.2.20' }, { mac: '00:00:00:00:00:00', dst: '192.168.9.90' }, { mac: '0a:0b:0c:0d:0e:0f', dst: '192.168.9.90' }],
      routes: [routeB('10.20.0.0/16'), routeB('10.90.0.0/16', { gateway: '241.168.9.90' }), routeB('10.91.0.0/16', { gateway: '241.168.9.90', protocol: 4 })],
    };
    assert.equal(planText(planSweep(new Set(['241.168.2.20']), new Set(['192.168.2.20']), obs)), [
      'bridge fdb del 00:00:00:00:00:00 dev vxlan-tunnel dst 192.168.9.90',
      'bridge fdb del 0a:0b:0c:0d:0e:0f dev vxlan-tunnel dst 192.168.9.90',
      'ip route del 10.90.0.0/16 via 241.168.9.90 dev vxlan-tunnel table 100 proto 104 metric 100',
    ].join('\n'));
  });

  it('cleanup removes our routes, our rule and the device; nothing untagged', () => {
    const obs: VxlanObserved = {
      link: goodLink,
      fdb: [{ mac: '00:00:00:00:00:00', dst: '192.168.2.20' }],
      routes: [routeB('10.20.0.0/16'), { dst: '10.50.0.0/16', gateway: '192.168.1.1', dev: 'eth0', protocol: 4, metric: 0 }],
      rules: [ourRule, { priority: 100, table: 100, protocol: undefined, selective: false }, { priority: 32766, table: 254, selective: false }],
    };
    assert.equal(planText(planCleanup(obs)), [
      'ip route del 10.20.0.0/16 via 241.168.2.20 dev vxlan-tunnel table 100 proto 104 metric 100',
      'ip rule del pref 100 lookup 100 protocol 104',
      'ip link del vxlan-tunnel',
    ].join('\n'));
    assert.equal(planText(planCleanup({ ...empty(), link: { ...goodLink, kind: 'veth' } })), '');
  });
});

describe('vxlan: kernel views (rtnetlink values)', () => {
  it('takes the device FDB entries with a remote destination from the rtnetlink neighbours (port when it has its own)', () => {
    const b = { family: 'bridge' as const, permanent: true, self: true };
    assert.deepEqual(fdbEntries([
      { ...b, ifindex: 3, mac: '00:00:00:00:00:00', dst: '10.99.0.2' },
      { ...b, ifindex: 3, mac: '00:00:00:00:00:00', dst: '10.99.0.3', port: 4501 },
      { ...b, ifindex: 3, mac: '33:33:00:00:00:01' },
      { ...b, ifindex: 4, mac: '00:00:00:00:00:00', dst: '10.99.0.4' },
      { family: 'inet', ifindex: 3, mac: '02:00:00:00:00:01', dst: '10.99.0.5', permanent: true, self: false },
    ], 3), [
      { mac: '00:00:00:00:00:00', dst: '10.99.0.2' }, { mac: '00:00:00:00:00:00', dst: '10.99.0.3', port: 4501 },
    ]);
  });
  it('takes table-100 routes (device names from the links, protocols as numbers) and IPv4 rules with their selectors', () => {
    const links = [{ index: 3, name: 'vxlan-tunnel', mtu: 1450, up: true }, { index: 2, name: 'eth0', mtu: 1500, up: true }];
    const r = { family: 4 as const, scope: 0, type: 1, onlink: false };
    assert.deepEqual(routeEntries([
      { ...r, table: 100, dst: '10.20.0.0/24', gateway: '241.99.0.2', oif: 3, prefsrc: '241.99.0.1', protocol: 104, metric: 100 },
      { ...r, table: 100, dst: '10.1.1.1/32', oif: 2, protocol: 4 },
      { ...r, table: 254, dst: '10.9.0.0/16', oif: 2, protocol: 104 },
    ], links), [
      { dst: '10.20.0.0/24', gateway: '241.99.0.2', dev: 'vxlan-tunnel', src: '241.99.0.1', protocol: 104, metric: 100 },
      { dst: '10.1.1.1/32', dev: 'eth0', protocol: 4, metric: 0 },
    ]);
    assert.deepEqual(ruleEntries([
      { family: 4, pref: 100, table: 100, action: 1, protocol: 104 },
      { family: 4, pref: 100, table: 100, action: 1, src: '10.0.0.0/8' },
      { family: 6, pref: 100, table: 100, action: 1 },
    ]), [
      { priority: 100, table: 100, protocol: 104, selective: false },
      { priority: 100, table: 100, selective: true },
    ]);
  });
});

/** A kernel that interprets the actions like the real one (duplicates and missing entries are errors). */
class FakeKernel implements VxlanKernel {
  state: VxlanObserved = { fdb: [], routes: [], rules: [] };
  applied: VxlanAction[][] = [];
  async observe(): Promise<VxlanObserved> {
    return structuredClone(this.state);
  }
  async observeCables(): Promise<Pick<VxlanObserved, 'fdb' | 'routes'> & { linkPresent: boolean }> {
    return { fdb: structuredClone(this.state.fdb), routes: structuredClone(this.state.routes), linkPresent: !!this.state.link };
  }
  async underlayMtu(): Promise<number> {
    return 1500;
  }
  addrs: Array<{ dev: string; ip: string }> = [{ dev: 'eth0', ip: '192.168.1.10' }];
  async localAddresses(): Promise<Array<{ dev: string; ip: string }>> {
    return structuredClone(this.addrs);
  }
  async apply(actions: readonly VxlanAction[]): Promise<void> {
    this.applied.push([...actions]);
    const s = this.state;
    for (const a of actions) {
      switch (a.op) {
        case 'link-add': s.link = { name: 'vxlan-tunnel', kind: 'vxlan', vni: 1000, port: a.port, mtu: a.mtu, up: false, addrs: [] }; break;
        case 'link-del': s.link = undefined; s.fdb = []; s.routes = s.routes.filter((r) => r.dev !== 'vxlan-tunnel'); break;
        case 'link-mtu': s.link!.mtu = a.mtu; break;
        case 'link-up': s.link!.up = true; break;
        case 'addr-add': s.link!.addrs.push(a.cidr); break;
        case 'addr-del': s.link!.addrs = s.link!.addrs.filter((x) => x !== a.cidr); break;
        case 'rule-add': s.rules.push({ priority: 100, table: 100, protocol: 104, selective: false }); break;
        case 'rule-del': s.rules = s.rules.filter((r) => r.protocol !== 104); break;
        case 'rp-filter': s.rpFilter = 2; break;
        case 'fdb-add':
          if (s.fdb.some((e) => e.dst === a.dst)) throw new Error(`fdb exists ${a.dst}`);
          s.fdb.push({ mac: '00:00:00:00:00:00', dst: a.dst, ...(a.port ? { port: a.port } : {}) });
          break;
        case 'fdb-del':
          if (!s.fdb.some((e) => e.dst === a.dst && e.mac === a.mac)) throw new Error(`no fdb ${a.mac} ${a.dst}`);
          s.fdb = s.fdb.filter((e) => !(e.dst === a.dst && e.mac === a.mac));
          break;
        case 'route-replace':
          s.routes = s.routes.filter((r) => !(r.dst === a.dst && r.metric === 100));
          s.routes.push({ dst: a.dst, gateway: a.via, dev: 'vxlan-tunnel', src: a.src, protocol: 104, metric: 100 });
          break;
        case 'route-del': {
          const n = s.routes.length;
          s.routes = s.routes.filter((r) => !(r.dst === a.dst && r.metric === a.metric && r.protocol === 104));
          if (s.routes.length === n) throw new Error(`no route ${a.dst}`);
          break;
        }
      }
    }
  }
  dump(): string {
    return [
      ...this.state.fdb.map((e) => `fdb ${e.dst}${e.port ? `:${e.port}` : ''}`),
      ...this.state.routes.map((r) => `route ${r.dst} via ${r.gateway}${r.src?.startsWith('241.') ? '' : ` src ${r.src}`}`),
    ].sort().join('\n');
  }
}

describe('vxlan: driver over a fake kernel', () => {
  const local = natEndpointSpec({ cluster: 'a', privateIP: '192.168.1.10' });
  const ctx = (): DriverContext => ({ config: {} as GatewayConfig, localEndpoint: local, log: logSink().log });
  const remoteB = { ...natEndpointSpec({ cluster: 'b', privateIP: '192.168.2.20', publicIP: '203.0.113.2' }), subnets: ['10.20.0.0/16'] };
  const remoteC = { ...natEndpointSpec({ cluster: 'c', privateIP: '192.168.3.30' }), subnets: ['10.30.0.0/16', 'fd00:30::/64'] };

  it('connects idempotently, moves with the NAT decision, and reports from the kernel', async () => {
    const k = new FakeKernel();
    const d = new VxlanDriver(ctx(), { kernel: k });
    await d.init();
    await d.init();
    assert.equal(k.applied.length, 1, 'second init changes nothing');
    await d.connect(remoteB, { useIP: '192.168.2.20', useNAT: false });
    await d.connect(remoteC, { useIP: '192.168.3.30', useNAT: false });
    const before = k.applied.length;
    await d.connect(remoteB, { useIP: '192.168.2.20', useNAT: false });
    assert.equal(k.applied.length, before, 'same connect twice changes nothing');
    assert.equal(k.dump(), ['fdb 192.168.2.20', 'fdb 192.168.3.30', 'route 10.20.0.0/16 via 241.168.2.20', 'route 10.30.0.0/16 via 241.168.3.30'].join('\n'));
    await d.connect(remoteB, { useIP: '203.0.113.2', useNAT: true });
    assert.equal(k.dump(), ['fdb 192.168.3.30', 'fdb 203.0.113.2', 'route 10.20.0.0/16 via 241.168.2.20', 'route 10.30.0.0/16 via 241.168.3.30'].join('\n'));
    let conns = await d.connections();
    assert.deepEqual(conns.map((c) => [c.cableName, c.status, c.usingIP, c.usingNAT]), [[remoteB.cableName, 'connected', '203.0.113.2', true], [remoteC.cableName, 'connected', '192.168.3.30', false]]);
    // Drift: a route removed behind our back shows as error, and connect restores it.
    k.state.routes = k.state.routes.filter((r) => r.dst !== '10.30.0.0/16');
    conns = await d.connections();
    assert.equal(conns[1]!.status, 'error');
    assert.match(conns[1]!.statusMessage, /route 10\.30\.0\.0\/16 via 241\.168\.3\.30/);
    await d.connect(remoteC, { useIP: '192.168.3.30', useNAT: false });
    assert.equal((await d.connections())[1]!.status, 'connected');
    await d.disconnect(remoteB);
    await d.disconnect(remoteB);
    assert.equal(k.dump(), ['fdb 192.168.3.30', 'route 10.30.0.0/16 via 241.168.3.30'].join('\n'));
    await d.cleanup();
    assert.equal(k.dump(), '');
    assert.equal(k.state.link, undefined);
    assert.deepEqual(k.state.rules, []);
  });

  it('refuses VTEP collisions and non-IPv4 addresses with a clear error, and skips its own cluster', async () => {
    const k = new FakeKernel();
    const d = new VxlanDriver(ctx(), { kernel: k });
    await d.init();
    const clash = natEndpointSpec({ cluster: 'b', privateIP: '10.168.1.10' });
    await assert.rejects(d.connect(clash, { useIP: '10.168.1.10', useNAT: false }), /maps to our own VTEP 241\.168\.1\.10/);
    await d.connect(remoteB, { useIP: '192.168.2.20', useNAT: false });
    await assert.rejects(d.connect(natEndpointSpec({ cluster: 'x', privateIP: '172.168.2.20' }), { useIP: '172.168.2.20', useNAT: false }), /already used by/);
    await assert.rejects(d.connect(remoteC, { useIP: 'fd00::1', useNAT: false }), /needs an IPv4 address/);
    const before = k.applied.length;
    await d.connect(natEndpointSpec({ cluster: 'a', privateIP: '192.168.1.11' }), { useIP: '192.168.1.11', useNAT: false });
    assert.equal(k.applied.length, before);
  });

  it('after a restart, set() removes cables not wanted again (no separate sweep)', async () => {
    const k = new FakeKernel();
    const before = new VxlanDriver(ctx(), { kernel: k });
    await before.init();
    await before.connect(remoteB, { useIP: '192.168.2.20', useNAT: false });
    await before.connect(remoteC, { useIP: '192.168.3.30', useNAT: false });
    const after = new VxlanDriver(ctx(), { kernel: k });
    await after.init();
    await after.connect(remoteC, { useIP: '192.168.3.30', useNAT: false });
    assert.equal(k.dump(), ['fdb 192.168.3.30', 'route 10.30.0.0/16 via 241.168.3.30'].join('\n'));
  });

  it('routes from the CNI IP once the node has one, and moves existing routes to it', async () => {
    const k = new FakeKernel();
    const cfg = { clusterCidrs: [parseCidr('10.10.0.0/16')!] } as GatewayConfig;
    const d = new VxlanDriver({ ...ctx(), config: cfg }, { kernel: k });
    await d.init();
    await d.connect(remoteB, { useIP: '192.168.2.20', useNAT: false });
    assert.equal(k.dump(), ['fdb 192.168.2.20', 'route 10.20.0.0/16 via 241.168.2.20'].join('\n'), 'no CNI address yet: the VTEP');
    k.addrs.push({ dev: 'cni0', ip: '10.10.1.1' });
    await d.connect(remoteB, { useIP: '192.168.2.20', useNAT: false });
    assert.equal(k.dump(), ['fdb 192.168.2.20', 'route 10.20.0.0/16 via 241.168.2.20 src 10.10.1.1'].join('\n'));
  });

  it('recreates a missing device on connect', async () => {
    const k = new FakeKernel();
    const d = new VxlanDriver(ctx(), { kernel: k });
    await d.init();
    k.state.link = undefined;
    await d.connect(remoteB, { useIP: '192.168.2.20', useNAT: false });
    const { link } = await k.observe();
    assert.equal(link?.kind, 'vxlan');
    assert.equal(link?.mtu, 1450);
    assert.equal((await d.connections())[0]!.status, 'connected');
  });
});

describe('vxlan: kernel adapter over the shared rtnetlink fake', () => {
  const setup = (): { r: FakeRtnl; s: FakeSysctl; k: RtnlVxlanKernel } => {
    const r = new FakeRtnl();
    const eth = r.addLink({ name: 'eth0', mtu: 9000, up: true });
    r.addrs.push({ ifindex: eth.index, family: 4, address: '192.168.1.10', prefix: 24 });
    const s = new FakeSysctl(r);
    return { r, s, k: new RtnlVxlanKernel(undefined, { rtnl: r, sysctl: s }) };
  };

  it('creates the device in order (each op after the index it needs), then rule, rp_filter and routes as typed ops', async () => {
    const { r, s, k } = setup();
    assert.equal(await k.underlayMtu('192.168.1.10'), 9000);
    const dev = planDevice({ port: 4500, mtu: 8950, vtep: '241.168.1.10' }, await k.observe());
    await k.apply([...dev, { op: 'route-replace', dst: '10.20.0.0/16', via: '241.168.2.20', src: '10.10.1.1' }]);
    assert.deepEqual(r.takeWrites(), [
      'link add vxlan-tunnel type vxlan',
      'address add 241.168.1.10/8 ifindex 11',
      'link set ifindex 11 up',
      'rule add pref 100 lookup 100',
      'route replace 10.20.0.0/16 via 241.168.2.20 oif 11 table 100',
    ]);
    assert.equal(s.values.get('net/ipv4/conf/vxlan-tunnel/rp_filter'), '2');
    const obs = await k.observe();
    assert.deepEqual(planDevice({ port: 4500, mtu: 8950, vtep: '241.168.1.10' }, obs), [], 'observed back as planned');
    assert.deepEqual(obs.routes, [{ dst: '10.20.0.0/16', gateway: '241.168.2.20', dev: 'vxlan-tunnel', src: '10.10.1.1', protocol: 104, metric: 0 }]);
  });

  it('FDB entries are rtnetlink neighbour ops (append with the remote port, delete), observed back', async () => {
    const { r, k } = setup();
    await k.apply(planDevice({ port: 4500, mtu: 1450, vtep: '241.168.1.10' }, await k.observe()));
    r.takeWrites();
    await k.apply([{ op: 'fdb-add', dst: '192.168.2.20', port: 4501 }, { op: 'fdb-add', dst: '192.168.3.30' }]);
    assert.deepEqual(r.takeWrites(), ['fdb append 00:00:00:00:00:00 dst 192.168.2.20 port 4501 ifindex 11', 'fdb append 00:00:00:00:00:00 dst 192.168.3.30 ifindex 11']);
    assert.deepEqual((await k.observeCables()).fdb, [{ mac: '00:00:00:00:00:00', dst: '192.168.2.20', port: 4501 }, { mac: '00:00:00:00:00:00', dst: '192.168.3.30' }]);
    await k.apply([{ op: 'fdb-del', mac: '00:00:00:00:00:00', dst: '192.168.2.20' }]);
    assert.deepEqual((await k.observe()).fdb, [{ mac: '00:00:00:00:00:00', dst: '192.168.3.30' }]);
  });

  it('cleanup removes routes and rule before the device (a route gone already counts as removed)', async () => {
    const { r, k } = setup();
    await k.apply([...planDevice({ port: 4500, mtu: 1450, vtep: '241.168.1.10' }, await k.observe()), { op: 'route-replace', dst: '10.20.0.0/16', via: '241.168.2.20', src: '10.10.1.1' }]);
    r.takeWrites();
    const cleanup = planCleanup(await k.observe());
    await k.apply([...cleanup, { op: 'route-del', dst: '10.99.0.0/16', metric: 100 }]);
    assert.deepEqual(r.takeWrites(), ['route del 10.20.0.0/16 via 241.168.2.20 oif 11 table 100', 'rule del pref 100 lookup 100', 'link del ifindex 11', 'route del 10.99.0.0/16 table 100']);
    assert.deepEqual(r.links_.map((l) => l.name), ['eth0']);
  });
});
