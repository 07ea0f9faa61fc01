// The informer against a scripted transport: each list and each watch is a step the test hands out, so the
// test decides when an error, a 410 or an event happens (no timing), and checks what consumers saw.
import assert from 'node:assert/strict';
import { ApiError, type KubeObject, type Query, type WatchEvent } from '../../src/k8s/rest.js';
import { Informer, typedInformer, type InformerDelta, type InformerTransport } from '../../src/k8s/informer.js';
import { parseEndpoint, type Endpoint } from '../../src/k8s/submariner/endpoint.js';
import { waitFor } from '../../src/util/wait.js';
import { endpointObject, logSink, quietLog } from '../support/fixtures.js';

function cm(name: string, rv: string): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv } };
}

type ListStep = { items: KubeObject[]; resourceVersion: string } | Error;

/** A watch the test drives: send events, end it, or fail it; it also ends when the informer aborts. */
interface OpenWatch {
  query: Query;
  send(type: WatchEvent['type'], object: Record<string, unknown>): void;
  fail(err: Error): void;
  end(): void;
}

class ScriptedTransport implements InformerTransport {
  readonly lists: ListStep[] = [];
  readonly watches: OpenWatch[] = [];
  listCalls = 0;

  async list(): Promise<{ items: KubeObject[]; resourceVersion: string }> {
    this.listCalls++;
    const step = this.lists.shift();
    if (!step) throw new Error('test transport: no list step scripted');
    if (step instanceof Error) throw step;
    return step;
  }

  watch(_path: string, query: Query, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (err?: Error): void => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = (): void => finish(new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      this.watches.push({
        query,
        send: (type, object) => {
          // The REST client runs onEvent inside its stream loop; a throw there ends the watch with that error.
          try {
            onEvent({ type, object });
          } catch (err) {
            finish(err as Error);
          }
        },
        fail: (err) => finish(err),
        end: () => finish(),
      });
    });
  }

  /** The n-th watch (0-based), once the informer has opened it. */
  watchNo(n: number): Promise<OpenWatch> {
    return waitFor(() => this.watches[n], { timeoutMs: 5000, intervalMs: 5, what: `watch #${n + 1} opened` });
  }
}

function names<T>(d: InformerDelta<T>, name: (v: T) => string): { added: string[]; updated: string[]; deleted: string[] } {
  return { added: d.added.map(name).sort(), updated: d.updated.map(name).sort(), deleted: d.deleted.map(name).sort() };
}

/** A delay seam that resolves at once and records the backoff it was asked for. */
function recordingDelay(): { delays: number[]; delay: (ms: number, signal: AbortSignal) => Promise<void> } {
  const delays: number[] = [];
  return {
    delays,
    delay: (ms, signal) => {
      delays.push(ms);
      return signal.aborted ? Promise.reject(new Error('aborted')) : Promise.resolve();
    },
  };
}

