// hawser next to a CNI's plumbing: a flannel-like VXLAN device and routes, a foreign nftables table
// that masquerades, iptables-nft and iptables-legacy chains, extra routing tables and rules (one of
// them in table 150 itself). Whatever hawser does, all of it must stay byte-for-byte as it was.
import assert from 'node:assert/strict';
import { createLogger } from '../../src/log/index.js';
import { planRouteAgent, RouteAgentDataplane, type RouteAgentInput } from '../../src/routeagent/index.js';
import { waitFor } from '../../src/util/wait.js';
import { ipIn, Namespaces, ping, run } from '../support/netns-commands.js';

const log = createLogger({ level: process.env.LOG_LEVEL ?? 'fatal' });

interface Snapshot {
  nft: string;
  iptablesLegacy: string;
  rules: string;
  routes: string;
  routes6: string;
  flannel: string;
}

/** The node's network state as text; with `minusOurs`, hawser's own objects are left out. */
async function snapshot(ns: string, minusOurs: boolean): Promise<Snapshot> {
  const counters = (s: string): string => s.replace(/counter packets \d+ bytes \d+/g, 'counter');
  let nft = counters(await run(ns, 'nft', ['list', 'ruleset']));
  const legacy = (await run(ns, 'iptables-legacy-save', []))
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]'))
    .join('\n');
  let rules = await run(ns, 'ip', ['rule', 'show']);
  let routes = await run(ns, 'ip', ['route', 'show', 'table', 'all']);
  let routes6 = await run(ns, 'ip', ['-6', 'route', 'show', 'table', 'all']);
  const flannel = [
    await run(ns, 'ip', ['-d', 'link', 'show', 'flannel.1']),
    await run(ns, 'ip', ['address', 'show', 'flannel.1']),
    await run(ns, 'bridge', ['fdb', 'show', 'dev', 'flannel.1']),
    await run(ns, 'ip', ['neigh', 'show', 'dev', 'flannel.1']),
  ].join('');
  if (minusOurs) {
    nft = nft.replace(/table ip hawser \{\n[\s\S]*?\n\}\n/, '');
    const notOurs = (text: string): string => text.split('\n').filter((l) => !/vx-submariner|proto 147/.test(l)).join('\n');
    rules = notOurs(rules);
    routes = notOurs(routes);
    routes6 = notOurs(routes6);
  }
  return { nft, iptablesLegacy: legacy, rules, routes, routes6, flannel };
}

