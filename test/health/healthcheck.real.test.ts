// The health checker with each real prober (in-process raw ICMP socket, and fping), between two network
// namespaces; all traffic stays inside the two namespaces the test made.
import assert from 'node:assert/strict';
import { SharedHealthChecker } from '../../src/health/shared.js';
import { findHealthCheckIP } from '../../src/health/source-ip.js';
import { netnsPids } from '../../src/os/netns.js';
import { waitFor } from '../../src/util/wait.js';
import { logSink } from '../support/fixtures.js';
import { NetnsHarness } from '../support/netns.js';
import { exec } from '../../src/util/exec.js';

/** Inodes of the raw ICMP sockets open in a namespace (/proc/net/raw there, protocol 1). */
async function rawSocketInodes(ns: string): Promise<string[]> {
  const { stdout } = await exec('cat', ['/proc/net/raw'], { netns: ns });
  return stdout.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/)).filter((f) => f[1]?.endsWith(':0001')).map((f) => f[9]!).sort();
}
const rawSockets = async (ns: string): Promise<number> => (await rawSocketInodes(ns)).length;

describe('healthcheck: ping between network namespaces @real', function () {
  this.timeout(30_000);
  const lab = new NetnsHarness();
  let a: string;
  let b: string;
  let checker: SharedHealthChecker | undefined;

  before(async () => {
    a = await lab.ns('hw-hc');
    b = await lab.ns('hw-hc');
    await lab.link(a, 'cable0', '192.168.77.1/24', b, 'cable0', '192.168.77.2/24');
    // "Pod" addresses: a CNI-like bridge address on each gateway, routed across the link.
    await lab.ip(a, 'link', 'add', 'cni0', 'type', 'bridge');
    await lab.ip(a, 'addr', 'add', '10.42.0.1/24', 'dev', 'cni0');
    await lab.ip(a, 'link', 'set', 'cni0', 'up');
    await lab.ip(b, 'link', 'add', 'cni0', 'type', 'bridge');
    await lab.ip(b, 'addr', 'add', '10.52.0.1/24', 'dev', 'cni0');
    await lab.ip(b, 'link', 'set', 'cni0', 'up');
    await lab.ip(a, 'route', 'add', '10.52.0.0/16', 'via', '192.168.77.2');
    await lab.ip(b, 'route', 'add', '10.42.0.0/16', 'via', '192.168.77.1');
  });
  afterEach(async () => {
    await checker?.stop();
    checker = undefined;
  });
  after(async () => {
    await lab.cleanup();
  });

  it('finds the pod-CIDR address on the node, or reports it unavailable (underlay pods)', async () => {
    assert.deepEqual(await findHealthCheckIP(['10.42.0.0/16'], { netns: a }), { ip: '10.42.0.1', ifname: 'cni0' });
    const none = await findHealthCheckIP(['172.30.0.0/16'], { netns: a });
    assert.ok('unavailable' in none && /172\.30\.0\.0\/16/.test(none.unavailable));
  });

  for (const kind of ['icmp', 'fping'] as const) {
    it(`${kind}: measures RTT, detects loss when the link is cut, recovers, and leaves nothing behind`, async () => {
      const { log } = logSink();
      checker = new SharedHealthChecker({ log, intervalMs: 100, maxLoss: 5, netns: a, prober: kind });
      assert.equal(checker.prober, kind);
      const flips: boolean[] = [];
      checker.on('health', (_c, healthy) => flips.push(healthy));
      checker.setTargets([{ cableName: 'cable-b', sourceIP: '10.42.0.1', targetIP: '10.52.0.1' }]);
      const up = await waitFor(() => { const s = checker!.stats('cable-b'); return s?.rtt && s.received >= 3 ? s : undefined; }, { timeoutMs: 5000, what: 'RTT samples' });
      assert.ok(up.rtt!.avgNs > 0 && up.rtt!.avgNs < 50_000_000, `avg ${up.rtt!.avgNs} ns`);
      assert.equal(up.healthy, true);
      assert.equal(up.lossPercent, 0);
      assert.equal(up.prober, kind);

      await lab.ip(b, 'link', 'set', 'cable0', 'down');
      await waitFor(() => flips.includes(false), { timeoutMs: 5000, what: 'unhealthy after the link went down' });
      const down = checker.stats('cable-b')!;
      assert.ok(down.consecutiveLost >= 5 && down.lossPercent > 0, JSON.stringify(down));

      await lab.ip(b, 'link', 'set', 'cable0', 'up');
      // Setting a link down flushes the routes through it; put B's way back to A's pods again.
      await lab.ip(b, 'route', 'replace', '10.42.0.0/16', 'via', '192.168.77.1');
      await waitFor(() => flips.at(-1) === true, { timeoutMs: 8000, what: 'healthy after the link came back' });

      assert.equal(checker.pids().length, kind === 'fping' ? 1 : 0);
      assert.equal((await netnsPids(a)).length, kind === 'fping' ? 1 : 0, 'in-process: no process in the namespace');
      await checker.stop();
      checker = undefined;
      assert.deepEqual(await netnsPids(a), [], 'no prober left in the namespace');
      assert.equal(await rawSockets(a), 0, 'no raw ICMP socket left open');
    });

    it(`${kind}: one prober for every remote, a lost one turns unhealthy alone, nothing is left behind`, async () => {
      const { log } = logSink();
      await lab.ip(b, 'addr', 'add', '10.52.0.2/24', 'dev', 'cni0');
      const shared = new SharedHealthChecker({ log, intervalMs: 100, maxLoss: 5, netns: a, prober: kind });
      try {
        const flips: Array<[string, boolean]> = [];
        shared.on('health', (c, healthy) => flips.push([c, healthy]));
        shared.setTargets([
          { cableName: 'cable-b1', sourceIP: '10.42.0.1', targetIP: '10.52.0.1' },
          { cableName: 'cable-b2', sourceIP: '10.42.0.1', targetIP: '10.52.0.2' },
        ]);
        for (const c of ['cable-b1', 'cable-b2']) {
          const s = await waitFor(() => { const h = shared.stats(c); return h?.rtt && h.received >= 3 ? h : undefined; }, { timeoutMs: 5000, what: `${c} RTT samples` });
          assert.ok(s.rtt!.avgNs > 0 && s.rtt!.avgNs < 50_000_000, `avg ${s.rtt!.avgNs} ns`);
        }
        assert.equal((await netnsPids(a)).length, kind === 'fping' ? 1 : 0, 'one fping for both remotes, or none');
        if (kind === 'icmp') assert.equal(await rawSockets(a), 1, 'one raw ICMP socket for both remotes');

        await lab.ip(b, 'addr', 'del', '10.52.0.2/24', 'dev', 'cni0');
        await waitFor(() => flips.some(([c, h]) => c === 'cable-b2' && !h), { timeoutMs: 5000, what: 'cable-b2 unhealthy' });
        assert.equal(shared.stats('cable-b1')!.healthy, true, 'the other remote is unaffected');
        assert.equal(flips.some(([c]) => c === 'cable-b1'), false);
      } finally {
        await shared.stop();
      }
      assert.deepEqual(await netnsPids(a), [], 'no prober left in the namespace');
      assert.equal(await rawSockets(a), 0);
    });
  }

  it('icmp: an unreachable target is unhealthy with the ICMP error as its reason; the others are not disturbed', async () => {
    // B routes (forwarding on in B only) and has an `unreachable` route for 10.99.0.0/16: B's kernel answers
    // A's probes there with ICMP host unreachable
    await lab.ip(a, 'route', 'replace', '10.99.0.0/16', 'via', '192.168.77.2');
    await lab.run(b, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await lab.ip(b, 'route', 'replace', 'unreachable', '10.99.0.0/16');
    checker = new SharedHealthChecker({ log: logSink().log, intervalMs: 100, maxLoss: 3, netns: a, prober: 'icmp' });
    checker.setTargets([
      { cableName: 'cable-b', sourceIP: '10.42.0.1', targetIP: '10.52.0.1' },
      { cableName: 'cable-x', sourceIP: '10.42.0.1', targetIP: '10.99.0.1' },
      // no route at all from A: the send itself fails
      { cableName: 'cable-y', sourceIP: '10.42.0.1', targetIP: '172.31.0.1' },
    ]);
    const x = await waitFor(() => { const h = checker!.stats('cable-x'); return h && !h.healthy ? h : undefined; }, { timeoutMs: 5000, what: 'cable-x unhealthy' });
    assert.match(x.lastError ?? '', /^ICMP Host Unreachable from 192\.168\.77\.2$/);
    assert.match(checker.unhealthyReason('cable-x') ?? '', /no reply to the last \d+ health-check pings to 10\.99\.0\.1 \(ICMP Host Unreachable/);
    const y = await waitFor(() => { const h = checker!.stats('cable-y'); return h && !h.healthy ? h : undefined; }, { timeoutMs: 5000, what: 'cable-y unhealthy' });
    assert.match(y.lastError ?? '', /error while sending ping: network is unreachable \(ENETUNREACH\)/i);
    const ok = checker.stats('cable-b')!;
    assert.equal(ok.healthy, true);
    assert.equal(ok.lossPercent, 0);
    assert.equal(x.running, true, 'the prober itself is fine');
  });

  it('icmp: target set changes keep the one socket and the statistics of targets that stay', async () => {
    await lab.ip(b, 'addr', 'replace', '10.52.0.3/24', 'dev', 'cni0');
    checker = new SharedHealthChecker({ log: logSink().log, intervalMs: 100, maxLoss: 5, netns: a, prober: 'icmp' });
    const one = { cableName: 'cable-b', sourceIP: '10.42.0.1', targetIP: '10.52.0.1' };
    const two = { cableName: 'cable-b3', sourceIP: '10.42.0.1', targetIP: '10.52.0.3' };
    checker.setTargets([one]);
    await waitFor(() => (checker!.stats('cable-b')?.received ?? 0) >= 3, { timeoutMs: 5000, what: 'cable-b replies' });
    const inode = await rawSocketInodes(a);
    checker.setTargets([one, two]);
    const before = checker.stats('cable-b')!.received;
    await waitFor(() => (checker!.stats('cable-b3')?.received ?? 0) >= 3, { timeoutMs: 5000, what: 'cable-b3 replies' });
    assert.ok(checker.stats('cable-b')!.received > before, 'cable-b kept its statistics and kept being probed');
    checker.setTargets([two]);
    assert.equal(checker.stats('cable-b'), undefined);
    const n3 = checker.stats('cable-b3')!.received;
    await waitFor(() => (checker!.stats('cable-b3')?.received ?? 0) >= n3 + 3, { timeoutMs: 5000, what: 'cable-b3 still probed' });
    assert.deepEqual(await rawSocketInodes(a), inode, 'the same one socket throughout');
    checker.setTargets([]);
    await checker.settled();
    assert.equal(await rawSockets(a), 0, 'no targets: no socket');
  });

  it('icmp: a source address not (yet) on the node is a dead prober with the reason; it comes back once the address is there', async () => {
    checker = new SharedHealthChecker({ log: logSink().log, intervalMs: 100, maxLoss: 3, netns: a, prober: 'icmp' });
    checker.setTargets([{ cableName: 'cable-b', sourceIP: '10.42.0.9', targetIP: '10.52.0.1' }]);
    const h = await waitFor(() => { const s = checker!.stats('cable-b'); return s && !s.healthy ? s : undefined; }, { timeoutMs: 5000, what: 'unhealthy: no socket' });
    assert.equal(h.running, false);
    assert.match(h.lastError ?? '', /cannot bind source address 10\.42\.0\.9 .*EADDRNOTAVAIL/);
    await lab.ip(a, 'addr', 'add', '10.42.0.9/24', 'dev', 'cni0');
    try {
      // reopened on the prober's backoff (from the interval, doubling)
      await waitFor(() => { const s = checker!.stats('cable-b'); return s?.healthy && s.running && s.received > 0 ? s : undefined; }, { timeoutMs: 10_000, what: 'healthy once the address exists' });
    } finally {
      await lab.ip(a, 'addr', 'del', '10.42.0.9/24', 'dev', 'cni0');
    }
  });

  it('icmp: a restarted checker probes again from scratch with a new socket, and the old one is closed', async () => {
    const target = { cableName: 'cable-b', sourceIP: '10.42.0.1', targetIP: '10.52.0.1' };
    const first = new SharedHealthChecker({ log: logSink().log, intervalMs: 100, maxLoss: 5, netns: a, prober: 'icmp' });
    first.setTargets([target]);
    await waitFor(() => (first.stats('cable-b')?.received ?? 0) >= 2, { timeoutMs: 5000, what: 'first checker replies' });
    await first.stop();
    assert.equal(await rawSockets(a), 0);
    checker = new SharedHealthChecker({ log: logSink().log, intervalMs: 100, maxLoss: 5, netns: a, prober: 'icmp' });
    checker.setTargets([target]);
    const h = await waitFor(() => { const s = checker!.stats('cable-b'); return s && s.received >= 2 ? s : undefined; }, { timeoutMs: 5000, what: 'second checker replies' });
    assert.equal(h.lossPercent, 0, 'replies to the first socket\'s probes are not taken as the second\'s');
    assert.equal(await rawSockets(a), 1);
  });

  it('icmp: an IPv6 target is probed by fping beside the in-process ICMPv4 prober', async () => {
    await lab.ip(a, 'addr', 'replace', 'fd00:77::1/64', 'dev', 'cable0', 'nodad');
    await lab.ip(b, 'addr', 'replace', 'fd00:77::2/64', 'dev', 'cable0', 'nodad');
    checker = new SharedHealthChecker({ log: logSink().log, intervalMs: 100, maxLoss: 5, netns: a, prober: 'icmp' });
    checker.setTargets([
      { cableName: 'cable-b', sourceIP: '10.42.0.1', targetIP: '10.52.0.1' },
      { cableName: 'cable-b6', targetIP: 'fd00:77::2' },
    ]);
    for (const c of ['cable-b', 'cable-b6']) await waitFor(() => (checker!.stats(c)?.received ?? 0) >= 2, { timeoutMs: 5000, what: `${c} replies` });
    assert.equal(checker.stats('cable-b')!.prober, 'icmp');
    assert.equal(checker.stats('cable-b6')!.prober, 'fping');
    assert.equal(checker.pids().length, 1, 'one fping, for the IPv6 target only');
  });

  it('auto picks the in-process prober when a raw ICMP socket can be opened', () => {
    const auto = new SharedHealthChecker({ log: logSink().log, intervalMs: 100, maxLoss: 5, netns: a });
    assert.equal(auto.prober, 'icmp');
    assert.equal(auto.fallbackReason, undefined);
    void auto.stop();
  });
});
