// Three nodes on a LAN bridge, a pod behind each, and a fourth namespace standing for the remote
// cluster, reached from the gateway over a fake "cable" (a veth). Every node runs the real dataplane.
import assert from 'node:assert/strict';
import { createLogger } from '../../src/log/index.js';
import { planRouteAgent, RouteAgentDataplane, type ApplyReport, type RouteAgentInput } from '../../src/routeagent/index.js';
import { waitFor } from '../../src/util/wait.js';
import { ipIn, Namespaces, nftCounter, ping, run, rxPackets, sysctlIn } from '../support/netns-commands.js';

const log = createLogger({ level: process.env.LOG_LEVEL ?? 'fatal' });
const NODES = [1, 2, 3].map((i) => ({ i, name: `node-${i}`, ip: `192.168.50.1${i}`, pod: `10.244.${i}.2`, cni: `10.244.${i}.1` }));
const REMOTE_POD = '172.31.0.1';
const CABLE = 'cable0';

describe('routeagent dataplane @real', function () {
  this.timeout(60_000);
  const nss = new Namespaces();
  let lan = '';
  let remote = '';
  const node: string[] = [];
  const pod: string[] = [];
  const dp: RouteAgentDataplane[] = [];

  const input = (k: number, gw: number): RouteAgentInput => ({
    nodeName: NODES[k]!.name,
    nodeIP: NODES[k]!.ip,
    nodes: NODES.map((n) => ({ name: n.name, ip: n.ip })),
    activeGateway: { nodeName: NODES[gw]!.name, nodeIP: NODES[gw]!.ip },
    localClusterCidrs: ['10.244.0.0/16'],
    localServiceCidrs: ['10.96.0.0/12'],
    remoteCidrs: ['172.31.0.0/16', '172.29.0.0/16'],
    cableDriver: 'wireguard',
    cableInterface: CABLE,
    mtu: 1500,
    cniInterface: { name: 'cni0', ip: NODES[k]!.cni },
  });
  const reconcileAll = (gw: number): Promise<ApplyReport[]> =>
    Promise.all(
      dp.map((d, k) => {
        const plan = planRouteAgent(input(k, gw));
        assert.deepEqual(plan.warnings, []);
        return d.reconcile(plan);
      }),
    );

  before(async () => {
    lan = await nss.create('hw-ralan');
    remote = await nss.create('hw-rarem');
    for (const n of NODES) {
      node.push(await nss.create(`hw-ran${n.i}`));
      pod.push(await nss.create(`hw-rap${n.i}`));
    }
    await ipIn(lan, 'link add br0 type bridge\nlink set br0 up');
    for (const [k, n] of NODES.entries()) {
      const N = node[k]!;
      await ipIn(lan, `link add eth0 netns ${N} type veth peer name port${n.i}\nlink set port${n.i} master br0\nlink set port${n.i} up`);
      await ipIn(pod[k]!, `link add eth0 type veth peer name cni0 netns ${N}\naddress add ${n.pod}/24 dev eth0\nlink set eth0 up\nroute add default via ${n.cni}`);
      // a host-gw style "CNI": pod subnets of the other nodes via their node IPs
      const others = NODES.filter((o) => o.i !== n.i).map((o) => `route add 10.244.${o.i}.0/24 via ${o.ip}`).join('\n');
      await ipIn(N, `address add ${n.ip}/24 dev eth0\nlink set eth0 up\naddress add ${n.cni}/24 dev cni0\nlink set cni0 up\n${others}`);
      await sysctlIn(N, 'net.ipv4.conf.all.rp_filter=0');
      await sysctlIn(N, 'net.ipv4.conf.default.rp_filter=0');
    }
    // the remote cluster: cables from node-1 and node-3 (both gateway-capable), one remote pod address
    for (const k of [0, 2]) {
      const n = NODES[k]!;
      await ipIn(node[k]!, `link add ${CABLE} type veth peer name cab${n.i} netns ${remote}\naddress add 172.30.${n.i}.1/30 dev ${CABLE}\nlink set ${CABLE} up`);
      await ipIn(remote, `address add 172.30.${n.i}.2/30 dev cab${n.i}\nlink set cab${n.i} up`);
    }
    await ipIn(remote, `address add ${REMOTE_POD}/32 dev lo\nroute add 10.244.0.0/16 via 172.30.1.1`);
    // what the remote side sees as the source of pod traffic
    await run(remote, 'nft', ['-f', '-'], `table ip observe {
  chain in {
    type filter hook input priority 0; policy accept;
    ip saddr 10.244.2.2 icmp type echo-request counter comment "from-pod"
    ip saddr != 10.244.0.0/16 icmp type echo-request counter comment "masqueraded"
  }
}
`);
    // someone else's NAT that masquerades everything, in nftables and both iptables flavours
    for (const k of [0, 1, 2]) {
      await run(node[k]!, 'nft', ['-f', '-'], 'table ip foreign {\n chain post {\n  type nat hook postrouting priority srcnat; policy accept;\n  masquerade\n }\n}\n');
    }
    await run(node[0]!, 'iptables-legacy', ['-t', 'nat', '-A', 'POSTROUTING', '-j', 'MASQUERADE']);
    await run(node[1]!, 'iptables-nft', ['-t', 'nat', '-A', 'POSTROUTING', '-j', 'MASQUERADE']);
    // strict reverse-path filtering on the gateway: only vx-submariner's loose mode lets node pods through
    await sysctlIn(node[0]!, 'net.ipv4.conf.all.rp_filter=1');
    for (const N of node) dp.push(new RouteAgentDataplane({ netns: N, log }));
  });

  after(async () => {
    await Promise.all(dp.map((d) => d.close()));
    await nss.cleanup();
  });

  it('a pod on a non-gateway node reaches the remote cluster through vx-submariner and the gateway, and back', async () => {
    const reports = await reconcileAll(0);
    for (const r of reports) assert.deepEqual(r.failures, []);
    const vxBefore = await rxPackets(node[0]!, 'vx-submariner');
    await waitFor(() => ping(pod[1]!, REMOTE_POD), { timeoutMs: 5000, what: 'pod on node-2 -> remote pod' });
    assert.ok((await rxPackets(node[0]!, 'vx-submariner')) > vxBefore, 'the gateway received the pod traffic on vx-submariner');
    assert.ok((await nftCounter(remote, 'from-pod')) > 0, 'the remote side saw the pod IP');
    assert.equal(await nftCounter(remote, 'masqueraded'), 0, 'no foreign masquerade rewrote local->remote traffic');
    // the return direction: the remote cluster opens a flow to the pod, which is not masqueraded either
    await waitFor(() => ping(remote, NODES[1]!.pod, REMOTE_POD), { timeoutMs: 5000, what: 'remote -> pod on node-2' });
    await waitFor(() => ping(pod[2]!, REMOTE_POD), { timeoutMs: 5000, what: 'pod on node-3 -> remote pod' });
    await waitFor(() => ping(pod[0]!, REMOTE_POD), { timeoutMs: 5000, what: 'pod on the gateway -> remote pod' });
    // host networking uses the CNI address as source (route src), so the remote can answer
    await waitFor(() => ping(node[1]!, REMOTE_POD), { timeoutMs: 5000, what: 'node-2 host -> remote pod' });
    assert.equal((await run(node[1]!, 'sysctl', ['-n', 'net.ipv4.conf.vx-submariner.rp_filter'])).trim(), '2');
  });

  it('a second reconcile writes nothing', async () => {
    const reports = await reconcileAll(0);
    assert.deepEqual(reports.map((r) => r.total), [0, 0, 0]);
  });

  it('a remote CIDR added later costs one route and one firewall transaction per node', async () => {
    const more = (k: number): RouteAgentInput => ({ ...input(k, 0), remoteCidrs: [...input(k, 0).remoteCidrs, '172.28.0.0/16'] });
    const reports = await Promise.all(dp.map((d, k) => d.reconcile(planRouteAgent(more(k)))));
    assert.deepEqual(reports.map((r) => [r.routes, r.nft, r.total]), [[1, 1, 2], [1, 1, 2], [1, 1, 2]]);
    assert.match(await run(node[1]!, 'nft', ['list', 'set', 'ip', 'hawser', 'SUBMARINER-REMOTECIDRS']), /172\.28\.0\.0\/16/);
    const back = await reconcileAll(0);
    assert.deepEqual(back.map((r) => r.total), [2, 2, 2]);
  });

  it('without our identity SNAT the foreign masquerade wins; a reconcile puts it back', async () => {
    await run(node[0]!, 'nft', ['flush', 'chain', 'ip', 'hawser', 'SUBMARINER-POSTROUTING']);
    await run(node[1]!, 'nft', ['flush', 'chain', 'ip', 'hawser', 'SUBMARINER-POSTROUTING']);
    const masqueraded = await nftCounter(remote, 'masqueraded');
    await waitFor(() => ping(pod[1]!, REMOTE_POD), { timeoutMs: 5000, what: 'pod on node-2 -> remote pod, unprotected' });
    assert.ok((await nftCounter(remote, 'masqueraded')) > masqueraded, 'the foreign masquerade rewrote the source');
    const reports = await reconcileAll(0);
    assert.deepEqual(reports.map((r) => r.nft), [1, 1, 0]);
    const fromPod = await nftCounter(remote, 'from-pod');
    const after = await nftCounter(remote, 'masqueraded');
    await waitFor(() => ping(pod[1]!, REMOTE_POD), { timeoutMs: 5000, what: 'pod on node-2 -> remote pod, protected again' });
    assert.ok((await nftCounter(remote, 'from-pod')) > fromPod);
    assert.equal(await nftCounter(remote, 'masqueraded'), after);
  });

  it('switching the active gateway re-points every node in one reconcile', async () => {
    await sysctlIn(node[0]!, 'net.ipv4.conf.all.rp_filter=0');
    // the cable moves with the gateway (the cable driver's job; here the remote's route back)
    await ipIn(remote, 'route replace 10.244.0.0/16 via 172.30.3.1');
    const reports = await reconcileAll(2);
    for (const r of reports) assert.deepEqual(r.failures, []);
    const vxBefore = await rxPackets(node[2]!, 'vx-submariner');
    await waitFor(() => ping(pod[1]!, REMOTE_POD), { timeoutMs: 3000, what: 'pod on node-2 -> remote pod after failover' });
    await waitFor(() => ping(pod[0]!, REMOTE_POD), { timeoutMs: 3000, what: 'pod on the old gateway -> remote pod after failover' });
    assert.ok((await rxPackets(node[2]!, 'vx-submariner')) > vxBefore, 'traffic now enters the new gateway on vx-submariner');
    const ms = reports.map((r) => Math.round(r.durationMs));
    const writes = reports.map((r) => r.total);
    // node-2: 2 FDB adds, 2 route replaces, 2 FDB deletes (no static ARP); no firewall change on any node
    assert.equal(reports[1]!.total, 6);
    assert.deepEqual(reports.map((r) => r.nft), [0, 0, 0]);
    // a sanity bound only (one batch of writes, not a process per route): ~120 ms on a quiet machine,
    // 516 ms was seen at load 33, so the figure is printed rather than held to a tight limit
    for (const d of ms) assert.ok(d < 2000, `reconcile took ${d} ms`);
    process.stdout.write(`      failover reconcile: ${ms.join(' / ')} ms, writes ${writes.join(' / ')}\n`);
    const again = await reconcileAll(2);
    assert.deepEqual(again.map((r) => r.total), [0, 0, 0]);
  });

  it('uninstall leaves no trace of ours and everyone else\'s NAT in place', async () => {
    await Promise.all(dp.map((d) => d.uninstall()));
    for (const N of node) {
      assert.doesNotMatch(await run(N, 'ip', ['link', 'show']), /vx-submariner/);
      assert.doesNotMatch(await run(N, 'ip', ['route', 'show', 'table', 'all']), /proto 147/);
      assert.doesNotMatch(await run(N, 'ip', ['rule', 'show']), /lookup 150/);
      const rules = await run(N, 'nft', ['list', 'ruleset']);
      assert.doesNotMatch(rules, /table ip hawser/);
      assert.match(rules, /table ip foreign/);
    }
    assert.match(await run(node[0]!, 'iptables-legacy-save', []), /-A POSTROUTING -j MASQUERADE/);
    assert.equal(await ping(pod[1]!, REMOTE_POD), false, 'nothing routes to the remote cluster any more');
  });
});
