// The controller's incremental path: pod deltas recompute only the touched addresses' mappings and apply
// them as one element transaction; after any sequence of pod changes the table equals what a whole plan
// of the same objects gives. The nft seam records transactions instead of reaching the kernel.
import assert from 'node:assert/strict';
import { alwaysLeader, GlobalnetController, inputsFromObjects } from '../../src/nat/controller.js';
import { planGlobalnet } from '../../src/nat/desired.js';
import { NftDataplane } from '../../src/nat/nft.js';
import type { KubeObject } from '../../src/k8s/rest.js';
import { FakeApi } from '../support/fake-api.js';
import { quietLog } from '../support/fixtures.js';
import { seededRandom } from '../support/prng.js';

const NS = 'submariner-operator';
const NAMESPACES = ['blue', 'red', 'green'] as const;
const APPS = ['web', 'db', 'batch'] as const;

function world(): FakeApi {
  const api = new FakeApi();
  api.seed(`/apis/submariner.io/v1/namespaces/${NS}/clusters/a`, { metadata: { name: 'a' }, spec: { cluster_id: 'a', cluster_cidr: ['10.42.0.0/16'], service_cidr: ['10.43.0.0/16'], global_cidr: ['242.0.0.0/16'] } });
  api.seed('/apis/submariner.io/v1/clusterglobalegressips/cluster-egress.submariner.io', { metadata: { name: 'cluster-egress.submariner.io' }, spec: { numGlobalIPs: 2 } });
  // blue: a namespace-wide object and a newer selector one (both maps); red: a selector one older than
  // its namespace-wide one; green: an exported headless Service selecting app=db.
  api.seed('/apis/submariner.io/v1/namespaces/blue/globalegressips/blue-all', { metadata: { name: 'blue-all' }, spec: {} }, '2024-01-01T00:00:01Z');
  api.seed('/apis/submariner.io/v1/namespaces/blue/globalegressips/blue-web', { metadata: { name: 'blue-web' }, spec: { podSelector: { matchLabels: { app: 'web' } } } }, '2024-01-01T00:00:02Z');
  api.seed('/apis/submariner.io/v1/namespaces/red/globalegressips/red-db', { metadata: { name: 'red-db' }, spec: { numberOfIPs: 2, podSelector: { matchLabels: { app: 'db' } } } }, '2024-01-01T00:00:01Z');
  api.seed('/apis/submariner.io/v1/namespaces/red/globalegressips/red-all', { metadata: { name: 'red-all' }, spec: {} }, '2024-01-01T00:00:03Z');
  api.seed('/api/v1/namespaces/green/services/db', { metadata: { name: 'db' }, spec: { type: 'ClusterIP', clusterIP: 'None', selector: { app: 'db' }, ports: [{ port: 5432, protocol: 'TCP' }] } });
  api.seed('/apis/multicluster.x-k8s.io/v1alpha1/namespaces/green/serviceexports/db', { metadata: { name: 'db' } });
  return api;
}

function podObject(ns: string, name: string, app: string, ip: string, phase = 'Running'): Record<string, unknown> {
  return { metadata: { name, labels: { app } }, spec: {}, status: { podIP: ip, phase } };
}

function setup(): { api: FakeApi; c: GlobalnetController; dp: NftDataplane; scripts: string[] } {
  const api = world();
  const scripts: string[] = [];
  const dp = new NftDataplane({ run: async (s) => void scripts.push(s) });
  const c = new GlobalnetController({
    client: api.asClient(), namespace: NS, clusterId: 'a', leader: alwaysLeader(), dataplane: dp, log: quietLog,
    now: () => new Date('2024-02-01T00:00:00Z'), sources: () => api.sources(NS),
  });
  return { api, c, dp, scripts };
}

async function converge(c: GlobalnetController): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const r = await c.reconcile();
    if (r.writes === 0 && r.conflicts === 0) return;
  }
  throw new Error('did not converge');
}

function wholePlanMaps(api: FakeApi): { pods: [string, string][]; ns: [string, string][] } {
  const plan = planGlobalnet(inputsFromObjects(api.sources(NS), { clusterId: 'a' }, new Date('2024-02-01T00:00:00Z')));
  const sorted = (m: Map<string, string>): [string, string][] => [...m].sort(([a], [b]) => a.localeCompare(b));
  return { pods: sorted(plan.dataplane.egressPods), ns: sorted(plan.dataplane.egressNs) };
}

function appliedMaps(dp: NftDataplane): { pods: [string, string][]; ns: [string, string][] } {
  const d = dp.current!;
  const sorted = (m: Map<string, string>): [string, string][] => [...m].sort(([a], [b]) => a.localeCompare(b));
  return { pods: sorted(d.egressPods), ns: sorted(d.egressNs) };
}

