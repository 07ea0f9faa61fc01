import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.js';
import { RestClient, isApiError, resourcePath } from '../../src/k8s/rest.js';
import { Informer } from '../../src/k8s/informer.js';
import { endpointInformer } from '../../src/k8s/informers.js';
import { endpointObject, logSink } from '../support/fixtures.js';
import { waitFor } from '../../src/util/wait.js';
import { createLogger } from '../../src/log/index.js';
import { k8s } from '../../src/k8s/client.js';

describe('k8s REST client and informer against the embedded API server @real', () => {
  let ts: TestServer;
  let client: RestClient;
  before(async () => {
    ts = await startTestServer();
    client = new RestClient(ts.kc);
  });
  after(async () => {
    client?.close();
    await ts?.close();
  });

  it('authenticates with the kubeconfig token over TLS, reusing one connection', async () => {
    const path = resourcePath('', 'v1', 'configmaps', 'default');
    await client.create(path, { metadata: { name: 'cm1' }, data: { a: '1' } });
    for (let i = 0; i < 5; i++) assert.equal((await client.get(`${path}/cm1`)).metadata.name, 'cm1');
    const noAuth = new k8s.KubeConfig();
    noAuth.loadFromOptions({ ...JSON.parse(JSON.stringify({ clusters: ts.kc.clusters, contexts: ts.kc.contexts, currentContext: ts.kc.currentContext })), users: [{ name: ts.kc.contexts[0]!.user }] });
    const anon = new RestClient(noAuth);
    await assert.rejects(anon.list(path), (err: unknown) => isApiError(err, 401));
    anon.close();
  });

  it('turns errors into typed ApiErrors (404, 409 on a stale resourceVersion)', async () => {
    const path = resourcePath('', 'v1', 'configmaps', 'default');
    assert.equal(await client.getOrUndefined(`${path}/nope`), undefined);
    const cur = await client.get(`${path}/cm1`);
    await client.replace(`${path}/cm1`, { ...cur, data: { a: '2' } });
    await assert.rejects(client.replace(`${path}/cm1`, { ...cur, data: { a: '3' } }), (err: unknown) => isApiError(err, 409));
  });

  it('a request or watch whose signal is already aborted ends cleanly (no unheard error event)', async () => {
    const path = resourcePath('', 'v1', 'configmaps', 'default');
    await assert.rejects(client.request('PUT', `${path}/cm1`, { body: {}, signal: AbortSignal.abort() }), (err: unknown) => isApiError(err, 0) && /aborted/.test((err as Error).message));
    await client.watch(path, {}, () => undefined, AbortSignal.abort());
    // an unheard 'error' event would surface as an uncaught exception on a later tick
    await new Promise((r) => setTimeout(r, 50));
  });

  it('informer lists, follows the watch and stops cleanly', async () => {
    const path = resourcePath('', 'v1', 'configmaps', 'default');
    const inf = new Informer({ client, path, log: createLogger({ level: 'silent' }) });
    await inf.start();
    assert.ok(inf.get('default', 'cm1'));
    await client.create(path, { metadata: { name: 'cm2' } });
    await waitFor(() => inf.get('default', 'cm2') !== undefined, { timeoutMs: 5000, what: 'cm2 in the cache' });
    await client.delete(`${path}/cm2`);
    await waitFor(() => inf.get('default', 'cm2') === undefined, { timeoutMs: 5000, what: 'cm2 gone from the cache' });
    await inf.stop();
  });

  it('typed Endpoint informer: typed values; an Endpoint that does not parse is left out and logged once', async () => {
    const ns = 'default';
    const path = resourcePath('submariner.io', 'v1', 'endpoints', ns);
    const good = endpointObject({ cluster: 'east', privateIP: '10.1.0.5', namespace: ns });
    const bad = endpointObject({ cluster: 'west', privateIP: 'not-an-ip', namespace: ns });
    await client.create(path, good);
    const sink = logSink('warn');
    const inf = endpointInformer({ client, namespace: ns, log: sink.log });
    await inf.start();
    assert.deepEqual(inf.list().map((e) => e.spec.clusterId), ['east']);
    await client.create(path, bad);
    await waitFor(() => inf.invalid().length === 1, { timeoutMs: 5000, what: 'the bad Endpoint seen' });
    assert.match(inf.invalid()[0]!.error, /Endpoint default\/west-.*: spec has no valid private IP/);
    assert.equal(sink.matching('ignoring an object that does not parse').length, 1);
    assert.deepEqual(inf.list().map((e) => e.spec.clusterId), ['east']);
    await inf.stop();
  });
});
