import assert from 'node:assert/strict';
import { isHawserError } from '../../../src/util/errors.js';
import { waitFor } from '../../../src/util/wait.js';
import type { WireGuardDriver } from '../../../src/cable-drivers/wireguard/index.js';
import { Lab, type Gw } from '../../support/wireguard-lab.js';

describe('WireGuard cable faults @real', function () {
  this.timeout(60_000);
  let lab: Lab;
  let a: Gw;
  let b: Gw;
  let c: Gw;
  let da: WireGuardDriver;
  let db: WireGuardDriver;
  let dc: WireGuardDriver;
  const opts = { handshakeGraceMs: 2000 };

  const statusOf = async (d: WireGuardDriver, g: Gw): Promise<{ status: string; statusMessage: string } | undefined> =>
    (await d.connections()).find((x) => x.cableName === lab.endpointOf(g, g === b ? db : dc).cableName);

  before(async () => {
    lab = new Lab();
    const w = await lab.wan();
    a = await lab.gateway(w, 1, 'a');
    b = await lab.gateway(w, 2, 'b');
    c = await lab.gateway(w, 3, 'c');
    da = lab.driver(a, opts);
    // b was given another cluster's PSK
    db = lab.driver(b, opts, 'some-other-psk');
    dc = lab.driver(c, opts);
    await Promise.all([da.init(), db.init(), dc.init()]);
    await da.connect(lab.endpointOf(c, dc), lab.nat(a, c));
    await dc.connect(lab.endpointOf(a, da), lab.nat(c, a));
    await waitFor(() => lab.ping(a, c.podIP), { timeoutMs: 10_000, what: 'cable a-c' });
  });
  after(async () => {
    for (const d of [da, db, dc]) await d?.cleanup().catch(() => undefined);
    await lab?.destroy();
  });

  it('a remote without publicKey: that cable is an error saying what to fix; others stay up', async () => {
    const ep = lab.endpointOf(b, db);
    delete ep.backendConfig.publicKey;
    await assert.rejects(da.connect(ep, lab.nat(a, b)), (err: unknown) => isHawserError(err, 'INVALID') && /publishes no backend_config.publicKey.*SUBMARINER_CABLEDRIVER=wireguard/.test(err.message));
    const s = await statusOf(da, b);
    assert.equal(s?.status, 'error');
    assert.match(s?.statusMessage ?? '', /publicKey/);
    assert.equal((await statusOf(da, c))?.status, 'connected');
    assert.ok(await lab.ping(a, c.podIP));
  });

  it('a remote with an invalid publicKey: error with the reason; others stay up', async () => {
    const ep = lab.endpointOf(b, db);
    ep.backendConfig.publicKey = 'not-a-key';
    await assert.rejects(da.connect(ep, lab.nat(a, b)), /invalid backend_config.publicKey "not-a-key": a WireGuard key is 44 base64 characters/);
    assert.equal((await statusOf(da, b))?.status, 'error');
    assert.ok(await lab.ping(a, c.podIP));
  });

  it('a wrong PSK: no handshake, then an error naming the PSK; others stay up', async () => {
    await da.connect(lab.endpointOf(b, db), lab.nat(a, b));
    await db.connect(lab.endpointOf(a, da), lab.nat(b, a));
    assert.equal((await statusOf(da, b))?.status, 'connecting');
    const s = await waitFor(async () => {
      const st = await statusOf(da, b);
      return st?.status === 'error' ? st : undefined;
    }, { timeoutMs: 8000, what: 'cable a-b to be an error' });
    assert.match(s.statusMessage, /no WireGuard handshake with 192\.0\.2\.2:4500 .*same PSK \(CE_IPSEC_PSK\)/);
    assert.equal(await lab.ping(a, b.podIP), false);
    assert.equal((await statusOf(da, c))?.status, 'connected');
    assert.ok(await lab.ping(a, c.podIP, ['-c', '3', '-i', '0.05', '-W', '1']));
  });

  it('a new driver instance adopts the running device, key, peers and routes (no write): zero lost pings at 10/s', async () => {
    const pid = da.daemonPid;
    const key = da.publicKey;
    assert.ok(pid);
    const ping = lab.spawn(a.ns, 'ping', ['-n', '-I', a.podIP, '-i', '0.1', '-c', '40', '-W', '1', c.podIP]);
    await waitFor(() => /icmp_seq=5 /.test(ping.out()), { timeoutMs: 5000, what: 'pings before the restart' });
    await da.close();
    const da2 = lab.driver(a, opts);
    await da2.init();
    // the same cables as the previous instance had: the planner finds them in place and writes nothing
    await da2.set([{ endpoint: lab.endpointOf(b, db), nat: lab.nat(a, b) }, { endpoint: lab.endpointOf(c, dc), nat: lab.nat(a, c) }]);
    da = da2;
    await ping.exited;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(ping.out());
    assert.ok(m, ping.out());
    assert.equal(m[1], '40');
    assert.equal(m[2], '40', `lost pings during the restart:\n${ping.out().split('\n').slice(-4).join('\n')}`);
    assert.equal(da2.daemonPid, pid, 'wireguard-go adopted, not restarted');
    assert.equal(da2.publicKey, key, 'key adopted');
    assert.deepEqual(da2.stats, { deviceWrites: 0, netWrites: 0, daemonRestarts: 0 });
    assert.ok(lab.logLines.some((l) => l.includes('adopted the running WireGuard device and its key')));
  });

  it('wireguard-go killed: restarted, config re-applied and the cable back within 5 s, and the log says so', async () => {
    const pid = da.daemonPid;
    assert.ok(pid);
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    await waitFor(async () => da.daemonPid !== undefined && da.daemonPid !== pid && (await lab.ping(a, c.podIP, ['-c', '1', '-W', '0.5'])), { timeoutMs: 5000, intervalMs: 50, what: 'the cable back after the kill' });
    const ms = Date.now() - t0;
    assert.ok(ms < 5000, `restored in ${ms} ms`);
    assert.equal(da.stats.daemonRestarts, 1);
    assert.ok(lab.logLines.some((l) => l.includes('wireguard-go had died and was restarted')));
    await waitFor(() => lab.logLines.some((l) => l.includes('WireGuard cable restored after wireguard-go restart')), { timeoutMs: 2000, what: 'the restore log line' });
    assert.equal((await statusOf(da, c))?.status, 'connected');
    console.log(`      (cable restored ${ms} ms after SIGKILL of wireguard-go)`);
  });
});
