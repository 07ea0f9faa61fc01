import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { linksNotReady, netnsAddLines, vethLines } from '../../src/lab/builder.js';
import { brokerUser, kubeconfigText, tokenFileText } from '../../src/lab/credentials.js';
import { isOurProcess, procStartTime, processArgv, processEnv } from '../../src/lab/procs.js';
import { listLabs, readState, writeState, type LabState } from '../../src/lab/state.js';
import { planLab, resolveOptions, type LabSecrets } from '../../src/lab/topology.js';
import { isHawserError } from '../../src/util/errors.js';

const SECRETS: LabSecrets = {
  psk: 'cHNr',
  adminTokens: { 'cluster-a': 'admin-a', 'cluster-b': 'admin-b' },
  brokerTokens: { 'cluster-a': 'broker-a', 'cluster-b': 'broker-b' },
};
const T = planLab(resolveOptions({ name: 'x1', repoRoot: '/repo', stateRoot: '/run/l', gatewaysPerCluster: 1, workersPerCluster: 0 }), SECRETS);

describe('lab: builder, credentials, processes, state', () => {
  it('creates namespaces and veths in two root batches, each veth end directly in its netns', () => {
    assert.equal(netnsAddLines(T)[0], 'netns add hw-x1-wan');
    assert.equal(netnsAddLines(T).length, T.namespaces.length);
    assert.deepEqual(vethLines(T).slice(0, 2), [
      'link add name wan-a netns hw-x1-wan type veth peer name wan netns hw-x1-a-rtr',
      'link add name wan-b netns hw-x1-wan type veth peer name wan netns hw-x1-b-rtr',
    ]);
  });

  it('waits for links that are not up or bridge ports that do not forward yet', () => {
    const dump = [
      '@@ hw-x1-a-rtr',
      '1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback',
      '2: wan@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 02:e6',
      '3: gw1@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master br-lan state UP mode DEFAULT group default\\    bridge_slave state disabled priority 32',
      '4: br-lan: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UNKNOWN mode DEFAULT group default\\    bridge forward_delay 1500',
      '@@ hw-x1-a-gw1',
      '2: eth0@if4: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default\\    link/ether',
      '3: veth-pod1@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master cni0 state UP mode DEFAULT group default\\    bridge_slave state forwarding priority 32',
      '',
    ].join('\n');
    assert.deepEqual(linksNotReady(dump), ['hw-x1-a-rtr/gw1:UP/disabled', 'hw-x1-a-rtr/br-lan:UNKNOWN']);
    const vxlan = '5: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default\\    link/ether 0e:f1:00:00:00:00\\    vxlan id 1 local 172.16.0.11 dev eth0';
    assert.deepEqual(linksNotReady(`@@ hw-x1-a-gw1\n${vxlan}\n`), [], 'an up VXLAN device stays UNKNOWN');
    assert.deepEqual(linksNotReady(`@@ hw-x1-a-gw1\n${vxlan.replace('UP,LOWER_UP', 'NOARP').replace('UNKNOWN', 'DOWN')}\n`), ['hw-x1-a-gw1/flannel.1:DOWN']);
    assert.deepEqual(linksNotReady(dump.replace('state disabled', 'state forwarding').replace('state UNKNOWN mode DEFAULT group default\\    bridge', 'state UP mode DEFAULT group default\\    bridge')), []);
  });

  it('writes token files: admin with system:masters everywhere, broker users without it on the broker cluster only', () => {
    const [a, b] = T.clusters;
    assert.deepEqual(parse(tokenFileText(T, a!, SECRETS)), {
      tokens: [
        { token: 'admin-a', user: 'lab-admin', groups: ['system:masters'] },
        { token: 'broker-a', user: 'system:serviceaccount:submariner-k8s-broker:cluster-cluster-a', groups: ['system:serviceaccounts', 'system:serviceaccounts:submariner-k8s-broker'] },
        { token: 'broker-b', user: 'system:serviceaccount:submariner-k8s-broker:cluster-cluster-b', groups: ['system:serviceaccounts', 'system:serviceaccounts:submariner-k8s-broker'] },
      ],
    });
    assert.deepEqual(parse(tokenFileText(T, b!, SECRETS)), { tokens: [{ token: 'admin-b', user: 'lab-admin', groups: ['system:masters'] }] });
    assert.equal(brokerUser('cluster-b'), 'system:serviceaccount:submariner-k8s-broker:cluster-cluster-b');
  });

  it('writes an admin kubeconfig with the CA inline', () => {
    const kc = parse(kubeconfigText(T.clusters[1]!, 'https://127.0.0.1:4321', 'PEM', 'tok')) as Record<string, unknown>;
    assert.deepEqual(kc, {
      apiVersion: 'v1', kind: 'Config',
      clusters: [{ name: 'cluster-b', cluster: { server: 'https://127.0.0.1:4321', 'certificate-authority-data': 'UEVN' } }],
      users: [{ name: 'admin@cluster-b', user: { token: 'tok' } }],
      contexts: [{ name: 'cluster-b', context: { cluster: 'cluster-b', user: 'admin@cluster-b' } }],
      'current-context': 'cluster-b',
    });
  });

  it('wraps a role in its netns and a private mount + UTS namespace; plain processes only in their netns', () => {
    const gw = T.processes.find((p) => p.id === 'b-gw1/gateway')!;
    assert.deepEqual(processArgv(gw), [
      'ip', 'netns', 'exec', 'hw-x1-b-gw1', 'unshare', '--mount', '--uts', '--propagation', 'private', '--', 'sh', '-c',
      'set -e; hostname "$1"; mkdir -p "$2" /var/run/wireguard; mount --bind "$2" /var/run/wireguard; shift 2; exec "$@"',
      'lab-node', 'b-gw1', '/run/l/x1/nodes/b-gw1/wireguard', '/repo/bin/hawser', 'gateway',
    ]);
    const api = T.processes.find((p) => p.id === 'cluster-a/apiserver')!;
    assert.deepEqual(processArgv(api).slice(0, 6), ['ip', 'netns', 'exec', 'hw-x1-a-cp', '/repo/bin/hawser', 'apiserver']);
    assert.equal(processArgv(T.processes.find((p) => p.id === 'lab/forwarder')!)[0], '/repo/bin/hawser');
  });

  it("gives a role the plan's env over the inherited one, minus inherited Submariner settings", () => {
    const dir = mkdtempSync(join(tmpdir(), 'hw-lab-env-'));
    try {
      writeFileSync(join(dir, 'ca.crt'), 'CA PEM');
      const gw = { ...T.processes.find((p) => p.id === 'b-gw1/gateway')!, envFromFiles: { BROKER_K8S_CA: join(dir, 'ca.crt') } };
      const env = processEnv(gw, { PATH: '/bin', SUBMARINER_DEBUG: 'true', CE_IPSEC_FORCEENCAPS: 'true', KUBECONFIG: '/root/.kube/config', HAWSER_LEASE_DURATION: '9' });
      assert.equal(env.PATH, '/bin');
      assert.equal(env.SUBMARINER_DEBUG, undefined);
      assert.equal(env.CE_IPSEC_FORCEENCAPS, undefined);
      assert.equal(env.KUBECONFIG, '/run/l/x1/clusters/cluster-b/kubeconfig');
      assert.equal(env.HAWSER_LEASE_DURATION, '9', 'HAWSER_* tuning passes through');
      assert.equal(env.BROKER_K8S_CA, Buffer.from('CA PEM').toString('base64'));
      assert.throws(() => processEnv({ ...gw, envFromFiles: { X: join(dir, 'missing') } }), (e: unknown) => isHawserError(e, 'NOT_FOUND'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tells our process from a reused PID by its start time', () => {
    const st = procStartTime(process.pid);
    assert.ok(st && /^\d+$/.test(st));
    assert.equal(isOurProcess(process.pid, st), true);
    assert.equal(isOurProcess(process.pid, String(Number(st) + 1)), false);
    assert.equal(isOurProcess(2 ** 22 + 12345, undefined), false);
  });

  it('writes state atomically and refuses a state that names namespaces outside the lab', () => {
    const root = mkdtempSync(join(tmpdir(), 'hw-lab-state-'));
    try {
      const file = join(root, 'x1', 'state.json');
      const s: LabState = {
        version: 1, name: 'x1', phase: 'building', createdAt: 'now', owner: { pid: 1 },
        netns: ['hw-x1-wan'], processes: [{ id: 'a', startedAt: 'now' }], files: [join(root, 'x1')], topology: T,
      };
      writeState(file, s);
      assert.deepEqual(readState(file).netns, ['hw-x1-wan']);
      assert.deepEqual(listLabs(root), ['x1']);
      writeState(file, { ...s, netns: ['hw-x1-wan', 'hw-other-wan'] });
      assert.throws(() => readState(file), /hw-other-wan does not start with hw-x1-/);
      writeFileSync(file, '{');
      assert.throws(() => readState(file), (e: unknown) => isHawserError(e, 'INVALID'));
      assert.throws(() => readState(join(root, 'nope', 'state.json')), (e: unknown) => isHawserError(e, 'NOT_FOUND'));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
