// Issue 21, beyond Submariner: deploy/broker's ValidatingAdmissionPolicy, enforced by the embedded
// API server. Cluster A's broker identity (the token of ServiceAccount cluster-cluster-a, made by the
// token controller) cannot create, patch or delete cluster B's Endpoint or Cluster, with kubectl and
// with client-node, while its own objects work as before.
import * as k8s from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeKubeconfig } from '../../src/apiserver/index.js';
import { waitFor } from '../../src/util/wait.js';
import { kubectl, kubectlOk, raw, startTestServer, ADMIN_TOKEN, type TestServer } from '../support/apiserver.js';

const NS = 'submariner-k8s-broker';
const BROKER = new URL('../../deploy/broker', import.meta.url).pathname;
const DENIED = /ValidatingAdmissionPolicy 'hawser-broker-cluster-isolation' with binding 'hawser-broker-cluster-isolation' denied request: cluster cluster-a may only (write|update) its own/;
type Obj = Record<string, unknown>;

function endpoint(cluster: string, ip: string, over: { name?: string; label?: string; clusterId?: string } = {}): Obj {
  const cable = `submariner-cable-${cluster}-${ip.replace(/\./g, '-')}`;
  return {
    apiVersion: 'submariner.io/v1',
    kind: 'Endpoint',
    metadata: { name: over.name ?? `${cluster}-${cable}`, namespace: NS, labels: { 'submariner-io/clusterID': over.label ?? cluster } },
    spec: {
      cluster_id: over.clusterId ?? cluster, cable_name: cable, hostname: 'gw1', subnets: ['10.1.0.0/16'], private_ip: ip, public_ip: '203.0.113.1',
      nat_enabled: false, backend: 'libreswan', backend_config: { 'udp-port': '4500', 'natt-discovery-port': '4490', 'preferred-server': 'false' }, healthCheckIP: '10.1.0.1',
    },
  };
}

function cluster(id: string, over: { name?: string; label?: string } = {}): Obj {
  return {
    apiVersion: 'submariner.io/v1',
    kind: 'Cluster',
    metadata: { name: over.name ?? id, namespace: NS, labels: { 'submariner-io/clusterID': over.label ?? id } },
    spec: { cluster_id: id, cluster_cidr: ['10.1.0.0/16'], service_cidr: ['10.2.0.0/16'], global_cidr: [], color_codes: ['blue'] },
  };
}

