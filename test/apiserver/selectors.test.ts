import assert from 'node:assert/strict';
import { matchFields, matchLabels, parseFieldSelector, parseLabelSelector, pinnedName, SelectorError } from '../../src/apiserver/selectors.js';

describe('apiserver: label selectors', () => {
  const cases: [string, Record<string, string>, boolean][] = [
    ['app=web', { app: 'web' }, true],
    ['app==web', { app: 'web' }, true],
    ['app=web', { app: 'db' }, false],
    ['app!=web', { app: 'db' }, true],
    ['app!=web', {}, true],
    ['app in (web, db)', { app: 'db' }, true],
    ['app in (web,db)', { app: 'x' }, false],
    ['app notin (web,db)', { app: 'x' }, true],
    ['app notin (web,db)', {}, true],
    ['app', { app: '' }, true],
    ['app', {}, false],
    ['!app', {}, true],
    ['!app', { app: 'x' }, false],
    ['app=web,tier in (fe),!legacy', { app: 'web', tier: 'fe' }, true],
    ['app=web,tier in (fe),!legacy', { app: 'web', tier: 'fe', legacy: 'y' }, false],
    ['submariner-io/clusterID=cluster-a', { 'submariner-io/clusterID': 'cluster-a' }, true],
    ['gen>3', { gen: '4' }, true],
    ['gen<3', { gen: '4' }, false],
    ['a=', { a: '' }, true],
    ['', { a: 'b' }, true],
  ];
  for (const [sel, labels, want] of cases) {
    it(`${JSON.stringify(sel)} on ${JSON.stringify(labels)} -> ${want}`, () => assert.equal(matchLabels(parseLabelSelector(sel), labels), want));
  }
  for (const bad of ['app in web', 'app in ()', '=x', 'app=we b', 'a,', 'a b', 'in (a', '-bad-=x', 'x/y/z=1', 'app=' + 'v'.repeat(64)]) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseLabelSelector(bad), SelectorError));
  }
});

describe('apiserver: field selectors', () => {
  const allowed = ['metadata.name', 'metadata.namespace', 'spec.nodeName'];
  const pod = { metadata: { name: 'p1', namespace: 'ns1' }, spec: { nodeName: 'n1' } };
  it('matches = and !=', () => {
    assert.equal(matchFields(parseFieldSelector('metadata.name=p1,spec.nodeName!=n2', allowed), pod), true);
    assert.equal(matchFields(parseFieldSelector('spec.nodeName==n2', allowed), pod), false);
    assert.equal(matchFields(parseFieldSelector('spec.nodeName=', allowed), { metadata: {} }), true);
  });
  it('unescapes values', () => assert.deepEqual(parseFieldSelector('metadata.name=a\\,b', allowed), [{ field: 'metadata.name', op: '=', value: 'a,b' }]));
  it('rejects unsupported field labels', () => assert.throws(() => parseFieldSelector('spec.foo=1', allowed), /field label not supported: spec.foo/));
  it('rejects garbage', () => assert.throws(() => parseFieldSelector('metadata.name', allowed), SelectorError));
  it('finds the pinned name', () => {
    assert.equal(pinnedName(parseFieldSelector('metadata.name=x', allowed)), 'x');
    assert.equal(pinnedName(parseFieldSelector('metadata.name!=x', allowed)), undefined);
  });
});
