import assert from 'node:assert/strict';
import { planGlobalnet } from '../../src/nat/desired.js';
import { internalServiceName } from '../../src/nat/names.js';
import { renderRuleset } from '../../src/nat/nft.js';
import { parseClusterGlobalEgressIP, parseGlobalEgressIP, parseGlobalIngressIP } from '../../src/nat/resources.js';
import { parseLabelSelector } from '../../src/nat/selector.js';
import { World } from './sim.js';

function fixture(): World {
  const w = new World('242.0.0.0/24', ['10.42.0.0/16', '10.43.0.0/16'], ['242.1.0.0/16', '242.1.5.0/24', '242.0.0.0/8']);
  w.addClusterEgress('cluster-egress.submariner.io', { kind: 'value', value: 2 });
  w.tick();
  w.addClusterEgress('other');
  w.tick();
  w.addEgress('blue', 'ns-wide');
  w.tick();
  const sel = parseLabelSelector({ matchLabels: { app: 'db' } });
  assert.ok(sel.ok);
  w.addEgress('blue', 'db', { kind: 'value', value: 2 }, { kind: 'selector', value: sel.value });
  w.tick();
  w.addEgress('red', 'bad', { kind: 'default' }, { kind: 'invalid', error: 'podSelector.matchExpressions[0]: operator "Like" is not one of In, NotIn, Exists, DoesNotExist' });
  w.tick();
  w.exportService('blue', 'web', '10.43.0.10', { selector: { app: 'web' } });
  w.exportService('blue', 'hs', 'None', { selector: { app: 'db' } });
  w.addPod('blue', 'db-0', '10.42.1.10', { app: 'db' });
  w.addPod('blue', 'web-0', '10.42.1.11', { app: 'web' });
  w.addPod('red', 'x', '10.42.2.5');
  w.pods.set('blue/host', { namespace: 'blue', name: 'host', labels: { app: 'db' }, podIP: '192.168.0.4', phase: 'Running', hostNetwork: true });
  return w;
}

