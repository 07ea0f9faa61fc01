// deploy-broker → join (with hawser's broker-info and a hand-made one in subctl's format) → uninstall cluster,
// on two embedded API servers (broker cluster and joining cluster), through the real `hawser` CLI.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, writeKubeconfig, type RunningApiServer } from '../../src/apiserver/index.js';
import { decodeBrokerInfo } from '../../src/install/brokerinfo.js';
import { kubeconfigFileAccess } from '../../src/k8s/access.js';
import { RestClient, resourcePath } from '../../src/k8s/rest.js';
import { createLogger } from '../../src/log/index.js';
import { exec } from '../../src/util/exec.js';
import { subctlBrokerInfo } from '../support/broker-info.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const DEPLOY = join(ROOT, 'deploy');
const TOKEN = 'hw-join-admin-0123456789';

describe('install: deploy-broker, join and uninstall on embedded API servers @real', function () {
  this.timeout(180_000);
  let dir: string;
  let broker: RunningApiServer | undefined;
  let member: RunningApiServer | undefined;
  let env: NodeJS.ProcessEnv;
  const hawser = async (args: string[], kubeconfig: string): Promise<string> => {
    const r = await exec(join(ROOT, 'bin', 'hawser'), [...args, '--kubeconfig', kubeconfig], { env: { ...env, LOG_LEVEL: 'warn' }, allowFailure: true, timeoutMs: 120_000 });
    assert.equal(r.code, 0, `hawser ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const kc = (name: string): string => join(dir, `${name}.kubeconfig`);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-join-'));
    const log = createLogger({ level: 'silent' });
    broker = await startApiServer({ host: '127.0.0.1', port: 0, tlsDir: join(dir, 'tls-b'), tokens: [{ token: TOKEN, user: 'admin', groups: ['system:masters'] }], log });
    member = await startApiServer({ host: '127.0.0.1', port: 0, tlsDir: join(dir, 'tls-c'), tokens: [{ token: TOKEN, user: 'admin', groups: ['system:masters'] }], log, serviceCidr: '10.47.0.0/16' });
    writeKubeconfig(kc('broker'), { server: broker.url, token: TOKEN, caPem: broker.caPem });
    writeKubeconfig(kc('member'), { server: member.url, token: TOKEN, caPem: member.caPem });
    env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(dir, 'home') };
    const c = new RestClient(await kubeconfigFileAccess(kc('member')));
    for (const [i, name] of ['c-gw1', 'c-wk1'].entries()) {
      await c.create(resourcePath('', 'v1', 'nodes'), { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { podCIDR: `10.46.${i}.0/24`, podCIDRs: [`10.46.${i}.0/24`] } });
    }
    c.close();
  });

  after(async () => {
    await broker?.close();
    await member?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("deploy-broker writes a broker-info.subm; join enrols, discovers, writes and applies the overlay; the cluster's token works on the broker, only for Endpoints/Clusters", async () => {
    const info = join(dir, 'broker-info.subm');
    const out = await hawser(['deploy-broker', '--output', info, '--crds', join(DEPLOY, 'crds')], kc('broker'));
    assert.match(out, /created Role submariner-k8s-broker-cluster/);
    const decoded = decodeBrokerInfo(readFileSync(info, 'utf8'));
    assert.equal(decoded.brokerURL, broker!.url);
    assert.equal(decoded.ipsecPsk?.length, 48);
    assert.deepEqual(decoded.components, ['connectivity']);

    const overlay = join(dir, 'overlay-c');
    const joined = await hawser(['join', info, '--clusterid', 'cluster-c', '--cable-driver', 'wireguard', '--servicecidr', '10.47.0.0/16', '--gateway-node', 'c-gw1', '--output', overlay, '--deploy', DEPLOY, '--apply'], kc('member'));
    assert.match(joined, /pod CIDR 10\.46\.0\.0\/23: smallest CIDR covering the podCIDRs of 2 node/);
    assert.match(joined, /labelled c-gw1 submariner.io\/gateway=true/);
    const kust = readFileSync(join(overlay, 'kustomization.yaml'), 'utf8');
    assert.match(kust, /SUBMARINER_CLUSTERID: cluster-c/);
    assert.match(kust, /SUBMARINER_CABLEDRIVER: wireguard/);
    assert.match(kust, /SUBMARINER_NATENABLED: "true"/);

    const c = new RestClient(await kubeconfigFileAccess(kc('member')));
    const ds = await c.list(resourcePath('apps', 'v1', 'daemonsets', 'submariner-operator'));
    assert.deepEqual(ds.items.map((d) => d.metadata.name).sort(), ['submariner-gateway', 'submariner-routeagent']);
    const secret = await c.get(resourcePath('', 'v1', 'secrets', 'submariner-operator', 'hawser-broker'));
    const data = secret.data as Record<string, string>;
    const token = Buffer.from(data.token!, 'base64').toString('utf8');
    assert.equal(Buffer.from((await c.get(resourcePath('', 'v1', 'secrets', 'submariner-operator', 'hawser-ipsec-psk'))).data ? ((await c.get(resourcePath('', 'v1', 'secrets', 'submariner-operator', 'hawser-ipsec-psk'))).data as Record<string, string>).psk! : '', 'base64').toString(), decoded.ipsecPsk!.toString('base64'));
    const node = await c.get(resourcePath('', 'v1', 'nodes', undefined, 'c-gw1'));
    assert.equal(node.metadata.labels?.['submariner.io/gateway'], 'true');
    c.close();

    const bkc = join(dir, 'cluster-c-on-broker.kubeconfig');
    writeKubeconfig(bkc, { server: broker!.url, token, caPem: broker!.caPem });
    const asCluster = new RestClient(await kubeconfigFileAccess(bkc));
    await asCluster.list(resourcePath('submariner.io', 'v1', 'endpoints', 'submariner-k8s-broker'));
    await assert.rejects(asCluster.list(resourcePath('', 'v1', 'secrets', 'submariner-k8s-broker')), /403|forbidden/i);
    asCluster.close();
  });

  it('join takes a broker-info.subm made by hand in subctl\'s format', async () => {
    // the broker admin token deploy-broker made, as subctl would have put it into the file
    const b = new RestClient(await kubeconfigFileAccess(kc('broker')));
    const s = await b.get(resourcePath('', 'v1', 'secrets', 'submariner-k8s-broker', 'submariner-k8s-broker-admin-token'));
    b.close();
    const adminToken = Buffer.from((s.data as Record<string, string>).token!, 'base64').toString('utf8');
    const file = join(dir, 'subctl-broker-info.subm');
    writeFileSync(file, subctlBrokerInfo({ url: broker!.url, token: adminToken, ca: broker!.caPem!, ns: 'submariner-k8s-broker', psk: Buffer.alloc(48, 9) }));
    const overlay = join(dir, 'overlay-d');
    const joined = await hawser(['join', file, '--clusterid', 'cluster-d', '--clustercidr', '10.48.0.0/16', '--servicecidr', '10.49.0.0/16', '--label-gateway=false', '--output', overlay, '--deploy', DEPLOY], kc('member'));
    assert.match(joined, /enrolled cluster-d/);
    const rendered = await exec('kubectl', ['kustomize', overlay], { env });
    assert.match(rendered.stdout, /SUBMARINER_CLUSTERID: cluster-d/);
    assert.match(rendered.stdout, new RegExp(Buffer.alloc(48, 9).toString('base64').replace(/[+/]/g, '.')));
  });

  it('uninstall cluster removes what the agents wrote, keeps the CRDs and other MCS objects', async () => {
    const c = new RestClient(await kubeconfigFileAccess(kc('member')));
    const ns = 'submariner-operator';
    await c.create(resourcePath('submariner.io', 'v1', 'endpoints', ns), { apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: { name: 'cluster-c-submariner-cable-cluster-c-172-18-0-2', namespace: ns }, spec: { cluster_id: 'cluster-c', cable_name: 'x', hostname: 'c-gw1', subnets: ['10.46.0.0/23'], private_ip: '172.18.0.2', backend: 'wireguard', nat_enabled: false } });
    await c.create(resourcePath('coordination.k8s.io', 'v1', 'leases', ns), { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'submariner-gateway-lock', namespace: ns }, spec: { holderIdentity: 'c-gw1-submariner-gateway' } });
    await c.create(resourcePath('', 'v1', 'namespaces'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    await c.create(resourcePath('multicluster.x-k8s.io', 'v1alpha1', 'serviceexports', 'shop'), { apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name: 'web', namespace: 'shop' } });
    await c.patch(resourcePath('', 'v1', 'nodes', undefined, 'c-gw1'), { metadata: { annotations: { 'submariner.io/globalIp': '242.0.0.1', 'other.io/keep': 'x' } } }, 'merge');
    const out = await hawser(['uninstall', 'cluster'], kc('member'));
    assert.match(out, /deleted endpoints.submariner.io submariner-operator\/cluster-c-submariner-cable/);
    assert.match(out, /deleted leases.coordination.k8s.io submariner-operator\/submariner-gateway-lock/);
    assert.match(out, /deleted daemonsets submariner-gateway/);
    assert.equal((await c.list(resourcePath('submariner.io', 'v1', 'endpoints', ns))).items.length, 0);
    assert.equal((await c.list(resourcePath('apps', 'v1', 'daemonsets', ns))).items.length, 0);
    assert.ok(await c.getOrUndefined(resourcePath('multicluster.x-k8s.io', 'v1alpha1', 'serviceexports', 'shop', 'web')));
    assert.ok(await c.getOrUndefined(resourcePath('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', undefined, 'serviceexports.multicluster.x-k8s.io')));
    const node = await c.get(resourcePath('', 'v1', 'nodes', undefined, 'c-gw1'));
    assert.equal(node.metadata.annotations?.['submariner.io/globalIp'], undefined);
    assert.equal(node.metadata.annotations?.['other.io/keep'], 'x');
    c.close();
  });
});
