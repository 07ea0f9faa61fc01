import assert from 'node:assert/strict';
import { fieldsOf, removeDisowned } from '../../src/apiserver/managed.js';
import { applyMerge, jsonPatch, mergePatch, PatchError, strategicMergePatch } from '../../src/apiserver/patch.js';
import { parseSchema } from '../../src/apiserver/schema.js';
import type { Json, JsonObject } from '../../src/apiserver/types.js';

describe('apiserver: JSON merge patch (RFC 7386)', () => {
  it('merges objects, deletes with null, replaces lists', () => {
    const doc = { a: { b: 1, c: 2 }, l: [1, 2], s: 'x' };
    assert.deepEqual(mergePatch(doc, { a: { b: null, d: 4 }, l: [3], s: null }), { a: { c: 2, d: 4 }, l: [3] });
    assert.deepEqual(doc, { a: { b: 1, c: 2 }, l: [1, 2], s: 'x' }, 'input untouched');
  });
  it('a non-object patch replaces', () => assert.deepEqual(mergePatch({ a: 1 }, [1]), [1]));
});

describe('apiserver: JSON patch (RFC 6902)', () => {
  const doc: Json = { metadata: { labels: { 'a/b': 'x' } }, list: [1, 2, 3] };
  it('add/remove/replace/move/copy/test with escapes and "-"', () => {
    const out = jsonPatch(doc, [
      { op: 'add', path: '/list/-', value: 4 },
      { op: 'remove', path: '/list/0' },
      { op: 'replace', path: '/metadata/labels/a~1b', value: 'y' },
      { op: 'copy', from: '/list/0', path: '/first' },
      { op: 'move', from: '/first', path: '/moved' },
      { op: 'test', path: '/moved', value: 2 },
    ]);
    assert.deepEqual(out, { metadata: { labels: { 'a/b': 'y' } }, list: [2, 3, 4], moved: 2 });
  });
  it('a failed test is a 422', () => {
    assert.throws(() => jsonPatch(doc, [{ op: 'test', path: '/list/0', value: 9 }]), (e: unknown) => e instanceof PatchError && e.httpCode === 422);
  });
  it('a missing path is a 422, a malformed op a 400', () => {
    assert.throws(() => jsonPatch(doc, [{ op: 'replace', path: '/nope/x', value: 1 }]), (e: unknown) => e instanceof PatchError && e.httpCode === 422);
    assert.throws(() => jsonPatch(doc, [{ op: 'frobnicate', path: '/a' }]), (e: unknown) => e instanceof PatchError && e.httpCode === 400);
    assert.throws(() => jsonPatch(doc, { op: 'add' }), (e: unknown) => e instanceof PatchError && e.httpCode === 400);
  });
});

describe('apiserver: strategic merge patch', () => {
  const pod: JsonObject = {
    metadata: { name: 'p', finalizers: ['a'] },
    spec: {
      containers: [
        { name: 'c1', image: 'i1', env: [{ name: 'A', value: '1' }], ports: [{ containerPort: 80 }] },
        { name: 'c2', image: 'i2' },
      ],
      tolerations: [{ key: 'x' }],
    },
  };
  it('merges containers by name, env by name, ports by containerPort', () => {
    const out = strategicMergePatch(pod, {
      spec: { containers: [{ name: 'c1', image: 'i1b', env: [{ name: 'B', value: '2' }], ports: [{ containerPort: 80, protocol: 'TCP' }] }] },
    }) as JsonObject;
    assert.deepEqual((out.spec as JsonObject).containers, [
      { name: 'c1', image: 'i1b', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], ports: [{ containerPort: 80, protocol: 'TCP' }] },
      { name: 'c2', image: 'i2' },
    ]);
  });
  it('replaces lists without a merge key, merges finalizers as a set', () => {
    const out = strategicMergePatch(pod, { metadata: { finalizers: ['b', 'a'] }, spec: { tolerations: [{ key: 'y' }] } }) as JsonObject;
    assert.deepEqual((out.metadata as JsonObject).finalizers, ['a', 'b']);
    assert.deepEqual((out.spec as JsonObject).tolerations, [{ key: 'y' }]);
  });
  it('honours $patch: delete, $patch: replace, $deleteFromPrimitiveList and $setElementOrder', () => {
    const out = strategicMergePatch(pod, {
      metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] },
      spec: {
        '$setElementOrder/containers': [{ name: 'c2' }, { name: 'c1' }],
        containers: [{ name: 'c1', $patch: 'delete' }, { name: 'c2', image: 'i2b' }],
      },
    }) as JsonObject;
    assert.deepEqual((out.metadata as JsonObject).finalizers, []);
    assert.deepEqual((out.spec as JsonObject).containers, [{ name: 'c2', image: 'i2b' }]);
    const replaced = strategicMergePatch(pod, { spec: { $patch: 'replace', containers: [] } }) as JsonObject;
    assert.deepEqual(replaced.spec, { containers: [] });
  });
  it('removes keys set to null and keys outside $retainKeys', () => {
    const out = strategicMergePatch({ spec: { a: 1, b: 2, c: 3 } }, { spec: { $retainKeys: ['a', 'b'], b: null } }) as JsonObject;
    assert.deepEqual(out.spec, { a: 1 });
  });
});

describe('apiserver: server-side apply merge and ownership', () => {
  const schema = parseSchema({
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        properties: {
          ports: { type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['port'], items: { type: 'object', properties: { port: { type: 'integer' }, name: { type: 'string' } } } },
          tags: { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'string' } },
          hops: { type: 'array', items: { type: 'string' } },
          a: { type: 'string' },
          b: { type: 'string' },
        },
      },
    },
  });
  it('merges map lists by key, set lists as sets, replaces atomic lists', () => {
    const live = { spec: { ports: [{ port: 1, name: 'x' }], tags: ['t1'], hops: ['h1'], a: 'keep' } };
    const out = applyMerge(live, { spec: { ports: [{ port: 1, name: 'y' }, { port: 2 }], tags: ['t2'], hops: ['h2'] } }, schema);
    assert.deepEqual(out, { spec: { ports: [{ port: 1, name: 'y' }, { port: 2 }], tags: ['t1', 't2'], hops: ['h2'], a: 'keep' } });
  });
  it('records owned fields as FieldsV1', () => {
    assert.deepEqual(fieldsOf({ apiVersion: 'v1', kind: 'X', metadata: { name: 'n', labels: { l: 'v' } }, spec: { ports: [{ port: 1 }], a: 'x' } }, schema), {
      'f:metadata': { 'f:labels': { 'f:l': {} } },
      'f:spec': { 'f:ports': { 'k:{"port":1}': { '.': {}, 'f:port': {} } }, 'f:a': {} },
    });
  });
  it('drops what an applier stopped applying, unless another applier owns it', () => {
    const before = fieldsOf({ spec: { a: 'x', b: 'y', ports: [{ port: 1 }, { port: 2 }] } }, schema);
    const after = fieldsOf({ spec: { ports: [{ port: 1 }] } }, schema);
    const other = fieldsOf({ spec: { b: 'y' } }, schema);
    const live: JsonObject = { spec: { a: 'x', b: 'y', ports: [{ port: 1 }, { port: 2 }] } };
    removeDisowned(live, before, after, [other]);
    assert.deepEqual(live, { spec: { b: 'y', ports: [{ port: 1 }] } });
  });
});
