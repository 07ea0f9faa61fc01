import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { k8s } from '../../src/k8s/client.js';
import { Lab, labDown, randomLabName } from '../../src/lab/lab.js';
import type { LabState } from '../../src/lab/state.js';
import { DEFAULT_STATE_ROOT } from '../../src/lab/topology.js';
import { waitFor } from '../../src/util/wait.js';
import { apiServerAvailable, assertNothingLeft } from '../support/lab.js';

const fakeHawser = fileURLToPath(new URL('./fixtures/fake-hawser.sh', import.meta.url));

describe('lab @real: API servers, registration and roles', function () {
  this.timeout(90_000);
  let lab: Lab | undefined;
  let state: LabState | undefined;

  before(async function () {
    if (!(await apiServerAvailable())) this.skip();
    // Roles are a stub here (the real ones have their own tests): this checks how the lab starts them.
    lab = await Lab.up({ name: randomLabName(), nat: true, roleCommand: fakeHawser, logLevel: 'debug' });
    state = lab.state();
  });

  after(async () => {
    if (!lab) return;
    if (existsSync(join(DEFAULT_STATE_ROOT, lab.name))) await labDown(lab.name);
    await assertNothingLeft(lab.name, state, lab.stateDir);
  });

  it('answers kubectl inside the control-plane netns: nodes registered with InternalIP, podCIDR, gateway label and public-ip', async () => {
    const r = await lab!.exec('cluster-a', ['kubectl', 'get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.status.addresses[0].address} {.spec.podCIDR} {.metadata.labels.submariner\\.io/gateway}{"\\n"}{end}']);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), ['a-gw1 172.16.0.11 10.42.0.0/24 true', 'a-gw2 172.16.0.12 10.42.1.0/24 true', 'a-wk1 172.16.0.13 10.42.2.0/24']);
    const b = await lab!.kubeConfig('cluster-b').makeApiClient(k8s.CoreV1Api).readNode({ name: 'b-gw2' });
    assert.equal(b.metadata?.annotations?.['gateway.submariner.io/public-ip'], 'ipv4:198.18.0.2', 'behind NAT: the router WAN address');
  });

  it('registers the pods (Running, podIP, nodeName) and the role pods, from the host through the loopback forward', async () => {
    const core = lab!.kubeConfig('cluster-b').makeApiClient(k8s.CoreV1Api);
    const pods = (await core.listNamespacedPod({ namespace: 'default' })).items.map((p) => `${p.metadata?.name} ${p.spec?.nodeName} ${p.status?.podIP} ${p.status?.phase}`);
    assert.deepEqual(pods.sort(), ['b-gw1-pod1 b-gw1 10.44.0.2 Running', 'b-gw2-pod1 b-gw2 10.44.1.2 Running', 'b-wk1-pod1 b-wk1 10.44.2.2 Running']);
    const roles = (await core.listNamespacedPod({ namespace: 'submariner-operator' })).items.map((p) => p.metadata?.name).sort();
    assert.deepEqual(roles, ['submariner-gateway-b-gw1', 'submariner-gateway-b-gw2', 'submariner-routeagent-b-gw1', 'submariner-routeagent-b-gw2', 'submariner-routeagent-b-wk1']);
    const crds = (await lab!.kubeConfig('cluster-a').makeApiClient(k8s.ApiextensionsV1Api).listCustomResourceDefinition()).items.map((c) => c.metadata?.name);
    assert.ok(crds.includes('gateways.submariner.io') && crds.includes('endpoints.submariner.io'), crds.join(','));
  });

  it("gives each cluster's gateways an RBAC-limited broker token that works over the WAN (through the NAT)", async () => {
    const env = lab!.roleEnv('b-gw1', 'gateway');
    assert.equal(env.BROKER_K8S_APISERVER, '172.16.0.2:6443');
    const ca = join(lab!.stateDir, 'broker-ca.crt');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(ca, Buffer.from(env.BROKER_K8S_CA!, 'base64'));
    const kubectl = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      lab!.exec('b-gw1', ['kubectl', '--kubeconfig', '/dev/null', '--server', `https://${env.BROKER_K8S_APISERVER}`, '--token', env.BROKER_K8S_APISERVERTOKEN!, '--certificate-authority', ca, ...args], { allowFailure: true });
    const ok = await kubectl('get', 'endpoints.submariner.io,clusters.submariner.io', '-n', 'submariner-k8s-broker');
    assert.equal(ok.code, 0, ok.stderr);
    const secrets = await kubectl('get', 'secrets', '-n', 'submariner-k8s-broker');
    assert.match(secrets.stderr, /forbidden/i);
    const gateways = await kubectl('get', 'gateways.submariner.io', '-n', 'submariner-k8s-broker');
    assert.match(gateways.stderr, /forbidden/i);
    const other = await kubectl('get', 'endpoints.submariner.io', '-n', 'submariner-operator');
    assert.match(other.stderr, /forbidden/i);
  });

  it('starts the roles in their node netns with the operator env, a private /var/run/wireguard and the node hostname', async () => {
    const node = lab!.node('b-gw2');
    const envFile = join(node.dir, 'state', 'gateway.env');
    await waitFor(() => existsSync(envFile) && existsSync(join(node.dir, 'wireguard', 'fake-gateway.marker')), { timeoutMs: 10_000, what: 'the stub gateway to start' });
    const env = Object.fromEntries(readFileSync(envFile, 'utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    assert.equal(env.NODE_NAME, 'b-gw2');
    assert.equal(env.SUBMARINER_CLUSTERID, 'cluster-b');
    assert.equal(env.SUBMARINER_NATENABLED, 'true');
    assert.equal(env.HAWSER_IPSEC_USERSPACE, 'true');
    assert.equal(env.LOG_LEVEL, 'debug');
    assert.equal(env.KUBECONFIG, lab!.kubeconfig('cluster-b', 'lab'));
    assert.match(env.BROKER_K8S_CA!, /^LS0t/, 'base64 PEM');
    assert.equal(readFileSync(join(node.dir, 'state', 'gateway.hostname'), 'utf8').trim(), 'b-gw2');
    assert.equal(existsSync('/var/run/wireguard/fake-gateway.marker'), false);
    assert.ok(lab!.roleRunning('b-gw2', 'gateway'));
    assert.ok(lab!.roleRunning('a-wk1', 'route-agent'));
    assert.throws(() => lab!.roleRunning('a-wk1', 'gateway'), /runs no gateway/);
  });

  it('stops a role by PID (SIGTERM or SIGKILL) and starts it again', async () => {
    const before = lab!.pid('a-gw1/gateway');
    assert.ok(before);
    await lab!.stopRole('a-gw1', 'gateway', 'SIGKILL');
    assert.equal(lab!.roleRunning('a-gw1', 'gateway'), false);
    assert.ok(lab!.roleRunning('a-gw2', 'gateway'), 'the other gateway is untouched');
    const after = await lab!.startRole('a-gw1', 'gateway');
    assert.notEqual(after, before);
    assert.ok(lab!.roleRunning('a-gw1', 'gateway'));
    await lab!.stopRole('a-gw1', 'gateway');
    const st = (await lab!.status()).processes.filter((p) => p.id === 'a-gw1/gateway');
    assert.deepEqual(st.map((p) => [p.alive, p.stopped]), [[false, true]]);
  });

  it('lab down removes everything', async () => {
    const l = lab!;
    const s = l.state();
    await l.down();
    await assertNothingLeft(l.name, s, l.stateDir);
    state = s;
  });
});