describe('nat: planner (desired state)', () => {
  it('allocates, writes Submariner-shaped statuses and creates GlobalIngressIPs for exports', () => {
    const w = fixture();
    const { plan } = w.reconcile();
    assert.deepEqual(plan.ingressObjects.map((o) => (o.op === 'delete' ? o : { op: o.op, ...o.object })), [
      { op: 'create', namespace: 'blue', name: 'pod-db-0', labels: { 'submariner.io/serviceRef': 'hs' }, annotations: { 'submariner.io/headless-svc-pod-ip': '10.42.1.10' }, target: 'HeadlessServicePod', serviceRef: 'hs', podRef: 'db-0' },
      { op: 'create', namespace: 'blue', name: 'web', labels: {}, annotations: {}, target: 'ClusterIPService', serviceRef: 'web' },
    ]);
    const cond = (s: { conditions: { reason: string; status: string; message: string }[] }): string => s.conditions.map((c) => `${c.status} ${c.reason}: ${c.message}`).join('; ');
    assert.deepEqual(w.cges.get('cluster-egress.submariner.io')!.status.allocatedIPs, ['242.0.0.1', '242.0.0.2']);
    assert.equal(cond(w.cges.get('cluster-egress.submariner.io')!.status), 'True Success: Allocated 2 global IP(s)');
    assert.equal(cond(w.cges.get('other')!.status), 'False InvalidInstance: Only the ClusterGlobalEgressIP instance with the well-known name "cluster-egress.submariner.io" is supported');
    assert.deepEqual(w.geips.get('blue/ns-wide')!.status.allocatedIPs, ['242.0.0.254']);
    assert.deepEqual(w.geips.get('blue/db')!.status.allocatedIPs, ['242.0.0.3', '242.0.0.4']);
    assert.equal(cond(w.geips.get('red/bad')!.status), 'False InvalidSelector: Invalid podSelector: podSelector.matchExpressions[0]: operator "Like" is not one of In, NotIn, Exists, DoesNotExist');

    const second = w.reconcile().plan;
    assert.equal(w.giips.get('blue/pod-db-0')!.status.allocatedIP, '242.0.0.253');
    assert.equal(w.giips.get('blue/web')!.status.allocatedIP, '242.0.0.252');
    assert.equal(cond(w.giips.get('blue/web')!.status), 'True Success: Allocated global IP');
    assert.deepEqual(second.internalServices, [{
      op: 'upsert',
      service: { namespace: 'blue', name: internalServiceName('web'), exportedService: 'web', externalIP: '242.0.0.252', ports: [{ name: 'http', protocol: 'TCP', port: 80 }], selector: { app: 'web' } },
    }]);
    assert.deepEqual(second.stats, { cidr: '242.0.0.0/24', size: 254, available: 247, allocated: 7, egress: 3, clusterEgress: 2, ingress: 2 });

    // Hand-written: precedence is rule order; each map holds pod IP -> that owner's range.
    assert.equal(renderRuleset(second.dataplane), `add table ip hawser-globalnet
delete table ip hawser-globalnet
table ip hawser-globalnet {
	set remote_global_cidrs {
		type ipv4_addr
		flags interval
		elements = {
			242.1.0.0/16
		}
	}
	map egress_pods {
		type ipv4_addr : interval ipv4_addr
		size 1024
		elements = {
			10.42.1.10 : 242.0.0.3-242.0.0.4
		}
	}
	map egress_hdls_pods {
		type ipv4_addr : interval ipv4_addr
		size 1024
		elements = {
			10.42.1.10 : 242.0.0.253-242.0.0.253
		}
	}
	map egress_hdls_eps {
		type ipv4_addr : interval ipv4_addr
		size 1024
	}
	map egress_ns {
		type ipv4_addr : interval ipv4_addr
		size 1024
		elements = {
			10.42.1.10 : 242.0.0.254-242.0.0.254,
			10.42.1.11 : 242.0.0.254-242.0.0.254
		}
	}
	map egress_cluster {
		type ipv4_addr : interval ipv4_addr
		flags interval
		elements = {
			10.42.0.0/16 : 242.0.0.1-242.0.0.2,
			10.43.0.0/16 : 242.0.0.1-242.0.0.2
		}
	}
	map ingress {
		type ipv4_addr : ipv4_addr
		size 1024
		elements = {
			242.0.0.252 : 10.43.0.10,
			242.0.0.253 : 10.42.1.10
		}
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
    assert.ok(second.notes.some((n) => /242\.0\.0\.0\/8 overlaps the local global CIDR/.test(n.message)));
    assert.deepEqual(w.reconcile().plan.statusUpdates, [], 'converged');
  });

  it('the oldest GlobalEgressIP wins a pod two of them select', () => {
    const w = new World('242.0.0.0/24');
    w.addPod('a', 'p', '10.42.0.7');
    w.addEgress('a', 'first');
    w.tick();
    w.addEgress('a', 'second');
    const { plan } = w.reconcile();
    assert.deepEqual([...plan.dataplane.egressNs], [['10.42.0.7', '242.0.0.254-242.0.0.254']]);
    assert.deepEqual(w.geips.get('a/second')!.status.allocatedIPs, ['242.0.0.253']);
  });

  it('releases and re-allocates when numberOfIPs changes; zero means none with ZeroInput', () => {
    const w = new World('242.0.0.0/24');
    w.addEgress('a', 'e', { kind: 'value', value: 2 });
    w.reconcile();
    assert.deepEqual(w.geips.get('a/e')!.status.allocatedIPs, ['242.0.0.1', '242.0.0.2']);
    w.geips.get('a/e')!.numberOfIPs = { kind: 'value', value: 3 };
    w.reconcile();
    // The old block stays reserved during the run that replaces it, so the new one follows it.
    assert.deepEqual(w.geips.get('a/e')!.status.allocatedIPs, ['242.0.0.3', '242.0.0.4', '242.0.0.5']);
    w.geips.get('a/e')!.numberOfIPs = { kind: 'value', value: 0 };
    const { plan } = w.reconcile();
    assert.deepEqual(w.geips.get('a/e')!.status.allocatedIPs, []);
    assert.equal(w.geips.get('a/e')!.status.conditions[0]!.reason, 'ZeroInput');
    assert.equal(plan.stats.allocated, 0);
  });

  it('reports exhaustion with the pool state and recovers when space frees up', () => {
    const w = new World('242.0.0.0/29'); // 6 usable
    w.addEgress('a', 'big', { kind: 'value', value: 5 });
    w.tick();
    w.addEgress('a', 'more', { kind: 'value', value: 2 });
    w.reconcile();
    const c = w.geips.get('a/more')!.status.conditions[0]!;
    assert.equal(c.status, 'False');
    assert.equal(c.reason, 'IPPoolAllocationFailed');
    assert.equal(c.message, 'Error allocating 2 global IP(s) from the pool: 242.0.0.0/29 has 1 free address(es), the longest contiguous run is 1');
    w.geips.delete('a/big');
    w.reconcile();
    assert.deepEqual(w.geips.get('a/more')!.status.allocatedIPs, ['242.0.0.1', '242.0.0.2']);
    assert.equal(w.geips.get('a/more')!.status.conditions[0]!.reason, 'Success');
  });

  it('a missing exported Service gets ServiceNotFound and no address; unexport deletes the GlobalIngressIP', () => {
    const w = new World('242.0.0.0/24');
    w.exports.set('a/ghost', { namespace: 'a', name: 'ghost' });
    w.reconcile();
    w.reconcile();
    const g = w.giips.get('a/ghost')!;
    assert.equal(g.status.allocatedIP, '');
    assert.equal(g.status.conditions[0]!.reason, 'ServiceNotFound');
    w.exports.delete('a/ghost');
    const { plan } = w.reconcile();
    assert.deepEqual(plan.ingressObjects, [{ op: 'delete', namespace: 'a', name: 'ghost' }]);
    assert.equal(w.giips.size, 0);
  });

  it('a headless pod that changes IP keeps its global IP (the GlobalIngressIP annotation is updated)', () => {
    const w = new World('242.0.0.0/24');
    w.exportService('a', 'hs', 'None', { selector: { app: 'x' } });
    w.addPod('a', 'x-0', '10.42.0.5', { app: 'x' });
    w.reconcile();
    w.reconcile();
    const ip = w.giips.get('a/pod-x-0')!.status.allocatedIP;
    w.addPod('a', 'x-0', '10.42.0.9', { app: 'x' });
    const { plan } = w.reconcile();
    assert.equal(plan.ingressObjects[0]!.op, 'update');
    assert.deepEqual([...plan.dataplane.ingress], [[ip, '10.42.0.9']]);
    assert.deepEqual([...plan.dataplane.egressHdlsPods], [['10.42.0.9', `${ip}-${ip}`]]);
  });


  it('a pod behind several headless exports keeps one GlobalIngressIP and its global IP while other exports come and go', () => {
    const w = new World('242.0.0.0/24');
    w.exportService('a', 'mid', 'None', { selector: { app: 'x' } });
    w.addPod('a', 'x-0', '10.42.0.5', { app: 'x' });
    w.reconcile();
    w.reconcile();
    const ip = w.giips.get('a/pod-x-0')!.status.allocatedIP;
    assert.ok(ip);
    // One export sorting before the owner, one after, and an egress claim that would take a freed address.
    w.exportService('a', 'aa-first', 'None', { selector: { app: 'x' } });
    w.exportService('a', 'zz-later', 'None', { selector: { app: 'x' } });
    w.addEgress('a', 'grab');
    for (let i = 0; i < 3; i++) {
      const { plan } = w.reconcile();
      assert.deepEqual(plan.ingressObjects.filter((o) => (o.op === 'delete' ? o.name : o.object.name) === 'pod-x-0'), [], `round ${i}`);
      assert.equal(w.giips.get('a/pod-x-0')!.serviceRef, 'mid');
      assert.equal(w.giips.get('a/pod-x-0')!.status.allocatedIP, ip);
    }
    for (const name of ['aa-first', 'zz-later']) {
      w.services.delete(`a/${name}`);
      w.exports.delete(`a/${name}`);
      const { plan } = w.reconcile();
      assert.deepEqual(plan.ingressObjects.filter((o) => (o.op === 'delete' ? o.name : o.object.name) === 'pod-x-0'), []);
      assert.equal(w.giips.get('a/pod-x-0')!.status.allocatedIP, ip);
    }
    // The owner going while another export still selects the pod hands the object over (a new allocation).
    w.exportService('a', 'zz-later', 'None', { selector: { app: 'x' } });
    w.services.delete('a/mid');
    w.exports.delete('a/mid');
    for (let i = 0; i < 3; i++) w.reconcile(); // delete, create, allocate
    assert.equal(w.giips.get('a/pod-x-0')!.serviceRef, 'zz-later');
    assert.ok(w.giips.get('a/pod-x-0')!.status.allocatedIP);
  });
  it('parses the wire shapes Submariner writes', () => {
    const cge = parseClusterGlobalEgressIP({ metadata: { name: 'cluster-egress.submariner.io', creationTimestamp: '2024-01-01T00:00:00Z' }, spec: { numGlobalIPs: 3 }, status: { allocatedIPs: ['242.0.0.1'], conditions: [{ type: 'Allocated', status: 'True', reason: 'Success', message: 'm', lastTransitionTime: 't' }] } });
    assert.deepEqual(cge?.numGlobalIPs, { kind: 'value', value: 3 });
    assert.equal(cge?.status.conditions[0]?.reason, 'Success');
    const ge = parseGlobalEgressIP({ metadata: { name: 'e', namespace: 'n' }, spec: { numberOfIPs: -1, podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } } });
    assert.deepEqual(ge?.numberOfIPs, { kind: 'invalid', error: 'The NumberOfIPs cannot be negative' });
    assert.equal(ge?.podSelector.kind, 'invalid');
    const gi = parseGlobalIngressIP({ metadata: { name: 'g', namespace: 'n' }, spec: { target: 'HeadlessServicePod', serviceRef: { name: 's' } } });
    assert.equal(gi?.target, undefined);
    assert.equal(gi?.targetError, 'spec.podRef.name is required for target HeadlessServicePod');
    // sha256("nginx") in base32, first 32 characters, lower-cased (computed with Python's base64.b32encode).
    assert.equal(internalServiceName('nginx'), 'submariner-lpq6zr4tl4o5qvrv2t7o3l3gawkagast');
  });

  it('plans in linear time for 50,000 pods in one namespace', () => {
    const w = new World('242.0.0.0/16');
    w.addEgress('big', 'all');
    for (let i = 0; i < 50_000; i++) w.addPod('big', `p${i}`, `10.${40 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`);
    const t0 = performance.now();
    const plan = planGlobalnet(w.inputs());
    assert.ok(performance.now() - t0 < 3000);
    assert.equal(plan.dataplane.egressNs.size, 50_000);
    assert.equal(plan.dataplane.egressNs.get('10.40.0.7'), '242.0.255.254-242.0.255.254');
  });
});
