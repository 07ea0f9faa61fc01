// The health checker with the real fping, between two network namespaces.
import assert from 'node:assert/strict';
import { SharedHealthChecker } from '../../src/health/shared.js';
import { findHealthCheckIP } from '../../src/health/source-ip.js';
import { netnsPids } from '../../src/os/netns.js';
import { waitFor } from '../../src/util/wait.js';
import { logSink as quietLogger } from '../support/fixtures.js';
import { NetnsHarness as NetLab } from '../support/netns.js';

describe('healthcheck: ping between network namespaces @real', function () {
  this.timeout(30_000);
  const lab = new NetLab();
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

  it('measures RTT, detects loss when the link is cut, recovers, and leaves no prober behind', async () => {
    const { log } = quietLogger();
    checker = new SharedHealthChecker({ log, intervalMs: 100, maxLoss: 5, netns: a });
    const flips: boolean[] = [];
    checker.on('health', (_c, healthy) => flips.push(healthy));
    checker.setTargets([{ cableName: 'cable-b', sourceIP: '10.42.0.1', targetIP: '10.52.0.1' }]);
    const up = await waitFor(() => { const s = checker!.stats('cable-b'); return s?.rtt && s.received >= 3 ? s : undefined; }, { timeoutMs: 5000, what: 'RTT samples' });
    assert.ok(up.rtt!.avgNs > 0 && up.rtt!.avgNs < 50_000_000, `avg ${up.rtt!.avgNs} ns`);
    assert.equal(up.healthy, true);
    assert.equal(up.lossPercent, 0);

    await lab.ip(b, 'link', 'set', 'cable0', 'down');
    await waitFor(() => flips.includes(false), { timeoutMs: 5000, what: 'unhealthy after the link went down' });
    const down = checker.stats('cable-b')!;
    assert.ok(down.consecutiveLost >= 5 && down.lossPercent > 0, JSON.stringify(down));

    await lab.ip(b, 'link', 'set', 'cable0', 'up');
    // Setting a link down flushes the routes through it; put B's way back to A's pods again.
    await lab.ip(b, 'route', 'replace', '10.42.0.0/16', 'via', '192.168.77.1');
    await waitFor(() => flips.at(-1) === true, { timeoutMs: 8000, what: 'healthy after the link came back' });

    const pids = checker.pids();
    assert.equal(pids.length, 1);
    await checker.stop();
    checker = undefined;
    assert.deepEqual(await netnsPids(a), [], 'fping must be gone from the namespace');
  });

  it('fping: one process probes every remote, a lost one turns unhealthy alone, nothing is left behind', async () => {
    const { log } = quietLogger();
    await lab.ip(b, 'addr', 'add', '10.52.0.2/24', 'dev', 'cni0');
    const shared = new SharedHealthChecker({ log, intervalMs: 100, maxLoss: 5, netns: a });
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
      assert.equal(shared.pids().length, 1, 'one fping for both remotes');
      assert.equal((await netnsPids(a)).length, 1);

      await lab.ip(b, 'addr', 'del', '10.52.0.2/24', 'dev', 'cni0');
      await waitFor(() => flips.some(([c, h]) => c === 'cable-b2' && !h), { timeoutMs: 5000, what: 'cable-b2 unhealthy' });
      assert.equal(shared.stats('cable-b1')!.healthy, true, 'the other remote is unaffected');
      assert.equal(flips.some(([c]) => c === 'cable-b1'), false);
    } finally {
      await shared.stop();
    }
    assert.deepEqual(await netnsPids(a), [], 'fping must be gone from the namespace');
  });
});
