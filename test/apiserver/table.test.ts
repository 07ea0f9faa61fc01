import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { crdToTypes } from '../../src/apiserver/registry.js';
import { evalJsonPath, humanDuration, toTable } from '../../src/apiserver/table.js';
import type { JsonObject, KubeObject } from '../../src/apiserver/types.js';

describe('apiserver: server-side printing', () => {
  it('prints ages as kubectl does', () => {
    const s = 1000;
    const cases: [number, string][] = [[-5 * s, '<invalid>'], [0, '0s'], [119 * s, '119s'], [125 * s, '2m5s'], [600 * s, '10m'], [3 * 3600 * s + 60 * s, '3h1m'], [30 * 3600 * s, '30h'], [3 * 86400 * s + 3600 * s, '3d1h'], [400 * 86400 * s, '400d'], [3 * 365 * 86400 * s, '3y']];
    for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, String(ms));
  });
  it('evaluates printer-column JSONPath', () => {
    const o = { status: { haStatus: 'active', connections: [{ status: 'connected' }, { status: 'error' }] } };
    assert.deepEqual(evalJsonPath(o, '.status.haStatus'), ['active']);
    assert.deepEqual(evalJsonPath(o, '.status.connections[1].status'), ['error']);
    assert.deepEqual(evalJsonPath(o, '.status.connections[*].status'), ['connected', 'error']);
    assert.deepEqual(evalJsonPath(o, '.status.missing'), []);
  });
  it('renders a Gateway with its HA Status column, rows carrying object metadata', () => {
    const crd = YAML.parse(readFileSync(new URL('../../deploy/crds/submariner.io_gateways.yaml', import.meta.url), 'utf8')) as JsonObject;
    const t = crdToTypes(crd).types[0]!;
    const gw: KubeObject = { apiVersion: 'submariner.io/v1', kind: 'Gateway', metadata: { name: 'gw1', namespace: 'ns' }, status: { haStatus: 'passive' } };
    const table = toTable(t, [gw, { ...gw, metadata: { name: 'gw2' }, status: {} }], { include: 'Metadata', headers: true });
    assert.deepEqual((table.columnDefinitions as JsonObject[]).map((c) => c.name), ['Name', 'HA Status']);
    assert.deepEqual((table.rows as JsonObject[]).map((r) => r.cells), [['gw1', 'passive'], ['gw2', null]]);
    assert.deepEqual(((table.rows as JsonObject[])[0]!.object as JsonObject).kind, 'PartialObjectMetadata');
    assert.deepEqual(toTable(t, [gw], { include: 'None', headers: false }).columnDefinitions, []);
  });
});
