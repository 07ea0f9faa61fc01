import assert from 'node:assert/strict';
import { parseMssAnnotation, planCounts, planRouteAgent, planToText, type RouteAgentInput } from '../../src/routeagent/index.js';
import { isHawserError } from '../../src/util/errors.js';

// One fixture world: three nodes on 10.0.0.0/24, local 10.244.0.0/16 + 10.96.0.0/12, one remote cluster.
const nodes = [
  { name: 'n1', ip: '10.0.0.11' },
  { name: 'n2', ip: '10.0.0.12' },
  { name: 'n3', ip: '10.0.0.13' },
];
const base: RouteAgentInput = {
  nodeName: 'n2',
  nodeIP: '10.0.0.12',
  nodes,
  activeGateway: { nodeName: 'n1', nodeIP: '10.0.0.11' },
  localClusterCidrs: ['10.244.0.0/16'],
  localServiceCidrs: ['10.96.0.0/12'],
  remoteCidrs: ['10.245.0.0/16', '10.112.0.0/12'],
  cableDriver: 'libreswan',
};

interface Case {
  name: string;
  input: RouteAgentInput;
  want: string;
}

const cases: Case[] = [
  {
    name: 'non-gateway node routes remote CIDRs via the gateway VTEP',
    input: base,
    want: `
node n2 role non-gateway gateway n1 10.0.0.11
link vx-submariner vxlan vni 100 dstport 4800 local 10.0.0.12 mac 02:68:0a:00:00:0c mtu 1450 nolearning
address 240.0.0.12/8 dev vx-submariner
fdb 00:00:00:00:00:00 dst 10.0.0.11 dev vx-submariner
fdb 02:68:0a:00:00:0b dst 10.0.0.11 dev vx-submariner
route 10.112.0.0/12 via 240.0.0.11 dev vx-submariner onlink table 150
route 10.245.0.0/16 via 240.0.0.11 dev vx-submariner onlink table 150
rule pref 150 lookup 150
sysctl net.ipv4.ip_forward=1
sysctl net.ipv4.conf.vx-submariner.rp_filter=2
sysctl net.ipv4.neigh.vx-submariner.retrans_time_ms=100
nft table ip hawser local {10.96.0.0/12,10.244.0.0/16} remote {10.112.0.0/12,10.245.0.0/16} snat-vtep-to 10.0.0.12 mss pmtu
`,
  },
  {
    name: 'gateway node: FDB to every other node, remote CIDRs toward the cable, MSS from the MTU',
    input: {
      ...base,
      nodeName: 'n1',
      nodeIP: '10.0.0.11',
      cableDriver: 'wireguard',
      cableInterface: 'submariner',
      mtu: 1500,
      cniInterface: { name: 'cni0', ip: '10.244.1.1' },
    },
    want: `
node n1 role gateway gateway n1 10.0.0.11
link vx-submariner vxlan vni 100 dstport 4800 local 10.0.0.11 mac 02:68:0a:00:00:0b mtu 1450 nolearning
address 240.0.0.11/8 dev vx-submariner
fdb 00:00:00:00:00:00 dst 10.0.0.12 dev vx-submariner
fdb 02:68:0a:00:00:0c dst 10.0.0.12 dev vx-submariner
fdb 00:00:00:00:00:00 dst 10.0.0.13 dev vx-submariner
fdb 02:68:0a:00:00:0d dst 10.0.0.13 dev vx-submariner
route 10.112.0.0/12 dev submariner scope link src 10.244.1.1 table 150
route 10.245.0.0/16 dev submariner scope link src 10.244.1.1 table 150
rule pref 150 lookup 150
sysctl net.ipv4.ip_forward=1
sysctl net.ipv4.conf.vx-submariner.rp_filter=2
sysctl net.ipv4.neigh.vx-submariner.retrans_time_ms=100
sysctl net.ipv4.conf.cni0.rp_filter=2
nft table ip hawser local {10.96.0.0/12,10.244.0.0/16} remote {10.112.0.0/12,10.245.0.0/16} snat-vtep-to 10.0.0.11 mss 1340
`,
  },
  {
    name: 'gateway without a cable interface leaves remote routes to the cable driver',
    input: { ...base, nodeName: 'n1', nodeIP: '10.0.0.11', nodes: nodes.slice(0, 2) },
    want: `
node n1 role gateway gateway n1 10.0.0.11
link vx-submariner vxlan vni 100 dstport 4800 local 10.0.0.11 mac 02:68:0a:00:00:0b mtu 1450 nolearning
address 240.0.0.11/8 dev vx-submariner
fdb 00:00:00:00:00:00 dst 10.0.0.12 dev vx-submariner
fdb 02:68:0a:00:00:0c dst 10.0.0.12 dev vx-submariner
rule pref 150 lookup 150
sysctl net.ipv4.ip_forward=1
sysctl net.ipv4.conf.vx-submariner.rp_filter=2
sysctl net.ipv4.neigh.vx-submariner.retrans_time_ms=100
nft table ip hawser local {10.96.0.0/12,10.244.0.0/16} remote {10.112.0.0/12,10.245.0.0/16} snat-vtep-to 10.0.0.11 mss pmtu
`,
  },
  {
    name: 'failover: the gateway moves to n3, the routes follow',
    input: { ...base, activeGateway: { nodeName: 'n3', nodeIP: '10.0.0.13' } },
    want: `
node n2 role non-gateway gateway n3 10.0.0.13
link vx-submariner vxlan vni 100 dstport 4800 local 10.0.0.12 mac 02:68:0a:00:00:0c mtu 1450 nolearning
address 240.0.0.12/8 dev vx-submariner
fdb 00:00:00:00:00:00 dst 10.0.0.13 dev vx-submariner
fdb 02:68:0a:00:00:0d dst 10.0.0.13 dev vx-submariner
route 10.112.0.0/12 via 240.0.0.13 dev vx-submariner onlink table 150
route 10.245.0.0/16 via 240.0.0.13 dev vx-submariner onlink table 150
rule pref 150 lookup 150
sysctl net.ipv4.ip_forward=1
sysctl net.ipv4.conf.vx-submariner.rp_filter=2
sysctl net.ipv4.neigh.vx-submariner.retrans_time_ms=100
nft table ip hawser local {10.96.0.0/12,10.244.0.0/16} remote {10.112.0.0/12,10.245.0.0/16} snat-vtep-to 10.0.0.12 mss pmtu
`,
  },
  {
    name: 'failover: the gateway moves onto this node',
    input: { ...base, activeGateway: { nodeName: 'n2', nodeIP: '10.0.0.12' }, nodes: nodes.slice(0, 2) },
    want: `
node n2 role gateway gateway n2 10.0.0.12
link vx-submariner vxlan vni 100 dstport 4800 local 10.0.0.12 mac 02:68:0a:00:00:0c mtu 1450 nolearning
address 240.0.0.12/8 dev vx-submariner
fdb 00:00:00:00:00:00 dst 10.0.0.11 dev vx-submariner
fdb 02:68:0a:00:00:0b dst 10.0.0.11 dev vx-submariner
rule pref 150 lookup 150
sysctl net.ipv4.ip_forward=1
sysctl net.ipv4.conf.vx-submariner.rp_filter=2
sysctl net.ipv4.neigh.vx-submariner.retrans_time_ms=100
nft table ip hawser local {10.96.0.0/12,10.244.0.0/16} remote {10.112.0.0/12,10.245.0.0/16} snat-vtep-to 10.0.0.12 mss pmtu
`,
  },
  {
    name: 'several CIDRs: sorted, deduplicated, bad and dangerous ones dropped with a reason',
    input: {
      ...base,
      localClusterCidrs: ['10.244.0.0/16', '10.250.0.5/16', 'banana'],
      localServiceCidrs: ['10.96.0.0/12', '10.96.0.0/12'],
      remoteCidrs: ['192.168.7.0/24', '10.245.0.0/16', '172.16.0.0/16', '10.245.0.0/16', '10.244.128.0/17', '240.1.0.0/16', '10.0.0.0/24', '0.0.0.0/0', 'fd00::/64', '10.300.0.0/16'],
    },
    want: `
node n2 role non-gateway gateway n1 10.0.0.11
link vx-submariner vxlan vni 100 dstport 4800 local 10.0.0.12 mac 02:68:0a:00:00:0c mtu 1450 nolearning
address 240.0.0.12/8 dev vx-submariner
fdb 00:00:00:00:00:00 dst 10.0.0.11 dev vx-submariner
fdb 02:68:0a:00:00:0b dst 10.0.0.11 dev vx-submariner
route 10.245.0.0/16 via 240.0.0.11 dev vx-submariner onlink table 150
route 172.16.0.0/16 via 240.0.0.11 dev vx-submariner onlink table 150
route 192.168.7.0/24 via 240.0.0.11 dev vx-submariner onlink table 150
rule pref 150 lookup 150
sysctl net.ipv4.ip_forward=1
sysctl net.ipv4.conf.vx-submariner.rp_filter=2
sysctl net.ipv4.neigh.vx-submariner.retrans_time_ms=100
nft table ip hawser local {10.96.0.0/12,10.244.0.0/16,10.250.0.0/16} remote {10.245.0.0/16,172.16.0.0/16,192.168.7.0/24} snat-vtep-to 10.0.0.12 mss pmtu
warning local cluster CIDR "banana" ignored: not a CIDR
warning remote CIDR 10.244.128.0/17 ignored: it overlaps local CIDR 10.244.0.0/16 (overlapping clusters need Globalnet)
warning remote CIDR 240.1.0.0/16 ignored: it overlaps the vx-submariner VTEP range (240.0.0.0/8)
warning remote CIDR 10.0.0.0/24 ignored: it contains node address 10.0.0.12
warning remote CIDR 0.0.0.0/0 ignored: it overlaps local CIDR 10.96.0.0/12 (overlapping clusters need Globalnet)
warning remote CIDR "fd00::/64" ignored: IPv6 is not handled by the route agent yet
warning remote CIDR "10.300.0.0/16" ignored: not a CIDR
`,
  },
  {
    name: 'MSS override wins over the computed value; VXLAN cable; jumbo MTU',
    input: { ...base, cableDriver: 'vxlan', mtu: 9000, mssOverride: 1300 },
    want: `
node n2 role non-gateway gateway n1 10.0.0.11
link vx-submariner vxlan vni 100 dstport 4800 local 10.0.0.12 mac 02:68:0a:00:00:0c mtu 8950 nolearning
address 240.0.0.12/8 dev vx-submariner
fdb 00:00:00:00:00:00 dst 10.0.0.11 dev vx-submariner
fdb 02:68:0a:00:00:0b dst 10.0.0.11 dev vx-submariner
route 10.112.0.0/12 via 240.0.0.11 dev vx-submariner onlink table 150
route 10.245.0.0/16 via 240.0.0.11 dev vx-submariner onlink table 150
rule pref 150 lookup 150
sysctl net.ipv4.ip_forward=1
sysctl net.ipv4.conf.vx-submariner.rp_filter=2
sysctl net.ipv4.neigh.vx-submariner.retrans_time_ms=100
nft table ip hawser local {10.96.0.0/12,10.244.0.0/16} remote {10.112.0.0/12,10.245.0.0/16} snat-vtep-to 10.0.0.12 mss 1300
`,
  },
  {
    name: 'VXLAN cable without override: MTU - 50 - 40; a bad override is reported and ignored',
    input: { ...base, cableDriver: 'vxlan', mtu: 1500, mssOverride: 20 },
    want: `
node n2 role non-gateway gateway n1 10.0.0.11
link vx-submariner vxlan vni 100 dstport 4800 local 10.0.0.12 mac 02:68:0a:00:00:0c mtu 1450 nolearning
address 240.0.0.12/8 dev vx-submariner
fdb 00:00:00:00:00:00 dst 10.0.0.11 dev vx-submariner
fdb 02:68:0a:00:00:0b dst 10.0.0.11 dev vx-submariner
route 10.112.0.0/12 via 240.0.0.11 dev vx-submariner onlink table 150
route 10.245.0.0/16 via 240.0.0.11 dev vx-submariner onlink table 150
rule pref 150 lookup 150
sysctl net.ipv4.ip_forward=1
sysctl net.ipv4.conf.vx-submariner.rp_filter=2
sysctl net.ipv4.neigh.vx-submariner.retrans_time_ms=100
nft table ip hawser local {10.96.0.0/12,10.244.0.0/16} remote {10.112.0.0/12,10.245.0.0/16} snat-vtep-to 10.0.0.12 mss 1410
warning MSS override 20 ignored: expected an integer between 536 and 9000
`,
  },
  {
    name: 'no gateway yet: the device and firewall are ready, nothing points anywhere',
    input: { ...base, activeGateway: undefined },
    want: `
node n2 role no-gateway
link vx-submariner vxlan vni 100 dstport 4800 local 10.0.0.12 mac 02:68:0a:00:00:0c mtu 1450 nolearning
address 240.0.0.12/8 dev vx-submariner
rule pref 150 lookup 150
sysctl net.ipv4.ip_forward=1
sysctl net.ipv4.conf.vx-submariner.rp_filter=2
sysctl net.ipv4.neigh.vx-submariner.retrans_time_ms=100
nft table ip hawser local {10.96.0.0/12,10.244.0.0/16} remote {10.112.0.0/12,10.245.0.0/16} snat-vtep-to 10.0.0.12 mss pmtu
`,
  },
  {
    name: 'gateway: a node whose VTEP collides is left out with a warning; a node with a bad IP too',
    input: {
      ...base,
      nodeName: 'n1',
      nodeIP: '10.0.0.11',
      nodes: [...nodes.slice(0, 2), { name: 'odd', ip: '11.0.0.12' }, { name: 'bad', ip: 'x' }],
      cniInterface: { name: 'cni0', ip: '192.168.1.1' },
    },
    want: `
node n1 role gateway gateway n1 10.0.0.11
link vx-submariner vxlan vni 100 dstport 4800 local 10.0.0.11 mac 02:68:0a:00:00:0b mtu 1450 nolearning
address 240.0.0.11/8 dev vx-submariner
fdb 00:00:00:00:00:00 dst 10.0.0.12 dev vx-submariner
fdb 02:68:0a:00:00:0c dst 10.0.0.12 dev vx-submariner
rule pref 150 lookup 150
sysctl net.ipv4.ip_forward=1
sysctl net.ipv4.conf.vx-submariner.rp_filter=2
sysctl net.ipv4.neigh.vx-submariner.retrans_time_ms=100
nft table ip hawser local {10.96.0.0/12,10.244.0.0/16} remote {10.112.0.0/12,10.245.0.0/16} snat-vtep-to 10.0.0.11 mss pmtu
warning node bad ignored: "x" is not an IPv4 address
warning CNI interface cni0 ignored: 192.168.1.1 is in no local cluster CIDR
warning node odd (11.0.0.12) left out of vx-submariner: its VTEP 240.0.0.12 is also n2's (node IPs differ only in the first octet)
`,
  },
];

