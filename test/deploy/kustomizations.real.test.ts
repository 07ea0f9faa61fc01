// Every kustomization under deploy/ applies to the embedded API server with `kubectl apply -k`, and
// deleting hawser with `kubectl delete -k deploy/` keeps the CRDs and the MCS objects of others.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { startApiServer, writeKubeconfig, type RunningApiServer } from '../../src/apiserver/index.js';
import { createLogger } from '../../src/log/index.js';
import { exec } from '../../src/util/exec.js';
import { DEPLOY } from './manifests.js';

const TOKEN = 'hw-kustomizations-admin-0123456789';

describe('deploy: every kustomization applies; delete -k deploy/ keeps the CRDs @real', function () {
  this.timeout(90_000);
  let srv: RunningApiServer | undefined;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const kubectl = (args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> =>
    exec('kubectl', args, { env, allowFailure: true, timeoutMs: 60_000, input });
  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await kubectl(args, input);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const overlay = (name: string, components: string[]): string => {
    const o = join(dir, name);
    mkdirSync(o, { recursive: true });
    const rel = (p: string): string => relative(o, join(DEPLOY, p));
    writeFileSync(join(o, 'kustomization.yaml'), `resources: [${rel('base')}]\ncomponents: [${components.map(rel).join(', ')}]\n`);
    return o;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-deploy-kust-'));
    // no --crds: the CRDs come from `kubectl apply -k deploy/crds`, as on a real cluster
    srv = await startApiServer({ host: '127.0.0.1', port: 0, tlsDir: join(dir, 'tls'), tokens: [{ token: TOKEN, user: 'admin', groups: ['system:masters'] }], log: createLogger({ level: 'silent' }) });
    writeKubeconfig(join(dir, 'kubeconfig'), { server: srv.url, token: TOKEN, caPem: srv.caPem });
    env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(dir, 'home'), KUBECONFIG: join(dir, 'kubeconfig') };
  });

  after(async () => {
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('deploy/crds (server-side), deploy/, deploy/broker, the Globalnet example, every component and deploy/uninstall apply', async () => {
    await ok(['apply', '--server-side', '-k', join(DEPLOY, 'crds')]);
    await ok(['wait', '--for=condition=Established', '--timeout=30s', 'crd/serviceexports.multicluster.x-k8s.io', 'crd/endpoints.submariner.io']);
    await ok(['apply', '-k', DEPLOY]);
    await ok(['apply', '-k', join(DEPLOY, 'broker')]);
    await ok(['apply', '-k', join(DEPLOY, 'examples', 'globalnet')]);
    for (const c of ['globalnet', 'openshift', 'restricted-capabilities', 'privileged']) await ok(['apply', '-k', overlay(`ov-${c}`, [`components/${c}`])]);
    await ok(['apply', '-k', overlay('ov-all', ['components/globalnet', 'components/openshift'])]);
    await ok(['apply', '-k', join(DEPLOY, 'uninstall')]);
    const ns = JSON.parse(await ok(['get', 'namespace', 'submariner-operator', '-o', 'json'])) as { metadata: { labels: Record<string, string> } };
    assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged');
    await ok(['delete', '-k', join(DEPLOY, 'uninstall')]);
  });

  it("kubectl delete -k deploy/ keeps the CRDs and everyone's ServiceExports", async () => {
    await ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } }));
    await ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name: 'web', namespace: 'shop' } }));
    await ok(['apply', '-k', DEPLOY]);
    await ok(['delete', '-k', DEPLOY, '--wait=false', '--ignore-not-found']);
    const crds = await ok(['get', 'crd', '-o', 'name']);
    for (const name of ['serviceexports.multicluster.x-k8s.io', 'serviceimports.multicluster.x-k8s.io', 'endpoints.submariner.io', 'gateways.submariner.io']) {
      assert.match(crds, new RegExp(name.replace(/\./g, '\\.')));
    }
    assert.match(await ok(['get', 'serviceexports', '-n', 'shop', '-o', 'name']), /serviceexport.multicluster.x-k8s.io\/web/);
  });

  it("applies over Submariner's ClusterIP metrics Service (clusterIP is immutable)", async () => {
    await ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'submariner-operator' } }));
    await ok(['delete', 'namespace', 'submariner-operator', '--ignore-not-found', '--wait=true', '--timeout=30s']);
    await ok(['create', 'namespace', 'submariner-operator']);
    await ok(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'submariner-gateway-metrics', namespace: 'submariner-operator', labels: { app: 'submariner-metrics-proxy' } },
      spec: { type: 'ClusterIP', selector: { app: 'submariner-metrics-proxy' }, ports: [{ name: 'http', port: 8080, protocol: 'TCP', targetPort: 8080 }] },
    }));
    await ok(['apply', '-k', DEPLOY]);
  });
});
