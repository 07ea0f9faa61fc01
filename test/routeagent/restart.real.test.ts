// Restarting the route agent (SIGTERM path: role.stop(), then a new role in the same namespace) must not
// lose a packet: the new process adopts vx-submariner, FDB, routes, rules, sysctls and the nft table as
// they are. A ping at 10/s from a worker's pod address to a remote-cluster address behind the gateway
// runs through both restarts (worker, then gateway); every icmp_seq must come back.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { routeAgentConfigFromEnv } from '../../src/config/roles.js';
import { RestClient, resourcePath } from '../../src/k8s/rest.js';
import { RouteAgentRole } from '../../src/routeagent/role.js';
import { waitFor } from '../../src/util/wait.js';
import { createLogger } from '../../src/log/index.js';
import { startTestServer, type TestServer } from '../support/apiserver.js';
import { kubeConfigFromFile, ignoringWatchAbort } from '../support/fixtures.js';
import { ipIn, Namespaces, sysctlIn } from '../support/netns-commands.js';

const log = createLogger({ level: process.env.LOG_LEVEL ?? 'fatal' });
const NS = 'submariner-operator';
const SM = (plural: string, name?: string): string => resourcePath('submariner.io', 'v1', plural, NS, name);
const NODES = [
  { name: 'gw1', ip: '192.168.62.11', cni: '10.44.11.1' },
  { name: 'w1', ip: '192.168.62.13', cni: '10.44.13.1' },
];
const REMOTE_IP = '10.54.0.1';

describe('routeagent restart adopts the data path @real', function () {
  this.timeout(90_000);
  const nss = new Namespaces();
  const node: string[] = [];
  let server: TestServer;
  let api: RestClient;
  const roles = new Map<string, RouteAgentRole>();
  let ping: ChildProcess | undefined;
  let pingOut = '';

  const cfgFor = (name: string): ReturnType<typeof routeAgentConfigFromEnv> =>
    routeAgentConfigFromEnv({
      SUBMARINER_NAMESPACE: NS, SUBMARINER_CLUSTERID: 'a', NODE_NAME: name, SUBMARINER_CLUSTERCIDR: '10.44.0.0/16', SUBMARINER_SERVICECIDR: '10.45.0.0/16',
      SUBMARINER_HEALTHCHECKENABLED: 'false',
    });
  const startRole = async (k: number, version: string): Promise<void> => {
    const n = NODES[k]!;
    const role = new RouteAgentRole({ cfg: cfgFor(n.name), log, client: api, version, netns: node[k], statusIntervalMs: 200 });
    roles.set(n.name, role);
    await role.start();
  };
  const reported = async (name: string): Promise<string | undefined> =>
    ((await api.getOrUndefined(SM('routeagents', name)))?.status as { version?: string } | undefined)?.version;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    const lan = await nss.create('hw-rarl');
    await ipIn(lan, 'link add br0 type bridge\nlink set br0 up');
    for (const [k, n] of NODES.entries()) {
      const N = await nss.create(`hw-rar${k}`);
      node.push(N);
      await ipIn(lan, `link add eth0 netns ${N} type veth peer name port${k}\nlink set port${k} master br0\nlink set port${k} up`);
      const other = NODES[1 - k]!;
      await ipIn(N, `address add ${n.ip}/24 dev eth0\nlink set eth0 up\nlink add cni0 type bridge\naddress add ${n.cni}/24 dev cni0\nlink set cni0 up\nlink set lo up
route add ${other.cni.replace(/\.1$/, '.0')}/24 via ${other.ip}`);
      await sysctlIn(N, 'net.ipv4.conf.all.rp_filter=0');
      await sysctlIn(N, 'net.ipv4.conf.default.rp_filter=0');
    }
    // the remote cluster, answered by the gateway node itself (the cable is not under test)
    await ipIn(node[0]!, `address add ${REMOTE_IP}/32 dev lo`);

    server = await startTestServer();
    api = new RestClient(kubeConfigFromFile(server.kubeconfig));
    await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    for (const n of NODES) {
      await api.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: n.name }, status: { addresses: [{ type: 'InternalIP', address: n.ip }] } });
    }
    await api.create(SM('endpoints'), {
      apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: { name: 'a-local' },
      spec: { cluster_id: 'a', cable_name: 'submariner-cable-a-192-168-62-11', hostname: 'gw1', subnets: ['10.44.0.0/16', '10.45.0.0/16'], private_ip: NODES[0]!.ip, public_ip: NODES[0]!.ip, nat_enabled: false, backend: 'libreswan' },
    });
    await api.create(SM('endpoints'), {
      apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: { name: 'b-remote', labels: { 'submariner-io/clusterID': 'b' } },
      spec: { cluster_id: 'b', cable_name: 'submariner-cable-b-172-21-0-2', hostname: 'bgw', subnets: ['10.54.0.0/16'], private_ip: '172.21.0.2', public_ip: '172.21.0.2', nat_enabled: false, backend: 'libreswan' },
    });
    for (const k of NODES.keys()) await startRole(k, 'v1');
    for (const n of NODES) await waitFor(async () => (await reported(n.name)) === 'v1', { timeoutMs: 20_000, what: `${n.name} RouteAgent` });
  });

  after(async () => {
    if (ping?.pid !== undefined && ping.exitCode === null) process.kill(ping.pid, 'SIGKILL');
    for (const r of roles.values()) await ignoringWatchAbort(() => r.stop());
    await nss.cleanup();
    await server?.close();
  });

  const seqs = (): Set<number> => new Set([...pingOut.matchAll(/icmp_seq=(\d+) /g)].map((m) => Number(m[1])));
  const lastSeq = (): number => Math.max(0, ...seqs());

  it('worker and gateway route agents restarted one after the other: 0 pings lost', async () => {
    // the pod's address on the worker (cni0) to the remote cluster: table 150 -> vx-submariner -> gateway
    ping = spawn('ip', ['netns', 'exec', node[1]!, 'ping', '-n', '-i', '0.1', '-W', '1', '-I', NODES[1]!.cni, REMOTE_IP], { stdio: ['ignore', 'pipe', 'pipe'] });
    ping.stdout!.setEncoding('utf8').on('data', (d: string) => (pingOut += d));
    await waitFor(() => seqs().size >= 3, { timeoutMs: 10_000, intervalMs: 20, what: 'ping replies through vx-submariner' });
    const first = Math.min(...seqs());
    for (const [k, n] of NODES.entries()) {
      await roles.get(n.name)!.stop();
      await startRole(k, `v2-${k}`);
      await waitFor(async () => (await reported(n.name)) === `v2-${k}`, { timeoutMs: 20_000, intervalMs: 50, what: `${n.name} restarted` });
      // a few more seconds of traffic after the new process has reconciled
      const after = lastSeq() + 20;
      await waitFor(() => lastSeq() >= after, { timeoutMs: 10_000, intervalMs: 50, what: 'pings after the restart' });
    }
    const upTo = lastSeq();
    const seen = seqs();
    const lost: number[] = [];
    for (let q = first; q <= upTo; q++) if (!seen.has(q)) lost.push(q);
    assert.deepEqual(lost, [], `lost icmp_seq ${lost.join(',')} of ${first}..${upTo}`);
  });
});
