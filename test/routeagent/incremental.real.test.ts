// The incremental route diff and the nft element deltas against the kernel: a seeded random walk of
// plans (CIDRs come and go, the gateway moves, someone else deletes or adds routes of ours and set
// elements, or sets our device down, between reconciles); after every reconcile table 150 and the remote set hold exactly what
// the plan says, read back with `ip` and `nft`, not through hawser.
import assert from 'node:assert/strict';
import { createLogger } from '../../src/log/index.js';
import { planRouteAgent, RouteAgentDataplane, type RouteAgentInput } from '../../src/routeagent/index.js';
import { ipIn, Namespaces, run } from '../support/netns-commands.js';
import { seededRandom as rng } from '../support/prng.js';

const log = createLogger({ level: process.env.LOG_LEVEL ?? 'fatal' });

const POOL = Array.from({ length: 64 }, (_, i) => `172.${16 + (i >> 4)}.${(i & 15) * 16}.0/20`);
const GWS = [{ nodeName: 'gw-a', nodeIP: '192.168.91.11' }, { nodeName: 'gw-b', nodeIP: '192.168.91.13' }];

describe('routeagent: incremental diff against the kernel, seeded random walk @real', function () {
  this.timeout(120_000);
  const nss = new Namespaces();
  let ns = '';
  let dp: RouteAgentDataplane | undefined;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    ns = await nss.create('hw-raincr');
    await ipIn(ns, 'link add eth0 type veth peer name eth1\naddress add 192.168.91.12/24 dev eth0\nlink set eth0 up\nlink set eth1 up');
    dp = new RouteAgentDataplane({ netns: ns, log, resyncIntervalMs: 0 });
  });
  after(async () => {
    await dp?.close();
    await nss.cleanup();
  });

  const input = (remote: string[], gw: number): RouteAgentInput => ({
    nodeName: 'node', nodeIP: '192.168.91.12', nodes: [{ name: 'gw-a', ip: GWS[0]!.nodeIP }, { name: 'node', ip: '192.168.91.12' }, { name: 'gw-b', ip: GWS[1]!.nodeIP }],
    activeGateway: GWS[gw]!, localClusterCidrs: ['10.244.0.0/16'], localServiceCidrs: ['10.96.0.0/12'], remoteCidrs: remote, cableDriver: 'libreswan',
  });

  const kernelRoutes = async (): Promise<string[]> => {
    const out = JSON.parse(await run(ns, 'ip', ['-j', 'route', 'show', 'table', '150', 'proto', '147'])) as { dst: string; gateway?: string }[];
    return out.map((r) => `${r.dst.includes('/') ? r.dst : `${r.dst}/32`} via ${r.gateway ?? '-'}`).sort();
  };
  const kernelElements = async (): Promise<string[]> => {
    const out = JSON.parse(await run(ns, 'nft', ['-j', 'list', 'set', 'ip', 'hawser', 'SUBMARINER-REMOTECIDRS'])) as { nftables: { set?: { elem?: ({ prefix: { addr: string; len: number } } | string)[] } }[] };
    const elem = out.nftables.find((x) => x.set)?.set?.elem ?? [];
    return elem.map((e) => (typeof e === 'string' ? `${e}/32` : `${e.prefix.addr}/${e.prefix.len}`)).sort();
  };

  it('after every reconcile the kernel holds the plan, whatever came before', async () => {
    const r = rng(17);
    let remote: string[] = POOL.slice(0, 20);
    let gw = 0;
    const counts = { steps: 0, failovers: 0, foreign: 0 };
    for (let step = 0; step < 30; step++) {
      const k = r();
      if (k < 0.15) {
        gw = 1 - gw;
        counts.failovers++;
      } else {
        const next = new Set(remote);
        for (let e = 0, n = 1 + Math.floor(r() * 3); e < n; e++) {
          const c = POOL[Math.floor(r() * POOL.length)]!;
          if (next.has(c)) next.delete(c);
          else next.add(c);
        }
        remote = POOL.filter((c) => next.has(c));
      }
      if (step > 0 && r() < 0.3) {
        // someone else: a route of ours deleted, a stray route with our protocol, a set element deleted
        const victim = remote[Math.floor(r() * remote.length)];
        const lines = [`route add 10.123.${step}.0/24 via 240.168.91.11 dev vx-submariner onlink table 150 proto 147`];
        if (victim) lines.push(`route del ${victim} table 150`);
        // now and then the device our routes go through is set down: IPv4 drops them all, one notification for the link
        if (r() < 0.3) lines.push('link set vx-submariner down');
        await ipIn(ns, lines.join('\n'));
        if (victim) await run(ns, 'nft', ['delete', 'element', 'ip', 'hawser', 'SUBMARINER-REMOTECIDRS', `{ ${victim} }`]);
        counts.foreign++;
      }
      const plan = planRouteAgent(input(remote, gw));
      await dp!.reconcile(plan);
      const via = `240.${GWS[gw]!.nodeIP.split('.').slice(1).join('.')}`;
      assert.deepEqual(await kernelRoutes(), remote.map((c) => `${c} via ${via}`).sort(), `step ${step}: table 150`);
      assert.deepEqual(await kernelElements(), [...remote].sort(), `step ${step}: remote set`);
      counts.steps++;
    }
    assert.ok(counts.failovers > 0 && counts.foreign > 0, JSON.stringify(counts));
    const stats = await dp!.cacheStats();
    assert.equal(stats?.fullDumps, 1, 'kept by notifications, no full dump');
  });
});
