// Kubernetes semantics clients rely on without asking: authentication and RBAC, error Status
// objects, finalizers, garbage collection, namespace and CRD lifecycles, durability.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer } from '../../src/apiserver/index.js';
import { waitFor } from '../../src/util/wait.js';
import { ADMIN_TOKEN, ALICE_TOKEN, CRD_DIR, quietLog, raw, startTestServer, type TestServer } from '../support/apiserver.js';

type J = Record<string, unknown>;
const meta = (o: J): J => o.metadata as J;

describe('apiserver: semantics', function () {
  this.timeout(30_000);
  let ts: TestServer;
  const as = (token: string | undefined, method: string, path: string, body?: unknown, headers?: Record<string, string>): ReturnType<typeof raw> =>
    raw(ts.srv, method, path, { token, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), headers });
  const admin = (method: string, path: string, body?: unknown, headers?: Record<string, string>): ReturnType<typeof raw> => as(ADMIN_TOKEN, method, path, body, headers);

  before(async () => {
    ts = await startTestServer();
  });
  after(async () => ts?.close());

  it('lets anonymous requests reach only health and version', async () => {
    for (const p of ['/healthz', '/readyz', '/livez', '/version']) assert.equal((await as(undefined, 'GET', p)).status, 200, p);
    const r = await as(undefined, 'GET', '/api/v1/namespaces');
    assert.equal(r.status, 401);
    assert.equal(r.json().reason, 'Unauthorized');
    assert.equal((await as('wrong-token-123', 'GET', '/healthz')).status, 401, 'a bad token is refused everywhere');
  });

  it('authorizes other users by RBAC objects, with Kubernetes-like 403s', async () => {
    let r = await as(ALICE_TOKEN, 'GET', '/api/v1/namespaces/default/configmaps');
    assert.equal(r.status, 403);
    assert.equal(r.json().message, 'configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" in the namespace "default"');
    assert.equal((await as(ALICE_TOKEN, 'GET', '/apis/submariner.io/v1')).status, 200, 'discovery is open to every authenticated user');
    await admin('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', { metadata: { name: 'cm-read' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }] });
    await admin('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings', { metadata: { name: 'devs-cm-read' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cm-read' }, subjects: [{ kind: 'Group', name: 'developers' }] });
    assert.equal((await as(ALICE_TOKEN, 'GET', '/api/v1/namespaces/default/configmaps')).status, 200);
    assert.equal((await as(ALICE_TOKEN, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'x' } })).status, 403);
    assert.equal((await as(ALICE_TOKEN, 'GET', '/api/v1/namespaces/kube-system/configmaps')).status, 403);
    r = await as(ALICE_TOKEN, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { spec: { resourceAttributes: { verb: 'watch', resource: 'configmaps', namespace: 'default' } } });
    assert.equal((r.json().status as J).allowed, true);
  });

  it('authenticates ServiceAccount token Secrets as system:serviceaccount users', async () => {
    await admin('POST', '/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'broker-client' } });
    await admin('POST', '/api/v1/namespaces/default/secrets', { metadata: { name: 'broker-client-token', annotations: { 'kubernetes.io/service-account.name': 'broker-client' } }, type: 'kubernetes.io/service-account-token' });
    const secret = await waitFor(async () => {
      const s = (await admin('GET', '/api/v1/namespaces/default/secrets/broker-client-token')).json();
      return (s.data as J | undefined)?.token ? s : undefined;
    }, { timeoutMs: 5000, what: 'the token controller' });
    const data = secret.data as Record<string, string>;
    const token = Buffer.from(data.token!, 'base64').toString();
    assert.equal(Buffer.from(data['ca.crt']!, 'base64').toString(), ts.srv.caPem);
    let r = await as(token, 'GET', '/apis/submariner.io/v1/namespaces/default/endpoints');
    assert.equal(r.status, 403);
    assert.match(String(r.json().message), /User "system:serviceaccount:default:broker-client" cannot list/);
    await admin('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', { metadata: { name: 'broker' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'ServiceAccount', name: 'broker-client', namespace: 'default' }] });
    r = await as(token, 'GET', '/apis/submariner.io/v1/namespaces/default/endpoints');
    assert.equal(r.status, 200);
  });

  it('answers bad requests with Status objects, never crashing', async () => {
    const cases: [string, string, unknown, number, string][] = [
      ['POST', '/api/v1/namespaces/default/configmaps', '{"metadata": {', 400, 'BadRequest'],
      ['POST', '/api/v1/namespaces/default/configmaps', '[1,2]', 400, 'BadRequest'],
      ['POST', '/api/v1/namespaces/default/configmaps', { kind: 'Secret', metadata: { name: 'x' } }, 400, 'BadRequest'],
      ['POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'Not_Valid' } }, 422, 'Invalid'],
      ['GET', '/api/v1/namespaces/default/frobnicators', undefined, 404, 'NotFound'],
      ['GET', '/apis/nope.example.com/v1/things', undefined, 404, 'NotFound'],
      ['GET', '/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20b', undefined, 400, 'BadRequest'],
      ['GET', '/api/v1/namespaces/default/configmaps?limit=-1', undefined, 400, 'BadRequest'],
      ['PUT', '/api/v1/namespaces/default/configmaps/none', { metadata: { name: 'none' } }, 404, 'NotFound'],
      ['PATCH', '/api/v1/namespaces/default/configmaps/none', {}, 415, 'UnsupportedMediaType'],
      ['GET', '/api/v1/namespaces/default/configmaps/x/status', undefined, 404, 'NotFound'],
      ['POST', '/api/v1/namespaces/default/configmaps?fieldValidation=Sloppy', { metadata: { name: 'x' } }, 400, 'BadRequest'],
    ];
    for (const [method, path, body, status, reason] of cases) {
      const r = await admin(method, path, body);
      assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
      assert.equal(r.json().kind, 'Status');
      assert.equal(r.json().reason, reason, `${method} ${path}`);
    }
    const big = JSON.stringify({ metadata: { name: 'big' }, data: { x: 'y'.repeat(4 * 1024 * 1024) } });
    const r = await admin('POST', '/api/v1/namespaces/default/configmaps', big);
    assert.equal(r.status, 413);
    assert.equal((await as(undefined, 'GET', '/healthz')).status, 200, 'still serving');
  });

  it('honours dryRun, deletecollection and metadata-only lists', async () => {
    let r = await admin('POST', '/api/v1/namespaces/default/configmaps?dryRun=All', { metadata: { name: 'dry' } });
    assert.equal(r.status, 201);
    assert.equal((await admin('GET', '/api/v1/namespaces/default/configmaps/dry')).status, 404);
    for (const n of ['dc1', 'dc2', 'dc3']) await admin('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: n, labels: { dc: n === 'dc3' ? 'keep' : 'go' } } });
    r = await admin('DELETE', '/api/v1/namespaces/default/configmaps?labelSelector=dc%3Dgo');
    assert.equal(r.status, 200);
    r = await admin('GET', '/api/v1/namespaces/default/configmaps?labelSelector=dc', undefined, { Accept: 'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json' });
    assert.equal(r.json().kind, 'PartialObjectMetadataList');
    assert.deepEqual((r.json().items as J[]).map((i) => meta(i).name), ['dc3']);
  });

  it('keeps an object with finalizers until they are removed', async () => {
    await admin('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'fin', finalizers: ['example.com/x'] } });
    let r = await admin('DELETE', '/api/v1/namespaces/default/configmaps/fin');
    assert.equal(r.status, 202);
    const held = (await admin('GET', '/api/v1/namespaces/default/configmaps/fin')).json();
    assert.ok(meta(held).deletionTimestamp);
    r = await admin('PATCH', '/api/v1/namespaces/default/configmaps/fin', { metadata: { finalizers: ['example.com/x', 'example.com/y'] } }, { 'Content-Type': 'application/merge-patch+json' });
    assert.equal(r.status, 422, 'no new finalizers on an object being deleted');
    r = await admin('PATCH', '/api/v1/namespaces/default/configmaps/fin', { metadata: { finalizers: null } }, { 'Content-Type': 'application/merge-patch+json' });
    assert.equal(r.status, 200);
    assert.equal((await admin('GET', '/api/v1/namespaces/default/configmaps/fin')).status, 404);
  });

  it('garbage-collects dependents in the background, in the foreground, and orphans on request', async () => {
    const mk = async (name: string, owner?: J): Promise<J> => {
      const ownerReferences = owner ? [{ apiVersion: 'v1', kind: 'ConfigMap', name: meta(owner).name, uid: meta(owner).uid }] : undefined;
      return (await admin('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name, ownerReferences } })).json();
    };
    const exists = async (name: string): Promise<boolean> => (await admin('GET', `/api/v1/namespaces/default/configmaps/${name}`)).status === 200;
    const owner = await mk('owner');
    const child = await mk('child', owner);
    await mk('grandchild', child);
    await admin('DELETE', '/api/v1/namespaces/default/configmaps/owner');
    await waitFor(async () => !(await exists('child')) && !(await exists('grandchild')), { timeoutMs: 5000, what: 'cascading background deletion' });

    const fg = await mk('fg-owner');
    await mk('fg-child', fg);
    const r = await admin('DELETE', '/api/v1/namespaces/default/configmaps/fg-owner', { propagationPolicy: 'Foreground' });
    assert.equal(r.status, 202, r.text);
    await waitFor(async () => !(await exists('fg-owner')) && !(await exists('fg-child')), { timeoutMs: 5000, what: 'foreground deletion' });

    const orph = await mk('orph-owner');
    await mk('orph-child', orph);
    await admin('DELETE', '/api/v1/namespaces/default/configmaps/orph-owner?propagationPolicy=Orphan');
    const kept = (await admin('GET', '/api/v1/namespaces/default/configmaps/orph-child')).json();
    assert.equal(meta(kept).ownerReferences, undefined);
  });

  it('serves a CRD as soon as it is created and removes its objects with it', async () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'gadgets.example.com' },
      spec: { group: 'example.com', names: { plural: 'gadgets', kind: 'Gadget' }, scope: 'Cluster', versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }] },
    };
    let r = await admin('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    assert.equal(r.status, 201);
    assert.ok(((r.json().status as J).conditions as J[]).some((c) => c.type === 'Established' && c.status === 'True'));
    r = await admin('POST', '/apis/example.com/v1/gadgets', { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g1' }, anything: { goes: [1] } });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json().anything, { goes: [1] });
    r = await admin('DELETE', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.com');
    assert.equal(r.status, 200);
    assert.equal((await admin('GET', '/apis/example.com/v1/gadgets')).status, 404);
    await admin('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    assert.deepEqual((await admin('GET', '/apis/example.com/v1/gadgets')).json().items, [], 'objects went with the CRD');
    r = await admin('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { ...crd, metadata: { name: 'wrong.example.com' } });
    assert.equal(r.status, 422);
  });

  it('empties a namespace before deleting it and refuses new content meanwhile', async () => {
    await admin('POST', '/api/v1/namespaces', { metadata: { name: 'doomed' } });
    await admin('POST', '/api/v1/namespaces/doomed/configmaps', { metadata: { name: 'held', finalizers: ['example.com/x'] } });
    await admin('DELETE', '/api/v1/namespaces/doomed');
    const ns = (await admin('GET', '/api/v1/namespaces/doomed')).json();
    assert.equal((ns.status as J).phase, 'Terminating');
    const r = await admin('POST', '/api/v1/namespaces/doomed/configmaps', { metadata: { name: 'late' } });
    assert.equal(r.status, 403);
    assert.match(String(r.json().message), /because it is being terminated/);
    await admin('PATCH', '/api/v1/namespaces/doomed/configmaps/held', { metadata: { finalizers: null } }, { 'Content-Type': 'application/merge-patch+json' });
    await waitFor(async () => (await admin('GET', '/api/v1/namespaces/doomed')).status === 404, { timeoutMs: 5000, what: 'the namespace to go' });
  });

  it('ends a watch after timeoutSeconds', async () => {
    const t0 = Date.now();
    const r = await admin('GET', '/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1&resourceVersion=1');
    assert.equal(r.status, 200);
    assert.ok(Date.now() - t0 >= 900 && Date.now() - t0 < 5000, `ended after ${Date.now() - t0} ms`);
    const lines = r.text.trim().split('\n').map((l) => JSON.parse(l) as J);
    assert.ok(lines.every((l) => ['ADDED', 'MODIFIED', 'DELETED'].includes(String(l.type))));
  });

  it('refuses an oversized chunked body with 413 and keeps serving', async () => {
    const r = await admin('POST', '/api/v1/namespaces/default/configmaps', undefined, { 'Transfer-Encoding': 'chunked' });
    assert.equal(r.status, 400, 'an empty body is a 400');
    const huge = await new Promise<number>((resolve, reject) => {
      const url = new URL('/api/v1/namespaces/default/configmaps', ts.srv.url);
      void import('node:https').then(({ request }) => {
        const req = request(url, { method: 'POST', ca: ts.srv.caPem, headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        const chunk = Buffer.alloc(256 * 1024, 0x61);
        let sent = 0;
        const pump = (): void => {
          while (sent < 16 && req.write(chunk)) sent++;
          if (sent < 16) req.once('drain', () => { sent++; pump(); });
          else req.end();
        };
        pump();
      });
    });
    assert.equal(huge, 413);
    assert.equal((await as(undefined, 'GET', '/healthz')).status, 200);
  });

  it('resets the status clients send with a Pod create, and selects pods by node', async () => {
    const pod = (node: string): J => ({ metadata: { name: `pod-${node}` }, spec: { nodeName: node, containers: [{ name: 'c', image: 'x' }] }, status: { phase: 'Running', podIP: '10.0.0.9' } });
    let r = await admin('POST', '/api/v1/namespaces/default/pods', pod('n1'));
    assert.deepEqual(r.json().status, { phase: 'Pending', qosClass: 'BestEffort' });
    await admin('POST', '/api/v1/namespaces/default/pods', pod('n2'));
    r = await admin('PUT', '/api/v1/namespaces/default/pods/pod-n1/status', { ...r.json(), status: { phase: 'Running', podIP: '10.0.0.9' } });
    assert.equal((r.json().status as J).podIP, '10.0.0.9');
    r = await admin('GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dn1,status.phase%3DRunning');
    assert.deepEqual((r.json().items as J[]).map((p) => meta(p).name), ['pod-n1']);
  });

  it('survives a storm of malformed requests', async () => {
    const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
    const paths = ['/', '/api', '/api/v1/namespaces/default/configmaps', '/api/v1/namespaces/default/configmaps/x', '/apis/submariner.io/v1/namespaces/default/endpoints/e',
      '/api/v1/namespaces/%zz/pods', '/apis/submariner.io/v1/gateways/a/b/c/d', '/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=abc', '/openapi/v3/apis/none/v1', '/api/v1/namespaces/default/configmaps?limit=x&continue=%%%'];
    const bodies = ['', '{', 'null', '[]', '{"metadata":null}', '{"metadata":{"name":5}}', '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","labels":{"a":1}}}', 'k8s\u0000garbage', '---\n: :'];
    const types = ['application/json', 'application/merge-patch+json', 'application/json-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml', 'application/vnd.kubernetes.protobuf', 'text/plain'];
    let n = 0;
    for (const method of methods) {
      for (const path of paths) {
        const body = bodies[n % bodies.length]!;
        const type = types[n % types.length]!;
        n++;
        const r = await admin(method, `${path}${path.includes('?') ? '&' : '?'}fieldManager=fuzz`, method === 'GET' ? undefined : body, { 'Content-Type': type });
        assert.ok(r.status < 500, `${method} ${path} ${type} ${JSON.stringify(body)} -> ${r.status} ${r.text}`);
        if (r.status >= 400) assert.equal(r.json().kind, 'Status', `${method} ${path}: ${r.text}`);
      }
    }
    assert.equal((await as(undefined, 'GET', '/healthz')).status, 200);
  });

  it('answers kubectl-style Table requests', async () => {
    const r = await admin('GET', '/api/v1/namespaces', undefined, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
    const table = r.json();
    assert.equal(table.kind, 'Table');
    assert.deepEqual((table.columnDefinitions as J[]).map((c) => c.name), ['Name', 'Status', 'Age']);
    assert.ok((table.rows as J[]).some((row) => (row.cells as unknown[])[0] === 'default'));
  });
});

describe('apiserver: durability and plain HTTP', function () {
  this.timeout(30_000);

  it('keeps objects and the resourceVersion counter across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hawser-apiserver-data-'));
    const tokens = [{ token: ADMIN_TOKEN, user: 'admin', groups: ['system:masters'] }];
    try {
      let srv = await startApiServer({ plainHttp: true, dataDir: dir, tokens, crdDir: CRD_DIR, log: quietLog });
      assert.ok(srv.url.startsWith('http://127.0.0.1:'));
      const put = await raw(srv, 'POST', '/apis/submariner.io/v1/namespaces/default/clusters', { token: ADMIN_TOKEN, body: JSON.stringify({ apiVersion: 'submariner.io/v1', kind: 'Cluster', metadata: { name: 'cluster-a' }, spec: { cluster_id: 'cluster-a', color_codes: ['blue'], service_cidr: ['10.96.0.0/12'], cluster_cidr: ['10.244.0.0/16'], global_cidr: [] } }) });
      assert.equal(put.status, 201, put.text);
      const rvBefore = Number(meta((await raw(srv, 'GET', '/api/v1/namespaces', { token: ADMIN_TOKEN })).json()).resourceVersion);
      await srv.close();
      srv = await startApiServer({ plainHttp: true, dataDir: dir, tokens, crdDir: CRD_DIR, log: quietLog });
      const got = await raw(srv, 'GET', '/apis/submariner.io/v1/namespaces/default/clusters/cluster-a', { token: ADMIN_TOKEN });
      assert.equal(got.status, 200);
      assert.deepEqual((got.json().spec as J).global_cidr, []);
      const next = await raw(srv, 'POST', '/api/v1/namespaces/default/configmaps', { token: ADMIN_TOKEN, body: JSON.stringify({ metadata: { name: 'after-restart' } }) });
      assert.ok(Number(meta(next.json()).resourceVersion) > rvBefore, 'no resourceVersion is reused');
      const old = await raw(srv, 'GET', `/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${rvBefore - 1}`, { token: ADMIN_TOKEN });
      assert.match(old.text, /"code":410/);
      await srv.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
