// Regression (lab, userspace ESP): child SAs whose local side is the service CIDR failed on every cable
// ("error installing route with policy 10.43.0.0/16 === 10.45.0.0/16 out" → "unable to install IPsec
// policies (SPD)" here, TS_UNACCEPTABLE at the peer) because kernel-libipsec needs a local address inside
// the local selector and a gateway has none in its service CIDR. The planner lends one; the classifier
// names the real cause instead of "a kernel without ESP needs HAWSER_IPSEC_USERSPACE=true".
import assert from 'node:assert/strict';
import { classifyCharonLog, preferFailure } from '../../../src/cable-drivers/ipsec/state.js';
import { SOURCE_ADDRESS_LABEL, planSourceAddresses, removeSourceAddresses, syncSourceAddresses, type HostAddress } from '../../../src/cable-drivers/ipsec/source-addresses.js';
import { createLogger } from '../../../src/log/index.js';
import { FakeRtnl } from '../../support/fake-rtnl.js';

const HOST: HostAddress[] = [
  { dev: 'lo', address: '127.0.0.1', prefix: 8, label: 'lo' },
  { dev: 'eth0', address: '172.16.0.11', prefix: 24, label: 'eth0' },
  { dev: 'cni0', address: '10.42.0.1', prefix: 24, label: 'cni0' },
];
const ours = (address: string): HostAddress => ({ dev: 'lo', address, prefix: 32, label: SOURCE_ADDRESS_LABEL });

describe('ipsec source addresses for userspace ESP routes', () => {
  it('lends the network address of a service CIDR the host has no address in', () => {
    const p = planSourceAddresses(['10.43.0.0/16'], HOST);
    assert.deepEqual(p.add, ['10.43.0.0']);
    assert.deepEqual(p.remove, []);
    assert.deepEqual(p.sources, { '10.43.0.0/16': '10.43.0.0' });
  });

  it('is idempotent, lends nothing where the host has an address (kube-proxy IPVS), takes back what is not needed', () => {
    assert.deepEqual(planSourceAddresses(['10.43.0.0/16'], [...HOST, ours('10.43.0.0')]), { add: [], remove: [], sources: { '10.43.0.0/16': '10.43.0.0' } });
    const ipvs = [...HOST, { dev: 'kube-ipvs0', address: '10.43.0.10', prefix: 32, label: 'kube-ipvs0' }, ours('10.43.0.0')];
    assert.deepEqual(planSourceAddresses(['10.43.0.0/16'], ipvs), { add: [], remove: ['10.43.0.0'], sources: { '10.43.0.0/16': '10.43.0.10' } });
    assert.deepEqual(planSourceAddresses([], [...HOST, ours('10.43.0.0'), ours('10.99.0.0')]).remove, ['10.43.0.0', '10.99.0.0']);
  });

  it('never counts or removes addresses that are not ours (same address, other label or prefix)', () => {
    const foreign = { dev: 'lo', address: '10.43.0.0', prefix: 32, label: 'lo' };
    const p = planSourceAddresses([], [...HOST, foreign]);
    assert.deepEqual(p.remove, []);
    assert.deepEqual(planSourceAddresses(['10.43.0.0/16'], [...HOST, foreign]).add, [], 'a foreign address in the subnet is a source already');
  });

  it('leaves IPv6 and invalid subnets alone', () => {
    assert.deepEqual(planSourceAddresses(['fd00:43::/64', 'nonsense'], HOST), { add: [], remove: [], sources: {} });
  });

  it('lends through rtnetlink: a /32 on lo labelled lo:hawser; idempotent; takes back only ours', async () => {
    const r = new FakeRtnl();
    const lo = r.addLink({ name: 'lo', mtu: 65536, up: true });
    const cni = r.addLink({ name: 'cni0', kind: 'bridge', mtu: 1500, up: true });
    r.addrs.push({ ifindex: lo.index, family: 4, address: '127.0.0.1', prefix: 8, label: 'lo' }, { ifindex: cni.index, family: 4, address: '10.42.0.1', prefix: 24, label: 'cni0' });
    const log = createLogger({ level: 'silent' });
    const p = await syncSourceAddresses(['10.43.0.0/16', '10.42.0.0/16'], { rtnl: r, log });
    assert.deepEqual(p.sources, { '10.43.0.0/16': '10.43.0.0', '10.42.0.0/16': '10.42.0.1' });
    assert.deepEqual(r.takeWrites(), ['address add 10.43.0.0/32 ifindex 10 label lo:hawser']);
    assert.deepEqual(r.addrs.at(-1), { ifindex: lo.index, family: 4, address: '10.43.0.0', prefix: 32, label: SOURCE_ADDRESS_LABEL });
    await syncSourceAddresses(['10.43.0.0/16'], { rtnl: r, log });
    assert.deepEqual(r.takeWrites(), [], 'idempotent');
    await removeSourceAddresses({ rtnl: r, log });
    assert.deepEqual(r.takeWrites(), ['address del 10.43.0.0/32 ifindex 10']);
    assert.deepEqual(r.addrs.map((a) => a.address), ['127.0.0.1', '10.42.0.1']);
  });
});

describe('ipsec classification of userspace ESP install failures (lab regression)', () => {
  const ctx = { cable: 'submariner-cable-cluster-b-172-17-0-12', peer: '172.17.0.12', port: 4500, localId: '172.16.0.11', userspace: true };

  it('names the route (missing local address) rather than a missing kernel ESP, and keeps it over the SPD echo', () => {
    const route = classifyCharonLog('error installing route with policy 10.43.0.0/16 === 10.45.0.0/16 out', ctx, 1000)!;
    assert.equal(route.kind, 'route');
    assert.match(route.message, /10\.43\.0\.0\/16 === 10\.45\.0\.0\/16 .*no address inside 10\.43\.0\.0\/16/);
    const spd = classifyCharonLog('unable to install IPsec policies (SPD) in kernel', ctx, 1001)!;
    assert.equal(spd.kind, 'kernel');
    assert.doesNotMatch(spd.message, /needs HAWSER_IPSEC_USERSPACE=true/, 'userspace is on already');
    assert.match(spd.message, /userspace ESP/);
    assert.equal(preferFailure(route, spd).kind, 'route');
    const ts = classifyCharonLog('received TS_UNACCEPTABLE notify, no CHILD_SA built', ctx, 1002)!;
    assert.match(ts.message, /or the peer could not install that child SA/);
    assert.equal(preferFailure(route, ts).kind, 'route');
  });

  it('with the kernel data path the SPD failure still points at HAWSER_IPSEC_USERSPACE', () => {
    const spd = classifyCharonLog('unable to install IPsec policies (SPD) in kernel', { ...ctx, userspace: false }, 1)!;
    assert.match(spd.message, /needs HAWSER_IPSEC_USERSPACE=true/);
  });
});
