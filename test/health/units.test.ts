import assert from 'node:assert/strict';
import { formatGoDuration, latencyRTT } from '../../src/health/duration.js';
import { PingStats } from '../../src/health/stats.js';
import { chooseHealthCheckIP, findHealthCheckIP, listNodeAddresses } from '../../src/health/source-ip.js';
import { FakeRtnl } from '../support/fake-rtnl.js';
import { seededRandom } from '../support/prng.js';

describe('healthcheck: Go duration strings', () => {
  // Expected values are what Go's time.Duration(n).String() prints.
  const cases: Array<[number | bigint, string]> = [
    [0, '0s'],
    [1, '1ns'],
    [999, '999ns'],
    [1000, '1µs'],
    [1500, '1.5µs'],
    [412_341, '412.341µs'],
    [412_341.4, '412.341µs'],
    [999_999, '999.999µs'],
    [1_000_000, '1ms'],
    [1_500_000, '1.5ms'],
    [1_234_567, '1.234567ms'],
    [999_999_999, '999.999999ms'],
    [1_000_000_000, '1s'],
    [2_000_000_000, '2s'],
    [1_500_000_001, '1.500000001s'],
    [60_000_000_000, '1m0s'],
    [90_500_000_000, '1m30.5s'],
    [3_600_000_000_000, '1h0m0s'],
    [3_723_000_000_000, '1h2m3s'],
    [-1_500_000, '-1.5ms'],
    [-1, '-1ns'],
    [9_223_372_036_854_775_807n, '2562047h47m16.854775807s'],
  ];
  for (const [ns, want] of cases) it(`${ns} ns -> ${want}`, () => assert.equal(formatGoDuration(ns), want));

  it('truncates like Go instead of rounding', () => {
    assert.equal(formatGoDuration(1_999_999), '1.999999ms');
    assert.equal(formatGoDuration(1_000_999), '1.000999ms');
  });

  it('formats a latencyRTT block', () => {
    assert.deepEqual(latencyRTT({ lastNs: 412_341, minNs: 1000, avgNs: 1_500_000, maxNs: 2e9, stddevNs: 0 }), {
      last: '412.341µs', min: '1µs', average: '1.5ms', max: '2s', stdDev: '0s',
    });
  });
});

describe('healthcheck: statistics window', () => {
  it('computes RTT statistics (population stddev) and loss over the window', () => {
    const s = new PingStats(4);
    s.reply('0:1', 1_000_000);
    s.lost('0:2');
    s.reply('0:3', 3_000_000);
    const snap = s.snapshot(5);
    assert.deepEqual(snap.rtt, { lastNs: 3_000_000, minNs: 1_000_000, avgNs: 2_000_000, maxNs: 3_000_000, stddevNs: 1_000_000 });
    assert.equal(Math.round(snap.lossPercent * 100) / 100, 33.33);
    assert.equal(snap.consecutiveLost, 0);
    assert.equal(snap.healthy, true);
  });

  it('slides: old samples leave the window', () => {
    const s = new PingStats(3);
    s.lost('0:1');
    s.lost('0:2');
    s.reply('0:3', 5);
    s.reply('0:4', 7);
    s.reply('0:5', 9);
    const snap = s.snapshot(5);
    assert.equal(snap.lossPercent, 0);
    assert.equal(snap.rtt?.minNs, 5);
    assert.equal(snap.sent, 5);
    assert.equal(snap.received, 3);
  });

  it('counts consecutive losses up to unhealthy; a reply (also a late one) ends the run', () => {
    const s = new PingStats();
    s.reply('0:1', 100);
    for (let i = 2; i <= 6; i++) s.lost(`0:${i}`);
    assert.equal(s.snapshot(5).consecutiveLost, 5);
    assert.equal(s.snapshot(5).healthy, false);
    assert.equal(s.snapshot(6).healthy, true);
    // The reply for seq 6 arrives late: seq 6 is no longer lost, the run is broken.
    assert.equal(s.reply('0:6', 2_000_000_000), true);
    assert.equal(s.snapshot(5).consecutiveLost, 0);
    assert.equal(s.snapshot(5).rtt?.lastNs, 2_000_000_000);
  });

  it('ignores duplicates and repeated loss reports; synthetic losses always count', () => {
    const s = new PingStats();
    assert.equal(s.reply('0:1', 100), true);
    assert.equal(s.reply('0:1', 100), false);
    assert.equal(s.lost('0:2'), true);
    assert.equal(s.lost('0:2'), false);
    assert.equal(s.lost(undefined), true);
    assert.equal(s.lost(undefined), true);
    assert.equal(s.snapshot(5).consecutiveLost, 3);
    assert.equal(s.snapshot(5).rtt?.lastNs, 100);
  });

  it('keeps the same counts as recounting the window, over random replies, late replies, duplicates and synthetic losses', () => {
    // the reference: the window as a plain list, recounted from scratch after every step
    for (const seed of [1, 2, 3, 4, 5]) {
      const rnd = seededRandom(seed);
      const window = 7;
      const s = new PingStats(window);
      const ref: Array<{ key: string | undefined; rtt: number | undefined }> = [];
      let seq = 0;
      for (let step = 0; step < 2000; step++) {
        const r = rnd();
        if (r < 0.45) {
          const key = `0:${seq++}`;
          s.reply(key, 1000 + step);
          ref.push({ key, rtt: 1000 + step });
        } else if (r < 0.75) {
          const key = `0:${seq++}`;
          s.lost(key);
          ref.push({ key, rtt: undefined });
        } else if (r < 0.85) {
          s.lost(undefined);
          ref.push({ key: undefined, rtt: undefined });
        } else {
          // a late (or duplicate) reply to one of the last few probes, possibly already out of the window
          if (seq === 0) continue;
          const key = `0:${seq - 1 - Math.floor(rnd() * Math.min(10, seq))}`;
          const hit = ref.find((x) => x.key === key);
          const expected = !hit || hit.rtt === undefined;
          assert.equal(s.reply(key, 5), expected, `step ${step}`);
          if (hit && hit.rtt === undefined) hit.rtt = 5;
          else if (!hit) ref.push({ key, rtt: 5 });
        }
        while (ref.length > window) ref.shift();
        let trailing = 0;
        for (let i = ref.length - 1; i >= 0 && ref[i]!.rtt === undefined; i--) trailing++;
        const snap = s.snapshot(3);
        assert.equal(snap.consecutiveLost, trailing, `seed ${seed} step ${step}`);
        assert.equal(snap.lossPercent, (100 * ref.filter((x) => x.rtt === undefined).length) / ref.length, `seed ${seed} step ${step}`);
      }
    }
  });

  it('has no RTT before the first reply', () => {
    const s = new PingStats();
    assert.equal(s.snapshot(5).rtt, undefined);
    assert.equal(s.snapshot(5).healthy, true);
    assert.equal(s.snapshot(5).lossPercent, 0);
  });
});

