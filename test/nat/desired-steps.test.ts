// Table tests of planGlobalnet's named steps (issue #18): each row is hand-written input and the
// expected output of one step, so a change in one step shows up here before it shows up in a whole plan.
import assert from 'node:assert/strict';
import {
  allocateOwners, collectOwners, indexInputs, planDataplane, planStatusUpdates, rebuildIpam, reconcileIngressObjects, summarize,
  type DesiredIngress, type GlobalnetInputs, type Owner, type PlanNote,
} from '../../src/nat/desired.js';
import type { Condition, GlobalEgressIP, GlobalIngressIP, Meta, Pod } from '../../src/nat/resources.js';
import { parseLabelSelector } from '../../src/nat/selector.js';

const meta = (name: string, namespace = '', t = '2026-01-01T00:00:00Z'): Meta => ({ name, namespace, uid: `u-${name}`, creationTimestamp: t, labels: {}, annotations: {} });
const pod = (ns: string, name: string, ip: string, labels: Record<string, string> = {}, extra: Partial<Pod> = {}): Pod => ({ namespace: ns, name, labels, podIP: ip, phase: 'Running', hostNetwork: false, ...extra });
const ok = (msg = 'Allocated 1 global IP(s)'): Condition => ({ type: 'Allocated', status: 'True', reason: 'Success', message: msg, lastTransitionTime: '2026-01-01T00:00:00Z' });
const egress = (ns: string, name: string, t: string, ips: string[], podSelector: GlobalEgressIP['podSelector'] = { kind: 'none' }): GlobalEgressIP => ({
  meta: meta(name, ns, t), numberOfIPs: { kind: 'value', value: Math.max(ips.length, 1) }, podSelector, status: { allocatedIPs: ips, conditions: ips.length ? [ok(`Allocated ${ips.length} global IP(s)`)] : [] },
});
const giip = (ns: string, name: string, ip: string, extra: Partial<GlobalIngressIP> = {}): GlobalIngressIP => ({
  meta: meta(name, ns), target: 'HeadlessServicePod', serviceRef: 'hs', podRef: name.replace(/^pod-/, ''), status: { allocatedIP: ip, conditions: ip ? [ok('Allocated global IP')] : [] }, ...extra,
});
const desired = (ns: string, name: string, extra: Partial<DesiredIngress> = {}): DesiredIngress => ({
  namespace: ns, name, labels: {}, annotations: {}, target: 'HeadlessServicePod', serviceRef: 'hs', podRef: name.replace(/^pod-/, ''), targetIP: '10.42.0.9', ...extra,
});

function inputs(over: Partial<GlobalnetInputs> = {}): GlobalnetInputs {
  return {
    globalCidr: '242.0.0.0/28', localCidrs: ['10.42.0.0/16'], remoteGlobalCidrs: [], clusterEgressIPs: [], egressIPs: [], ingressIPs: [],
    serviceExports: [], services: [], pods: [], endpoints: [], now: '2026-01-02T00:00:00Z', ...over,
  };
}