describe('routeagent planner', () => {
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(planToText(planRouteAgent(c.input)), c.want.trimStart());
    });
  }

  it('is pure: the same input gives the same plan, the input is not modified', () => {
    const input = structuredClone(base);
    const a = planRouteAgent(input);
    const b = planRouteAgent(input);
    assert.deepEqual(a, b);
    assert.deepEqual(input, base);
  });

  it('counts what a plan installs, by kind', () => {
    assert.deepEqual(planCounts(planRouteAgent(base)), { routes: 2, rules: 1, fdb_entries: 2, nft_rules: 8, ipset_entries: 4 });
  });

  it('refuses a node IP that is not IPv4 with an actionable error', () => {
    assert.throws(() => planRouteAgent({ ...base, nodeIP: 'node-2' }), (e: unknown) => isHawserError(e, 'INVALID') && /InternalIP/.test(e.message));
  });

  it('plans no static ARP: peers\' real MACs (hawser-derived or kernel-random on Submariner nodes) come from ARP', () => {
    for (const nodeName of ['n1', 'n2']) {
      const plan = planRouteAgent({ ...base, nodeName, nodeIP: nodeName === 'n1' ? '10.0.0.11' : '10.0.0.12' });
      assert.deepEqual(plan.neighbors, []);
      assert.ok(plan.fdb.some((f) => f.mac === '00:00:00:00:00:00'), 'flood entries carry ARP to the peers');
    }
  });

  // Submariner issue #1106 / routes_iface.go isGatewayInRemoteCIDR: a remote CIDR may contain its own gateway.
  const gwIn: RouteAgentInput = {
    ...base,
    remoteCidrs: ['10.1.0.0/16', '10.112.0.0/12'],
    remoteGateways: [{ ip: '10.1.0.1', dev: 'eth0', via: '10.0.0.1' }, { ip: '172.16.9.9', dev: 'eth0', via: '10.0.0.1' }],
  };

  it('a remote CIDR holding its gateway is kept; on a non-gateway node the gateway keeps its underlay path', () => {
    const plan = planRouteAgent(gwIn);
    assert.deepEqual(plan.warnings, []);
    assert.deepEqual(plan.firewall.remoteCidrs, ['10.1.0.0/16', '10.112.0.0/12']);
    const text = planToText(plan);
    assert.match(text, /^route 10\.1\.0\.0\/16 via 240\.0\.0\.11 dev vx-submariner onlink table 150$/m);
    assert.match(text, /^route 10\.1\.0\.1\/32 via 10\.0\.0\.1 dev eth0 table 150$/m);
    assert.doesNotMatch(text, /172\.16\.9\.9/, 'a gateway outside every remote CIDR needs nothing');
  });

  it('on the gateway such a CIDR goes via the next hop toward the remote gateway, as Submariner routes it', () => {
    const plan = planRouteAgent({ ...gwIn, nodeName: 'n1', nodeIP: '10.0.0.11', cableInterface: 'eth0', cniInterface: { name: 'cni0', ip: '10.244.1.1' } });
    const text = planToText(plan);
    assert.match(text, /^route 10\.1\.0\.0\/16 via 10\.0\.0\.1 dev eth0 src 10\.244\.1\.1 table 150$/m);
    assert.match(text, /^route 10\.1\.0\.1\/32 via 10\.0\.0\.1 dev eth0 table 150$/m);
    assert.match(text, /^route 10\.112\.0\.0\/12 dev eth0 scope link src 10\.244\.1\.1 table 150$/m);
  });

  it('a remote gateway inside a remote CIDR without any route to it is a warning, not a broken plan', () => {
    const plan = planRouteAgent({ ...gwIn, remoteGateways: [{ ip: '10.1.0.1' }] });
    assert.equal(plan.warnings.length, 1);
    assert.match(plan.warnings[0]!, /remote CIDR 10\.1\.0\.0\/16 contains the remote gateway 10\.1\.0\.1, but this node's main table has no route to 10\.1\.0\.1/);
    assert.equal(plan.routes.length, 2);
  });

  it('parses the tcp-clamp-mss annotation', () => {
    assert.equal(parseMssAnnotation(undefined), undefined);
    assert.equal(parseMssAnnotation(' '), undefined);
    assert.equal(parseMssAnnotation('1300'), 1300);
    assert.throws(() => parseMssAnnotation('13OO'), /tcp-clamp-mss="13OO": expected an integer MSS between 536 and 9000/);
    assert.throws(() => parseMssAnnotation('100'), /between 536 and 9000/);
  });
});
