// A rolling migration inside one cluster: two nodes run hawser's route agent, two are configured the way
// Submariner's route agent configures them (built here with iproute2 as pkg/routeagent_driver/handlers/
// kubeproxy/vxlan.go and pkg/vxlan/vxlan.go do, submariner-io/submariner @ 5b70b1e: vx-submariner VNI 100,
// dstport 4800, no address given so the kernel picks a random MAC, learning off (vishvananda/netlink sends
// IFLA_VXLAN_LEARNING=0 unless asked), no static ARP; workers `remote <gateway node IP>` and remote CIDRs
// in the main table via the gateway's VTEP with proto 4; the gateway with flood FDB entries to every other
// node, loose rp_filter and the table-150 host-network routes). Pods on every node reach the remote
// cluster and back, with the gateway first on a hawser node and then on a Submariner node; VTEPs answer
// across vx-submariner both ways.
import assert from 'node:assert/strict';
import { createLogger } from '../../src/log/index.js';
import { planRouteAgent, RouteAgentDataplane, vtepIP, vtepMac, type RouteAgentInput } from '../../src/routeagent/index.js';
import { exec } from '../../src/util/exec.js';
import { waitFor } from '../../src/util/wait.js';
import { ipIn, Namespaces, ping, run, sysctlIn } from '../support/netns-commands.js';

const log = createLogger({ level: process.env.LOG_LEVEL ?? 'fatal' });
const NODES = [1, 2, 3, 4].map((i) => ({ i, name: `node-${i}`, ip: `192.168.70.1${i}`, pod: `10.244.${i}.2`, cni: `10.244.${i}.1` }));
/** Which nodes run hawser (the others are Submariner-configured). */
const HAWSER = [0, 1];
const REMOTE_POD = '172.31.0.1';
const REMOTE_CIDRS = ['172.31.0.0/16', '172.29.0.0/16'];
const CABLE = 'cable0';

interface LinkJson { address: string }
interface NeighJson { dst: string; lladdr?: string; state?: string[] }