describe('nat: planner steps (table tests)', () => {
  it('indexInputs: pods per namespace in name order', () => {
    const idx = indexInputs({ services: [], endpoints: [], pods: [pod('a', 'z', '10.0.0.3'), pod('b', 'x', '10.0.0.2'), pod('a', 'm', '10.0.0.1')] });
    assert.deepEqual([...idx.podsByNs].map(([ns, ps]) => [ns, ps.map((p) => p.name)]), [['a', ['m', 'z']], ['b', ['x']]]);
  });

  describe('reconcileIngressObjects', () => {
    const rows: { name: string; existing: GlobalIngressIP[]; want: DesiredIngress[]; ops: string[]; live: string[]; invalid: string[] }[] = [
      { name: 'wanted and missing: create', existing: [], want: [desired('a', 'pod-p')], ops: ['create a/pod-p'], live: [], invalid: [] },
      { name: 'present and wanted: live, no op', existing: [giip('a', 'pod-p', '242.0.0.5')], want: [desired('a', 'pod-p')], ops: [], live: ['a/pod-p'], invalid: [] },
      { name: 'present, not wanted: delete', existing: [giip('a', 'pod-p', '242.0.0.5')], want: [], ops: ['delete a/pod-p'], live: [], invalid: [] },
      { name: 'another target than wanted: delete (re-created next run)', existing: [giip('a', 'pod-p', '242.0.0.5', { podRef: 'other' })], want: [desired('a', 'pod-p')], ops: ['delete a/pod-p'], live: [], invalid: [] },
      {
        name: 'labels/annotations drift: update, still live',
        existing: [giip('a', 'pod-p', '242.0.0.5')], want: [desired('a', 'pod-p', { annotations: { 'submariner.io/headless-svc-pod-ip': '10.42.0.9' } })],
        ops: ['update a/pod-p'], live: ['a/pod-p'], invalid: [],
      },
      { name: 'bad target nobody wants: kept as invalid', existing: [giip('a', 'junk', '', { target: undefined, targetError: 'bad' })], want: [], ops: [], live: [], invalid: ['a/junk'] },
      { name: 'bad target under a wanted name: delete', existing: [giip('a', 'pod-p', '', { target: undefined, targetError: 'bad' })], want: [desired('a', 'pod-p')], ops: ['delete a/pod-p'], live: [], invalid: [] },
    ];
    for (const r of rows) {
      it(r.name, () => {
        const got = reconcileIngressObjects(r.existing, new Map(r.want.map((d) => [`${d.namespace}/${d.name}`, d])));
        assert.deepEqual(got.ops.map((o) => (o.op === 'delete' ? `delete ${o.namespace}/${o.name}` : `${o.op} ${o.object.namespace}/${o.object.name}`)), r.ops);
        assert.deepEqual(got.live.map((l) => `${l.giip.meta.namespace}/${l.giip.meta.name}`), r.live);
        assert.deepEqual(got.invalid.map((g) => `${g.meta.namespace}/${g.meta.name}`), r.invalid);
      });
    }
  });

  it('collectOwners: wants and blocking conditions per kind', () => {
    const owners = collectOwners({
      clusterEgressIPs: [
        { meta: meta('cluster-egress.submariner.io'), numGlobalIPs: { kind: 'default' }, status: { allocatedIPs: [], conditions: [] } },
        { meta: meta('other'), numGlobalIPs: { kind: 'value', value: 2 }, status: { allocatedIPs: [], conditions: [] } },
      ],
      egressIPs: [
        { ...egress('a', 'zero', '2026-01-01T00:00:00Z', []), numberOfIPs: { kind: 'value', value: 0 } },
        { ...egress('a', 'bad', '2026-01-01T00:00:00Z', []), numberOfIPs: { kind: 'invalid', error: 'numberOfIPs: not a number' } },
        egress('a', 'sel', '2026-01-01T00:00:00Z', [], { kind: 'invalid', error: 'x' }),
      ],
    }, { live: [{ giip: giip('a', 'pod-p', ''), desired: desired('a', 'pod-p', { targetIP: undefined }) }], invalid: [giip('a', 'junk', '', { target: undefined, targetError: 'bad target' })] });
    assert.deepEqual(owners.map((o) => `${o.key}: ${o.want}${o.blocked ? ` (${o.blocked.reason})` : ''}`), [
      'ClusterGlobalEgressIP cluster-egress.submariner.io: 8',
      'ClusterGlobalEgressIP other: 0 (InvalidInstance)',
      'GlobalEgressIP a/zero: 0 (ZeroInput)',
      'GlobalEgressIP a/bad: 0 (InvalidInput)',
      'GlobalEgressIP a/sel: 0 (InvalidSelector)',
      'GlobalIngressIP a/pod-p: 0 (ServiceNotFound)',
      'GlobalIngressIP a/junk: 0 (InvalidTarget)',
    ]);
  });

  it('rebuildIpam + allocateOwners: the older claim keeps a clashing address, the younger is re-allocated', () => {
    const older = egress('a', 'old', '2026-01-01T00:00:00Z', ['242.0.0.5']);
    const younger = egress('a', 'young', '2026-01-01T00:00:05Z', ['242.0.0.5']);
    const fresh = egress('a', 'new', '2026-01-01T00:00:09Z', []);
    const inp = inputs({ egressIPs: [younger, older, fresh] });
    const owners = collectOwners(inp, { live: [], invalid: [] });
    const notes: PlanNote[] = [];
    const rebuilt = rebuildIpam(inp, owners, [], notes);
    assert.deepEqual([...rebuilt.rejectedBy.keys()], ['GlobalEgressIP a/young']);
    const { statusByKey } = allocateOwners(inp, owners, rebuilt, notes);
    assert.deepEqual([...statusByKey].map(([k, s]) => `${k} ${s.ips.join(',')} ${s.conditions.map((c) => c.reason).join(',')}`), [
      'GlobalEgressIP a/old 242.0.0.5 Success',
      'GlobalEgressIP a/young 242.0.0.14 Reallocated',
      'GlobalEgressIP a/new 242.0.0.13 Success',
    ]);
    assert.deepEqual(notes.map((n) => `${n.level} ${n.owner}`), ['warn GlobalEgressIP a/young', 'info GlobalEgressIP a/young']);
    assert.deepEqual(summarize(rebuilt.ipam, statusByKey, []).stats, { cidr: '242.0.0.0/28', size: 14, available: 11, allocated: 3, egress: 3, clusterEgress: 0, ingress: 0 });
  });

  it('allocateOwners: exhaustion says how much is left', () => {
    const big: Owner = { key: 'GlobalEgressIP a/big', meta: meta('big', 'a'), want: 20, statusIps: [], conditions: [], contiguous: true };
    const inp = inputs();
    const notes: PlanNote[] = [];
    const { statusByKey } = allocateOwners(inp, [big], rebuildIpam(inp, [big], [], notes), notes);
    assert.equal(statusByKey.get(big.key)!.conditions[0]!.message, 'Error allocating 20 global IP(s) from the pool: 242.0.0.0/28 has 14 free address(es), the longest contiguous run is 14');
  });

  describe('planStatusUpdates', () => {
    const e = egress('a', 'e', '2026-01-01T00:00:00Z', ['242.0.0.5']);
    const rows: { name: string; ips: string[]; conditions: Condition[]; updates: number }[] = [
      { name: 'same addresses and conditions: nothing to write', ips: ['242.0.0.5'], conditions: e.status.conditions, updates: 0 },
      { name: 'other addresses: one update', ips: ['242.0.0.6'], conditions: e.status.conditions, updates: 1 },
      { name: 'other condition: one update', ips: ['242.0.0.5'], conditions: [{ ...ok(), message: 'changed' }], updates: 1 },
    ];
    for (const r of rows) {
      it(r.name, () => {
        const got = planStatusUpdates({ clusterEgressIPs: [], egressIPs: [e] }, [], new Map([['GlobalEgressIP a/e', { ips: r.ips, conditions: r.conditions }]]));
        assert.equal(got.length, r.updates);
      });
    }
  });

  describe('planDataplane', () => {
    const sel = parseLabelSelector({ matchLabels: { app: 'db' } });
    assert.ok(sel.ok);
    const rows: { name: string; inp: Partial<GlobalnetInputs>; ips: Record<string, string[]>; want: Record<string, [string, string][] | string[]>; notes?: string[] }[] = [
      {
        name: 'namespace egress covers live pods only',
        inp: { egressIPs: [egress('a', 'ns', '2026-01-01T00:00:00Z', ['242.0.0.5'])], pods: [pod('a', 'p1', '10.42.0.1'), pod('a', 'host', '10.0.0.1', {}, { hostNetwork: true }), pod('a', 'done', '10.42.0.2', {}, { phase: 'Succeeded' })] },
        ips: { 'GlobalEgressIP a/ns': ['242.0.0.5'] },
        want: { egressNs: [['10.42.0.1', '242.0.0.5-242.0.0.5']] },
      },
      {
        name: 'the older GlobalEgressIP wins a pod two select',
        inp: {
          egressIPs: [egress('a', 'young', '2026-01-01T00:00:09Z', ['242.0.0.7'], { kind: 'selector', value: sel.value }), egress('a', 'old', '2026-01-01T00:00:00Z', ['242.0.0.5', '242.0.0.6'], { kind: 'selector', value: sel.value })],
          pods: [pod('a', 'db', '10.42.0.1', { app: 'db' }), pod('a', 'web', '10.42.0.2', { app: 'web' })],
        },
        ips: { 'GlobalEgressIP a/young': ['242.0.0.7'], 'GlobalEgressIP a/old': ['242.0.0.5', '242.0.0.6'] },
        want: { egressPods: [['10.42.0.1', '242.0.0.5-242.0.0.6']] },
      },
      {
        name: 'cluster egress per local CIDR; a remote CIDR overlapping ours is dropped with a note',
        inp: { clusterEgressIPs: [{ meta: meta('cluster-egress.submariner.io'), numGlobalIPs: { kind: 'default' }, status: { allocatedIPs: [], conditions: [] } }], remoteGlobalCidrs: ['242.1.0.0/16', '242.0.0.0/8', 'fd00::/64'], localCidrs: ['10.42.0.0/16', '10.43.0.0/16'] },
        ips: { 'ClusterGlobalEgressIP cluster-egress.submariner.io': ['242.0.0.1', '242.0.0.2'] },
        want: { egressCluster: [['10.42.0.0/16', '242.0.0.1-242.0.0.2'], ['10.43.0.0/16', '242.0.0.1-242.0.0.2']], remoteGlobalCidrs: ['242.1.0.0/16'] },
        notes: ['remote global CIDR 242.0.0.0/8 overlaps the local global CIDR 242.0.0.0/28; ignored'],
      },
    ];
    for (const r of rows) {
      it(r.name, () => {
        const inp = inputs(r.inp);
        const notes: PlanNote[] = [];
        const dp = planDataplane(inp, indexInputs(inp), [], (k) => r.ips[k] ?? [], undefined, notes);
        const got: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(dp)) {
          const items = v instanceof Map ? [...v.entries()] : (v as string[]);
          if (items.length) got[k] = items;
        }
        assert.deepEqual(got, r.want);
        assert.deepEqual(notes.map((n) => n.message), r.notes ?? []);
      });
    }

    it('ingress DNAT and the headless pod\'s egress; the gateway node\'s global IP to its CNI address', () => {
      const inp = inputs({ gatewayNode: { name: 'gw', cniIP: '10.42.0.250' } });
      const live = [{ giip: giip('a', 'pod-p', '242.0.0.9'), desired: desired('a', 'pod-p') }];
      const dp = planDataplane(inp, indexInputs(inp), live, (k) => (k === 'GlobalIngressIP a/pod-p' ? ['242.0.0.9'] : []), '242.0.0.14', []);
      assert.deepEqual([...dp.ingress], [['242.0.0.9', '10.42.0.9'], ['242.0.0.14', '10.42.0.250']]);
      assert.deepEqual([...dp.egressHdlsPods], [['10.42.0.9', '242.0.0.9-242.0.0.9']]);
    });
  });
});
