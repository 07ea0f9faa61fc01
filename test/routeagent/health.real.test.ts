// The route-agent role's health check against the embedded API server, with two nodes in namespaces:
// the non-gateway node probes the remote endpoint (one in-process raw ICMP socket, no process) at Submariner's cadence
// (SUBMARINER_HEALTHCHECKINTERVAL × 60 s) and reports RTT; the gateway node probes nothing and says so;
// each RouteAgent is owned by its pod; a gateway move stops the probing on the new gateway.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { routeAgentConfigFromEnv } from '../../src/config/roles.js';
import { RestClient, resourcePath, type KubeObject } from '../../src/k8s/rest.js';
import { netnsPids } from '../../src/os/netns.js';
import { RouteAgentRole } from '../../src/routeagent/role.js';
import { exec } from '../../src/util/exec.js';
import { waitFor } from '../../src/util/wait.js';
import { startTestServer, type TestServer } from '../support/apiserver.js';
import { createLogger } from '../../src/log/index.js';
import { kubeConfigFromFile, ignoringWatchAbort } from '../support/fixtures.js';

const log = createLogger({ level: process.env.LOG_LEVEL ?? 'fatal' });
import { ipIn, Namespaces, sysctlIn } from '../support/netns-commands.js';

const NS = 'submariner-operator';
const SM = (plural: string, name?: string): string => resourcePath('submariner.io', 'v1', plural, NS, name);
const NODES = [
  { name: 'gw1', ip: '192.168.61.11', cni: '10.42.11.1' },
  { name: 'w1', ip: '192.168.61.13', cni: '10.42.13.1' },
];
const REMOTE_HEALTH_IP = '10.52.0.1';

const localEndpoint = (host: string, ip: string): Record<string, unknown> => ({
  cluster_id: 'a', cable_name: `submariner-cable-a-${ip.replaceAll('.', '-')}`, hostname: host, subnets: ['10.42.0.0/16', '10.43.0.0/16'],
  private_ip: ip, public_ip: ip, nat_enabled: false, backend: 'libreswan', healthCheckIP: '10.42.11.1',
});

/** Source addresses of the raw ICMP sockets open in a namespace (/proc/net/raw there): the in-process health prober. */
async function rawIcmpSources(ns: string): Promise<string[]> {
  const { stdout } = await exec('cat', ['/proc/net/raw'], { netns: ns });
  return stdout.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/)[1] ?? '').filter((a) => a.endsWith(':0001'))
    .map((a) => Buffer.from(a.slice(0, 8), 'hex').reverse().join('.'));
}

/** The command lines of the processes in a namespace. */
function commandLines(pids: readonly number[]): string[][] {
  return pids.flatMap((pid) => {
    try {
      return [readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)];
    } catch {
      return [];
    }
  });
}

