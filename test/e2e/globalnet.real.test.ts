// Issue 9 end to end: Globalnet joins two lab clusters whose pod and service CIDRs are the same
// (10.42.0.0/16 + 10.43.0.0/16 in both), over WireGuard. Traffic is real TCP between pod namespaces; the
// receiving side reports the peer address it saw, so every assertion about a source IP is made where the
// packet lands.
//
// What is emulated, and why: the lab has no kube-proxy, so nothing turns a ClusterIP into a pod IP. For the
// exported ClusterIP Service, Globalnet's own ingress DNAT (global IP -> ClusterIP, the fallback behind
// kube-proxy's externalIPs rule) is the step under test; the step after it is replaced by routing the
// ClusterIP to the backend pod, which holds the ClusterIP on its loopback (direct server return). The
// backend then sees the ClusterIP as its local address, which proves the DNAT target was the ClusterIP.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Lab, readGateways, waitForCables } from '../../src/lab/index.js';
import { k8s } from '../../src/k8s/client.js';
import { waitFor } from '../../src/util/wait.js';
import { asRecord as obj, strings } from '../../src/util/json.js';

const PORT = 8080;
const NS = 'default';
const SVC_CLUSTER_IP = '10.43.0.10';

// Answers every TCP connection with the peer and local addresses it saw, then closes.
const SERVER = `
const net = require('net');
const a = (x) => String(x).replace(/^::ffff:/, '');
net.createServer((s) => { s.on('error', () => {}); s.end('peer=' + a(s.remoteAddress) + ' local=' + a(s.localAddress) + '\\n'); })
  .listen(${PORT}, '0.0.0.0', () => console.log('listening'));
setTimeout(() => process.exit(0), 300000).unref();
`;

// One TCP connection: prints what the server said, exits 1 on error or after 1.5 s.
const CLIENT = `
const net = require('net');
const s = net.connect({ host: process.argv[1], port: Number(process.argv[2]), timeout: 1500 });
let d = '';
s.on('data', (b) => (d += b)).on('end', () => { process.stdout.write(d); process.exit(0); });
s.on('timeout', () => process.exit(1)).on('error', () => process.exit(1));
`;

interface Seen {
  peer: string;
  local: string;
}


