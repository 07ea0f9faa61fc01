import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brokerClient, contextClients, kubeconfigContexts } from '../../src/show/contexts.js';

const KUBECONFIG = `apiVersion: v1
kind: Config
current-context: b
clusters: [{name: ca, cluster: {server: "https://127.0.0.1:1"}}, {name: cb, cluster: {server: "https://127.0.0.1:2"}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: a, context: {cluster: ca, user: u}}, {name: b, context: {cluster: cb, user: u}}]
`;

describe('show: which clusters (contexts) and which broker', () => {
  let dir: string;
  let file: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hw-ctx-'));
    file = join(dir, 'kubeconfig');
    writeFileSync(file, KUBECONFIG, { mode: 0o600 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('lists the contexts of a kubeconfig in file order', () => {
    assert.deepEqual(kubeconfigContexts(KUBECONFIG), { names: ['a', 'b'], current: 'b' });
  });

  it('every context by default, the named ones with --contexts, an unknown one is an error naming the known ones', async () => {
    const all = await contextClients(file, [], {});
    assert.deepEqual(all.map((c) => [c.context, c.client.server]), [['a', 'https://127.0.0.1:1'], ['b', 'https://127.0.0.1:2']]);
    const one = await contextClients(file, ['b'], {});
    assert.deepEqual(one.map((c) => c.context), ['b']);
    await assert.rejects(contextClients(file, ['c'], {}), /has no context c \(it has: a, b\)/);
    for (const c of [...all, ...one]) c.client.close();
  });

  it('the broker from BROKER_K8S_* (host:port or URL), or none', async () => {
    assert.equal(await brokerClient(undefined, {}), undefined);
    const b = await brokerClient(undefined, { BROKER_K8S_APISERVER: '172.16.0.2:6443', BROKER_K8S_APISERVERTOKEN: 't', BROKER_K8S_REMOTENAMESPACE: 'brk' });
    assert.equal(b!.server, 'https://172.16.0.2:6443');
    assert.equal(b!.namespace, 'brk');
    b!.client.close();
  });
});
