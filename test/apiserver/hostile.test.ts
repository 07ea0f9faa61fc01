// Issue 21: the embedded API server probed by a hostile client that holds only a joined cluster's
// broker token (or a user with narrow RBAC). Each `describe` is one numbered item of the issue.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { startApiServer } from '../../src/apiserver/index.js';
import { authorize, type RbacObjects } from '../../src/apiserver/rbac.js';
import { waitFor } from '../../src/util/wait.js';
import { ADMIN_TOKEN, ALICE_TOKEN, quietLog, raw, startTestServer, type TestServer } from '../support/apiserver.js';

type J = Record<string, unknown>;
const BROKER_TOKEN = 'broker-token-cluster-a-0123';
const BROKER_NS = 'submariner-k8s-broker';
const BROKER_USER = `system:serviceaccount:${BROKER_NS}:cluster-a`;
const RBAC = '/apis/rbac.authorization.k8s.io/v1';

/** Own properties of Object.prototype (a pollution adds one). */
const protoKeys = (): string[] => Object.getOwnPropertyNames(Object.prototype).sort();

/** Keys an attacker may try to plant on Object.prototype. */
const BAIT = ['path', 'nonResourceURLs', 'polluted', 'verbs', 'resources', 'apiGroups', 'kind', 'name', 'subjects', 'roleRef'];

function assertClean(before: string[]): void {
  assert.deepEqual(protoKeys(), before, 'Object.prototype gained properties');
  for (const k of BAIT) assert.equal(({} as Record<string, unknown>)[k], undefined, `Object.prototype.${k} is set`);
}

/** A raw TCP connection to a plain-HTTP server. */
function tcp(url: string): Promise<Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = netConnect(Number(u.port), u.hostname, () => resolve(s));
    s.on('error', reject);
  });
}

/** Sends raw bytes and collects everything until the server closes or `ms` pass. */
function rawExchange(url: string, bytes: string, ms = 5000): Promise<string> {
  return tcp(url).then((s) => new Promise((resolve) => {
    let out = '';
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, ms);
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.on('close', done);
    s.on('error', done);
    s.write(bytes);
  }));
}

