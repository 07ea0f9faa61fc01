import assert from 'node:assert/strict';
import { planSync } from '../../src/k8s/brokersync.js';
import type { KubeObject } from '../../src/k8s/rest.js';

const L = 'submariner-operator';
const B = 'submariner-k8s-broker';
function o(name: string, cluster: string, label?: string, extra: Record<string, unknown> = {}): KubeObject {
  return { metadata: { name, ...(label ? { labels: { 'submariner-io/clusterID': label } } : {}) }, spec: { cluster_id: cluster, ...extra } };
}
const names = (xs: KubeObject[]): string[] => xs.map((x) => x.metadata.name);

describe('broker sync plan', () => {
  it('copies ours up with the label and theirs down', () => {
    const p = planSync('endpoints', 'a', [o('a-ep', 'a')], [o('b-ep', 'b', 'b')], L, B);
    assert.deepEqual(names(p.upsertBroker), ['a-ep']);
    assert.deepEqual(p.upsertBroker[0]!.metadata, { name: 'a-ep', namespace: B, labels: { 'submariner-io/clusterID': 'a' } });
    assert.deepEqual(names(p.upsertLocal), ['b-ep']);
    assert.deepEqual(p.deleteBroker, []);
    assert.deepEqual(p.deleteLocal, []);
  });
  it('does nothing when both sides agree (idempotent)', () => {
    const p = planSync('endpoints', 'a', [o('a-ep', 'a'), o('b-ep', 'b', 'b')], [o('a-ep', 'a', 'a'), o('b-ep', 'b', 'b')], L, B);
    assert.deepEqual(p, { upsertBroker: [], deleteBroker: [], upsertLocal: [], deleteLocal: [] });
  });
  it('updates a changed spec', () => {
    const p = planSync('endpoints', 'a', [o('a-ep', 'a', undefined, { public_ip: '2' })], [o('a-ep', 'a', 'a', { public_ip: '1' })], L, B);
    assert.deepEqual(names(p.upsertBroker), ['a-ep']);
  });
  it('removes our stale broker copies and their vanished local copies, never unlabelled or foreign objects', () => {
    const p = planSync('endpoints', 'a', [o('a-new', 'a'), o('c-gone', 'c', 'c'), o('handmade', 'x')], [o('a-old', 'a', 'a'), o('b-ep', 'b', 'b'), o('d-unlabelled', 'd')], L, B);
    assert.deepEqual(p.deleteBroker, ['a-old']);
    assert.deepEqual(p.deleteLocal, ['c-gone']);
    assert.deepEqual(names(p.upsertLocal), ['b-ep']);
  });
  it('ignores a broker object whose label disagrees with its spec', () => {
    const p = planSync('endpoints', 'a', [], [o('evil', 'a', 'b')], L, B);
    assert.deepEqual(p.upsertLocal, []);
  });
});