describe('routeagent coexistence with CNI plumbing @real', function () {
  this.timeout(60_000);
  const nss = new Namespaces();
  let node = '';
  let peer = '';
  let dp: RouteAgentDataplane;
  let peerDp: RouteAgentDataplane;
  let original: Snapshot;

  const input = (gateway: 'node' | 'peer'): RouteAgentInput => ({
    nodeName: 'node',
    nodeIP: '192.168.60.12',
    nodes: [{ name: 'node', ip: '192.168.60.12' }, { name: 'peer', ip: '192.168.60.11' }],
    activeGateway: gateway === 'node' ? { nodeName: 'node', nodeIP: '192.168.60.12' } : { nodeName: 'peer', nodeIP: '192.168.60.11' },
    localClusterCidrs: ['10.244.0.0/16'],
    localServiceCidrs: ['10.96.0.0/12'],
    remoteCidrs: ['172.31.0.0/16', '172.29.0.0/16'],
    cableDriver: 'libreswan',
    cableInterface: 'eth0',
  });

  before(async () => {
    node = await nss.create('hw-cxnode');
    peer = await nss.create('hw-cxpeer');
    // IPv6 autoconfiguration (DAD, link-local routes) changes state on its own timer: keep it out of the comparison
    for (const ns of [node, peer]) {
      await run(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
      await run(ns, 'sysctl', ['-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
    await ipIn(node, `link add eth0 type veth peer name eth0 netns ${peer}
      address add 192.168.60.12/24 dev eth0
      link set eth0 up
      # flannel's VXLAN device, FDB, ARP and routes
      link add flannel.1 type vxlan id 1 dstport 8472 local 192.168.60.12 dev eth0 nolearning
      address add 10.244.2.0/32 dev flannel.1
      link set flannel.1 up
      neigh replace 10.244.1.0 lladdr 6e:aa:bb:cc:dd:01 dev flannel.1 nud permanent
      route add 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink
      # someone's policy routing: an extra table and rule, a route in table 150, a rule at pref 150
      route add 10.50.0.0/16 via 192.168.60.1 table 200
      rule add pref 100 from 10.244.7.0/24 lookup 200
      route add 10.88.0.0/16 dev eth0 table 150
      route add 10.77.0.0/16 dev eth0 table 151
      rule add pref 150 fwmark 0x1 lookup 151
      # the WireGuard driver's own rule into table 150 (protocol 119)
      rule add pref 150 lookup 150 proto 119`);
    await run(node, 'bridge', ['fdb', 'append', '00:00:00:00:00:00', 'dst', '192.168.60.11', 'dev', 'flannel.1']);
    await ipIn(peer, 'address add 192.168.60.11/24 dev eth0\nlink set eth0 up');
    await run(node, 'nft', ['-f', '-'], `table ip foreignnat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    masquerade
  }
}
table inet foreignfilter {
  chain fw_forward {
    type filter hook forward priority 0; policy accept;
    ct state established,related counter accept
  }
}
`);
    const ipt = (bin: string, ...args: string[]): Promise<string> => run(node, bin, args);
    await ipt('iptables-nft', '-t', 'nat', '-N', 'FLANNEL-POSTRTG');
    await ipt('iptables-nft', '-t', 'nat', '-A', 'POSTROUTING', '-m', 'comment', '--comment', 'flanneld masq', '-j', 'FLANNEL-POSTRTG');
    await ipt('iptables-nft', '-t', 'nat', '-A', 'FLANNEL-POSTRTG', '-s', '10.244.0.0/16', '!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE', '--random-fully');
    await ipt('iptables-nft', '-N', 'FLANNEL-FWD');
    await ipt('iptables-nft', '-A', 'FORWARD', '-j', 'FLANNEL-FWD');
    await ipt('iptables-nft', '-A', 'FLANNEL-FWD', '-s', '10.244.0.0/16', '-j', 'ACCEPT');
    await ipt('iptables-legacy', '-t', 'nat', '-N', 'KUBE-POSTROUTING');
    await ipt('iptables-legacy', '-t', 'nat', '-A', 'POSTROUTING', '-j', 'KUBE-POSTROUTING');
    await ipt('iptables-legacy', '-t', 'nat', '-A', 'KUBE-POSTROUTING', '-m', 'mark', '--mark', '0x4000/0x4000', '-j', 'MASQUERADE');
    original = await snapshot(node, false);
    dp = new RouteAgentDataplane({ netns: node, log });
    peerDp = new RouteAgentDataplane({ netns: peer, log });
  });

  after(async () => {
    await Promise.all([dp?.close(), peerDp?.close()]);
    await nss.cleanup();
  });

  it('as gateway and after a failover, everything that is not ours is unchanged', async () => {
    const r1 = await dp.reconcile(planRouteAgent(input('node')));
    assert.ok(r1.total > 0);
    assert.deepEqual(await snapshot(node, true), original);
    assert.match(await run(node, 'ip', ['route', 'show', 'table', '150']), /172\.31\.0\.0\/16 dev eth0 proto 147 scope link/);

    await peerDp.reconcile(planRouteAgent({ ...input('peer'), nodeName: 'peer', nodeIP: '192.168.60.11' }));
    await dp.reconcile(planRouteAgent(input('peer')));
    // the VXLAN between the two actually carries traffic, next to flannel's
    await waitFor(() => ping(node, '240.168.60.11'), { timeoutMs: 5000, what: 'node -> peer VTEP over vx-submariner' });
    assert.deepEqual(await snapshot(node, true), original);
  });

  it('a reconcile with nothing to do writes nothing', async () => {
    const r = await dp.reconcile(planRouteAgent(input('peer')));
    assert.equal(r.total, 0);
    assert.deepEqual(await dp.pending(planRouteAgent(input('peer'))), []);
  });

  it('after uninstall the node is exactly as before', async () => {
    await dp.reconcile(planRouteAgent(input('node')));
    await dp.uninstall();
    assert.deepEqual(await snapshot(node, false), original);
    // a second uninstall finds nothing and changes nothing
    await dp.uninstall();
    assert.deepEqual(await snapshot(node, false), original);
  });
});