describe('routeagent: hawser and Submariner route agents in one cluster @real', function () {
  this.timeout(90_000);
  const nss = new Namespaces();
  let lan = '';
  let remote = '';
  const node: string[] = [];
  const pod: string[] = [];
  const dp = new Map<number, RouteAgentDataplane>();

  const input = (k: number, gw: number): RouteAgentInput => ({
    nodeName: NODES[k]!.name,
    nodeIP: NODES[k]!.ip,
    nodes: NODES.map((n) => ({ name: n.name, ip: n.ip })),
    activeGateway: { nodeName: NODES[gw]!.name, nodeIP: NODES[gw]!.ip },
    localClusterCidrs: ['10.244.0.0/16'],
    localServiceCidrs: ['10.96.0.0/12'],
    remoteCidrs: REMOTE_CIDRS,
    cableDriver: 'libreswan',
    cableInterface: CABLE,
    mtu: 1500,
    cniInterface: { name: 'cni0', ip: NODES[k]!.cni },
  });
  const reconcileHawser = async (gw: number): Promise<void> => {
    for (const k of HAWSER) {
      const plan = planRouteAgent(input(k, gw));
      assert.deepEqual(plan.warnings, []);
      const r = await dp.get(k)!.reconcile(plan);
      assert.deepEqual(r.failures, []);
    }
  };

  /** vx-submariner as pkg/vxlan createLinkDevice makes it; an existing one with another group is deleted first, as there. */
  const submarinerLink = async (k: number, gatewayIP?: string): Promise<void> => {
    const N = node[k]!;
    await exec('ip', ['-n', N, 'link', 'del', 'vx-submariner'], { allowFailure: true });
    await ipIn(N, `link add vx-submariner mtu 1450 type vxlan id 100 ${gatewayIP ? `remote ${gatewayIP} ` : ''}dstport 4800 nolearning
link set vx-submariner up
address add ${vtepIP(NODES[k]!.ip)}/8 dev vx-submariner`);
    await sysctlIn(N, 'net.ipv4.conf.vx-submariner.forwarding=1');
  };
  /** A Submariner non-gateway node: `remote <gw>`, remote CIDRs in the main table via the gateway VTEP (routes_iface.go). */
  const submarinerWorker = async (k: number, gw: number): Promise<void> => {
    await submarinerLink(k, NODES[gw]!.ip);
    await ipIn(node[k]!, REMOTE_CIDRS.map((c) => `route replace ${c} via ${vtepIP(NODES[gw]!.ip)} dev vx-submariner proto 4`).join('\n'));
  };
  /** A Submariner gateway node: flood entries to every other node, loose rp_filter, table 150 + rule for host networking. */
  const submarinerGateway = async (k: number): Promise<void> => {
    const N = node[k]!;
    await submarinerLink(k);
    await exec('bridge', ['-batch', '-'], { netns: N, input: NODES.filter((_, j) => j !== k).map((o) => `fdb append 00:00:00:00:00:00 dev vx-submariner dst ${o.ip}`).join('\n') + '\n' });
    await sysctlIn(N, 'net.ipv4.conf.vx-submariner.rp_filter=2');
    await ipIn(N, ['rule add pref 150 table 150', ...REMOTE_CIDRS.map((c) => `route replace ${c} dev ${CABLE} src ${NODES[k]!.cni} table 150 proto 4`),
      // stand-in for the cable driver's own routing of the remote CIDRs
      ...REMOTE_CIDRS.map((c) => `route replace ${c} dev ${CABLE}`)].join('\n'));
  };

  const macOf = async (k: number): Promise<string> => (JSON.parse(await run(node[k]!, 'ip', ['-j', 'link', 'show', 'vx-submariner'])) as LinkJson[])[0]!.address;
  const neighbours = async (k: number): Promise<NeighJson[]> => JSON.parse(await run(node[k]!, 'ip', ['-j', 'neigh', 'show', 'dev', 'vx-submariner'])) as NeighJson[];

  /** Every pod reaches the remote pod, and the remote reaches every pod. */
  const everyPodBothWays = async (what: string): Promise<void> => {
    for (const [k, n] of NODES.entries()) {
      await waitFor(() => ping(pod[k]!, REMOTE_POD), { timeoutMs: 5000, what: `${what}: pod on ${n.name} -> remote pod` });
      await waitFor(() => ping(remote, n.pod, REMOTE_POD), { timeoutMs: 5000, what: `${what}: remote -> pod on ${n.name}` });
    }
  };

  before(async () => {
    lan = await nss.create('hw-mxlan');
    remote = await nss.create('hw-mxrem');
    for (const n of NODES) {
      const N = await nss.create(`hw-mxn${n.i}`);
      node.push(N);
      pod.push(await nss.create(`hw-mxp${n.i}`));
      // before any device exists, so every device inherits it
      await sysctlIn(N, 'net.ipv4.conf.all.rp_filter=0');
      await sysctlIn(N, 'net.ipv4.conf.default.rp_filter=0');
    }
    await ipIn(lan, 'link add br0 type bridge\nlink set br0 up');
    for (const [k, n] of NODES.entries()) {
      const N = node[k]!;
      await ipIn(lan, `link add eth0 netns ${N} type veth peer name port${n.i}\nlink set port${n.i} master br0\nlink set port${n.i} up`);
      await ipIn(pod[k]!, `link add eth0 type veth peer name cni0 netns ${N}\naddress add ${n.pod}/24 dev eth0\nlink set eth0 up\nroute add default via ${n.cni}`);
      // a host-gw style CNI: the other nodes' pod subnets via their node IPs
      const others = NODES.filter((o) => o.i !== n.i).map((o) => `route add 10.244.${o.i}.0/24 via ${o.ip}`).join('\n');
      await ipIn(N, `address add ${n.ip}/24 dev eth0\nlink set eth0 up\naddress add ${n.cni}/24 dev cni0\nlink set cni0 up\n${others}`);
      await sysctlIn(N, 'net.ipv4.ip_forward=1');
    }
    // cables from the two gateway-capable nodes: node-1 (hawser) and node-3 (Submariner)
    for (const k of [0, 2]) {
      const n = NODES[k]!;
      await ipIn(node[k]!, `link add ${CABLE} type veth peer name cab${n.i} netns ${remote}\naddress add 172.30.${n.i}.1/30 dev ${CABLE}\nlink set ${CABLE} up`);
      await ipIn(remote, `address add 172.30.${n.i}.2/30 dev cab${n.i}\nlink set cab${n.i} up`);
    }
    await ipIn(remote, `address add ${REMOTE_POD}/32 dev lo\nroute add 10.244.0.0/16 via 172.30.1.1`);
    for (const k of HAWSER) dp.set(k, new RouteAgentDataplane({ netns: node[k]!, log }));
  });

  after(async () => {
    await Promise.all([...dp.values()].map((d) => d.close()));
    await nss.cleanup();
  });

  it('gateway on a hawser node: pods on hawser and Submariner nodes reach the remote cluster, both ways', async () => {
    await reconcileHawser(0);
    await submarinerWorker(2, 0);
    await submarinerWorker(3, 0);
    // Submariner nodes own kernel-random MACs, not hawser's derived ones
    for (const k of [2, 3]) assert.notEqual(await macOf(k), vtepMac(NODES[k]!.ip));
    await everyPodBothWays('hawser gateway');
  });

  it('VTEPs answer across vx-submariner both ways, with the real MACs learned by ARP and nothing static', async () => {
    for (const k of [1, 2, 3]) {
      await waitFor(() => ping(node[k]!, vtepIP(NODES[0]!.ip)), { timeoutMs: 5000, what: `${NODES[k]!.name} -> gateway VTEP` });
      await waitFor(() => ping(node[0]!, vtepIP(NODES[k]!.ip)), { timeoutMs: 5000, what: `gateway -> ${NODES[k]!.name} VTEP` });
    }
    const seen = await neighbours(0);
    for (const k of [2, 3]) {
      const n = seen.find((x) => x.dst === vtepIP(NODES[k]!.ip));
      assert.equal(n?.lladdr, await macOf(k), `the gateway resolved ${NODES[k]!.name}'s real MAC`);
    }
    for (const k of HAWSER) assert.ok((await neighbours(k)).every((x) => !x.state?.includes('PERMANENT')), 'no static ARP on hawser nodes');
  });

  it('gateway moves to a Submariner node: hawser nodes re-point in one reconcile and reach it through ARP', async () => {
    // what Submariner does on its nodes when node-3 becomes the gateway; the cable moves with it
    await submarinerGateway(2);
    await submarinerWorker(3, 2);
    await ipIn(remote, 'route replace 10.244.0.0/16 via 172.30.3.1');
    const t0 = performance.now();
    await reconcileHawser(2);
    await waitFor(() => ping(pod[1]!, REMOTE_POD), { timeoutMs: 3000, what: 'pod on hawser node-2 -> remote via the Submariner gateway' });
    const ms = Math.round(performance.now() - t0);
    process.stdout.write(`      hawser worker through the new Submariner gateway: first reply ${ms} ms after the re-point began\n`);
    const n2 = (await neighbours(1)).find((x) => x.dst === vtepIP(NODES[2]!.ip));
    assert.equal(n2?.lladdr, await macOf(2), 'node-2 resolved the Submariner gateway\'s random MAC');
    await everyPodBothWays('Submariner gateway').catch(async (err: unknown) => {
      // what the hawser node and the Submariner gateway hold on vx-submariner, for whoever reads the failure
      const state = await Promise.all([0, 2].flatMap((k) => [['neigh', 'show', 'dev', 'vx-submariner'], ['fdb', 'show', 'dev', 'vx-submariner']].map((a) =>
        run(node[k]!, a[0] === 'fdb' ? 'bridge' : 'ip', a).then((o) => `${NODES[k]!.name}: ${a.join(' ')}\n${o}`))));
      throw new Error(`${String(err)}\n${state.join('\n')}`);
    });
    await waitFor(() => ping(node[2]!, vtepIP(NODES[1]!.ip)), { timeoutMs: 5000, what: 'Submariner gateway -> hawser node-2 VTEP' });
  });

  it('a static derived-MAC ARP entry (what hawser used to install) blackholes the Submariner gateway; a reconcile removes it', async () => {
    const gwVtep = vtepIP(NODES[2]!.ip);
    await ipIn(node[1]!, `neigh replace ${gwVtep} lladdr ${vtepMac(NODES[2]!.ip)} dev vx-submariner nud permanent`);
    assert.equal(await ping(pod[1]!, REMOTE_POD), false, 'frames to a MAC the Submariner gateway does not own are dropped');
    await reconcileHawser(2);
    await waitFor(() => ping(pod[1]!, REMOTE_POD), { timeoutMs: 3000, what: 'pod on node-2 -> remote after the reconcile' });
  });
});
