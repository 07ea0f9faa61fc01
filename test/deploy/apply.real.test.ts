import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { startApiServer, writeKubeconfig, type RunningApiServer } from '../../src/apiserver/index.js';
import { createLogger } from '../../src/log/index.js';
import { exec } from '../../src/util/exec.js';
import { ACCESS_MATRIX, GATEWAY, describeCheck, type AccessCheck } from './access.js';
import { DEPLOY, crdsReady } from './manifests.js';

const ADMIN_TOKEN = 'hw-deploy-admin-0123456789';
const tokenOf = (user: string): string => `hw-deploy-${user.split(':').pop()}-0123456789`;

const VERSIONS: Record<string, string> = {
  '': 'v1', 'submariner.io': 'v1', 'coordination.k8s.io': 'v1', 'multicluster.x-k8s.io': 'v1alpha1',
  'events.k8s.io': 'v1', 'discovery.k8s.io': 'v1',
};
const KINDS: Record<string, string> = {
  endpoints: 'Endpoint', clusters: 'Cluster', gateways: 'Gateway', routeagents: 'RouteAgent', leases: 'Lease',
  pods: 'Pod', nodes: 'Node', secrets: 'Secret', events: 'Event', services: 'Service',
  globalingressips: 'GlobalIngressIP', clusterglobalegressips: 'ClusterGlobalEgressIP', serviceexports: 'ServiceExport',
};

/** The request a client makes for this check; only 403 means RBAC said no. */
function requestFor(c: AccessCheck, i: number): { method: string; path: string; body?: string; contentType?: string } {
  const [resource, sub] = c.resource.split('/') as [string, string | undefined];
  const version = VERSIONS[c.group] ?? assert.fail(`no version known for group ${c.group}`);
  const prefix = c.group === '' ? `/api/${version}` : `/apis/${c.group}/${version}`;
  const collection = `${prefix}${c.namespace ? `/namespaces/${c.namespace}` : ''}/${resource}`;
  const name = c.name ?? `hw-check-${i}`;
  const item = `${collection}/${name}${sub ? `/${sub}` : ''}`;
  const body = JSON.stringify({
    apiVersion: c.group === '' ? version : `${c.group}/${version}`,
    kind: KINDS[resource] ?? assert.fail(`no kind known for ${resource}`),
    metadata: { name, ...(c.namespace ? { namespace: c.namespace } : {}) },
  });
  switch (c.verb) {
    case 'get': return { method: 'GET', path: item };
    case 'list': return { method: 'GET', path: collection };
    case 'watch': return { method: 'GET', path: `${collection}?watch=1&timeoutSeconds=1` };
    case 'create': return { method: 'POST', path: collection, body };
    case 'update': return { method: 'PUT', path: item, body };
    case 'patch': return { method: 'PATCH', path: item, body: '{}', contentType: 'application/merge-patch+json' };
    case 'delete': return { method: 'DELETE', path: item };
  }
}

function send(srv: RunningApiServer, token: string, r: { method: string; path: string; body?: string; contentType?: string }): Promise<{ status: number; text: string }> {
  const url = new URL(r.path, srv.url);
  const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
  if (r.body !== undefined) {
    headers['Content-Type'] = r.contentType ?? 'application/json';
    headers['Content-Length'] = String(Buffer.byteLength(r.body));
  }
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: r.method, headers, ca: srv.caPem }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

