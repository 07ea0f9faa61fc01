// hawser migrate / rollback against Submariner-shaped objects (as submariner-operator creates them) on the
// embedded API server, through the real CLI; every object is checked after each step.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, writeKubeconfig, type RunningApiServer } from '../../src/apiserver/index.js';
import { kubeconfigFileAccess } from '../../src/k8s/access.js';
import { RestClient, resourcePath as rp, type KubeObject } from '../../src/k8s/rest.js';
import { createLogger } from '../../src/log/index.js';
import { exec } from '../../src/util/exec.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const DEPLOY = join(ROOT, 'deploy');
const TOKEN = 'hw-migrate-admin-0123456789';
const NS = 'submariner-operator';
const PSK = Buffer.alloc(48, 3).toString('base64');

const ds = (name: string, labels: Record<string, string>, owner: KubeObject): KubeObject => ({
  apiVersion: 'apps/v1', kind: 'DaemonSet',
  metadata: { name, namespace: NS, labels, ownerReferences: [{ apiVersion: 'submariner.io/v1alpha1', kind: 'Submariner', name: 'submariner', uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: true }] },
  spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { serviceAccountName: name === 'submariner-metrics-proxy' ? 'default' : name, hostNetwork: true, containers: [{ name, image: `quay.io/submariner/${name}:0.18.0`, securityContext: { privileged: true } }] } } },
});

