import assert from 'node:assert/strict';
import { emptyDataplane, NftDataplane, planChanges, renderChanges, renderRuleset, type Dataplane } from '../../src/nat/nft.js';
import { HawserError } from '../../src/util/errors.js';

function base(): Dataplane {
  const d = emptyDataplane();
  d.remoteGlobalCidrs.push('242.1.0.0/16');
  d.egressCluster.set('10.42.0.0/16', '242.0.0.1-242.0.0.8');
  d.egressNs.set('10.42.0.5', '242.0.0.254-242.0.0.254');
  d.egressNs.set('10.42.0.6', '242.0.0.254-242.0.0.254');
  d.ingress.set('242.0.0.253', '10.42.0.9');
  return d;
}

describe('nat: nftables rendering', () => {
  it('renders an empty table with every map and both chains', () => {
    assert.equal(renderRuleset(emptyDataplane()), `add table ip hawser-globalnet
delete table ip hawser-globalnet
table ip hawser-globalnet {
	set remote_global_cidrs {
		type ipv4_addr
		flags interval
	}
	map egress_pods {
		type ipv4_addr : interval ipv4_addr
		size 1024
	}
	map egress_hdls_pods {
		type ipv4_addr : interval ipv4_addr
		size 1024
	}
	map egress_hdls_eps {
		type ipv4_addr : interval ipv4_addr
		size 1024
	}
	map egress_ns {
		type ipv4_addr : interval ipv4_addr
		size 1024
	}
	map egress_cluster {
		type ipv4_addr : interval ipv4_addr
		flags interval
	}
	map ingress {
		type ipv4_addr : ipv4_addr
		size 1024
	}
	chain egress {
		type nat hook postrouting priority srcnat - 30; policy accept;
		ip daddr != @remote_global_cidrs return
		meta mark set meta mark | 0x000c0000
		snat ip to ip saddr map @egress_pods
		snat ip to ip saddr map @egress_hdls_pods
		snat ip to ip saddr map @egress_hdls_eps
		snat ip to ip saddr map @egress_ns
		snat ip to ip saddr map @egress_cluster
	}
	chain ingress {
		type nat hook prerouting priority dstnat + 10; policy accept;
		dnat ip to ip daddr map @ingress
	}
}
`);
  });

  it('one mapping added or removed is one element change', () => {
    const a = base();
    const b = base();
    b.egressPods.set('10.42.0.5', '242.0.0.9-242.0.0.10');
    assert.equal(renderChanges(planChanges(a, b)), 'add element ip hawser-globalnet egress_pods { 10.42.0.5 : 242.0.0.9-242.0.0.10 }\n');
    assert.equal(renderChanges(planChanges(b, a)), 'delete element ip hawser-globalnet egress_pods { 10.42.0.5 }\n');
    assert.equal(renderChanges(planChanges(a, a)), '');
  });

  it('a changed value is a delete then an add in one transaction; interval sets are flushed and refilled', () => {
    const a = base();
    const b = base();
    b.egressNs.set('10.42.0.6', '242.0.0.250-242.0.0.250');
    b.ingress.delete('242.0.0.253');
    b.ingress.set('242.0.0.252', '10.42.0.10');
    b.remoteGlobalCidrs.push('242.2.0.0/16');
    b.egressCluster.set('10.42.0.0/16', '242.0.0.1-242.0.0.4');
    assert.equal(renderChanges(planChanges(a, b)), [
      'flush set ip hawser-globalnet remote_global_cidrs',
      'add element ip hawser-globalnet remote_global_cidrs { 242.1.0.0/16, 242.2.0.0/16 }',
      'flush map ip hawser-globalnet egress_cluster',
      'add element ip hawser-globalnet egress_cluster { 10.42.0.0/16 : 242.0.0.1-242.0.0.4 }',
      'delete element ip hawser-globalnet egress_ns { 10.42.0.6 }',
      'delete element ip hawser-globalnet ingress { 242.0.0.253 }',
      'add element ip hawser-globalnet egress_ns { 10.42.0.6 : 242.0.0.250-242.0.0.250 }',
      'add element ip hawser-globalnet ingress { 242.0.0.252 : 10.42.0.10 }',
      '',
    ].join('\n'));
  });

  it('the applier sends the whole table first, then differences; a failed change falls back to a full resync', async () => {
    const sent: string[] = [];
    let failNext = false;
    const nft = new NftDataplane({
      run: async (script) => {
        sent.push(script);
        if (failNext) {
          failNext = false;
          throw new HawserError('NFT', 'Error: Could not process rule: No such file or directory');
        }
      },
    });
    const a = base();
    assert.deepEqual(await nft.sync(a), { mode: 'full', changes: 5 });
    assert.deepEqual(await nft.sync(a), { mode: 'none', changes: 0 });
    const b = base();
    b.egressPods.set('10.42.0.7', '242.0.0.9-242.0.0.9');
    assert.deepEqual(await nft.sync(b), { mode: 'incremental', changes: 1 });
    failNext = true;
    const c = base();
    assert.deepEqual(await nft.sync(c), { mode: 'full', changes: 5 });
    assert.equal(sent.length, 4);
    assert.match(sent[0]!, /^add table ip hawser-globalnet\ndelete table/);
    assert.equal(sent[1], 'add element ip hawser-globalnet egress_pods { 10.42.0.7 : 242.0.0.9-242.0.0.9 }\n');
    assert.equal(sent[2], 'delete element ip hawser-globalnet egress_pods { 10.42.0.7 }\n');
    assert.match(sent[3]!, /^add table ip hawser-globalnet\ndelete table/);
  });
});
