import assert from 'node:assert/strict';
import {
  allPods, formatTopology, planLab, resolveOptions, resolveTarget, type LabOptions, type LabSecrets, type LabTopology,
} from '../../src/lab/topology.js';
import { isHawserError } from '../../src/util/errors.js';

const SECRETS: LabSecrets = {
  psk: 'cHNrLXRleHQtZm9yLXRlc3Rz',
  adminTokens: { 'cluster-a': 'admin-a-token', 'cluster-b': 'admin-b-token' },
  brokerTokens: { 'cluster-a': 'broker-a-token', 'cluster-b': 'broker-b-token' },
};

function plan(o: Partial<LabOptions> = {}): LabTopology {
  return planLab(resolveOptions({ name: 'x1', repoRoot: '/repo', stateRoot: '/run/l', ...o }), SECRETS);
}

function section(text: string, from: string, until?: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l === from);
  assert.ok(start >= 0, `no line ${from}`);
  let end = lines.findIndex((l, i) => i > start && !l.startsWith('  '));
  if (until) end = lines.findIndex((l) => l === until);
  return lines.slice(start, end).join('\n') + '\n';
}

describe('lab: topology planner', () => {
  it('plans two clusters with two gateways and a worker each (defaults)', () => {
    const t = plan();
    assert.deepEqual(t.clusters.map((c) => [c.id, c.lanCidr, c.podCidr, c.serviceCidr, c.apiServer, c.routerWanIp, c.behindNat]), [
      ['cluster-a', '172.16.0.0/24', '10.42.0.0/16', '10.43.0.0/16', '172.16.0.2:6443', '198.18.0.1', false],
      ['cluster-b', '172.17.0.0/24', '10.44.0.0/16', '10.45.0.0/16', '172.17.0.2:6443', '198.18.0.2', false],
    ]);
    assert.deepEqual(t.clusters[1]!.nodes.map((n) => [n.name, n.netns, n.ip, n.podCidr, n.cniIp, n.gateway, n.roles.join('+')]), [
      ['b-gw1', 'hw-x1-b-gw1', '172.17.0.11', '10.44.0.0/24', '10.44.0.1', true, 'gateway+route-agent'],
      ['b-gw2', 'hw-x1-b-gw2', '172.17.0.12', '10.44.1.0/24', '10.44.1.1', true, 'gateway+route-agent'],
      ['b-wk1', 'hw-x1-b-wk1', '172.17.0.13', '10.44.2.0/24', '10.44.2.1', false, 'route-agent'],
    ]);
    assert.deepEqual(allPods(t).map((p) => `${p.name}@${p.node}=${p.ip}`), [
      'a-gw1-pod1@a-gw1=10.42.0.2', 'a-gw2-pod1@a-gw2=10.42.1.2', 'a-wk1-pod1@a-wk1=10.42.2.2',
      'b-gw1-pod1@b-gw1=10.44.0.2', 'b-gw2-pod1@b-gw2=10.44.1.2', 'b-wk1-pod1@b-wk1=10.44.2.2',
    ]);
    assert.equal(t.namespaces.length, 17);
    assert.equal(t.brokerCluster, 'cluster-a');
    assert.equal(t.stateFile, '/run/l/x1/state.json');
  });

  it('gives gateway nodes the Submariner label and public-ip annotation, the worker neither', () => {
    const [gw, , wk] = plan().clusters[0]!.nodes;
    assert.deepEqual(gw!.labels, { 'kubernetes.io/hostname': 'a-gw1', 'kubernetes.io/os': 'linux', 'submariner.io/gateway': 'true' });
    assert.deepEqual(gw!.annotations, { 'gateway.submariner.io/public-ip': 'ipv4:172.16.0.11' });
    assert.deepEqual(wk!.labels, { 'kubernetes.io/hostname': 'a-wk1', 'kubernetes.io/os': 'linux' });
    assert.deepEqual(wk!.annotations, {});
  });

  it('wires a node host-gw style: LAN, cni0 bridge with its pods, routes to the other nodes\' pod /24s', () => {
    const text = formatTopology(plan());
    assert.equal(section(text, 'netns hw-x1-a-gw2 (node)'), [
      'netns hw-x1-a-gw2 (node)',
      '  sysctl net.ipv4.ip_forward=1',
      '  ip link set lo up',
      '  ip link set eth0 up',
      '  ip addr add 172.16.0.12/24 dev eth0',
      '  ip link add name cni0 type bridge',
      '  ip link set cni0 up',
      '  ip addr add 10.42.1.1/24 dev cni0',
      '  ip link set veth-pod1 master cni0',
      '  ip link set veth-pod1 up',
      '  ip route add default via 172.16.0.1',
      '  ip route add 10.42.0.0/24 via 172.16.0.11',
      '  ip route add 10.42.2.0/24 via 172.16.0.13',
    ].join('\n') + '\n');
    assert.equal(section(text, 'netns hw-x1-a-gw2-pod1 (pod)'), [
      'netns hw-x1-a-gw2-pod1 (pod)',
      '  ip link set lo up',
      '  ip link set eth0 up',
      '  ip addr add 10.42.1.2/24 dev eth0',
      '  ip route add default via 10.42.1.1',
    ].join('\n') + '\n');
  });

  it('puts a masquerading router in front of the last cluster with --nat, and no route into it', () => {
    const t = plan({ nat: true, gatewaysPerCluster: 1, workersPerCluster: 0 });
    const text = formatTopology(t);
    assert.equal(section(text, 'netns hw-x1-a-rtr (router)'), [
      'netns hw-x1-a-rtr (router)',
      '  sysctl net.ipv4.ip_forward=1',
      '  sysctl net.bridge.bridge-nf-call-iptables=0',
      '  ip link set lo up',
      '  ip link add name br-lan type bridge',
      '  ip link set br-lan up',
      '  ip addr add 172.16.0.1/24 dev br-lan',
      '  ip link set wan up',
      '  ip addr add 198.18.0.1/24 dev wan',
      '  ip link set cp master br-lan',
      '  ip link set cp up',
      '  ip link set gw1 master br-lan',
      '  ip link set gw1 up',
    ].join('\n') + '\n');
    assert.equal(section(text, 'netns hw-x1-b-rtr (router)'), [
      'netns hw-x1-b-rtr (router)',
      '  sysctl net.ipv4.ip_forward=1',
      '  sysctl net.bridge.bridge-nf-call-iptables=0',
      '  ip link set lo up',
      '  ip link add name br-lan type bridge',
      '  ip link set br-lan up',
      '  ip addr add 172.17.0.1/24 dev br-lan',
      '  ip link set wan up',
      '  ip addr add 198.18.0.2/24 dev wan',
      '  ip route add 172.16.0.0/24 via 198.18.0.1',
      '  ip link set cp master br-lan',
      '  ip link set cp up',
      '  ip link set gw1 master br-lan',
      '  ip link set gw1 up',
      '  nft table ip hawser-lab {',
      '  nft   chain postrouting {',
      '  nft     type nat hook postrouting priority 100; policy accept;',
      '  nft     oifname "wan" ip saddr 172.17.0.0/24 masquerade',
      '  nft   }',
      '  nft }',
    ].join('\n') + '\n');
    assert.equal(t.namespaces.find((n) => n.name === 'hw-x1-b-rtr')!.nft,
      'table ip hawser-lab {\n  chain postrouting {\n    type nat hook postrouting priority 100; policy accept;\n    oifname "wan" ip saddr 172.17.0.0/24 masquerade\n  }\n}\n');
    const b = t.clusters[1]!;
    assert.equal(b.behindNat, true);
    assert.equal(b.nodes[0]!.annotations['gateway.submariner.io/public-ip'], 'ipv4:198.18.0.2');
    const gwEnv = t.processes.find((p) => p.id === 'b-gw1/gateway')!.env;
    assert.equal(gwEnv.SUBMARINER_NATENABLED, 'true');
    assert.equal(t.processes.find((p) => p.id === 'a-gw1/gateway')!.env.SUBMARINER_NATENABLED, 'false');
  });

  it('joins the routers on one WAN bridge and lists every veth', () => {
    const t = plan({ gatewaysPerCluster: 1, workersPerCluster: 0 });
    const veths = formatTopology(t).split('\n').filter((l) => l.startsWith('veth '));
    assert.deepEqual(veths, [
      'veth hw-x1-wan/wan-a <-> hw-x1-a-rtr/wan',
      'veth hw-x1-wan/wan-b <-> hw-x1-b-rtr/wan',
      'veth hw-x1-a-rtr/cp <-> hw-x1-a-cp/eth0',
      'veth hw-x1-a-gw1/veth-pod1 <-> hw-x1-a-gw1-pod1/eth0',
      'veth hw-x1-a-rtr/gw1 <-> hw-x1-a-gw1/eth0',
      'veth hw-x1-b-rtr/cp <-> hw-x1-b-cp/eth0',
      'veth hw-x1-b-gw1/veth-pod1 <-> hw-x1-b-gw1-pod1/eth0',
      'veth hw-x1-b-rtr/gw1 <-> hw-x1-b-gw1/eth0',
    ]);
    assert.equal(section(formatTopology(t), 'netns hw-x1-wan (wan)'), [
      'netns hw-x1-wan (wan)',
      '  sysctl net.bridge.bridge-nf-call-iptables=0',
      '  ip link set lo up',
      '  ip link add name br-wan type bridge',
      '  ip link set br-wan up',
      '  ip link set wan-a master br-wan',
      '  ip link set wan-a up',
      '  ip link set wan-b master br-wan',
      '  ip link set wan-b up',
    ].join('\n') + '\n');
  });

  it('overlaps pod and service CIDRs with globalnet and runs globalnet on the gateways', () => {
    const t = plan({ globalnet: true });
    assert.deepEqual(t.clusters.map((c) => [c.podCidr, c.serviceCidr, c.globalCidr]), [
      ['10.42.0.0/16', '10.43.0.0/16', '242.0.0.0/16'],
      ['10.42.0.0/16', '10.43.0.0/16', '242.1.0.0/16'],
    ]);
    assert.equal(t.clusters[1]!.nodes[0]!.pods[0]!.ip, '10.42.0.2');
    assert.deepEqual(t.clusters[1]!.nodes.map((n) => n.roles.join('+')), ['gateway+route-agent+globalnet', 'gateway+route-agent+globalnet', 'route-agent']);
    assert.equal(t.processes.find((p) => p.id === 'b-gw2/globalnet')!.env.SUBMARINER_GLOBALCIDR, '242.1.0.0/16');
    assert.equal(t.processes.find((p) => p.id === 'b-wk1/route-agent')!.env.SUBMARINER_GLOBALCIDR, '242.1.0.0/16');
  });

  it('gives a gateway the environment the operator would', () => {
    const t = plan({ driver: 'wireguard', logLevel: 'debug', roleEnv: { HAWSER_LEASE_DURATION: '1' } });
    const p = t.processes.find((x) => x.id === 'b-gw2/gateway')!;
    assert.deepEqual(p.argv, ['/repo/bin/hawser', 'gateway']);
    assert.equal(p.netns, 'hw-x1-b-gw2');
    assert.deepEqual(p.privateMount, { hostname: 'b-gw2', wireguardDir: '/run/l/x1/nodes/b-gw2/wireguard' });
    assert.equal(p.log, '/run/l/x1/logs/b-gw2.gateway.log');
    assert.deepEqual(p.env, {
      SUBMARINER_NAMESPACE: 'submariner-operator',
      SUBMARINER_CLUSTERID: 'cluster-b',
      SUBMARINER_CLUSTERCIDR: '10.44.0.0/16',
      SUBMARINER_SERVICECIDR: '10.45.0.0/16',
      SUBMARINER_CABLEDRIVER: 'wireguard',
      SUBMARINER_NATENABLED: 'false',
      CE_IPSEC_PSK: 'cHNrLXRleHQtZm9yLXRlc3Rz',
      BROKER_K8S_APISERVER: '172.16.0.2:6443',
      BROKER_K8S_APISERVERTOKEN: 'broker-b-token',
      BROKER_K8S_REMOTENAMESPACE: 'submariner-k8s-broker',
      HAWSER_IPSEC_USERSPACE: 'true',
      HAWSER_RELEASE_ON_STOP: 'true',
      NODE_NAME: 'b-gw2',
      POD_NAME: 'submariner-gateway-b-gw2',
      POD_NAMESPACE: 'submariner-operator',
      KUBECONFIG: '/run/l/x1/clusters/cluster-b/kubeconfig',
      HAWSER_STATE_DIR: '/run/l/x1/nodes/b-gw2/state',
      LOG_LEVEL: 'debug',
      HAWSER_LEASE_DURATION: '1',
    });
    // The broker CA is read when the process starts (it is generated after planning).
    assert.deepEqual(p.envFromFiles, { BROKER_K8S_CA: '/run/l/x1/clusters/cluster-a/tls/ca.crt' });
    assert.deepEqual(plan({ roleCommand: '/opt/stub' }).processes.find((x) => x.id === 'a-wk1/route-agent')!.argv, ['/opt/stub', 'route-agent']);
    const ra = t.processes.find((x) => x.id === 'b-wk1/route-agent')!;
    assert.equal(ra.env.CE_IPSEC_PSK, undefined, 'the PSK goes to gateways only');
    assert.equal(ra.env.POD_NAME, 'submariner-routeagent-b-wk1');
  });

  it('starts API servers, relays and the forwarder before the roles', () => {
    const t = plan({ gatewaysPerCluster: 1, workersPerCluster: 0 });
    assert.deepEqual(t.processes.map((p) => `${p.id}@${p.netns ?? 'root'}`), [
      'cluster-a/apiserver@hw-x1-a-cp', 'cluster-a/relay@hw-x1-a-cp',
      'cluster-b/apiserver@hw-x1-b-cp', 'cluster-b/relay@hw-x1-b-cp',
      'lab/forwarder@root',
      'a-gw1/gateway@hw-x1-a-gw1', 'a-gw1/route-agent@hw-x1-a-gw1',
      'b-gw1/gateway@hw-x1-b-gw1', 'b-gw1/route-agent@hw-x1-b-gw1',
    ]);
    assert.deepEqual(t.processes[0]!.argv, ['/repo/bin/hawser', 'apiserver', '--listen', '172.16.0.2:6443', '--tls-dir', '/run/l/x1/clusters/cluster-a/tls',
      '--token-file', '/run/l/x1/clusters/cluster-a/tokens.yaml', '--data-dir', '/run/l/x1/clusters/cluster-a/data', '--crds', '/repo/deploy/crds']);
    assert.deepEqual(t.processes[4]!.argv, ['/repo/bin/hawser', 'lab', 'port-forward', '--ports-file', '/run/l/x1/forward-ports.json', '--state-file', '/run/l/x1/state.json',
      'cluster-a=/run/l/x1/clusters/cluster-a/api.sock', 'cluster-b=/run/l/x1/clusters/cluster-b/api.sock']);
  });

  it('keeps names within kernel limits and inside the lab prefix', () => {
    const t = plan({ name: 'abcdefghijkl', clusters: 8, gatewaysPerCluster: 4, workersPerCluster: 4, podsPerNode: 8 });
    for (const v of t.veths) {
      for (const end of [v.a, v.b]) {
        assert.ok(end.name.length <= 15, `link ${end.name}`);
        assert.ok(end.netns.startsWith('hw-abcdefghijkl-'), end.netns);
      }
    }
    const names = t.namespaces.map((n) => n.name);
    assert.equal(new Set(names).size, names.length);
    for (const ns of t.namespaces) for (const l of ns.ip) assert.doesNotMatch(l, /netns/, 'per-netns batches never move links');
    const ips = allPods(t).map((p) => p.ip);
    assert.equal(new Set(ips).size, ips.length);
  });

  it('masks secrets in the printed plan', () => {
    const text = formatTopology(plan());
    assert.doesNotMatch(text, /cHNrLXRleHQ|broker-a-token|admin-a-token/);
    assert.match(text, /env CE_IPSEC_PSK=\*\*\*/);
  });

  it('resolves exec targets', () => {
    const t = plan();
    assert.equal(resolveTarget(t, 'cluster-b')!.netns, 'hw-x1-b-cp');
    assert.equal(resolveTarget(t, 'a-wk1')!.netns, 'hw-x1-a-wk1');
    assert.equal(resolveTarget(t, 'b-gw2-pod1')!.netns, 'hw-x1-b-gw2-pod1');
    assert.equal(resolveTarget(t, 'b-gw2-pod1')!.cluster!.id, 'cluster-b');
    assert.equal(resolveTarget(t, 'a-rtr')!.netns, 'hw-x1-a-rtr');
    assert.equal(resolveTarget(t, 'wan')!.netns, 'hw-x1-wan');
    assert.equal(resolveTarget(t, 'nope'), undefined);
  });

  it('rejects bad options with the option named', () => {
    const bad = (o: Partial<LabOptions>, re: RegExp): void => {
      assert.throws(() => resolveOptions({ name: 'x1', repoRoot: '/repo', ...o }), (e: unknown) => isHawserError(e, 'INVALID') && re.test(e.message));
    };
    bad({ name: 'Bad-Name' }, /name "Bad-Name"/);
    bad({ name: 'a'.repeat(13) }, /name/);
    bad({ clusters: 0 }, /clusters/);
    bad({ clusters: 9 }, /clusters/);
    bad({ driver: 'ipsec' as LabOptions['driver'] }, /driver/);
    bad({ nat: true, clusters: 1 }, /nat/);
    bad({ podsPerNode: 0 }, /podsPerNode/);
    bad({ stateRoot: 'relative' }, /absolute/);
    bad({ roleCommand: 'bin/hawser' }, /roleCommand/);
  });
});
