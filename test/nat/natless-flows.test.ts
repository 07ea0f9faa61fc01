import assert from 'node:assert/strict';
import { natlessFlows } from '../../src/nat/natless-flows.js';
import type { CtEntry } from '../../src/os/nftables/conntrack.js';

const icmp = (src: string, dst: string, rsrc: string, rdst: string): CtEntry => ({
  orig: { src, dst, proto: 1, icmpId: 7, icmpType: 8, icmpCode: 0 },
  reply: { src: rsrc, dst: rdst, proto: 1, icmpId: 7, icmpType: 0, icmpCode: 0 },
  zone: 0,
});

describe('nat/natless-flows: conntrack entries a missing Globalnet table left without NAT', () => {
  const remote = ['242.0.0.0/16'];
  const own = '242.1.0.0/16';

  it('picks egress to a remote global IP whose source was never rewritten, and ingress never DNATed', () => {
    const egressNoNat = icmp('10.42.2.2', '242.0.255.251', '242.0.255.251', '10.42.2.2');
    const ingressNoNat = icmp('242.0.255.251', '242.1.255.251', '242.1.255.251', '242.0.255.251');
    assert.deepEqual(natlessFlows([egressNoNat, ingressNoNat], remote, own), [egressNoNat, ingressNoNat]);
  });

  it('leaves NATed connections, traffic that is not cross-cluster, and everything when no remote CIDR is known', () => {
    const egressNat = icmp('10.42.2.2', '242.0.255.251', '242.0.255.251', '242.1.255.251');
    const ingressNat = icmp('242.0.255.251', '242.1.255.251', '10.42.2.2', '242.0.255.251');
    const local = icmp('10.42.2.2', '10.42.1.2', '10.42.1.2', '10.42.2.2');
    const fromGlobal = icmp('242.1.0.1', '242.0.255.251', '242.0.255.251', '242.1.0.1');
    assert.deepEqual(natlessFlows([egressNat, ingressNat, local, fromGlobal], remote, own), []);
    assert.deepEqual(natlessFlows([icmp('10.42.2.2', '242.0.255.251', '242.0.255.251', '10.42.2.2')], [], own), []);
  });
});