const podPath = (ns: string, name: string): string => `/api/v1/namespaces/${ns}/pods/${name}`;

describe('nat: incremental controller path for pod changes', () => {
  it('adds and removes one pod mapping with one element transaction, no whole plan', async () => {
    const { api, c, dp, scripts } = setup();
    api.seed(podPath('blue', 'a0'), podObject('blue', 'a0', 'web', '10.42.0.10'));
    await converge(c);
    const full = dp.counters.full;
    scripts.length = 0;
    const added = api.seed(podPath('blue', 'a1'), podObject('blue', 'a1', 'batch', '10.42.0.11'));
    assert.equal(await c.podsChanged({ added: [added], updated: [], deleted: [] }), 'incremental');
    assert.equal(scripts.length, 1);
    assert.match(scripts[0]!, /^add element ip hawser-globalnet egress_ns \{ 10\.42\.0\.11 : 242\.0\.\d+\.\d+-242\.0\.\d+\.\d+ \}\n$/);
    assert.deepEqual(appliedMaps(dp), wholePlanMaps(api));
    await api.delete(podPath('blue', 'a1'));
    assert.equal(await c.podsChanged({ added: [], updated: [], deleted: [added] }), 'incremental');
    assert.equal(scripts.length, 2);
    assert.match(scripts[1]!, /^delete element ip hawser-globalnet egress_ns \{ 10\.42\.0\.11 \}\n$/);
    assert.equal(dp.counters.full, full, 'no whole-table replacement');
    assert.deepEqual(appliedMaps(dp), wholePlanMaps(api));
  });

  it('hands a pod an exported headless Service selects to a whole plan', async () => {
    const { api, c } = setup();
    await converge(c);
    const p = api.seed(podPath('green', 'db-0'), podObject('green', 'db-0', 'db', '10.42.0.20'));
    assert.equal(await c.podsChanged({ added: [p], updated: [], deleted: [] }), 'whole');
    const q = api.seed(podPath('green', 'web-0'), podObject('green', 'web-0', 'web', '10.42.0.21'));
    assert.equal(await c.podsChanged({ added: [q], updated: [], deleted: [] }), 'incremental');
  });

  it('after random pod churn the table equals the whole plan of the same objects (seeded)', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rnd = seededRandom(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
      const { api, c, dp } = setup();
      const live = new Map<string, KubeObject>();
      // Few addresses, so pods share one now and then (a stale pod and its successor).
      const ip = (): string => `10.42.0.${1 + Math.floor(rnd() * 24)}`;
      for (let i = 0; i < 12; i++) {
        const ns = pick(NAMESPACES);
        const o = api.seed(podPath(ns, `p${i}`), podObject(ns, `p${i}`, pick(APPS), ip()));
        live.set(`${ns}/p${i}`, o);
      }
      await converge(c);
      let incremental = 0;
      for (let step = 0; step < 60; step++) {
        const r = rnd();
        let delta: { added: KubeObject[]; updated: KubeObject[]; deleted: KubeObject[] };
        if (r < 0.35 || live.size === 0) {
          const ns = pick(NAMESPACES);
          const name = `q${step}`;
          const o = api.seed(podPath(ns, name), podObject(ns, name, pick(APPS), ip()));
          live.set(`${ns}/${name}`, o);
          delta = { added: [o], updated: [], deleted: [] };
        } else if (r < 0.7) {
          const [k, o] = pick([...live]);
          const [ns, name] = k.split('/') as [string, string];
          const next = podObject(ns, name, pick(APPS), rnd() < 0.5 ? ip() : String((o.status as { podIP: string }).podIP), rnd() < 0.15 ? 'Failed' : 'Running');
          // The fake keeps status on a plain replace: a new version under the same name stands in for an update.
          await api.delete(podPath(ns, name));
          const written = api.seed(podPath(ns, name), next);
          live.set(k, written);
          delta = { added: [], updated: [written], deleted: [] };
        } else {
          const [k, o] = pick([...live]);
          const [ns, name] = k.split('/') as [string, string];
          await api.delete(podPath(ns, name));
          live.delete(k);
          delta = { added: [], updated: [], deleted: [o] };
        }
        const how = await c.podsChanged(delta);
        if (how === 'whole') await converge(c);
        else incremental++;
        assert.deepEqual(appliedMaps(dp), wholePlanMaps(api), `seed ${seed} step ${step}`);
      }
      assert.ok(incremental > 20, `seed ${seed}: only ${incremental} of 60 changes took the incremental path`);
    }
  });
});

