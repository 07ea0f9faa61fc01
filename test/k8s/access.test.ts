import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { brokerAccess, inClusterAccess, kubeconfigFileAccess, localAccess } from '../../src/k8s/access.js';
import { parseKubeconfigYaml, UnsupportedYaml } from '../../src/k8s/kubeconfig-yaml.js';

const KUBECTL_STYLE = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: TFMwdExTMUNSVWRKVGlCRFJWSlU=
    server: https://10.0.0.1:6443   # the API
    insecure-skip-tls-verify: false
  name: prod
contexts:
- context:
    cluster: prod
    namespace: "submariner-operator"
    user: 'ops''s user'
  name: prod
current-context: prod
kind: Config
preferences: {}
users:
- name: "ops's user"
  user:
    token: abc.def-ghi_jkl
    extensions: []
`;

describe('k8s access: kubeconfig, in-cluster and broker without client-node', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hw-access-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads kubeconfig YAML as the yaml package does (kubectl style, lab style, JSON)', () => {
    assert.deepEqual(parseKubeconfigYaml(KUBECTL_STYLE), parse(KUBECTL_STYLE));
    const docs: unknown[] = [
      { apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'a', cluster: { server: 'https://[fd00::1]:6443', 'insecure-skip-tls-verify': true } }], users: [{ name: 'u', user: { token: 'x: y # not a comment' } }], contexts: [{ name: 'c', context: { cluster: 'a', user: 'u' } }], 'current-context': 'c' },
      { users: [{ name: 'n', user: { username: 'admin', password: "p'a\"ss", as: '' } }], empty: null, n: 3, nested: [[1, 2], { a: [] }] },
    ];
    for (const d of docs) {
      assert.deepEqual(parseKubeconfigYaml(stringify(d)), d);
      assert.deepEqual(parseKubeconfigYaml(JSON.stringify(d)), d);
    }
  });

  it('refuses YAML it does not implement, so that the full parser takes over', () => {
    for (const text of ['a: &x 1\nb: *x\n', 'a: |\n  line\n', 'a: !!str 1\n', 'a: b\n  c\n', 'a: {b: 1}\n', 'a: 1\n---\nb: 2\n']) {
      assert.throws(() => parseKubeconfigYaml(text), UnsupportedYaml, text);
    }
  });

  it('builds access from a kubeconfig file: server, CA, token, namespace; relative files next to it', async () => {
    const file = join(dir, 'kc.yaml');
    writeFileSync(file, KUBECTL_STYLE);
    const a = await kubeconfigFileAccess(file);
    assert.equal(a.server, 'https://10.0.0.1:6443');
    assert.equal(a.namespace, 'submariner-operator');
    assert.deepEqual(await a.headers(), { Authorization: 'Bearer abc.def-ghi_jkl' });
    const tls = await a.tls();
    assert.equal(tls.rejectUnauthorized, true);
    assert.equal(tls.ca?.toString(), 'LS0tLS1CRUdJTiBDRVJU');

    writeFileSync(join(dir, 'ca.pem'), 'CA');
    writeFileSync(join(dir, 'token'), 'rotated-1\n');
    const rel = join(dir, 'rel.yaml');
    writeFileSync(rel, stringify({
      clusters: [{ name: 'k', cluster: { server: 'https://k:443/', 'certificate-authority': 'ca.pem', 'tls-server-name': 'kubernetes' } }],
      users: [{ name: 'u', user: { tokenFile: 'token' } }],
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
      'current-context': 'c',
    }));
    const b = await kubeconfigFileAccess(rel);
    assert.equal(b.server, 'https://k:443');
    assert.deepEqual(await b.tls(), { rejectUnauthorized: true, ca: Buffer.from('CA'), servername: 'kubernetes' });
    assert.deepEqual(await b.headers(), { Authorization: 'Bearer rotated-1' });
    writeFileSync(join(dir, 'token'), 'rotated-2\n');
    assert.deepEqual(await b.headers(), { Authorization: 'Bearer rotated-2' }, 'the token file is read per request');
  });

  it('names what is wrong with a kubeconfig', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, stringify({ contexts: [{ name: 'c', context: { cluster: 'nope', user: 'u' } }], 'current-context': 'c' }));
    await assert.rejects(kubeconfigFileAccess(file), /cluster "nope" of context "c" not found/);
    await assert.rejects(localAccess(join(dir, 'missing.yaml')), /does not exist/);
  });

  it('serves exec-plugin kubeconfigs through client-node', async () => {
    const file = join(dir, 'exec.yaml');
    writeFileSync(file, stringify({
      clusters: [{ name: 'k', cluster: { server: 'https://exec.example:6443' } }],
      users: [{ name: 'u', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'false', args: ['x'] } } }],
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'u', namespace: 'ns' } }],
      'current-context': 'c',
    }));
    const a = await localAccess(file);
    assert.equal(a.server, 'https://exec.example:6443');
    assert.equal(a.namespace, 'ns');
  });

  it('in-cluster: KUBERNETES_SERVICE_HOST/PORT, the ServiceAccount CA, namespace and rotating token', async () => {
    const sa = join(dir, 'sa');
    rmSync(sa, { recursive: true, force: true });
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), 't1');
    writeFileSync(join(sa, 'ca.crt'), 'CA');
    writeFileSync(join(sa, 'namespace'), 'submariner-operator\n');
    const a = inClusterAccess(sa, { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' });
    assert.equal(a.server, 'https://[fd00::1]:443');
    assert.equal(a.namespace, 'submariner-operator');
    assert.deepEqual(await a.tls(), { rejectUnauthorized: true, ca: Buffer.from('CA') });
    writeFileSync(join(sa, 'token'), 't2');
    assert.deepEqual(await a.headers(), { Authorization: 'Bearer t2' });
    assert.throws(() => inClusterAccess(sa, {}), /KUBERNETES_SERVICE_HOST/);
  });

  it('broker: BROKER_K8S_* values, insecure and plain http', async () => {
    const a = brokerAccess({ apiServer: '172.16.0.2:6443', token: 'tok', remoteNamespace: 'submariner-k8s-broker', ca: 'PEM', insecure: false, tokenSource: 'BROKER_K8S_APISERVERTOKEN' });
    assert.equal(a.server, 'https://172.16.0.2:6443');
    assert.deepEqual(await a.tls(), { rejectUnauthorized: true, ca: Buffer.from('PEM') });
    assert.deepEqual(await a.headers(), { Authorization: 'Bearer tok' });
    assert.equal((await brokerAccess({ apiServer: 'http://b:80', token: 't', remoteNamespace: 'x', insecure: false, tokenSource: 'BROKER_K8S_APISERVERTOKEN' }).tls()).rejectUnauthorized, false);
    assert.equal((await brokerAccess({ apiServer: 'b:6443', token: 't', remoteNamespace: 'x', insecure: true, tokenSource: 'BROKER_K8S_APISERVERTOKEN' }).tls()).rejectUnauthorized, false);
  });
});
