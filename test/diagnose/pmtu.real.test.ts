// The path-MTU probe of `hawser diagnose` without `ping`: DF echo requests from this process's raw socket,
// in three throwaway namespaces (A — router R — B). A small MTU on A's own link is refused by the kernel
// (EMSGSIZE, with the MTU from the error queue); a smaller MTU behind R comes back as R's "fragmentation
// needed"; with those ICMP errors dropped in R the search finds the black hole by bisection.
import assert from 'node:assert/strict';
import { pathMtuTo } from '../../src/diagnose/probes.js';
import { DfPinger } from '../../src/os/icmp.js';
import { createNetns, deleteNetns, uniqueName } from '../../src/os/netns.js';
import { exec } from '../../src/util/exec.js';

describe('diagnose: path MTU with DF echo requests from this process @real', function () {
  this.timeout(60_000);
  const ns = { a: uniqueName('hw-pma', 5), r: uniqueName('hw-pmr', 5), b: uniqueName('hw-pmb', 5) };
  const ip = (netns: string, ...args: string[]): Promise<unknown> => exec('ip', args, { netns });

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    for (const n of Object.values(ns)) await createNetns(n);
    await exec('ip', ['link', 'add', 'a0', 'netns', ns.a, 'type', 'veth', 'peer', 'name', 'r0', 'netns', ns.r]);
    await exec('ip', ['link', 'add', 'b0', 'netns', ns.b, 'type', 'veth', 'peer', 'name', 'r1', 'netns', ns.r]);
    await ip(ns.a, 'addr', 'add', '10.77.1.1/24', 'dev', 'a0');
    await ip(ns.r, 'addr', 'add', '10.77.1.2/24', 'dev', 'r0');
    await ip(ns.r, 'addr', 'add', '10.77.2.2/24', 'dev', 'r1');
    await ip(ns.b, 'addr', 'add', '10.77.2.1/24', 'dev', 'b0');
    await ip(ns.b, 'addr', 'add', '10.77.2.9/24', 'dev', 'b0');
    await ip(ns.r, 'link', 'set', 'r1', 'mtu', '1300');
    await ip(ns.b, 'link', 'set', 'b0', 'mtu', '1300');
    for (const [n, dev] of [[ns.a, 'a0'], [ns.r, 'r0'], [ns.r, 'r1'], [ns.b, 'b0']] as const) await ip(n, 'link', 'set', dev, 'up');
    await ip(ns.a, 'route', 'add', 'default', 'via', '10.77.1.2');
    await ip(ns.b, 'route', 'add', 'default', 'via', '10.77.2.2');
    await exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1'], { netns: ns.r });
  });

  after(async () => {
    for (const n of Object.values(ns)) await deleteNetns(n);
  });

  it('one echo: a reply, a local refusal with the link MTU, a loss', async () => {
    const p = DfPinger.open({ netns: ns.a });
    try {
      assert.deepEqual(await p.echo('10.77.1.2', 1472), { kind: 'reply' });
      await ip(ns.a, 'link', 'set', 'a0', 'mtu', '1400');
      assert.deepEqual(await p.echo('10.77.1.2', 1472), { kind: 'too-big', mtu: 1400, from: 'this node' }, 'MTU below 1500: the kernel names 1400');
      assert.deepEqual(await p.echo('10.77.1.2', 1372), { kind: 'reply' });
      assert.deepEqual(await p.echo('10.77.1.77', 56, { timeoutMs: 300 }), { kind: 'lost' }, 'nobody there');
    } finally {
      p.close();
      await ip(ns.a, 'link', 'set', 'a0', 'mtu', '1500');
    }
  });

  it('a small MTU on this node\'s own link: found from the kernel\'s refusal, no black hole', async () => {
    await ip(ns.a, 'link', 'set', 'a0', 'mtu', '1400');
    try {
      const r = await pathMtuTo('10.77.1.2', { netns: ns.a });
      assert.deepEqual({ ...r, probes: undefined }, { reachable: true, localMtu: 1400, pathMtu: 1400, blackHole: false, probes: undefined });
    } finally {
      await ip(ns.a, 'link', 'set', 'a0', 'mtu', '1500');
    }
  });

  it('a smaller MTU behind a router: its "fragmentation needed" names it', async () => {
    const r = await pathMtuTo('10.77.2.1', { netns: ns.a });
    assert.deepEqual({ ...r, probes: undefined }, { reachable: true, localMtu: 1300, pathMtu: 1300, blackHole: false, probes: undefined });
  });

  it('the router\'s ICMP errors dropped: a black hole, bisected to 8 bytes', async () => {
    await exec('nft', ['-f', '-'], { netns: ns.r, input: 'table ip hw-pmtu {\n chain out {\n type filter hook output priority 0; policy accept;\n icmp type destination-unreachable drop\n }\n}\n' });
    // another address of B: the path MTU learnt for 10.77.2.1 must not help
    const r = await pathMtuTo('10.77.2.9', { netns: ns.a });
    assert.equal(r.reachable, true);
    assert.equal(r.blackHole, true);
    assert.equal(r.localMtu, 1500);
    assert.ok(r.pathMtu! <= 1300 && r.pathMtu! > 1300 - 8, `path MTU ${r.pathMtu}`);
  });
});