describe('apiserver: broker cluster isolation policy (deploy/broker)', function () {
  this.timeout(90_000);
  let ts: TestServer;
  const kubeconfigs: Record<string, string> = {};
  const tokens: Record<string, string> = {};
  const asCluster = (id: string, args: string[], input?: string): ReturnType<typeof kubectl> => kubectl(ts, args, { input, env: { KUBECONFIG: kubeconfigs[id]! } });

  before(async () => {
    ts = await startTestServer();
    await kubectlOk(ts, ['apply', '-f', join(BROKER, 'namespace.yaml'), '-f', join(BROKER, 'rbac.yaml'), '-f', join(BROKER, 'policy.yaml')]);
    // cluster-b joins the same way deploy/broker/rbac.yaml shows for cluster-a
    await kubectlOk(ts, ['-n', NS, 'create', 'serviceaccount', 'cluster-cluster-b']);
    await kubectlOk(ts, ['-n', NS, 'create', 'rolebinding', 'cluster-cluster-b', '--role', 'hawser-broker-cluster', `--serviceaccount=${NS}:cluster-cluster-b`]);
    await kubectlOk(ts, ['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/service-account-token', metadata: { name: 'cluster-cluster-b-token', namespace: NS, annotations: { 'kubernetes.io/service-account.name': 'cluster-cluster-b' } } }),
    });
    for (const id of ['cluster-a', 'cluster-b']) {
      tokens[id] = await waitFor(async () => {
        const out = await kubectl(ts, ['-n', NS, 'get', 'secret', `cluster-${id}-token`, '-o', 'jsonpath={.data.token}']);
        return out.code === 0 && out.stdout ? Buffer.from(out.stdout, 'base64').toString('utf8') : undefined;
      }, { timeoutMs: 10_000, what: `${id}'s token` });
      kubeconfigs[id] = join(ts.dir, `${id}.kubeconfig`);
      writeKubeconfig(kubeconfigs[id], { server: ts.srv.url, token: tokens[id], caPem: ts.srv.caPem, namespace: NS });
    }
    for (const id of ['cluster-a', 'cluster-b']) {
      const r = await asCluster(id, ['apply', '-f', '-'], [JSON.stringify(cluster(id)), JSON.stringify(endpoint(id, id === 'cluster-a' ? '10.0.0.1' : '10.0.0.2'))].join('\n'));
      assert.equal(r.code, 0, `${id} writes its own objects: ${r.stderr}`);
    }
  });
  after(async () => ts?.close());

  it('has the policy and its binding served like any object', async () => {
    const out = await kubectlOk(ts, ['get', 'validatingadmissionpolicies,validatingadmissionpolicybindings', '-o', 'name']);
    assert.match(out, /validatingadmissionpolicy\.admissionregistration\.k8s\.io\/hawser-broker-cluster-isolation/);
    assert.match(out, /validatingadmissionpolicybinding\.admissionregistration\.k8s\.io\/hawser-broker-cluster-isolation/);
  });

  it('kubectl: cluster A cannot create, patch or delete cluster B\'s Endpoint or Cluster (403 with the policy message)', async () => {
    const bEndpoint = endpoint('cluster-b', '10.0.0.2').metadata as Obj;
    const attempts: [string, string[], string | undefined][] = [
      ['create B Endpoint', ['create', '-f', '-'], JSON.stringify(endpoint('cluster-b', '10.0.0.9'))],
      ['create B Cluster under another name', ['create', '-f', '-'], JSON.stringify(cluster('cluster-b', { name: 'cluster-b2' }))],
      ['create Endpoint with A\'s name prefix but B\'s cluster_id', ['create', '-f', '-'], JSON.stringify(endpoint('cluster-a', '10.0.0.8', { clusterId: 'cluster-b' }))],
      ['create own Endpoint labelled as B\'s', ['create', '-f', '-'], JSON.stringify(endpoint('cluster-a', '10.0.0.7', { label: 'cluster-b' }))],
      ['patch B Endpoint subnets', ['-n', NS, 'patch', 'endpoints.submariner.io', String(bEndpoint.name), '--type', 'merge', '-p', '{"spec":{"subnets":["0.0.0.0/1"],"public_ip":"198.51.100.66"}}'], undefined],
      ['take over B Endpoint', ['-n', NS, 'patch', 'endpoints.submariner.io', String(bEndpoint.name), '--type', 'merge', '-p', '{"metadata":{"labels":{"submariner-io/clusterID":"cluster-a"}},"spec":{"cluster_id":"cluster-a"}}'], undefined],
      ['patch B Cluster', ['-n', NS, 'patch', 'clusters.submariner.io', 'cluster-b', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/cluster_cidr","value":["0.0.0.0/0"]}]'], undefined],
      ['delete B Endpoint', ['-n', NS, 'delete', 'endpoints.submariner.io', String(bEndpoint.name)], undefined],
      ['delete B Cluster', ['-n', NS, 'delete', 'clusters.submariner.io', 'cluster-b'], undefined],
    ];
    for (const [what, args, input] of attempts) {
      const r = await asCluster('cluster-a', args, input);
      assert.notEqual(r.code, 0, `${what} was allowed`);
      assert.match(r.stderr, /Forbidden|forbidden/, `${what}: ${r.stderr}`);
      assert.match(r.stderr, DENIED, `${what}: ${r.stderr}`);
    }
    // B's objects are untouched
    const b = JSON.parse(await kubectlOk(ts, ['-n', NS, 'get', 'endpoints.submariner.io', String(bEndpoint.name), '-o', 'json'])) as { spec: Obj };
    assert.deepEqual(b.spec.subnets, ['10.1.0.0/16']);
    assert.equal(b.spec.cluster_id, 'cluster-b');
  });

  it('client-node: the same requests get 403 with the policy message; A\'s own writes still work', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfigs['cluster-a']!);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const base = { group: 'submariner.io', version: 'v1', namespace: NS };
    const denied = async (what: string, p: Promise<unknown>): Promise<void> => {
      await assert.rejects(p, (err: unknown) => {
        assert.ok(err instanceof k8s.ApiException, `${what}: ${String(err)}`);
        assert.equal(err.code, 403, what);
        const body = JSON.parse(String(err.body)) as Obj;
        assert.equal(body.reason, 'Forbidden');
        assert.match(String(body.message), DENIED);
        return true;
      }, what);
    };
    await denied('create', custom.createNamespacedCustomObject({ ...base, plural: 'clusters', body: cluster('cluster-b', { name: 'cluster-b3' }) }));
    await denied('patch', custom.patchNamespacedCustomObject({ ...base, plural: 'clusters', name: 'cluster-b', body: { spec: { service_cidr: ['0.0.0.0/0'] } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)));
    await denied('replace', (async () => {
      const cur = await custom.getNamespacedCustomObject({ ...base, plural: 'clusters', name: 'cluster-b' }) as Obj;
      await custom.replaceNamespacedCustomObject({ ...base, plural: 'clusters', name: 'cluster-b', body: { ...cur, spec: { ...(cur.spec as Obj), cluster_cidr: ['0.0.0.0/1'] } } });
    })());
    await denied('delete', custom.deleteNamespacedCustomObject({ ...base, plural: 'clusters', name: 'cluster-b' }));
    await denied('delete endpoint', custom.deleteNamespacedCustomObject({ ...base, plural: 'endpoints', name: String((endpoint('cluster-b', '10.0.0.2').metadata as Obj).name) }));
    // its own objects: update and delete work
    const own = String((endpoint('cluster-a', '10.0.0.1').metadata as Obj).name);
    await custom.patchNamespacedCustomObject({ ...base, plural: 'endpoints', name: own, body: { spec: { public_ip: '203.0.113.9' } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await custom.deleteNamespacedCustomObject({ ...base, plural: 'endpoints', name: own });
    await custom.createNamespacedCustomObject({ ...base, plural: 'endpoints', body: endpoint('cluster-a', '10.0.0.1') });
  });

  it('does not restrict administrators, and a dry run is judged like a write', async () => {
    const r = await raw(ts.srv, 'PATCH', `/apis/submariner.io/v1/namespaces/${NS}/clusters/cluster-b`, { token: ADMIN_TOKEN, body: '{"metadata":{"annotations":{"checked":"yes"}}}', headers: { 'Content-Type': 'application/merge-patch+json' } });
    assert.equal(r.status, 200, r.text);
    const dry = await raw(ts.srv, 'DELETE', `/apis/submariner.io/v1/namespaces/${NS}/clusters/cluster-b?dryRun=All`, { token: tokens['cluster-a'] });
    assert.equal(dry.status, 403, dry.text);
  });

  it('matches as kube-apiserver does: namespace and object selectors, exclusions, Warn and Deny actions', async () => {
    const admin = (method: string, path: string, body?: unknown): ReturnType<typeof raw> =>
      raw(ts.srv, method, path, { token: ADMIN_TOKEN, body: body === undefined ? undefined : JSON.stringify(body) });
    const AR = '/apis/admissionregistration.k8s.io/v1';
    for (const [name, labels] of [['guarded', { team: 'x' }], ['open', {}]] as const) {
      assert.equal((await admin('POST', '/api/v1/namespaces', { metadata: { name, labels } })).status, 201);
    }
    assert.equal((await admin('POST', `${AR}/validatingadmissionpolicies`, {
      metadata: { name: 'cm-size' },
      spec: {
        matchConstraints: {
          resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['configmaps'] }],
          excludeResourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['*'], resources: ['configmaps'], resourceNames: ['exempt'] }],
          namespaceSelector: { matchLabels: { team: 'x' } },
          objectSelector: { matchExpressions: [{ key: 'skip', operator: 'DoesNotExist' }] },
        },
        variables: [{ name: 'n', expression: 'has(object.data) ? size(object.data) : 0' }],
        validations: [{ expression: 'variables.n <= 1', messageExpression: "'too many keys: ' + string(variables.n)" }],
      },
    })).status, 201);
    assert.equal((await admin('POST', `${AR}/validatingadmissionpolicybindings`, { metadata: { name: 'cm-size' }, spec: { policyName: 'cm-size', validationActions: ['Deny'] } })).status, 201);
    const two = { a: '1', b: '2' };
    let r = await admin('POST', '/api/v1/namespaces/guarded/configmaps', { metadata: { name: 'c1' }, data: two });
    assert.equal(r.status, 422, r.text);
    assert.equal(r.json().message, "ValidatingAdmissionPolicy 'cm-size' with binding 'cm-size' denied request: too many keys: 2");
    assert.equal((await admin('POST', '/api/v1/namespaces/guarded/configmaps', { metadata: { name: 'c1' }, data: { a: '1' } })).status, 201);
    assert.equal((await admin('POST', '/api/v1/namespaces/open/configmaps', { metadata: { name: 'c1' }, data: two })).status, 201, 'namespace selector');
    assert.equal((await admin('POST', '/api/v1/namespaces/guarded/configmaps', { metadata: { name: 'exempt' }, data: two })).status, 201, 'excluded by name');
    assert.equal((await admin('POST', '/api/v1/namespaces/guarded/configmaps', { metadata: { name: 'c2', labels: { skip: 'y' } }, data: two })).status, 201, 'object selector');
    // Warn: the write goes through with a Warning header
    r = await admin('PUT', `${AR}/validatingadmissionpolicybindings/cm-size`, { metadata: { name: 'cm-size' }, spec: { policyName: 'cm-size', validationActions: ['Warn'] } });
    assert.equal(r.status, 200, r.text);
    r = await admin('POST', '/api/v1/namespaces/guarded/configmaps', { metadata: { name: 'c3' }, data: two });
    assert.equal(r.status, 201, r.text);
    assert.match(String(r.headers.warning), /Validation failed for ValidatingAdmissionPolicy 'cm-size' with binding 'cm-size': too many keys: 2/);
    assert.equal((await admin('DELETE', `${AR}/validatingadmissionpolicybindings/cm-size`)).status, 200);
  });

  it('refuses a policy whose CEL does not compile (422)', async () => {
    const file = join(ts.dir, 'bad-policy.yaml');
    writeFileSync(file, JSON.stringify({
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name: 'bad' },
      spec: { matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] }] }, validations: [{ expression: 'object.(' }] },
    }));
    const r = await kubectl(ts, ['apply', '-f', file]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /compilation failed/);
  });
});