/** Every map and set of the applied table, and of a whole plan of the same objects, in one comparable shape. */
function allMaps(d: import('../../src/nat/nft.js').Dataplane): Record<string, unknown> {
  const sorted = (m: Map<string, string>): [string, string][] => [...m].sort(([a], [b]) => a.localeCompare(b));
  return {
    remote: [...d.remoteGlobalCidrs].sort(), cluster: sorted(d.egressCluster), pods: sorted(d.egressPods), ns: sorted(d.egressNs),
    hdlsPods: sorted(d.egressHdlsPods), hdlsEps: sorted(d.egressHdlsEps), ingress: sorted(d.ingress),
  };
}

function wholePlan(api: FakeApi): Record<string, unknown> {
  return allMaps(planGlobalnet(inputsFromObjects(api.sources(NS), { clusterId: 'a' }, new Date('2024-02-01T00:00:00Z'))).dataplane);
}

/** objectsChanged() until nothing more is written (its own writes are further changes). */
async function settleObjects(c: GlobalnetController): Promise<'incremental' | 'whole'> {
  let how: 'incremental' | 'whole' = 'incremental';
  for (let i = 0; i < 6; i++) {
    const r = await c.objectsChanged();
    if (r.how === 'whole') {
      how = 'whole';
      await converge(c);
      return how;
    }
    if (r.writes === 0 && r.conflicts === 0 && r.errors.length === 0) return how;
  }
  throw new Error('object changes did not settle');
}

