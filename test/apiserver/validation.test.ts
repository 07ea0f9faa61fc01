import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { crdToTypes } from '../../src/apiserver/registry.js';
import { parseSchema } from '../../src/apiserver/schema.js';
import type { JsonObject, StatusCause } from '../../src/apiserver/types.js';
import { pruneAndDefault, validateMeta, validateValue } from '../../src/apiserver/validation.js';

function crdSchema(file: string): ReturnType<typeof parseSchema> {
  const crd = YAML.parse(readFileSync(new URL(`../../deploy/crds/${file}`, import.meta.url), 'utf8')) as JsonObject;
  const { types, causes } = crdToTypes(crd);
  assert.deepEqual(causes, []);
  return types[0]!.schema!;
}

function check(obj: JsonObject, schema: ReturnType<typeof parseSchema>): { unknown: string[]; causes: StatusCause[] } {
  const unknown = pruneAndDefault(obj, schema);
  const causes: StatusCause[] = [];
  validateValue(obj, schema, '', causes);
  return { unknown, causes };
}

describe('apiserver: structural schema (Submariner CRDs)', () => {
  const endpoint = crdSchema('submariner.io_endpoints.yaml');
  const spec = (): JsonObject => ({
    cluster_id: 'cluster-a',
    cable_name: 'submariner-cable-cluster-a-10-0-0-1',
    hostname: 'gw1',
    subnets: ['10.1.0.0/16', 'not-a-cidr'],
    private_ip: '10.0.0.1',
    public_ip: '',
    nat_enabled: false,
    backend: 'libreswan',
    backend_config: { 'udp-port': '4500', publicKey: 'abc' },
    healthCheckIP: '10.1.0.1',
  });

  it('accepts an Endpoint as Submariner writes it (invalid CIDRs are not the schema\'s business)', () => {
    const o: JsonObject = { apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: { name: 'x' }, spec: spec() };
    assert.deepEqual(check(o, endpoint), { unknown: [], causes: [] });
  });
  it('prunes unknown fields and reports their paths', () => {
    const o: JsonObject = { apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: { name: 'x' }, spec: { ...spec(), bogus: 1 }, extra: true };
    const r = check(o, endpoint);
    assert.deepEqual(r.unknown.sort(), ['extra', 'spec.bogus']);
    assert.equal('bogus' in (o.spec as JsonObject), false);
  });
  it('reports missing required fields and wrong types like Kubernetes', () => {
    const s = spec();
    delete s.backend;
    s.nat_enabled = 'no';
    s.cluster_id = '';
    s.privateIPs = ['a', 'b', 'c'];
    s.backend_config = { 'udp-port': 4500 };
    const r = check({ apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: {}, spec: s }, endpoint);
    const byField = Object.fromEntries(r.causes.map((c) => [c.field, c.message]));
    assert.equal(byField['spec.backend'], 'Required value');
    assert.match(byField['spec.nat_enabled']!, /must be of type boolean/);
    assert.match(byField['spec.cluster_id']!, /should be at least 1 chars long/);
    assert.match(byField['spec.privateIPs']!, /Too many: 3: must have at most 2 items/);
    assert.match(byField['spec.backend_config.udp-port']!, /must be of type string/);
  });
  it('drops nulls of non-nullable fields, so a null required field is "Required value"', () => {
    const s = spec();
    s.hostname = null;
    const r = check({ apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: {}, spec: s }, endpoint);
    assert.deepEqual(r.causes.map((c) => `${c.field}: ${c.message}`), ['spec.hostname: Required value']);
  });
  it('validates GlobalEgressIP numberOfIPs bounds and applies defaults', () => {
    const geip = crdSchema('submariner.io_globalegressips.yaml');
    const r = check({ apiVersion: 'submariner.io/v1', kind: 'GlobalEgressIP', metadata: {}, spec: { numberOfIPs: 21 } }, geip);
    assert.match(r.causes[0]!.message, /less than or equal to 20/);
    const giip = crdSchema('submariner.io_globalingressips.yaml');
    const o: JsonObject = { apiVersion: 'submariner.io/v1', kind: 'GlobalIngressIP', metadata: {}, spec: { target: 'ClusterIPService', serviceRef: {} } };
    assert.deepEqual(check(o, giip).causes, []);
    assert.deepEqual((o.spec as JsonObject).serviceRef, { name: '' });
  });
  it('checks condition enums and patterns', () => {
    const cgeip = crdSchema('submariner.io_clusterglobalegressips.yaml');
    const cond = { type: 'Allocated', status: 'Maybe', reason: 'bad reason', message: '', lastTransitionTime: '2024-01-01T00:00:00Z' };
    const r = check({ apiVersion: 'submariner.io/v1', kind: 'ClusterGlobalEgressIP', metadata: {}, spec: {}, status: { conditions: [cond] } }, cgeip);
    assert.deepEqual(r.causes.map((c) => c.field).sort(), ['status.conditions[0].reason', 'status.conditions[0].status']);
  });
  it('rejects duplicate keys of map lists', () => {
    const si = crdSchema('multicluster.x-k8s.io_serviceimports.yaml');
    const r = check({ apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceImport', metadata: {}, spec: { type: 'Headless', ports: [] }, status: { clusters: [{ cluster: 'a' }, { cluster: 'a' }] } }, si);
    assert.equal(r.causes[0]?.reason, 'FieldValueDuplicate');
  });
});

describe('apiserver: object metadata', () => {
  it('requires DNS names and valid labels', () => {
    assert.deepEqual(validateMeta('ConfigMap', { name: 'ok.name-1' }), []);
    assert.equal(validateMeta('ConfigMap', { name: 'Bad_Name' })[0]?.field, 'metadata.name');
    assert.equal(validateMeta('Namespace', { name: 'a.b' }).length, 1, 'namespaces are DNS labels');
    assert.deepEqual(validateMeta('ClusterRole', { name: 'system:controller:x' }), []);
    const bad = validateMeta('ConfigMap', { name: 'x', labels: { 'a/b/c': 'v', ok: 'bad value!' } });
    assert.equal(bad.length, 2);
    assert.equal(validateMeta('ConfigMap', {})[0]?.reason, 'FieldValueRequired');
  });
});

describe('apiserver: CRD checks', () => {
  it('rejects a CRD whose name is not plural.group, without a storage version or schema', () => {
    const { causes } = crdToTypes({
      metadata: { name: 'wrong.example.com' },
      spec: { group: 'example.com', names: { plural: 'things', kind: 'Thing' }, scope: 'Namespaced', versions: [{ name: 'v1', served: true, storage: false }] },
    });
    assert.deepEqual(causes.map((c) => c.field).sort(), ['metadata.name', 'spec.versions', 'spec.versions[0].schema.openAPIV3Schema']);
  });
});