describe('routeagent role: health check and RouteAgent status @real', function () {
  this.timeout(60_000);
  const nss = new Namespaces();
  const node: string[] = [];
  let server: TestServer;
  let api: RestClient;
  const roles: RouteAgentRole[] = [];
  const podUid = new Map<string, string>();

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    const lan = await nss.create('hw-rahl');
    await ipIn(lan, 'link add br0 type bridge\nlink set br0 up');
    for (const [k, n] of NODES.entries()) {
      const N = await nss.create(`hw-rah${k}`);
      node.push(N);
      await ipIn(lan, `link add eth0 netns ${N} type veth peer name port${k}\nlink set port${k} master br0\nlink set port${k} up`);
      const other = NODES[1 - k]!;
      await ipIn(N, `address add ${n.ip}/24 dev eth0\nlink set eth0 up\nlink add cni0 type bridge\naddress add ${n.cni}/24 dev cni0\nlink set cni0 up\nlink set lo up
route add ${other.cni.replace(/\.1$/, '.0')}/24 via ${other.ip}`);
      await sysctlIn(N, 'net.ipv4.conf.all.rp_filter=0');
      await sysctlIn(N, 'net.ipv4.conf.default.rp_filter=0');
    }
    // the remote cluster's health-check address, answered by the gateway node itself (the cable is not under test)
    await ipIn(node[0]!, `address add ${REMOTE_HEALTH_IP}/32 dev lo`);

    server = await startTestServer();
    api = new RestClient(kubeConfigFromFile(server.kubeconfig));
    await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    for (const n of NODES) {
      await api.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: n.name }, status: { addresses: [{ type: 'InternalIP', address: n.ip }] } });
      const pod = await api.create(`/api/v1/namespaces/${NS}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: `submariner-routeagent-${n.name}` }, spec: { nodeName: n.name, containers: [{ name: 'c', image: 'x' }] } });
      podUid.set(n.name, String(pod.metadata.uid));
    }
    await api.create(SM('endpoints'), { apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: { name: 'a-local' }, spec: localEndpoint('gw1', NODES[0]!.ip) });
    await api.create(SM('endpoints'), {
      apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: { name: 'b-remote', labels: { 'submariner-io/clusterID': 'b' } },
      spec: { cluster_id: 'b', cable_name: 'submariner-cable-b-172-20-0-2', hostname: 'bgw', subnets: ['10.52.0.0/16'], private_ip: '172.20.0.2', public_ip: '172.20.0.2', nat_enabled: false, backend: 'libreswan', healthCheckIP: REMOTE_HEALTH_IP },
    });
    for (const [k, n] of NODES.entries()) {
      // SUBMARINER_HEALTHCHECKINTERVAL=0 means Submariner's default (1 → 60 s in the route agent)
      const cfg = routeAgentConfigFromEnv({
        SUBMARINER_NAMESPACE: NS, SUBMARINER_CLUSTERID: 'a', NODE_NAME: n.name, SUBMARINER_CLUSTERCIDR: '10.42.0.0/16', SUBMARINER_SERVICECIDR: '10.43.0.0/16',
        POD_NAME: `submariner-routeagent-${n.name}`, POD_NAMESPACE: NS, SUBMARINER_HEALTHCHECKINTERVAL: '0',
      });
      const role = new RouteAgentRole({ cfg, log, client: api, version: 'test', netns: node[k], statusIntervalMs: 300 });
      roles.push(role);
      await role.start();
    }
  });

  after(async () => {
    for (const r of roles) await ignoringWatchAbort(() => r.stop());
    await nss.cleanup();
    await server?.close();
  });

  const routeAgent = (name: string): Promise<KubeObject | undefined> => api.getOrUndefined(SM('routeagents', name));
  const remoteStatus = (ra: KubeObject | undefined): Record<string, unknown> | undefined =>
    ((ra?.status as { remoteEndpoints?: Array<Record<string, unknown>> } | undefined)?.remoteEndpoints ?? [])[0];

  it('the non-gateway node probes the remote with one in-process prober every 60 s and reports connected with Go-duration RTTs', async () => {
    const ra = await waitFor(async () => {
      const o = await routeAgent('w1');
      return remoteStatus(o)?.status === 'connected' ? o : undefined;
    }, { timeoutMs: 20_000, what: 'w1 RouteAgent connected' }).catch(async (err: unknown) => {
      throw new Error(`${String(err)}; w1 RouteAgent: ${JSON.stringify((await routeAgent('w1'))?.status)}`);
    });
    const st = remoteStatus(ra)!;
    assert.equal(st.statusMessage, '');
    const rtt = st.latencyRTT as Record<string, string>;
    for (const k of ['last', 'min', 'average', 'max', 'stdDev']) assert.match(rtt[k] ?? '', /^\d+(\.\d+)?(ns|µs|ms|s)$/, `${k}: ${rtt[k]}`);
    // one prober for the node, in the role's process, from the CNI address (the probes go to REMOTE_HEALTH_IP)
    assert.deepEqual(await rawIcmpSources(node[1]!), [NODES[1]!.cni]);
    assert.deepEqual(commandLines(await netnsPids(node[1]!)).filter((argv) => argv.some((a) => a.endsWith('fping'))), [], 'no prober process');
  });

  it('the gateway node probes nothing and says so, as Submariner', async () => {
    const ra = await waitFor(async () => {
      const o = await routeAgent('gw1');
      return remoteStatus(o) ? o : undefined;
    }, { timeoutMs: 10_000, what: 'gw1 RouteAgent' });
    assert.equal(remoteStatus(ra)!.status, 'none');
    assert.equal(remoteStatus(ra)!.statusMessage, 'Health check is not performed on gateway nodes');
    assert.equal(commandLines(await netnsPids(node[0]!)).filter((argv) => argv.some((a) => a.endsWith('fping'))).length, 0);
    assert.deepEqual(await rawIcmpSources(node[0]!), []);
  });

  it('each RouteAgent is owned by the pod that writes it', async () => {
    for (const n of NODES) {
      const ra = await routeAgent(n.name);
      assert.deepEqual(ra?.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Pod', name: `submariner-routeagent-${n.name}`, uid: podUid.get(n.name) }]);
    }
  });

  it('when the gateway moves to the probing node, it stops probing and reports none at once', async () => {
    const ep = await api.get(SM('endpoints', 'a-local'));
    await api.replace(SM('endpoints', 'a-local'), { ...ep, spec: localEndpoint('w1', NODES[1]!.ip) });
    await waitFor(async () => remoteStatus(await routeAgent('w1'))?.statusMessage === 'Health check is not performed on gateway nodes', { timeoutMs: 10_000, what: 'w1 reports none' });
    await waitFor(async () => (await rawIcmpSources(node[1]!)).length === 0, { timeoutMs: 5000, what: 'probing ended on w1' });
    // and gw1, now a non-gateway node, starts probing
    await waitFor(async () => (await rawIcmpSources(node[0]!)).length === 1, { timeoutMs: 5000, what: 'probing on gw1' });
  });
});