describe('deploy: kubectl apply -k on the embedded API server, RBAC enforced @real', function () {
  this.timeout(60_000);
  let srv: RunningApiServer | undefined;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const kubectl = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    exec('kubectl', args, { env, allowFailure: true, timeoutMs: 45_000 });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-deploy-apply-'));
    const users = [...new Set(ACCESS_MATRIX.map((c) => c.user))];
    srv = await startApiServer({
      host: '127.0.0.1',
      port: 0,
      tlsDir: join(dir, 'tls'),
      tokens: [
        { token: ADMIN_TOKEN, user: 'admin', groups: ['system:masters'] },
        ...users.map((u) => ({ token: tokenOf(u), user: u, groups: ['system:serviceaccounts', `system:serviceaccounts:${u.split(':')[2]}`] })),
      ],
      crdDir: join(DEPLOY, 'crds'),
      log: createLogger({ level: 'silent', component: 'test' }),
    });
    writeKubeconfig(join(dir, 'kubeconfig'), { server: srv.url, token: ADMIN_TOKEN, caPem: srv.caPem });
    // A private HOME: no shared kubectl discovery cache between tests.
    env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(dir, 'home'), KUBECONFIG: join(dir, 'kubeconfig') };
  });

  after(async () => {
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('kubectl apply -k deploy/ succeeds (the CRDs were loaded by the server from deploy/crds)', async function () {
    if (!crdsReady()) this.skip(); // deploy/crds/kustomization.yaml does not exist yet
    const r = await kubectl(['apply', '-k', DEPLOY]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
  });

  it('kubectl apply -k of deploy/base with the Globalnet component, and the broker RBAC, succeed', async () => {
    const overlay = join(dir, 'overlay');
    const rel = (p: string): string => relative(overlay, join(DEPLOY, p));
    rmSync(overlay, { recursive: true, force: true });
    await exec('mkdir', ['-p', overlay]);
    writeFileSync(join(overlay, 'kustomization.yaml'), `resources: [${rel('base')}]\ncomponents: [${rel('components/globalnet')}]\n`);
    const applied = await kubectl(['apply', '-k', overlay]);
    assert.equal(applied.code, 0, applied.stderr + applied.stdout);
    const broker = await kubectl(['apply', '-f', join(DEPLOY, 'broker', 'namespace.yaml'), '-f', join(DEPLOY, 'broker', 'rbac.yaml')]);
    assert.equal(broker.code, 0, broker.stderr + broker.stdout);

    const ds = await kubectl(['get', 'daemonsets', '-n', 'submariner-operator', '-o', 'name']);
    assert.equal(ds.code, 0, ds.stderr);
    assert.deepEqual(ds.stdout.trim().split('\n').sort(), ['daemonset.apps/submariner-gateway', 'daemonset.apps/submariner-globalnet', 'daemonset.apps/submariner-routeagent']);
    // Applying again changes nothing (and does not fail).
    const again = await kubectl(['apply', '-k', overlay]);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /created/);
  });

  it('hawser show all as the gateway\'s ServiceAccount (the documented way): the section it may not read says so, the rest prints, exit 1', async () => {
    const kubeconfig = join(dir, 'gateway-sa.kubeconfig');
    writeKubeconfig(kubeconfig, { server: srv!.url, token: tokenOf(GATEWAY), caPem: srv!.caPem });
    const bin = join(DEPLOY, '..', 'bin', 'hawser');
    const r = await exec(bin, ['show', 'all', '--kubeconfig', kubeconfig], { env, allowFailure: true, timeoutMs: 45_000 });
    assert.equal(r.stderr, '');
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^ ✓ Showing Endpoints$/m);
    assert.match(r.stdout, /^ ✓ Showing Gateways$/m);
    assert.match(r.stdout, / ✗ Showing versions\nCOMPONENT +NODE +RUNNING +STATUS +LAST SEEN +IMAGE\n(?: {2}pod status not shown[^\n]*\n)? {2}cannot read routeagents: forbidden \(403\) in namespace submariner-operator/);
    const json = await exec(bin, ['show', 'all', '-o', 'json', '--kubeconfig', kubeconfig], { env, allowFailure: true, timeoutMs: 45_000 });
    assert.equal(json.code, 1);
    assert.match((JSON.parse(json.stdout) as { clusters: Array<{ unreadable: { routeagents: string } }> }).clusters[0]!.unreadable.routeagents, /forbidden \(403\)/);
  });

  describe('each identity gets exactly the access the matrix says', () => {
    ACCESS_MATRIX.forEach((c, i) => {
      it(describeCheck(c), async () => {
        const res = await send(srv!, tokenOf(c.user), requestFor(c, i));
        assert.notEqual(res.status, 401, `token of ${c.user} rejected: ${res.text}`);
        if (c.allowed) assert.notEqual(res.status, 403, `forbidden: ${res.text}`);
        else assert.equal(res.status, 403, `expected 403, got ${res.status}: ${res.text}`);
      });
    });
  });
});