describe('healthcheck: choosing the source address', () => {
  const node = [
    { ifname: 'lo', ip: '127.0.0.1' },
    { ifname: 'eth0', ip: '192.168.10.5' },
    { ifname: 'vx-submariner', ip: '240.168.10.5' },
    { ifname: 'cni0', ip: '10.42.0.1' },
    { ifname: 'flannel.1', ip: '10.42.0.0' },
    { ifname: 'eth0', ip: 'fd00:10::5' },
  ];
  const cases: Array<[string, typeof node, string[], { ip: string; ifname: string } | RegExp]> = [
    ['the CNI bridge address in the pod CIDR', node, ['10.42.0.0/16'], { ip: '10.42.0.1', ifname: 'cni0' }],
    ['several CIDRs: the first address (kernel order) in any of them', node, ['172.16.0.0/16', '10.42.0.0/16'], { ip: '10.42.0.1', ifname: 'cni0' }],
    ['IPv6 cluster CIDR', node, ['fd00:10::/64'], { ip: 'fd00:10::5', ifname: 'eth0' }],
    ['loopback only as a last resort', [{ ifname: 'lo', ip: '10.42.9.9' }, { ifname: 'cali1', ip: '10.42.1.1' }], ['10.42.0.0/16'], { ip: '10.42.1.1', ifname: 'cali1' }],
    ['a pod-CIDR address on loopback is still usable', [{ ifname: 'lo', ip: '10.42.9.9' }], ['10.42.0.0/16'], { ip: '10.42.9.9', ifname: 'lo' }],
    ['underlay pods (Spiderpool): no address in the pod CIDR', node.filter((a) => !a.ip.startsWith('10.42.')), ['10.42.0.0/16'], /no address on this node is inside the cluster CIDRs \[10\.42\.0\.0\/16\].*Spiderpool.*cables stay up/],
    ['no cluster CIDR', node, [], /no cluster CIDR is configured/],
    ['invalid CIDRs are ignored', node, ['nonsense', '10.42.0.0/16'], { ip: '10.42.0.1', ifname: 'cni0' }],
  ];
  for (const [name, addrs, cidrs, want] of cases) {
    it(name, () => {
      const got = chooseHealthCheckIP(addrs, cidrs);
      if (want instanceof RegExp) {
        assert.ok('unavailable' in got, JSON.stringify(got));
        assert.match(got.unavailable, want);
      } else {
        assert.deepEqual(got, want);
      }
    });
  }

  it('accepts parsed Cidr values from the config', () => {
    assert.deepEqual(chooseHealthCheckIP(node, [{ text: '10.42.0.0/16', address: '10.42.0.0', prefix: 16, family: 4 }]), { ip: '10.42.0.1', ifname: 'cni0' });
  });

  it('lists the node\'s addresses through rtnetlink, skipping link-local IPv6', async () => {
    const r = new FakeRtnl();
    const lo = r.addLink({ name: 'lo', mtu: 65536, up: true });
    const eth = r.addLink({ name: 'eth0', mtu: 1500, up: true });
    r.addrs.push({ ifindex: lo.index, family: 4, address: '127.0.0.1', prefix: 8 }, { ifindex: eth.index, family: 4, address: '192.168.10.5', prefix: 24 }, { ifindex: eth.index, family: 6, address: 'fe80::1', prefix: 64 });
    assert.deepEqual(await listNodeAddresses({ rtnl: r }), [{ ifname: 'lo', ip: '127.0.0.1' }, { ifname: 'eth0', ip: '192.168.10.5' }]);
    assert.deepEqual(await findHealthCheckIP(['192.168.0.0/16'], { rtnl: r }), { ip: '192.168.10.5', ifname: 'eth0' });
  });
});