describe('apiserver: hostile client (issue 21)', function () {
  this.timeout(60_000);
  let ts: TestServer;
  const as = (token: string | undefined, method: string, path: string, body?: unknown, headers?: Record<string, string>): ReturnType<typeof raw> =>
    raw(ts.srv, method, path, { token, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), headers });
  const admin = (method: string, path: string, body?: unknown, headers?: Record<string, string>): ReturnType<typeof raw> => as(ADMIN_TOKEN, method, path, body, headers);
  const broker = (method: string, path: string, body?: unknown, headers?: Record<string, string>): ReturnType<typeof raw> => as(BROKER_TOKEN, method, path, body, headers);
  const clusterPath = `/apis/submariner.io/v1/namespaces/${BROKER_NS}/clusters`;
  let clean: string[];

  before(async () => {
    clean = protoKeys();
    ts = await startTestServer({
      plainHttp: true,
      tokens: [
        { token: ADMIN_TOKEN, user: 'admin', groups: ['system:masters'] },
        { token: ALICE_TOKEN, user: 'alice', uid: 'alice-uid', groups: ['developers'] },
        { token: BROKER_TOKEN, user: BROKER_USER, groups: ['system:serviceaccounts', `system:serviceaccounts:${BROKER_NS}`] },
      ],
    });
    // the broker as deploy/broker sets it up: a Role on Endpoints/Clusters bound to the cluster's identity
    assert.equal((await admin('POST', '/api/v1/namespaces', { metadata: { name: BROKER_NS } })).status, 201);
    assert.equal((await admin('POST', `${RBAC}/namespaces/${BROKER_NS}/roles`, {
      metadata: { name: 'hawser-broker-cluster' },
      rules: [{ apiGroups: ['submariner.io'], resources: ['endpoints', 'clusters'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] }],
    })).status, 201);
    assert.equal((await admin('POST', `${RBAC}/namespaces/${BROKER_NS}/rolebindings`, {
      metadata: { name: 'cluster-a' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'hawser-broker-cluster' },
      subjects: [{ kind: 'ServiceAccount', name: 'cluster-a', namespace: BROKER_NS }],
    })).status, 201);
    assert.equal((await admin('POST', '/api/v1/namespaces/kube-system/secrets', { metadata: { name: 'crown-jewels' }, stringData: { k: 'v' } })).status, 201);
    assert.equal((await broker('POST', clusterPath, {
      apiVersion: 'submariner.io/v1', kind: 'Cluster', metadata: { name: 'a', labels: { 'submariner-io/clusterID': 'a' } },
      spec: { cluster_id: 'a', cluster_cidr: ['10.0.0.0/16'], service_cidr: ['10.1.0.0/16'], global_cidr: [], color_codes: ['blue'] },
    })).status, 201);
  });
  after(async () => {
    await ts?.close();
  });

  describe('1: prototype pollution through every path-taking feature', () => {
    afterEach(() => assertClean(clean));

    it('JSON patch paths follow own properties only (also with dryRun)', async () => {
      const jp = { 'Content-Type': 'application/json-patch+json' };
      for (const dry of ['?dryRun=All', '']) {
        for (const ops of [
          [{ op: 'add', path: '/__proto__/path', value: '/api' }],
          [{ op: 'add', path: '/__proto__/nonResourceURLs', value: ['*'] }],
          [{ op: 'add', path: '/metadata/__proto__/polluted', value: 'x' }],
          [{ op: 'add', path: '/spec/constructor/prototype/polluted', value: 'x' }],
          [{ op: 'replace', path: '/metadata/toString', value: 'x' }],
          [{ op: 'copy', from: '/metadata/constructor', path: '/spec/x' }],
          [{ op: 'remove', path: '/metadata/hasOwnProperty' }],
          [{ op: 'test', path: '/__proto__', value: {} }],
        ]) {
          const r = await broker('PATCH', `${clusterPath}/a${dry}`, ops, jp);
          assert.ok(r.status === 422 || r.status === 400, `${JSON.stringify(ops)}${dry}: ${r.status} ${r.text}`);
          assert.equal(r.json().kind, 'Status');
        }
      }
    });

    it('merge, strategic merge and apply patches and bodies refuse __proto__ keys', async () => {
      const bodies: [string, string, string][] = [
        ['PATCH', 'application/merge-patch+json', '{"__proto__":{"path":"/x","polluted":"1"}}'],
        ['PATCH', 'application/merge-patch+json', '{"metadata":{"labels":{"__proto__":{"polluted":"1"}}}}'],
        ['SMP', 'application/strategic-merge-patch+json', '{"metadata":{"__proto__":{"polluted":"1"}}}'],
        ['SMP', 'application/strategic-merge-patch+json', '{"metadata":{"$deleteFromPrimitiveList/__proto__":["x"]}}'],
        ['SMP', 'application/strategic-merge-patch+json', '{"data":{"$setElementOrder/__proto__":["x"]}}'],
        ['PATCH', 'application/apply-patch+yaml', 'apiVersion: submariner.io/v1\nkind: Cluster\nmetadata: {name: a}\n__proto__: {polluted: "1"}\n'],
        ['PUT', 'application/json', '{"apiVersion":"submariner.io/v1","kind":"Cluster","metadata":{"name":"a","__proto__":{"polluted":"1"}},"spec":{}}'],
      ];
      assert.equal((await admin('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'smp' }, data: { a: '1' } })).status, 201);
      for (const [method, ct, body] of bodies) {
        const q = ct.startsWith('application/apply') ? '?fieldManager=x' : '';
        // strategic merge patch is for built-in kinds: a ConfigMap
        const r = method === 'SMP'
          ? await admin('PATCH', '/api/v1/namespaces/default/configmaps/smp', body, { 'Content-Type': ct })
          : await broker(method, `${clusterPath}/a${q}`, body, { 'Content-Type': ct });
        assert.equal(r.status, 400, `${ct} ${body}: ${r.status} ${r.text}`);
      }
      const r = await broker('POST', clusterPath, '{"apiVersion":"submariner.io/v1","kind":"Cluster","metadata":{"name":"p"},"__proto__":{"polluted":"1"}}');
      assert.equal(r.status, 400);
    });

    it('managed fields from a client cannot make server-side apply delete prototype members', async () => {
      const cm = '/api/v1/namespaces/default/configmaps';
      assert.equal((await admin('POST', cm, { metadata: { name: 'mf' }, data: { a: '1' } })).status, 201);
      const evil = { 'f:__proto__': { 'f:__lookupSetter__': {} }, 'f:constructor': { 'f:prototype': { 'f:__lookupGetter__': {} } } };
      const r = await admin('PATCH', `${cm}/mf`, {
        metadata: {
          managedFields: [
            { manager: 'm', operation: 'Apply', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: evil },
            { manager: 'n', operation: 'Apply', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:__proto__': {}, 'f:constructor': { 'f:prototype': {} } } },
          ],
        },
      }, { 'Content-Type': 'application/merge-patch+json' });
      assert.equal(r.status, 200, r.text);
      const a = await admin('PATCH', `${cm}/mf?fieldManager=m`, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mf}\ndata: {a: "2"}\n', { 'Content-Type': 'application/apply-patch+yaml' });
      assert.equal(a.status, 200, a.text);
      const proto = Object.prototype as unknown as Record<string, unknown>;
      assert.equal(typeof proto.__lookupSetter__, 'function');
      assert.equal(typeof proto.__lookupGetter__, 'function');
    });

    it('a field named like a prototype member is unknown to a schema (pruned, not stored)', async () => {
      const r = await broker('POST', clusterPath, {
        apiVersion: 'submariner.io/v1', kind: 'Cluster', metadata: { name: 'proto-fields' },
        spec: { cluster_id: 'proto-fields', cluster_cidr: [], service_cidr: [], global_cidr: [], color_codes: ['blue'], constructor: { x: 1 }, toString: 'x' },
      }, { 'Content-Type': 'application/json' });
      assert.equal(r.status, 201, r.text);
      const spec = r.json().spec as J;
      assert.equal(Object.prototype.hasOwnProperty.call(spec, 'constructor'), false);
      assert.equal(Object.prototype.hasOwnProperty.call(spec, 'toString'), false);
      assert.match(String(r.headers.warning), /unknown field \\"spec.constructor\\"/);
    });

    it('warnings stay within kube-apiserver\'s bounds: a write pruning 600 unknown fields still reaches the client', async () => {
      const spec: Record<string, unknown> = { cluster_id: 'many-unknown', cluster_cidr: [], service_cidr: [], global_cidr: [], color_codes: ['blue'] };
      for (let i = 0; i < 600; i++) spec[`unknownField${i}`] = i;
      const r = await broker('POST', clusterPath, { apiVersion: 'submariner.io/v1', kind: 'Cluster', metadata: { name: 'many-unknown' }, spec }, { 'Content-Type': 'application/json' });
      assert.equal(r.status, 201, r.text.slice(0, 300));
      // node joins repeated Warning headers with ", "
      const header = ([] as string[]).concat(r.headers.warning ?? []).join(', ');
      const count = header.match(/299 - /g)?.length ?? 0;
      assert.ok(count > 0 && count < 600, `${count} warnings`);
      assert.ok(header.length <= 4096 + count * 16, `warning text bounded (${header.length} chars)`);
      assert.match(header, /^299 - "unknown field \\"spec.unknownField0\\""/);
    });

    it('selectors never match inherited properties', async () => {
      let r = await admin('GET', '/api/v1/namespaces/default/configmaps?labelSelector=constructor');
      assert.equal(r.status, 200);
      assert.deepEqual(r.json().items, []);
      r = await admin('GET', '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.constructor%3Dx');
      assert.equal(r.status, 400);
      r = await admin('GET', '/api/v1/namespaces?fieldSelector=metadata.name!%3Dconstructor');
      assert.equal(r.status, 200);
    });

    it('authorization reads only own attributes (a polluted prototype grants nothing)', () => {
      const world: RbacObjects = { roles: () => [], role: () => undefined, clusterRoles: () => [], clusterRole: () => undefined, roleBindings: () => [], clusterRoleBindings: () => [] };
      const user = { name: 'u', groups: ['system:authenticated'] };
      const proto = Object.prototype as Record<string, unknown>;
      try {
        Object.defineProperty(proto, 'path', { value: '/api', configurable: true, writable: true });
        Object.defineProperty(proto, 'nonResourceURLs', { value: ['*'], configurable: true, writable: true });
        assert.equal(authorize(user, { verb: 'get', apiGroup: '', resource: 'secrets', namespace: 'kube-system' }, world).allowed, false);
      } finally {
        delete proto.path;
        delete proto.nonResourceURLs;
      }
    });

    it('after every attempt the broker token still cannot read Secrets or bind itself', async () => {
      assert.equal((await broker('GET', '/api/v1/namespaces/kube-system/secrets')).status, 403);
      assert.equal((await broker('GET', '/api/v1/namespaces/kube-system/secrets/crown-jewels')).status, 403);
      assert.equal((await broker('POST', `${RBAC}/clusterrolebindings`, {
        metadata: { name: 'pwn' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', name: BROKER_USER }],
      })).status, 403);
    });
  });

  describe('2: patch amplification and size limits', () => {
    const cm = '/api/v1/namespaces/default/configmaps';

    it('stops a doubling JSON patch at the object limit (413) and keeps serving', async () => {
      assert.equal((await admin('POST', cm, { metadata: { name: 'amp' }, data: { seed: 'x'.repeat(1024) } })).status, 201);
      const ops = Array.from({ length: 40 }, (_, i) => ({ op: 'copy', from: '/data', path: `/data/k${i}` }));
      const t0 = Date.now();
      const r = await admin('PATCH', `${cm}/amp`, ops, { 'Content-Type': 'application/json-patch+json' });
      assert.equal(r.status, 413, r.text);
      assert.equal(r.json().reason, 'RequestEntityTooLarge');
      assert.ok(Date.now() - t0 < 10_000, 'the patch work is bounded');
      assert.equal((await admin('GET', `${cm}/amp`)).status, 200);
      const tooMany = Array.from({ length: 10_001 }, () => ({ op: 'test', path: '/kind', value: 'ConfigMap' }));
      assert.equal((await admin('PATCH', `${cm}/amp`, tooMany, { 'Content-Type': 'application/json-patch+json' })).status, 400);
    });

    it('refuses ConfigMap/Secret data over 1 MiB (422) and objects over 1.5 MiB (413)', async () => {
      let r = await admin('POST', cm, { metadata: { name: 'big' }, data: { a: 'x'.repeat(1_100_000) } });
      assert.equal(r.status, 422, r.text);
      r = await admin('POST', '/api/v1/namespaces/default/secrets', { metadata: { name: 'big' }, data: { a: Buffer.alloc(2 * 1024 * 1024 - 100, 7).toString('base64').slice(0, 2_900_000) } });
      assert.equal(r.status, 422, r.text);
      const cidrs = (n: number): string[] => Array.from({ length: n }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.0/24`);
      const cluster = (name: string, n: number): J => ({
        apiVersion: 'submariner.io/v1', kind: 'Cluster', metadata: { name }, spec: { cluster_id: name, cluster_cidr: cidrs(n), service_cidr: [], global_cidr: [], color_codes: ['blue'] },
      });
      const clusters = '/apis/submariner.io/v1/namespaces/default/clusters';
      r = await admin('POST', clusters, cluster('huge', 110_000));
      assert.equal(r.status, 413, r.text.slice(0, 300));
      // a merge patch that grows an object past the limit is refused the same way
      assert.equal((await admin('POST', clusters, cluster('grow', 50_000))).status, 201);
      r = await admin('PATCH', `${clusters}/grow`, { spec: { service_cidr: cidrs(60_000) } }, { 'Content-Type': 'application/merge-patch+json' });
      assert.equal(r.status, 413, r.text.slice(0, 300));
      // a ConfigMap just under the data limit is fine
      assert.equal((await admin('POST', cm, { metadata: { name: 'fits' }, data: { a: 'x'.repeat(1_000_000) } })).status, 201);
    });
  });

  describe('5: RBAC escalation prevention', () => {
    before(async () => {
      // alice may create roles and bindings, nothing else
      assert.equal((await admin('POST', `${RBAC}/clusterroles`, {
        metadata: { name: 'rbac-writer' },
        rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings', 'clusterroles', 'clusterrolebindings'], verbs: ['create', 'update', 'patch'] }],
      })).status, 201);
      assert.equal((await admin('POST', `${RBAC}/clusterrolebindings`, {
        metadata: { name: 'alice-rbac-writer' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'rbac-writer' }, subjects: [{ kind: 'User', name: 'alice' }],
      })).status, 201);
    });

    it('refuses a binding to a role with rights the requester lacks', async () => {
      const r = await as(ALICE_TOKEN, 'POST', `${RBAC}/clusterrolebindings`, {
        metadata: { name: 'alice-admin' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', name: 'alice' }],
      });
      assert.equal(r.status, 403, r.text);
      assert.match(String(r.json().message), /attempting to grant RBAC permissions not currently held/);
      const rb = await as(ALICE_TOKEN, 'POST', `${RBAC}/namespaces/default/rolebindings`, {
        metadata: { name: 'alice-admin' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', name: 'alice' }],
      });
      assert.equal(rb.status, 403, rb.text);
    });

    it('refuses a role with rights the requester lacks, allows one within them', async () => {
      let r = await as(ALICE_TOKEN, 'POST', `${RBAC}/namespaces/default/roles`, { metadata: { name: 'secrets' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] });
      assert.equal(r.status, 403, r.text);
      r = await as(ALICE_TOKEN, 'POST', `${RBAC}/clusterroles`, { metadata: { name: 'star' }, rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] });
      assert.equal(r.status, 403, r.text);
      r = await as(ALICE_TOKEN, 'POST', `${RBAC}/namespaces/default/roles`, { metadata: { name: 'subset' }, rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['create'] }] });
      assert.equal(r.status, 201, r.text);
      // and an update cannot widen it either
      r = await as(ALICE_TOKEN, 'PATCH', `${RBAC}/namespaces/default/roles/subset`, [{ op: 'add', path: '/rules/-', value: { apiGroups: [''], resources: ['secrets'], verbs: ['list'] } }], { 'Content-Type': 'application/json-patch+json' });
      assert.equal(r.status, 403, r.text);
    });

    it('allows what the escalate and bind verbs grant', async () => {
      assert.equal((await admin('POST', `${RBAC}/clusterroles`, {
        metadata: { name: 'may-bind-view' }, rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['bind'], resourceNames: ['secret-reader'] }, { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['escalate'] }],
      })).status, 201);
      assert.equal((await admin('POST', `${RBAC}/clusterroles`, { metadata: { name: 'secret-reader' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] })).status, 201);
      assert.equal((await admin('POST', `${RBAC}/clusterrolebindings`, {
        metadata: { name: 'alice-may-bind' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'may-bind-view' }, subjects: [{ kind: 'User', name: 'alice' }],
      })).status, 201);
      let r = await as(ALICE_TOKEN, 'POST', `${RBAC}/namespaces/default/rolebindings`, {
        metadata: { name: 'bob-secrets' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'secret-reader' }, subjects: [{ kind: 'User', name: 'bob' }],
      });
      assert.equal(r.status, 201, r.text);
      r = await as(ALICE_TOKEN, 'POST', `${RBAC}/namespaces/default/roles`, { metadata: { name: 'escalated' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['*'] }] });
      assert.equal(r.status, 201, r.text);
      r = await as(ALICE_TOKEN, 'POST', `${RBAC}/clusterrolebindings`, {
        metadata: { name: 'still-no' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', name: 'alice' }],
      });
      assert.equal(r.status, 403, r.text);
    });
  });

  describe('6: ServiceAccount token Secrets', () => {
    const secrets = '/api/v1/namespaces/default/secrets';
    const tokenOf = async (name: string): Promise<string | undefined> => {
      const s = (await admin('GET', `${secrets}/${name}`)).json();
      const t = (s.data as J | undefined)?.token;
      return typeof t === 'string' ? Buffer.from(t, 'base64').toString('utf8') : undefined;
    };
    const whoami = async (token: string): Promise<number> => (await as(token, 'GET', '/api/v1/namespaces/default/configmaps')).status;

    it('ignores a client-chosen token and issues none for a missing ServiceAccount', async () => {
      const chosen = 'chosen-by-the-client-0123456789';
      let r = await admin('POST', secrets, { metadata: { name: 'ghost-token', annotations: { 'kubernetes.io/service-account.name': 'ghost' } }, type: 'kubernetes.io/service-account-token', data: { token: Buffer.from(chosen).toString('base64') } });
      assert.equal(r.status, 201);
      await waitFor(async () => (await tokenOf('ghost-token')) === undefined, { timeoutMs: 5000, what: 'the client token removed' });
      assert.equal(await whoami(chosen), 401);
      assert.equal((await admin('POST', '/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'robot' } })).status, 201);
      r = await admin('POST', secrets, { metadata: { name: 'robot-token', annotations: { 'kubernetes.io/service-account.name': 'robot' } }, type: 'kubernetes.io/service-account-token', data: { token: Buffer.from(chosen).toString('base64') } });
      assert.equal(r.status, 201);
      const issued = await waitFor(async () => {
        const t = await tokenOf('robot-token');
        return t && t !== chosen ? t : undefined;
      }, { timeoutMs: 5000, what: 'a server-made token' });
      assert.equal(await whoami(chosen), 401);
      assert.equal(await whoami(issued), 403, 'the issued token authenticates (as the ServiceAccount, which may not list)');
      // a client cannot put the token back either: it is replaced again
      await admin('PATCH', `${secrets}/robot-token`, { data: { token: Buffer.from(chosen).toString('base64') } }, { 'Content-Type': 'application/merge-patch+json' });
      await waitFor(async () => (await tokenOf('robot-token')) !== chosen, { timeoutMs: 5000, what: 'the token replaced again' });
      assert.equal(await whoami(chosen), 401);
    });

    it('binds the token to the ServiceAccount uid and the Secret', async () => {
      assert.equal((await admin('POST', '/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'temp' } })).status, 201);
      assert.equal((await admin('POST', secrets, { metadata: { name: 'temp-token', annotations: { 'kubernetes.io/service-account.name': 'temp' } }, type: 'kubernetes.io/service-account-token' })).status, 201);
      const token = await waitFor(() => tokenOf('temp-token'), { timeoutMs: 5000, what: 'a token' });
      assert.equal(await whoami(token), 403);
      assert.equal((await admin('DELETE', '/api/v1/namespaces/default/serviceaccounts/temp')).status, 200);
      await waitFor(async () => (await whoami(token)) === 401, { timeoutMs: 5000, what: 'the token dead with its ServiceAccount' });
      assert.equal((await admin('POST', '/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'temp' } })).status, 201);
      assert.equal(await whoami(token), 401, 'a new ServiceAccount of the same name has another uid');
      const renewed = await waitFor(async () => {
        const t = await tokenOf('temp-token');
        return t && t !== token ? t : undefined;
      }, { timeoutMs: 5000, what: 'a token for the new ServiceAccount' });
      assert.equal(await whoami(renewed), 403);
      assert.equal((await admin('DELETE', `${secrets}/temp-token`)).status, 200);
      assert.equal(await whoami(renewed), 401, 'the token dies with its Secret');
    });
  });

  describe('8: watch and connection limits', () => {
    it('limits watches per user and in total (429)', async () => {
      const s = await startTestServer({ plainHttp: true, maxWatchesPerUser: 2, maxWatches: 3 });
      const sockets: Socket[] = [];
      try {
        const open = async (token: string): Promise<string> => {
          const sock = await tcp(s.srv.url);
          sockets.push(sock);
          return new Promise((resolve) => {
            let head = '';
            sock.setEncoding('utf8');
            sock.on('data', (d: string) => {
              head += d;
              if (head.includes('\r\n')) resolve(head.split('\r\n')[0]!);
            });
            sock.write(`GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
          });
        };
        assert.match(await open(ALICE_TOKEN), / 403 /, 'alice may not watch yet');
        const grant = { token: ADMIN_TOKEN };
        await raw(s.srv, 'POST', `${RBAC}/clusterroles`, { ...grant, body: JSON.stringify({ metadata: { name: 'cm-watch' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['watch'] }] }) });
        await raw(s.srv, 'POST', `${RBAC}/clusterrolebindings`, { ...grant, body: JSON.stringify({ metadata: { name: 'alice-cm-watch' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cm-watch' }, subjects: [{ kind: 'User', name: 'alice' }] }) });
        assert.match(await open(ADMIN_TOKEN), / 200 /);
        assert.match(await open(ADMIN_TOKEN), / 200 /);
        assert.match(await open(ADMIN_TOKEN), / 429 /, 'per user');
        assert.match(await open(ALICE_TOKEN), / 200 /);
        assert.match(await open(ALICE_TOKEN), / 429 /, 'in total');
        // a closed watch frees its slot
        sockets[1]!.destroy();
        await waitFor(async () => / 200 /.test(await open(ADMIN_TOKEN)) || undefined, { timeoutMs: 5000, what: 'a slot freed' });
      } finally {
        for (const x of sockets) x.destroy();
        await s.close();
      }
    });

    it('closes a watch whose client does not read, and frees its slot', async () => {
      const s = await startTestServer({ plainHttp: true, maxWatchesPerUser: 1, watchBacklogBytes: 256 * 1024 });
      const slow = await tcp(s.srv.url);
      try {
        slow.pause();
        let closed = false;
        slow.on('close', () => (closed = true));
        slow.write(`GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\n\r\n`);
        const big = 'x'.repeat(200_000);
        let i = 0;
        await waitFor(async () => {
          const r = await raw(s.srv, 'POST', '/api/v1/namespaces/default/configmaps', { token: ADMIN_TOKEN, body: JSON.stringify({ metadata: { name: `w${i++}` }, data: { big } }) });
          assert.equal(r.status, 201);
          const w = await raw(s.srv, 'GET', '/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&labelSelector=none', { token: ADMIN_TOKEN });
          return w.status === 200;
        }, { timeoutMs: 30_000, what: 'the slow watch closed and its slot free' });
        assert.ok(i < 200, 'closed after a bounded backlog');
        slow.resume();
        await waitFor(() => closed, { timeoutMs: 10_000, what: 'the slow connection closed' });
      } finally {
        slow.destroy();
        await s.close();
      }
    });

    it('keeps serving legitimate requests when idle connections pile up', async () => {
      const s = await startTestServer({ plainHttp: true, maxConnections: 20 });
      const idle: Socket[] = [];
      try {
        for (let i = 0; i < 40; i++) {
          const sock = await tcp(s.srv.url);
          sock.on('error', () => undefined);
          idle.push(sock);
        }
        for (let i = 0; i < 5; i++) assert.equal((await raw(s.srv, 'GET', '/api/v1/namespaces', { token: ADMIN_TOKEN })).status, 200);
      } finally {
        for (const x of idle) x.destroy();
        await s.close();
      }
    });

    it('cuts off a slowly sent unauthenticated body, and closes after 401 and 413', async () => {
      const s = await startTestServer({ plainHttp: true, requestTimeoutMs: 1000, maxBodyBytes: 1000 });
      try {
        const sock = await tcp(s.srv.url);
        let closed = false;
        sock.on('close', () => (closed = true));
        sock.on('error', () => undefined);
        sock.write('POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{');
        const drip = setInterval(() => sock.writable && sock.write(' '), 200);
        try {
          await waitFor(() => closed, { timeoutMs: 10_000, what: 'the slow request cut off' });
        } finally {
          clearInterval(drip);
        }
        // an authenticated client sending its body slowly is cut off after requestTimeout
        const authed = await tcp(s.srv.url);
        let authedClosed = false;
        let answer = '';
        authed.on('close', () => (authedClosed = true));
        authed.on('error', () => undefined);
        authed.setEncoding('utf8').on('data', (d: string) => (answer += d));
        authed.write(`POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 900\r\n\r\n{`);
        const drip2 = setInterval(() => authed.writable && authed.write(' '), 200);
        try {
          await waitFor(() => authedClosed, { timeoutMs: 10_000, what: 'the slow authenticated request cut off' });
        } finally {
          clearInterval(drip2);
        }
        assert.doesNotMatch(answer, / 201 /);
        const unauth = await raw(s.srv, 'GET', '/api/v1/namespaces');
        assert.equal(unauth.status, 401);
        assert.equal(unauth.headers.connection, 'close');
        const big = await raw(s.srv, 'POST', '/api/v1/namespaces/default/configmaps', { token: ADMIN_TOKEN, body: JSON.stringify({ metadata: { name: 'x' }, data: { a: 'x'.repeat(2000) } }) });
        assert.equal(big.status, 413);
        assert.equal(big.headers.connection, 'close');
      } finally {
        await s.close();
      }
    });
  });

  describe('9: nesting depth', () => {
    const nested = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    it('refuses deep bodies with 400, and keeps working', async () => {
      for (const depth of [10_000, 2000, 150]) {
        const body = `{"metadata":{"name":"deep${depth}"},"data":{},"x":${nested(depth)}}`;
        const r = await admin('POST', '/api/v1/namespaces/default/configmaps', body);
        assert.equal(r.status, 400, `${depth}: ${r.text.slice(0, 200)}`);
        assert.match(String(r.json().message), /nested more than/);
      }
      const list = '['.repeat(5000) + ']'.repeat(5000);
      assert.equal((await admin('PATCH', '/api/v1/namespaces/default/configmaps/amp', list, { 'Content-Type': 'application/json-patch+json' })).status, 400);
      assert.equal((await admin('PATCH', '/api/v1/namespaces/default/configmaps/amp', `{"metadata":{"annotations":${nested(3000)}}}`, { 'Content-Type': 'application/merge-patch+json' })).status, 400);
      const yamlDeep = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: amp}\ndata: ${'{a: '.repeat(3000)}1${'}'.repeat(3000)}\n`;
      assert.equal((await admin('PATCH', '/api/v1/namespaces/default/configmaps/amp?fieldManager=x', yamlDeep, { 'Content-Type': 'application/apply-patch+yaml' })).status, 400);
      // a JSON patch that deepens an object step by step cannot store it past the limit either
      // (a Pod's spec keeps unknown fields: built-in kinds have loose schemas here)
      assert.equal((await admin('POST', '/api/v1/namespaces/default/pods', { metadata: { name: 'deepen' }, spec: { containers: [{ name: 'c', image: 'i' }] } })).status, 201);
      const ops = Array.from({ length: 120 }, () => ({ op: 'copy', from: '/spec', path: '/spec/x' }));
      const r = await admin('PATCH', '/api/v1/namespaces/default/pods/deepen', ops, { 'Content-Type': 'application/json-patch+json' });
      assert.equal(r.status, 400, `${r.status} ${r.text.slice(0, 200)}`);
      assert.equal((await admin('GET', '/api/v1/namespaces/default/pods/deepen', undefined, { Accept: 'application/yaml' })).status, 200);
    });
  });

  describe('10: smaller items', () => {
    it('answers 415 for text/plain bodies', async () => {
      const r = await admin('POST', '/api/v1/namespaces/default/configmaps', '{"metadata":{"name":"plain"}}', { 'Content-Type': 'text/plain' });
      assert.equal(r.status, 415);
      assert.equal(r.json().reason, 'UnsupportedMediaType');
    });

    it('refuses a garbage resourceVersion and a forged continue token (400)', async () => {
      assert.equal((await admin('GET', '/api/v1/namespaces?resourceVersion=banana')).status, 400);
      const forged = Buffer.from(JSON.stringify({ v: 'hawser.v1', rv: -42, start: '' })).toString('base64url');
      const r = await admin('GET', `/api/v1/namespaces?limit=1&continue=${forged}`);
      assert.equal(r.status, 400, r.text);
      const future = Buffer.from(JSON.stringify({ v: 'hawser.v1', rv: 1e12, start: '' })).toString('base64url');
      assert.equal((await admin('GET', `/api/v1/namespaces?limit=1&continue=${future}`)).status, 400);
    });

    it('answers oversized headers and unknown methods with a Status', async () => {
      let text = await rawExchange(ts.srv.url, `GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`);
      assert.match(text, /^HTTP\/1\.1 431 /);
      assert.equal((JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as J).kind, 'Status');
      text = await rawExchange(ts.srv.url, 'FROB /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(text, /^HTTP\/1\.1 4\d\d /);
      assert.equal((JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as J).kind, 'Status');
    });

    it('offers TLS 1.2 with ECDHE and AEAD suites only', async () => {
      const s = await startTestServer();
      try {
        const u = new URL(s.srv.url);
        const attempt = (ciphers: string): Promise<string | undefined> => new Promise((resolve) => {
          const c = tlsConnect({ host: u.hostname, port: Number(u.port), ca: s.srv.caPem, maxVersion: 'TLSv1.2', ciphers }, () => {
            const name = c.getCipher().name;
            c.destroy();
            resolve(name);
          });
          c.on('error', () => resolve(undefined));
        });
        assert.equal(await attempt('ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA:AES128-SHA:AES256-SHA:ECDHE-RSA-AES256-SHA'), undefined, 'CBC-SHA1');
        assert.equal(await attempt('AES128-GCM-SHA256:AES256-GCM-SHA384'), undefined, 'no forward secrecy');
        assert.equal(await attempt('ECDHE-ECDSA-AES128-CCM8:AES128-CCM8'), undefined, 'CCM8');
        assert.ok(await attempt('ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256'), 'ECDHE AES-GCM works');
      } finally {
        await s.close();
      }
    });

    it('starts over a stale lock file naming a PID now used by another process', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hw-lock-'));
      const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
      try {
        mkdirSync(join(dir, 'data'), { mode: 0o700 });
        for (const content of [`${sleeper.pid} 1`, String(sleeper.pid)]) {
          writeFileSync(join(dir, 'data', 'lock'), content);
          const srv = await startApiServer({ plainHttp: true, dataDir: join(dir, 'data'), tokens: [{ token: ADMIN_TOKEN, user: 'admin', groups: ['system:masters'] }], log: quietLog });
          await srv.close();
        }
      } finally {
        sleeper.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('7: file permissions', () => {
    it('makes the data dir 0700 and its files 0600, tightening an old one', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hw-perm-'));
      try {
        const data = join(dir, 'data');
        mkdirSync(data, { mode: 0o755 });
        chmodSync(data, 0o755);
        writeFileSync(join(data, 'snapshot.json'), '{"rv":0,"objects":[]}', { mode: 0o644 });
        const tokens = [{ token: ADMIN_TOKEN, user: 'admin', groups: ['system:masters'] }];
        const srv = await startApiServer({ plainHttp: true, dataDir: data, tokens, log: quietLog });
        try {
          assert.equal((await raw(srv, 'POST', '/api/v1/namespaces/default/secrets', { token: ADMIN_TOKEN, body: JSON.stringify({ metadata: { name: 's' }, stringData: { k: 'v' } }) })).status, 201);
          assert.equal(statSync(data).mode & 0o777, 0o700);
          for (const f of readdirSync(data)) assert.equal(statSync(join(data, f)).mode & 0o077, 0, `${f} is ${(statSync(join(data, f)).mode & 0o777).toString(8)}`);
        } finally {
          await srv.close();
        }
        const fresh = join(dir, 'fresh');
        const srv2 = await startApiServer({ plainHttp: true, dataDir: fresh, tokens, log: quietLog });
        await srv2.close();
        assert.equal(statSync(fresh).mode & 0o777, 0o700);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('refuses a token file every local user can read', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hw-perm-'));
      try {
        const file = join(dir, 'tokens.yaml');
        writeFileSync(file, `tokens:\n  - {token: ${ADMIN_TOKEN}, user: admin, groups: [system:masters]}\n`);
        chmodSync(file, 0o644);
        await assert.rejects(startApiServer({ plainHttp: true, tokenFile: file, log: quietLog }), /readable by every local user/);
        chmodSync(file, 0o600);
        const srv = await startApiServer({ plainHttp: true, tokenFile: file, log: quietLog });
        await srv.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