describe('Informer (scripted transport)', () => {
  it('relists after 410 Gone and delivers only the difference (adds, updates, deletes)', async () => {
    const t = new ScriptedTransport();
    t.lists.push({ items: [cm('a', '1'), cm('b', '1'), cm('c', '1')], resourceVersion: '10' });
    const inf = new Informer({ client: t, path: '/api/v1/namespaces/ns/configmaps', log: quietLog });
    const deltas: InformerDelta<KubeObject>[] = [];
    let changes = 0;
    inf.on('delta', (d) => deltas.push(d));
    inf.on('change', () => changes++);
    await inf.start();
    assert.deepEqual(names(deltas[0]!, (o) => o.metadata.name), { added: ['a', 'b', 'c'], updated: [], deleted: [] });
    const w1 = await t.watchNo(0);
    assert.equal(w1.query.resourceVersion, '10', 'the watch starts at the list resourceVersion');

    // While the watch was away: b changed, c went, d came; a did not change.
    t.lists.push({ items: [cm('a', '1'), cm('b', '2'), cm('d', '1')], resourceVersion: '20' });
    w1.send('ERROR', { kind: 'Status', code: 410, message: 'too old resource version' });
    const w2 = await t.watchNo(1);
    assert.equal(w2.query.resourceVersion, '20');
    assert.equal(deltas.length, 2);
    assert.deepEqual(names(deltas[1]!, (o) => o.metadata.name), { added: ['d'], updated: ['b'], deleted: ['c'] });
    assert.equal(changes, 2);
    assert.deepEqual(inf.list().map((o) => o.metadata.name).sort(), ['a', 'b', 'd']);

    // A 410 thrown by the transport (an HTTP 410 on the watch request) is handled the same way; an unchanged relist is silent.
    t.lists.push({ items: [cm('a', '1'), cm('b', '2'), cm('d', '1')], resourceVersion: '30' });
    w2.fail(new ApiError(410, 'Expired', 'too old resource version'));
    await t.watchNo(2);
    assert.equal(deltas.length, 2, 'nothing changed, nothing delivered');
    assert.equal(changes, 2);
    assert.equal(inf.lastError, undefined, 'a 410 is not an error');
    await inf.stop();
  });

  it('restarts the watch after an error, with backoff through the delay seam, and relists', async () => {
    const t = new ScriptedTransport();
    const d = recordingDelay();
    t.lists.push({ items: [cm('a', '1')], resourceVersion: '5' });
    const inf = new Informer({ client: t, path: '/p', log: quietLog, delay: d.delay });
    const deltas: InformerDelta<KubeObject>[] = [];
    inf.on('delta', (x) => deltas.push(x));
    await inf.start();
    const w1 = await t.watchNo(0);
    w1.send('ADDED', cm('b', '6'));
    assert.deepEqual(names(deltas[1]!, (o) => o.metadata.name), { added: ['b'], updated: [], deleted: [] });

    t.lists.push(new ApiError(0, 'Unreachable', 'connect ECONNREFUSED'));
    t.lists.push({ items: [cm('a', '1'), cm('b', '6')], resourceVersion: '7' });
    w1.fail(new ApiError(500, 'InternalError', 'etcd is sad'));
    const w2 = await t.watchNo(1);
    assert.equal(w2.query.resourceVersion, '7');
    assert.equal(d.delays.length, 2, 'one backoff after the watch error, one after the failed list');
    assert.ok(d.delays[1]! >= d.delays[0]!, `backoff grows: ${d.delays.join(', ')}`);
    assert.equal(t.listCalls, 3);
    assert.equal(deltas.length, 2, 'the relist found nothing new');

    // An ERROR event that is not a 410 also restarts (the watch's own error channel).
    t.lists.push({ items: [cm('a', '2'), cm('b', '6')], resourceVersion: '8' });
    w2.send('ERROR', { kind: 'Status', code: 500, message: 'internal' });
    await t.watchNo(2);
    assert.deepEqual(names(deltas[2]!, (o) => o.metadata.name), { added: [], updated: ['a'], deleted: [] });
    // A clean end of a watch (server timeout) re-opens it from the last resourceVersion without a relist.
    const calls = t.listCalls;
    t.watches[2]!.send('MODIFIED', cm('b', '9'));
    t.watches[2]!.end();
    const w4 = await t.watchNo(3);
    assert.equal(w4.query.resourceVersion, '9');
    assert.equal(t.listCalls, calls);
    await inf.stop();
  });

  it('stops cleanly before the first sync: start() rejects, no change is delivered, the loop ends', async () => {
    const t = new ScriptedTransport();
    for (let i = 0; i < 3; i++) t.lists.push(new ApiError(0, 'Unreachable', 'connect ECONNREFUSED'));
    let delayed = 0;
    // The delay waits until aborted, as the real sleep does when stop() comes during a backoff.
    const delay = (_ms: number, signal: AbortSignal): Promise<void> =>
      new Promise((_resolve, reject) => {
        delayed++;
        signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      });
    const inf = new Informer({ client: t, path: '/p', log: quietLog, delay });
    let changes = 0;
    inf.on('change', () => changes++);
    const started = inf.start();
    await waitFor(() => delayed === 1, { timeoutMs: 5000, intervalMs: 5, what: 'the informer backing off' });
    assert.equal(inf.hasSynced, false);
    assert.match(inf.lastError ?? '', /ECONNREFUSED/);
    await inf.stop();
    await assert.rejects(started, /stopped before it synced/);
    assert.equal(changes, 0);
    assert.equal(t.watches.length, 0);
    assert.equal(t.listCalls, 1, 'no list after stop');
  });

  it('typed: parses each object version once; a bad object is counted, logged once and left out, never thrown', async () => {
    const t = new ScriptedTransport();
    const good = endpointObject({ cluster: 'east', privateIP: '10.1.0.5', resourceVersion: '1' });
    const bad: KubeObject = { ...endpointObject({ cluster: 'west', privateIP: '10.2.0.5', resourceVersion: '1' }), spec: { cable_name: 'x', backend: 'vxlan', subnets: [] } };
    t.lists.push({ items: [good, bad], resourceVersion: '1' });
    const sink = logSink('warn');
    const inf = typedInformer<Endpoint>({ client: t, path: '/p', log: sink.log, parse: parseEndpoint });
    const deltas: InformerDelta<Endpoint>[] = [];
    inf.on('delta', (d) => deltas.push(d));
    await inf.start();
    assert.deepEqual(inf.list().map((e) => e.spec.clusterId), ['east']);
    assert.equal(inf.get(good.metadata.namespace, good.metadata.name)?.spec.privateIP, '10.1.0.5');
    assert.equal(inf.get(bad.metadata.namespace, bad.metadata.name), undefined);
    assert.ok(inf.getRaw(bad.metadata.namespace, bad.metadata.name), 'the raw object is still cached');
    assert.equal(inf.parseFailures, 1);
    assert.equal(inf.invalid().length, 1);
    assert.match(inf.invalid()[0]!.error, /^Endpoint submariner-operator\/west-.*: spec\.cluster_id is missing$/);

    // The same bad version again (a relist after 410): not parsed or logged again.
    const w1 = await t.watchNo(0);
    t.lists.push({ items: [good, bad], resourceVersion: '2' });
    w1.send('ERROR', { code: 410 });
    const w2 = await t.watchNo(1);
    assert.equal(inf.parseFailures, 1);
    assert.equal(sink.matching('ignoring an object that does not parse').length, 1);

    // Fixed in a new version: it enters the typed view as an add. Broken again: it leaves it as a delete.
    const fixed = { ...endpointObject({ cluster: 'west', privateIP: '10.2.0.5' }), metadata: { ...bad.metadata, resourceVersion: '3' } };
    w2.send('MODIFIED', fixed);
    assert.deepEqual(names(deltas.at(-1)!, (e) => e.spec.clusterId), { added: ['west'], updated: [], deleted: [] });
    w2.send('MODIFIED', { ...bad, metadata: { ...bad.metadata, resourceVersion: '4' } });
    assert.deepEqual(names(deltas.at(-1)!, (e) => e.spec.clusterId), { added: [], updated: [], deleted: ['west'] });
    assert.equal(inf.parseFailures, 2);
    w2.send('DELETED', { ...bad, metadata: { ...bad.metadata, resourceVersion: '5' } });
    assert.equal(inf.invalid().length, 0);
    await inf.stop();
  });
});