describe('install: migrate from Submariner and roll back @real', function () {
  this.timeout(180_000);
  let dir: string;
  let srv: RunningApiServer | undefined;
  let c: RestClient;
  const kubeconfig = (): string => join(dir, 'kubeconfig');
  const hawser = async (args: string[]): Promise<string> => {
    const r = await exec(join(ROOT, 'bin', 'hawser'), [...args, '--kubeconfig', kubeconfig()], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(dir, 'home'), LOG_LEVEL: 'warn' }, allowFailure: true, timeoutMs: 120_000 });
    assert.equal(r.code, 0, `hawser ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const originals = new Map<string, KubeObject>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-migrate-'));
    srv = await startApiServer({ host: '127.0.0.1', port: 0, tlsDir: join(dir, 'tls'), tokens: [{ token: TOKEN, user: 'admin', groups: ['system:masters'] }], crdDir: join(DEPLOY, 'crds'), log: createLogger({ level: 'silent' }) });
    writeKubeconfig(kubeconfig(), { server: srv.url, token: TOKEN, caPem: srv.caPem });
    c = new RestClient(await kubeconfigFileAccess(kubeconfig()));
    await c.create(rp('apiextensions.k8s.io', 'v1', 'customresourcedefinitions'), {
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'submariners.submariner.io' },
      spec: { group: 'submariner.io', scope: 'Namespaced', names: { plural: 'submariners', singular: 'submariner', kind: 'Submariner', listKind: 'SubmarinerList' },
        versions: [{ name: 'v1alpha1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }] },
    });
    const { waitFor } = await import('../../src/util/wait.js');
    await waitFor(() => c.list(rp('submariner.io', 'v1alpha1', 'submariners', NS)).then(() => true), { timeoutMs: 10_000, what: 'Submariner CRD served' });
    await c.create(rp('', 'v1', 'namespaces'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    const cr = await c.create(rp('submariner.io', 'v1alpha1', 'submariners', NS), {
      apiVersion: 'submariner.io/v1alpha1', kind: 'Submariner', metadata: { name: 'submariner', namespace: NS, finalizers: ['submariner.io/cleanup'] },
      spec: { clusterID: 'cluster-m', clusterCIDR: '10.50.0.0/16', serviceCIDR: '10.51.0.0/16', cableDriver: 'libreswan', natEnabled: true, namespace: NS,
        brokerK8sApiServer: '192.0.2.10:6443', brokerK8sRemoteNamespace: 'submariner-k8s-broker', brokerK8sSecret: 'cluster-m-broker-secret', ceIPSecPSK: PSK,
        ceIPSecNATTPort: 4500, debug: false, serviceDiscoveryEnabled: true, healthCheck: { enabled: true, intervalSeconds: 1, maxPacketLossCount: 5 } },
    });
    const objs: [string, KubeObject][] = [
      [rp('apps', 'v1', 'deployments', NS), { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'submariner-operator', namespace: NS }, spec: { replicas: 1, selector: { matchLabels: { name: 'submariner-operator' } }, template: { metadata: { labels: { name: 'submariner-operator' } }, spec: { containers: [{ name: 'operator', image: 'quay.io/submariner/submariner-operator:0.18.0' }] } } } }],
      [rp('apps', 'v1', 'deployments', NS), { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'submariner-lighthouse-agent', namespace: NS }, spec: { replicas: 1, selector: { matchLabels: { app: 'submariner-lighthouse-agent' } }, template: { metadata: { labels: { app: 'submariner-lighthouse-agent' } }, spec: { containers: [{ name: 'agent', image: 'quay.io/submariner/lighthouse-agent:0.18.0' }] } } } }],
      [rp('apps', 'v1', 'daemonsets', NS), ds('submariner-gateway', { app: 'submariner-gateway', component: 'gateway' }, cr)],
      [rp('apps', 'v1', 'daemonsets', NS), ds('submariner-routeagent', { app: 'submariner-routeagent', component: 'routeagent' }, cr)],
      [rp('apps', 'v1', 'daemonsets', NS), ds('submariner-metrics-proxy', { app: 'submariner-metrics-proxy', component: 'metrics' }, cr)],
      [rp('', 'v1', 'services', NS), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'submariner-gateway-metrics', namespace: NS, labels: { app: 'submariner-metrics-proxy' } }, spec: { type: 'ClusterIP', selector: { app: 'submariner-metrics-proxy' }, ports: [{ name: 'http', port: 8080, protocol: 'TCP', targetPort: 8080 }] } }],
      [rp('', 'v1', 'secrets', NS), { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'cluster-m-broker-secret', namespace: NS }, data: { token: Buffer.from('broker-token-m').toString('base64'), 'ca.crt': Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64') } }],
      [rp('submariner.io', 'v1', 'endpoints', NS), { apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: { name: 'cluster-m-submariner-cable-cluster-m-172-18-0-5', namespace: NS }, spec: { cluster_id: 'cluster-m', cable_name: 'submariner-cable-cluster-m-172-18-0-5', hostname: 'm-gw1', subnets: ['10.50.0.0/16', '10.51.0.0/16'], private_ip: '172.18.0.5', public_ip: '198.51.100.5', nat_enabled: true, backend: 'libreswan' } }],
      [rp('coordination.k8s.io', 'v1', 'leases', NS), { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'submariner-gateway-lock', namespace: NS }, spec: { holderIdentity: 'm-gw1-submariner-gateway', leaseDurationSeconds: 10 } }],
    ];
    for (const sa of ['submariner-gateway', 'submariner-routeagent']) {
      objs.push([rp('', 'v1', 'serviceaccounts', NS), { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: NS } }]);
      objs.push([rp('rbac.authorization.k8s.io', 'v1', 'roles', NS), { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: sa, namespace: NS }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] }]);
      objs.push([rp('rbac.authorization.k8s.io', 'v1', 'rolebindings', NS), { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: sa, namespace: NS }, subjects: [{ kind: 'ServiceAccount', name: sa, namespace: NS }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: sa } }]);
      objs.push([rp('rbac.authorization.k8s.io', 'v1', 'clusterroles'), { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: sa }, rules: [{ apiGroups: ['crd.projectcalico.org'], resources: ['ippools'], verbs: ['get', 'list', 'create', 'delete'] }] }]);
      objs.push([rp('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings'), { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: sa }, subjects: [{ kind: 'ServiceAccount', name: sa, namespace: NS }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: sa } }]);
    }
    for (const [path, o] of objs) {
      const created = await c.create(path, o);
      originals.set(`${path}/${o.metadata.name}`, created);
    }
  });

  after(async () => {
    c?.close();
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (path: string): Promise<KubeObject | undefined> => c.getOrUndefined(path);
  const untouched = async (path: string): Promise<void> => {
    const now = await get(path);
    assert.ok(now, `${path} is gone`);
    assert.equal(now.metadata.resourceVersion, originals.get(path)!.metadata.resourceVersion, `${path} was changed`);
  };
  const sameAsBefore = async (path: string): Promise<void> => {
    const now = await get(path);
    const was = originals.get(path)!;
    assert.ok(now, `${path} was not restored`);
    for (const k of ['spec', 'rules', 'subjects', 'roleRef'] as const) {
      if (k === 'spec' && was.kind === 'Service') {
        const { clusterIP: _a, clusterIPs: _b, ...rest } = was.spec as Record<string, unknown>;
        const { clusterIP: _c, clusterIPs: _d, ...restNow } = now.spec as Record<string, unknown>;
        assert.deepEqual(restNow, rest, `${path}.spec`);
      } else {
        assert.deepEqual(now[k], was[k], `${path}.${k}`);
      }
    }
    assert.deepEqual(now.metadata.labels, was.metadata.labels, `${path} labels`);
    assert.deepEqual(now.metadata.ownerReferences, was.metadata.ownerReferences, `${path} ownerReferences`);
  };
  const ds0 = (n: string): string => rp('apps', 'v1', 'daemonsets', NS, n);
  const CR = rp('submariner.io', 'v1alpha1', 'submariners', NS, 'submariner');

  it('migrate without --apply changes nothing and says what it would do', async () => {
    const out = await hawser(['migrate', '--deploy', DEPLOY, '--output', join(dir, 'overlay')]);
    assert.match(out, /would scale Deployment submariner-operator to 0 \(from 1\)/);
    assert.match(out, /would save and delete DaemonSet submariner-metrics-proxy/);
    assert.match(out, /would save and delete ClusterRoleBinding submariner-routeagent/);
    assert.match(out, /left alone: Deployment submariner-lighthouse-agent/);
    for (const p of originals.keys()) await untouched(p);
  });

  it('migrate --apply: operator at 0, Submariner DaemonSets/metrics Service/RBAC replaced by hawser\'s, Lighthouse and the adopted objects untouched', async () => {
    const out = await hawser(['migrate', '--apply', '--deploy', DEPLOY, '--output', join(dir, 'overlay')]);
    process.stdout.write(`      ${out.split('\n').filter((l) => /after Submariner's gateway/.test(l)).join('')}\n`);
    const op = await get(rp('apps', 'v1', 'deployments', NS, 'submariner-operator'));
    assert.equal((op!.spec as { replicas: number }).replicas, 0);
    assert.equal(await get(ds0('submariner-metrics-proxy')), undefined);
    for (const n of ['submariner-gateway', 'submariner-routeagent']) {
      const d = await get(ds0(n));
      assert.equal(d?.metadata.labels?.['app.kubernetes.io/part-of'], 'hawser', `${n} is not hawser's`);
      assert.equal(await get(rp('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', undefined, n)), undefined, `Submariner's ClusterRoleBinding ${n} still grants its rights`);
      assert.equal(await get(rp('rbac.authorization.k8s.io', 'v1', 'rolebindings', NS, n)), undefined);
    }
    const svc = await get(rp('', 'v1', 'services', NS, 'submariner-gateway-metrics'));
    assert.deepEqual((svc!.spec as { selector: unknown }).selector, { app: 'submariner-gateway' });
    const cfg = await get(rp('', 'v1', 'configmaps', NS, 'hawser-config'));
    assert.deepEqual(cfg!.data, { SUBMARINER_CLUSTERID: 'cluster-m', SUBMARINER_CLUSTERCIDR: '10.50.0.0/16', SUBMARINER_SERVICECIDR: '10.51.0.0/16', SUBMARINER_CABLEDRIVER: 'libreswan', SUBMARINER_NATENABLED: 'true', SUBMARINER_HEALTHCHECKENABLED: 'true' });
    const broker = (await get(rp('', 'v1', 'secrets', NS, 'hawser-broker')))!.data as Record<string, string>;
    assert.equal(Buffer.from(broker.token!, 'base64').toString(), 'broker-token-m');
    assert.equal(Buffer.from(broker.server!, 'base64').toString(), '192.0.2.10:6443');
    const psk = (await get(rp('', 'v1', 'secrets', NS, 'hawser-ipsec-psk')))!.data as Record<string, string>;
    assert.equal(Buffer.from(psk.psk!, 'base64').toString(), PSK);
    assert.deepEqual((await get(CR))!.metadata.finalizers ?? [], []);
    for (const p of originals.keys()) {
      if (/lighthouse|endpoints|leases|secrets/.test(p)) await untouched(p);
    }
    assert.ok(await get(rp('', 'v1', 'configmaps', NS, 'hawser-migration-backup')));
  });

  it('rollback restores every saved object, the finalizer and the operator; hawser\'s DaemonSets and Services go', async () => {
    const out = await hawser(['rollback', '--skip-node-cleanup', '--deploy', DEPLOY]);
    assert.match(out, /restored Deployment submariner-operator at 1 replica/);
    for (const p of originals.keys()) {
      if (/deployments\/submariner-operator$/.test(p)) continue;
      if (/lighthouse|endpoints|leases|secrets/.test(p)) await untouched(p);
      else if (/serviceaccounts/.test(p)) assert.ok(await get(p), `${p} is gone`); // adopted (labelled) by hawser's apply
      else await sameAsBefore(p);
    }
    assert.equal(((await get(rp('apps', 'v1', 'deployments', NS, 'submariner-operator')))!.spec as { replicas: number }).replicas, 1);
    assert.deepEqual((await get(CR))!.metadata.finalizers, ['submariner.io/cleanup']);
    assert.equal((await get(ds0('submariner-gateway')))!.metadata.labels?.['app.kubernetes.io/part-of'], undefined);
    assert.equal(await get(rp('', 'v1', 'configmaps', NS, 'hawser-migration-backup')), undefined);
  });
});
