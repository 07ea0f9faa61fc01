import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store, type EventType } from '../../src/apiserver/store.js';
import { ApiError, type KubeObject } from '../../src/apiserver/types.js';

const KEY = '/configmaps';
const cm = (name: string, labels: Record<string, string> = {}, data: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'ns', uid: `uid-${name}`, labels },
  data,
});

function recorder(): { events: string[]; sink: { deliver(type: EventType, e: { obj: KubeObject }): void } } {
  const events: string[] = [];
  return { events, sink: { deliver: (type, e) => events.push(`${type} ${String(e.obj.metadata.name)}@${String(e.obj.metadata.resourceVersion)}`) } };
}

describe('apiserver: store', () => {
  it('gives every write the next resourceVersion, across kinds', () => {
    const s = new Store();
    assert.equal(s.put(KEY, cm('a')).metadata.resourceVersion, '1');
    assert.equal(s.put('/secrets', { ...cm('b'), kind: 'Secret' }).metadata.resourceVersion, '2');
    assert.equal(s.put(KEY, cm('a')).metadata.resourceVersion, '3');
    assert.equal(s.remove(KEY, 'ns', 'a')?.metadata.resourceVersion, '4', 'a deletion has its own resourceVersion');
    assert.equal(s.resourceVersion, 4);
  });

  it('replays exactly the events after a resourceVersion, then streams', () => {
    const s = new Store();
    s.put(KEY, cm('a'));
    s.put(KEY, cm('b'));
    s.put(KEY, cm('a', {}, { x: '1' }));
    const r = recorder();
    s.watch({ key: KEY, match: () => true }, r.sink, 1);
    s.remove(KEY, 'ns', 'b');
    assert.deepEqual(r.events, ['ADDED b@2', 'MODIFIED a@3', 'DELETED b@4']);
  });

  it('starts a watch without resourceVersion with the current objects', () => {
    const s = new Store();
    s.put(KEY, cm('a'));
    s.put(KEY, cm('b'));
    const r = recorder();
    s.watch({ key: KEY, ns: 'ns', match: () => true }, r.sink, undefined);
    assert.deepEqual(r.events, ['ADDED a@1', 'ADDED b@2']);
  });

  it('turns selector transitions into ADDED/DELETED', () => {
    const s = new Store();
    s.put(KEY, cm('a', { app: 'x' }));
    const r = recorder();
    s.watch({ key: KEY, match: (o) => (o.metadata.labels as Record<string, string>).app === 'x' }, r.sink, 1);
    s.put(KEY, cm('a', { app: 'y' }));
    s.put(KEY, cm('a', { app: 'x' }));
    s.put(KEY, cm('a', { app: 'x' }, { d: '1' }));
    assert.deepEqual(r.events, ['DELETED a@2', 'ADDED a@3', 'MODIFIED a@4']);
  });

  it('answers 410 Expired for a resourceVersion older than the kept history', () => {
    const s = new Store({ historySize: 100 });
    for (let i = 0; i < 250; i++) s.put(KEY, cm(`o${i % 7}`));
    assert.throws(
      () => s.watch({ key: KEY, match: () => true }, recorder().sink, 10),
      (e: unknown) => e instanceof ApiError && e.httpCode === 410 && e.reason === 'Expired' && /too old resource version: 10/.test(e.message),
    );
    const r = recorder();
    s.watch({ key: KEY, match: () => true }, r.sink, 200);
    assert.equal(r.events.length, 50);
  });

  it('keeps objects and the counter across a restart, never reusing a resourceVersion', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hawser-store-'));
    try {
      const s1 = new Store({ dataDir: dir });
      s1.put(KEY, cm('a'));
      s1.put(KEY, cm('b'));
      s1.remove(KEY, 'ns', 'a');
      s1.close();
      // a torn last line is a write that was never answered: ignored
      appendFileSync(join(dir, 'journal.log'), '{"rv":99,"op":"put"');
      const s2 = new Store({ dataDir: dir });
      assert.equal(s2.resourceVersion, 3);
      assert.equal(s2.get(KEY, 'ns', 'a'), undefined);
      assert.equal(s2.get(KEY, 'ns', 'b')?.metadata.resourceVersion, '2');
      assert.equal(s2.put(KEY, cm('c')).metadata.resourceVersion, '4');
      assert.throws(() => s2.watch({ key: KEY, match: () => true }, recorder().sink, 2), /too old/, 'history before the restart is gone');
      s2.close();
      const s3 = new Store({ dataDir: dir });
      assert.equal(s3.resourceVersion, 4);
      assert.deepEqual(s3.list(KEY).map((e) => e.obj.metadata.name), ['b', 'c']);
      s3.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a data dir another live process holds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hawser-store-'));
    try {
      // a lock names its holder by PID and start time (field 22 of /proc/PID/stat), so PID reuse is told apart
      const stat = readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
      writeFileSync(join(dir, 'lock'), `${process.ppid} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`);
      assert.throws(() => new Store({ dataDir: dir }), /in use by process/);
      writeFileSync(join(dir, 'lock'), '999999999');
      new Store({ dataDir: dir }).close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('indexes dependents by owner uid', () => {
    const s = new Store();
    s.put(KEY, cm('owner'));
    s.put(KEY, { ...cm('dep'), metadata: { ...cm('dep').metadata, ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: 'uid-owner' }] } });
    assert.deepEqual(s.dependentsOf('uid-owner'), [{ key: KEY, ns: 'ns', name: 'dep' }]);
    s.remove(KEY, 'ns', 'dep');
    assert.deepEqual(s.dependentsOf('uid-owner'), []);
  });
});