describe('e2e @real: Globalnet joins two clusters with the same pod and service CIDRs (WireGuard)', function () {
  this.timeout(120_000);
  let lab: Lab | undefined;
  const servers: ChildProcess[] = [];

  const L = (): Lab => {
    if (!lab) throw new Error('the lab did not come up');
    return lab;
  };
  const custom = (cluster: string): k8s.CustomObjectsApi => L().kubeConfig(cluster).makeApiClient(k8s.CustomObjectsApi);
  const core = (cluster: string): k8s.CoreV1Api => L().kubeConfig(cluster).makeApiClient(k8s.CoreV1Api);
  const sub = (plural: string, namespace?: string): { group: string; version: string; plural: string; namespace: string } =>
    ({ group: 'submariner.io', version: 'v1', plural, namespace: namespace ?? NS });

  async function startServer(pod: string): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', L().netns(pod), process.execPath, '-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    servers.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`server in ${pod} exited (${code})`)));
    });
  }

  /** One TCP connection from `pod` to ip:PORT; what the server saw, or undefined if it did not answer. */
  async function connect(pod: string, ip: string): Promise<Seen | undefined> {
    const r = await L().exec(pod, [process.execPath, '-e', CLIENT, ip, String(PORT)], { allowFailure: true, timeoutMs: 5000 });
    const m = /peer=(\S+) local=(\S+)/.exec(r.stdout);
    return r.code === 0 && m ? { peer: m[1]!, local: m[2]! } : undefined;
  }

  /** Polls (new connection each time) until the server sees a source address in `want`. */
  async function waitForSource(pod: string, ip: string, want: readonly string[], what: string): Promise<Seen> {
    let last: Seen | undefined;
    try {
      return await waitFor(async () => {
        last = await connect(pod, ip);
        return last && want.includes(last.peer) ? last : undefined;
      }, { timeoutMs: 20_000, intervalMs: 200, what });
    } catch (err) {
      throw new Error(`${what}: ${pod} -> ${ip} last saw ${last ? `peer ${last.peer}` : 'no answer'}; wanted one of ${want.join(', ')}`, { cause: err });
    }
  }

  async function ingressIP(cluster: string, name: string): Promise<string> {
    return waitFor(async () => {
      const o = obj(await custom(cluster).getNamespacedCustomObject({ ...sub('globalingressips'), name }).catch(() => undefined));
      const ip = obj(o.status).allocatedIP;
      return typeof ip === 'string' && ip ? ip : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200, what: `GlobalIngressIP ${cluster}/${name} allocated` });
  }

  /** Waits for an egress object's Allocated=True condition; returns its allocatedIPs. */
  async function egressIPs(cluster: string, plural: 'globalegressips' | 'clusterglobalegressips', name: string, count: number): Promise<string[]> {
    return waitFor(async () => {
      const api = custom(cluster);
      const raw = plural === 'clusterglobalegressips'
        ? await api.getClusterCustomObject({ group: 'submariner.io', version: 'v1', plural, name }).catch(() => undefined)
        : await api.getNamespacedCustomObject({ ...sub(plural), name }).catch(() => undefined);
      const st = obj(obj(raw).status);
      const ips = strings(st.allocatedIPs);
      const cond = (Array.isArray(st.conditions) ? st.conditions : []).map(obj).find((c) => c.type === 'Allocated');
      return ips.length === count && cond?.status === 'True' ? ips : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200, what: `${plural} ${cluster}/${name}: ${count} address(es) and Allocated=True` });
  }

  async function activeGateway(cluster: string): Promise<string> {
    return waitFor(async () => (await readGateways(L().kubeConfig(cluster), cluster)).find((g) => g.haStatus === 'active')?.name, {
      timeoutMs: 10_000, intervalMs: 200, what: `an active gateway in ${cluster}`,
    });
  }

  before(async function () {
    this.timeout(100_000);
    lab = await Lab.up({ driver: 'wireguard', globalnet: true, gatewaysPerCluster: 2, workersPerCluster: 1 });
    await waitForCables(lab, 45_000);
    await Promise.all([startServer('b-gw1-pod1'), startServer('b-wk1-pod1')]);
  });

  after(async () => {
    for (const s of servers) if (s.exitCode === null && s.pid !== undefined) s.kill('SIGKILL');
    await lab?.down();
  });

  it('publishes each cluster\'s global CIDR (not the shared pod/service CIDRs) as its Endpoint subnets', async () => {
    for (const [cluster, remote, global] of [['cluster-a', 'cluster-b', '242.1.0.0/16'], ['cluster-b', 'cluster-a', '242.0.0.0/16']] as const) {
      const list = obj(await custom(cluster).listNamespacedCustomObject(sub('endpoints', 'submariner-operator')));
      const eps = (Array.isArray(list.items) ? list.items : []).map((i) => obj(obj(i).spec)).filter((s) => s.cluster_id === remote);
      assert.ok(eps.length > 0, `${cluster} holds ${remote}'s Endpoint`);
      for (const s of eps) assert.deepEqual(strings(s.subnets), [global], `${remote}'s Endpoint subnets seen in ${cluster}`);
    }
  });

  it('health-checks through global IPs: the active gateway publishes its node\'s global IP (DNATed to its CNI address)', async () => {
    for (const [cluster, remote, prefix] of [['cluster-a', 'cluster-b', '242.1.'], ['cluster-b', 'cluster-a', '242.0.']] as const) {
      const gw = await activeGateway(remote);
      // Globalnet takes its own Lease once the gateway is active and annotates the node after its first
      // reconcile: cables can be up a moment before that
      let seen = '';
      const global = await waitFor(async () => {
        seen = (await core(remote).readNode({ name: gw })).metadata?.annotations?.['submariner.io/globalIp'] ?? '';
        return seen.startsWith(prefix) ? seen : undefined;
      }, { timeoutMs: 15_000, intervalMs: 250, what: `${gw} carrying a global IP from ${remote}'s global CIDR` }).catch((err: unknown) => {
        throw new Error(`${String(err)} (last seen ${JSON.stringify(seen)})`);
      });
      // The remote cluster learns it as the Endpoint's healthCheckIP (not the CNI address both clusters share).
      await waitFor(async () => {
        const list = obj(await custom(cluster).listNamespacedCustomObject(sub('endpoints', 'submariner-operator')));
        return (Array.isArray(list.items) ? list.items : []).map((i) => obj(obj(i).spec)).some((s) => s.cluster_id === remote && s.healthCheckIP === global) || undefined;
      }, { timeoutMs: 15_000, intervalMs: 250, what: `${cluster} sees ${remote}'s healthCheckIP ${global}` });
      // The health checker's own path: from the local active gateway's CNI address (SNATed to a cluster
      // egress IP there) to the remote node's global IP (DNATed to its CNI address there).
      const local = await activeGateway(cluster);
      const r = await L().exec(local, ['ping', '-n', '-c', '1', '-W', '2', '-I', L().node(local).cniIp, global], { allowFailure: true });
      assert.equal(r.code, 0, `${local} (from ${L().node(local).cniIp}) pings ${remote}'s health-check IP ${global}: ${r.stdout}`);
    }
  });

  it('reaches a pod in B by its GlobalIngressIP from a gateway-node pod and a worker-node pod in A; B sees each A pod\'s own global IP', async () => {
    const target = await ingressIP('cluster-b', 'pod-b-gw1-pod1');
    assert.match(target, /^242\.1\./);
    for (const from of ['a-gw1-pod1', 'a-wk1-pod1']) {
      // A's lab pods are backends of an exported headless Service: their ingress IP doubles as egress IP.
      const own = await ingressIP('cluster-a', `pod-${from}`);
      const seen = await waitForSource(from, target, [own], `${from} -> b-gw1-pod1 seen as its own global IP`);
      assert.equal(seen.local, '10.42.0.2', 'delivered to b-gw1-pod1 (whose pod IP is also a-gw1-pod1\'s)');
    }
    // The translation happens only on A's active gateway: no other node of A has Globalnet's table.
    const active = await activeGateway('cluster-a');
    for (const n of L().cluster('cluster-a').nodes) {
      const r = await L().exec(n.name, ['nft', 'list', 'table', 'ip', 'hawser-globalnet'], { allowFailure: true });
      assert.equal(r.code === 0, n.name === active, `hawser-globalnet table on ${n.name} (active gateway: ${active})`);
    }
  });

  it('reaches an exported ClusterIP Service in B by its global IP (Globalnet DNATs to the ClusterIP)', async () => {
    await core('cluster-b').createNamespacedService({
      namespace: NS,
      body: {
        apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NS },
        spec: { type: 'ClusterIP', clusterIP: SVC_CLUSTER_IP, selector: { 'lab.hawser.io/node': 'b-wk1' }, ports: [{ name: 'http', port: PORT, protocol: 'TCP' }] },
      },
    });
    await custom('cluster-b').createNamespacedCustomObject({
      group: 'multicluster.x-k8s.io', version: 'v1alpha1', namespace: NS, plural: 'serviceexports',
      body: { apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name: 'web', namespace: NS } },
    });
    const global = await ingressIP('cluster-b', 'web');
    const giip = obj(await custom('cluster-b').getNamespacedCustomObject({ ...sub('globalingressips'), name: 'web' }));
    assert.equal(obj(giip.spec).target, 'ClusterIPService');
    // The internal Service a real kube-proxy would use: externalIPs = the global IP, same selector.
    const svcs = await core('cluster-b').listNamespacedService({ namespace: NS });
    const internal = svcs.items.find((s) => s.metadata?.name?.startsWith('submariner-') && s.spec?.externalIPs?.includes(global));
    assert.ok(internal, `an internal Service with externalIPs [${global}]`);
    assert.deepEqual(internal.spec?.selector, { 'lab.hawser.io/node': 'b-wk1' });

    // Stand-in for kube-proxy's ClusterIP -> pod step (see the header): route the ClusterIP to the backend.
    const wk1 = L().node('b-wk1');
    await L().exec('b-wk1-pod1', ['ip', 'addr', 'add', `${SVC_CLUSTER_IP}/32`, 'dev', 'lo']);
    await L().exec('b-wk1', ['ip', 'route', 'add', `${SVC_CLUSTER_IP}/32`, 'via', wk1.pods[0]!.ip, 'dev', 'cni0']);
    for (const gw of ['b-gw1', 'b-gw2']) await L().exec(gw, ['ip', 'route', 'add', `${SVC_CLUSTER_IP}/32`, 'via', wk1.ip]);

    const own = await ingressIP('cluster-a', 'pod-a-wk1-pod1');
    const seen = await waitForSource('a-wk1-pod1', global, [own], 'a-wk1-pod1 -> web\'s global IP');
    assert.equal(seen.local, SVC_CLUSTER_IP, 'the backend received the connection addressed to the ClusterIP');
  });

  describe('egress IP precedence, observed from B', () => {
    let target = '';
    let clusterEgress: string[] = [];
    let nsEgress: string[] = [];

    before(async () => {
      target = await ingressIP('cluster-b', 'pod-b-gw1-pod1');
      clusterEgress = await egressIPs('cluster-a', 'clusterglobalegressips', 'cluster-egress.submariner.io', 8);
    });

    it('without a more specific rule, B sees one of the ClusterGlobalEgressIP addresses', async () => {
      // Stop exporting A's lab pods: their headless-pod global IPs (which outrank everything below) go away.
      await custom('cluster-a').deleteNamespacedCustomObject({ group: 'multicluster.x-k8s.io', version: 'v1alpha1', namespace: NS, plural: 'serviceexports', name: 'lab-pods' });
      for (const from of ['a-gw1-pod1', 'a-wk1-pod1']) await waitForSource(from, target, clusterEgress, `${from} seen as a cluster egress IP`);
    });

    it('a namespace GlobalEgressIP (no selector) wins over the cluster\'s', async () => {
      await custom('cluster-a').createNamespacedCustomObject({
        ...sub('globalegressips'),
        body: { apiVersion: 'submariner.io/v1', kind: 'GlobalEgressIP', metadata: { name: 'ns-egress', namespace: NS }, spec: {} },
      });
      nsEgress = await egressIPs('cluster-a', 'globalegressips', 'ns-egress', 1);
      assert.ok(!clusterEgress.includes(nsEgress[0]!));
      for (const from of ['a-gw1-pod1', 'a-wk1-pod1']) await waitForSource(from, target, nsEgress, `${from} seen as the namespace egress IP`);
    });

    it('a podSelector GlobalEgressIP wins over the namespace\'s, for the selected pods only', async () => {
      await custom('cluster-a').createNamespacedCustomObject({
        ...sub('globalegressips'),
        body: {
          apiVersion: 'submariner.io/v1', kind: 'GlobalEgressIP', metadata: { name: 'wk1-egress', namespace: NS },
          spec: { numberOfIPs: 2, podSelector: { matchLabels: { 'lab.hawser.io/node': 'a-wk1' } } },
        },
      });
      const podEgress = await egressIPs('cluster-a', 'globalegressips', 'wk1-egress', 2);
      assert.ok(podEgress.every((ip) => !nsEgress.includes(ip) && !clusterEgress.includes(ip)));
      await waitForSource('a-wk1-pod1', target, podEgress, 'a-wk1-pod1 seen as a podSelector egress IP');
      const other = await connect('a-gw1-pod1', target);
      assert.equal(other?.peer, nsEgress[0], 'a pod the selector does not match keeps the namespace egress IP');
    });

    it('deleting the podSelector GlobalEgressIP hands its pods back to the namespace egress IP', async () => {
      await custom('cluster-a').deleteNamespacedCustomObject({ ...sub('globalegressips'), name: 'wk1-egress' });
      await waitForSource('a-wk1-pod1', target, nsEgress, 'a-wk1-pod1 back on the namespace egress IP');
    });
  });
});