describe('nat: incremental controller path for every other object kind', () => {
  it('a ClusterIP export, its Service, a headless Endpoints export and GlobalEgressIPs: element transactions, no whole plan', async () => {
    const { api, c, dp, scripts } = setup();
    api.seed(podPath('blue', 'a0'), podObject('blue', 'a0', 'web', '10.42.0.10'));
    api.seed(podPath('red', 'r0'), podObject('red', 'r0', 'db', '10.42.0.30'));
    await converge(c);
    const full = dp.counters.full;
    scripts.length = 0;
    // a ClusterIP Service exported: the controller creates its GlobalIngressIP, allocates, DNATs to the ClusterIP
    api.seed('/api/v1/namespaces/blue/services/web', { metadata: { name: 'web' }, spec: { type: 'ClusterIP', clusterIP: '10.43.0.7', selector: { app: 'web' }, ports: [{ port: 80, protocol: 'TCP' }] } });
    api.seed('/apis/multicluster.x-k8s.io/v1alpha1/namespaces/blue/serviceexports/web', { metadata: { name: 'web' } });
    assert.equal(await settleObjects(c), 'incremental');
    assert.ok(api.find('submariner.io/v1/globalingressips', 'blue', 'web'), 'GlobalIngressIP created');
    assert.ok([...dp.current!.ingress.values()].includes('10.43.0.7'), 'ingress DNAT to the ClusterIP');
    assert.deepEqual(allMaps(dp.current!), wholePlan(api));
    // a headless Service without selector: one GlobalIngressIP per Endpoints address
    api.seed('/api/v1/namespaces/red/services/ext', { metadata: { name: 'ext' }, spec: { type: 'ClusterIP', clusterIP: 'None', ports: [{ port: 80, protocol: 'TCP' }] } });
    api.seed('/api/v1/namespaces/red/endpoints/ext', { metadata: { name: 'ext' }, subsets: [{ addresses: [{ ip: '10.42.9.1' }, { ip: '10.42.9.2' }] }] });
    api.seed('/apis/multicluster.x-k8s.io/v1alpha1/namespaces/red/serviceexports/ext', { metadata: { name: 'ext' } });
    assert.equal(await settleObjects(c), 'incremental');
    assert.deepEqual([...dp.current!.egressHdlsEps.keys()].sort(), ['10.42.9.1', '10.42.9.2']);
    assert.deepEqual(allMaps(dp.current!), wholePlan(api));
    // one address leaves the Endpoints
    await api.delete('/api/v1/namespaces/red/endpoints/ext');
    api.seed('/api/v1/namespaces/red/endpoints/ext', { metadata: { name: 'ext' }, subsets: [{ addresses: [{ ip: '10.42.9.2' }] }] });
    assert.equal(await settleObjects(c), 'incremental');
    assert.deepEqual([...dp.current!.egressHdlsEps.keys()], ['10.42.9.2']);
    assert.deepEqual(allMaps(dp.current!), wholePlan(api));
    // a new GlobalEgressIP in blue: only blue's pods are recomputed
    api.seed('/apis/submariner.io/v1/namespaces/blue/globalegressips/blue-batch', { metadata: { name: 'blue-batch' }, spec: { podSelector: { matchLabels: { app: 'web' } } } }, '2024-01-01T00:00:00Z');
    assert.equal(await settleObjects(c), 'incremental');
    assert.deepEqual(allMaps(dp.current!), wholePlan(api));
    // the export and the GlobalEgressIP go: their mappings go, their addresses return to the pool
    await api.delete('/apis/multicluster.x-k8s.io/v1alpha1/namespaces/blue/serviceexports/web');
    await api.delete('/apis/submariner.io/v1/namespaces/blue/globalegressips/blue-batch');
    assert.equal(await settleObjects(c), 'incremental');
    assert.ok(![...dp.current!.ingress.values()].includes('10.43.0.7'));
    assert.deepEqual(allMaps(dp.current!), wholePlan(api));
    assert.equal(dp.counters.full, full, 'no whole-table replacement');
    for (const s of scripts) assert.doesNotMatch(s, /delete table/);
  });

  it('after random object churn the table equals the whole plan, and IPAM hands out no address twice (seeded)', async () => {
    for (const seed of [11, 12, 13]) {
      const rnd = seededRandom(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
      const { api, c, dp } = setup();
      for (let i = 0; i < 10; i++) {
        const ns = pick(NAMESPACES);
        api.seed(podPath(ns, `p${i}`), podObject(ns, `p${i}`, pick(APPS), `10.42.0.${i + 1}`));
      }
      await converge(c);
      let incremental = 0;
      for (let step = 0; step < 30; step++) {
        const ns = pick(NAMESPACES);
        const app = pick(APPS);
        const r = rnd();
        if (r < 0.25) {
          api.seed(`/api/v1/namespaces/${ns}/services/s${step}`, { metadata: { name: `s${step}` }, spec: { type: 'ClusterIP', clusterIP: `10.43.1.${step + 1}`, selector: { app }, ports: [{ port: 80, protocol: 'TCP' }] } });
          api.seed(`/apis/multicluster.x-k8s.io/v1alpha1/namespaces/${ns}/serviceexports/s${step}`, { metadata: { name: `s${step}` } });
        } else if (r < 0.45) {
          api.seed(`/apis/submariner.io/v1/namespaces/${ns}/globalegressips/e${step}`, { metadata: { name: `e${step}` }, spec: rnd() < 0.5 ? {} : { podSelector: { matchLabels: { app } } } }, `2024-01-01T00:01:${String(step).padStart(2, '0')}Z`);
        } else if (r < 0.6) {
          api.seed(`/api/v1/namespaces/${ns}/services/h${step}`, { metadata: { name: `h${step}` }, spec: { type: 'ClusterIP', clusterIP: 'None', ports: [{ port: 80, protocol: 'TCP' }] } });
          api.seed(`/api/v1/namespaces/${ns}/endpoints/h${step}`, { metadata: { name: `h${step}` }, subsets: [{ addresses: [{ ip: `10.42.8.${step + 1}` }] }] });
          api.seed(`/apis/multicluster.x-k8s.io/v1alpha1/namespaces/${ns}/serviceexports/h${step}`, { metadata: { name: `h${step}` } });
        } else {
          // delete something that exists: an export, a GlobalEgressIP or a GlobalIngressIP
          const kinds = ['multicluster.x-k8s.io/v1alpha1/serviceexports', 'submariner.io/v1/globalegressips', 'submariner.io/v1/globalingressips'] as const;
          const kind = pick(kinds);
          const objs = NAMESPACES.flatMap((n) => api.list(kind, n));
          if (objs.length) {
            const o = pick(objs);
            const [group, version, plural] = kind.split('/') as [string, string, string];
            await api.delete(`/apis/${group}/${version}/namespaces/${o.metadata.namespace}/${plural}/${o.metadata.name}`);
          }
        }
        if ((await settleObjects(c)) === 'incremental') incremental++;
        assert.deepEqual(allMaps(dp.current!), wholePlan(api), `seed ${seed} step ${step}`);
        const held = new Map<string, string>();
        for (const kind of ['submariner.io/v1/globalegressips', 'submariner.io/v1/globalingressips'] as const) {
          for (const n of NAMESPACES) {
            for (const o of api.list(kind, n)) {
              const st = (o.status ?? {}) as { allocatedIPs?: string[]; allocatedIP?: string };
              for (const ip of [...(st.allocatedIPs ?? []), ...(st.allocatedIP ? [st.allocatedIP] : [])]) {
                assert.equal(held.get(ip), undefined, `seed ${seed} step ${step}: ${ip} held twice`);
                held.set(ip, `${n}/${o.metadata.name}`);
              }
            }
          }
        }
      }
      assert.ok(incremental > 20, `seed ${seed}: only ${incremental} of 30 changes took the incremental path`);
    }
  });
});
