import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import { planLab, resolveOptions, type LabOptions, type LabSecrets, type LabTopology } from '../../src/lab/topology.js';
import { isHawserError } from '../../src/util/errors.js';

const SECRETS: LabSecrets = { psk: 'cHNr', adminTokens: {}, brokerTokens: {} };

function plan(o: Partial<LabOptions>): LabTopology {
  return planLab(resolveOptions({ name: 'p1', repoRoot: '/repo', stateRoot: '/run/l', ...o }), SECRETS);
}

function ns(t: LabTopology, name: string): NonNullable<LabTopology['namespaces'][number]> {
  const n = t.namespaces.find((x) => x.name === `hw-p1-${name}`);
  assert.ok(n, `netns ${name}`);
  return n;
}

describe('lab: presets (planning)', () => {
  it('refuses a preset with other than 2 clusters, with --nat or --globalnet, and unknown presets', () => {
    for (const o of [{ clusters: 3 }, { nat: true }, { globalnet: true }]) {
      assert.throws(() => plan({ preset: 'flannel', ...o }), (e: unknown) => isHawserError(e) && /preset flannel/.test(e.message));
    }
    assert.throws(() => plan({ preset: 'cilium' as LabOptions['preset'] }), /preset must be one of underlay, flannel, calico-bgp/);
  });

  it('underlay: several pod subnets per cluster, no node address in any of them, macvlan pods with hijack routes, gateways on 10.6/16', () => {
    const t = plan({ preset: 'underlay' });
    const [a, b] = t.clusters;
    assert.deepEqual(a!.podCidrs, ['172.110.1.0/24', '172.110.2.0/24', '172.110.3.0/24']);
    const ra = t.processes.find((p) => p.id === 'a-wk1/route-agent')!;
    assert.equal(ra.env.SUBMARINER_CLUSTERCIDR, '172.110.1.0/24,172.110.2.0/24,172.110.3.0/24');
    const gw = t.processes.find((p) => p.id === 'b-gw1/gateway')!;
    assert.equal(gw.env.SUBMARINER_NATENABLED, 'true');
    const pods = new BlockList();
    for (const c of a!.podCidrs!) pods.addSubnet(c.split('/')[0]!, 24);
    for (const n of a!.nodes) {
      assert.equal(pods.check(n.ip), false, `${n.name} ${n.ip} outside the pod subnets`);
      for (const p of n.pods) assert.equal(pods.check(p.ip), true);
    }
    assert.deepEqual(a!.nodes.find((n) => n.gateway)!.annotations['gateway.submariner.io/public-ip'], 'ipv4:10.6.1.11');
    assert.ok(ns(t, 'a-wk1').links!.includes('link add link eth0 name mv-pod1 netns hw-p1-a-wk1-pod1 type macvlan mode bridge'));
    const pod = ns(t, 'a-wk1-pod1').ip;
    assert.ok(pod.includes('addr add 172.110.3.2/16 dev eth0'));
    for (const d of [...b!.podCidrs!, b!.serviceCidr, a!.serviceCidr]) assert.ok(pod.includes(`route add ${d} via 172.110.0.13 dev veth0`), `hijack route ${d}`);
    // cluster-b's gateways reach the broker over the interconnect.
    assert.ok(ns(t, 'b-gw1').ip.includes('route add 172.110.0.2/32 via 10.6.0.1 dev eth1'));
    // Routers never route pod subnets: only the other API server.
    assert.deepEqual(ns(t, 'a-rtr').ip.filter((l) => l.startsWith('route')), ['route add 172.111.0.2/32 via 10.6.0.2']);
  });

  it("flannel: flannel.1 with flanneld's FDB/neighbour/route entries and masquerade rules, routers NAT with 1:1 gateway IPs", () => {
    const t = plan({ preset: 'flannel' });
    const wk = ns(t, 'a-wk1');
    assert.ok(wk.ip.includes('link add flannel.1 address 0e:f1:00:00:00:02 type vxlan id 1 local 172.16.0.13 dev eth0 dstport 8472 nolearning'));
    assert.ok(wk.ip.includes('route add 10.42.0.0/24 via 10.42.0.0 dev flannel.1 onlink'));
    assert.ok(wk.ip.includes('neigh add 10.42.0.0 lladdr 0e:f1:00:00:00:00 dev flannel.1 nud permanent'));
    assert.ok(wk.commands![0]!.input.includes('fdb append 0e:f1:00:00:00:00 dev flannel.1 dst 172.16.0.11 self permanent'));
    assert.match(wk.commands![1]!.input, /-A FLANNEL-POSTRTG -s 10\.42\.0\.0\/16 ! -d 224\.0\.0\.0\/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully/);
    assert.match(ns(t, 'b-rtr').nft!, /oifname "wan" ip saddr 172\.17\.0\.11 snat to 198\.18\.0\.21/);
    assert.equal(t.clusters[1]!.nodes[0]!.annotations['gateway.submariner.io/public-ip'], 'ipv4:198.18.0.21');
    assert.ok(t.clusters.every((c) => c.behindNat));
  });

  it('calico-bgp: BIRD on every node and a route reflector, natOutgoing everywhere, FORWARD DROP on the worker', () => {
    const t = plan({ preset: 'calico-bgp' });
    const birds = t.processes.filter((p) => p.kind === 'bird').map((p) => p.id);
    assert.deepEqual(birds, ['a-rr/bird', 'a-gw1/bird', 'a-gw2/bird', 'a-wk1/bird', 'b-rr/bird', 'b-gw1/bird', 'b-gw2/bird', 'b-wk1/bird']);
    const wk = t.processes.find((p) => p.id === 'a-wk1/bird')!;
    assert.deepEqual(wk.argv, ['bird', '-f', '-c', '/run/l/p1/bird/a-wk1.conf', '-s', '/run/l/p1/bird/a-wk1.ctl', '-P', '/run/l/p1/bird/a-wk1.pid']);
    const conf = wk.files!['/run/l/p1/bird/a-wk1.conf']!;
    assert.match(conf, /learn off;/);
    assert.match(conf, /route 10\.42\.2\.0\/24 blackhole;/);
    assert.match(conf, /neighbor 172\.16\.0\.3 as 64512;/);
    assert.match(t.processes.find((p) => p.id === 'a-rr/bird')!.files!['/run/l/p1/bird/a-rr.conf']!, /rr client;/);
    assert.match(ns(t, 'a-wk1').commands![1]!.input, /:FORWARD DROP/);
    assert.doesNotMatch(ns(t, 'a-gw1').commands![1]!.input, /:FORWARD DROP/);
    assert.match(ns(t, 'a-gw1').commands![1]!.input, /cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE/);
    assert.ok(ns(t, 'a-gw1-pod1').ip.includes('route add default via 169.254.1.1 dev eth0'));
    // Roles start after BIRD in the plan, and no pod CIDR route exists before BIRD installs one.
    assert.ok(!ns(t, 'a-gw1').ip.some((l) => l.includes('10.42.1.0/24')));
  });
});
