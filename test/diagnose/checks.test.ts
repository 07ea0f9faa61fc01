import assert from 'node:assert/strict';
import { runChecks, type NodeFactsForDiagnose } from '../../src/diagnose/checks.js';

const base: NodeFactsForDiagnose = {
  binaries: { ip: true, nft: true, fping: true, 'wireguard-go': true, 'charon-systemd': true },
  kernel: { wireguard: false, esp: false, vxlan: true, tun: true },
  ipForward: true,
  addresses: [{ ifname: 'cni0', ip: '10.42.1.1', prefix: 24 }],
  clusterCidrs: ['10.42.0.0/16'],
  globalnet: false,
  cableDriver: 'wireguard',
};
const find = (f: NodeFactsForDiagnose, name: string) => runChecks(f).find((r) => r.name === name);

describe('diagnose: checks', () => {
  it('finds the CNI interface, or says health checking will be unavailable', () => {
    assert.equal(find(base, 'CNI interface')!.verdict, 'ok');
    assert.equal(find({ ...base, addresses: [{ ifname: 'eth0', ip: '192.168.1.5', prefix: 24 }] }, 'CNI interface')!.verdict, 'warn');
  });
  it('fails on CIDR overlaps without Globalnet, and not with it', () => {
    const f = { ...base, remoteClusters: [{ clusterId: 'b', cidrs: ['10.42.0.0/16'] }] };
    assert.equal(find(f, 'CIDR overlap with b')!.verdict, 'fail');
    assert.equal(find({ ...f, globalnet: true }, 'CIDR overlap with b'), undefined);
  });
  it('says how to run IPsec without kernel ESP', () => {
    const r = find({ ...base, cableDriver: 'libreswan' }, 'kernel ESP')!;
    assert.equal(r.verdict, 'warn');
    assert.match(r.fix!, /HAWSER_IPSEC_USERSPACE/);
  });
  it('flags clock skew and a default-drop firewall', () => {
    assert.equal(find({ ...base, apiClockSkewMs: 12_000 }, 'clock skew')!.verdict, 'fail');
    assert.equal(find({ ...base, nftRuleset: 'table inet f { chain input { type filter hook input priority 0; policy drop; } }' }, 'firewall')!.verdict, 'warn');
    const fwd = find({ ...base, remoteClusters: [{ clusterId: 'b', cidrs: ['10.44.0.0/16'] }], nftRuleset: 'table ip filter {\n\tchain FORWARD {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n}' }, 'forwarding')!;
    assert.equal(fwd.verdict, 'warn');
    assert.match(fwd.fix!, /for c in 10\.44\.0\.0\/16; do iptables -I FORWARD -s \$c -j ACCEPT/);
    assert.equal(find({ ...base, nftRuleset: 'table ip filter { chain FORWARD { type filter hook forward priority filter; policy accept; } }' }, 'forwarding'), undefined);
  });
});
