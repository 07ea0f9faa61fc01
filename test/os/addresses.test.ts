import { strict as assert } from 'node:assert';
import { addressesIn, chooseUnderlayMtu, cniAddress, underlayMtu } from '../../src/os/addresses.js';
import type { AddrInfo, LinkInfo, RouteInfo } from '../../src/os/netlink.js';

const links: LinkInfo[] = [
  { index: 1, name: 'lo', mtu: 65536, up: true },
  { index: 2, name: 'eth0', mtu: 9001, up: true },
  { index: 3, name: 'cni0', kind: 'bridge', mtu: 1450, up: true },
  { index: 4, name: 'vxlan.calico', kind: 'vxlan', mtu: 1410, up: true },
];
const addrs: AddrInfo[] = [
  { ifindex: 1, family: 4, address: '127.0.0.1', prefix: 8 },
  { ifindex: 2, family: 4, address: '192.168.0.5', prefix: 24 },
  { ifindex: 4, family: 4, address: '10.245.7.0', prefix: 32 },
  { ifindex: 4, family: 6, address: 'fe80::1', prefix: 64 },
];
const routes: RouteInfo[] = [{ family: 4, table: 254, dst: '0.0.0.0/0', gateway: '192.168.0.1', oif: 2, protocol: 3, scope: 0, type: 1, onlink: false }];
const src = { links: async () => links, addresses: async () => addrs, routes: async () => routes };

describe('os/addresses', () => {
  it('cniAddress: the holder in the second of several pod CIDRs, not a bridge', async () => {
    const got = await cniAddress(src, ['10.244.0.0/16', '10.245.0.0/16']);
    assert.ok(!('unavailable' in got));
    assert.equal(got.address, '10.245.7.0');
    assert.equal(got.ifname, 'vxlan.calico');
    assert.equal(got.kind, 'vxlan');
  });

  it('cniAddress: unavailable with the CIDRs named, also for no/bad CIDRs and read failures', async () => {
    const none = await cniAddress(src, ['10.99.0.0/16']);
    assert.ok('unavailable' in none && none.unavailable.includes('10.99.0.0/16'));
    const bad = await cniAddress(src, ['nope']);
    assert.ok('unavailable' in bad && bad.unavailable.includes('nope'));
    const broken = await cniAddress({ links: async () => links, addresses: async () => Promise.reject(new Error('EPERM')) }, ['10.0.0.0/8']);
    assert.ok('unavailable' in broken && broken.unavailable.includes('EPERM'));
  });

  it('addressesIn lists every hit in kernel order', async () => {
    const got = await addressesIn(src, ['0.0.0.0/0']);
    assert.deepEqual(got.map((a) => `${a.ifname} ${a.address}`), ['lo 127.0.0.1', 'eth0 192.168.0.5', 'vxlan.calico 10.245.7.0']);
  });

  it('underlayMtu: holder, else default route device, else 1500', async () => {
    assert.equal(await underlayMtu(src, '192.168.0.5'), 9001);
    assert.equal(await underlayMtu(src, '172.16.0.1'), 9001);
    assert.equal(chooseUnderlayMtu(links, addrs, [], '172.16.0.1'), 1500);
  });
});
