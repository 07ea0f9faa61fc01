// HealthChecker driven by stand-in ping scripts (no root, no network): parsing, loss runs, restarts, kill on remove.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HealthChecker } from '../../../src/cable-drivers/healthcheck/checker.js';
import { pidAlive } from '../../../src/os/daemon.js';
import { waitFor } from '../../../src/util/wait.js';
import { quietLogger } from '../natdiscovery/helpers.js';

describe('healthcheck: HealthChecker with a stand-in ping', () => {
  let dir: string;
  let checker: HealthChecker | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hw-hc-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    await checker?.stop();
    checker = undefined;
  });

  /** A script standing in for ping: `body` gets the target as $last (the last argument). */
  function fakePing(name: string, body: string): string {
    const file = join(dir, name);
    writeFileSync(file, `#!/bin/sh\nfor last; do :; done\n${body}\n`);
    chmodSync(file, 0o755);
    return file;
  }

  it('measures RTT from replies and kills its ping by PID when the target goes away', async () => {
    const cmd = fakePing('ok.sh', 'i=1; while :; do echo "64 bytes from $last: icmp_seq=$i ttl=64 time=0.$i ms"; i=$((i+1)); [ $i -gt 9 ] && i=1; sleep 0.02; done');
    checker = new HealthChecker({ log: quietLogger().log, intervalMs: 20, maxLoss: 5, pingCommand: cmd });
    const changes: string[] = [];
    checker.on('change', (c) => changes.push(c));
    checker.setTargets([{ cableName: 'c1', targetIP: '10.2.0.7', sourceIP: '10.1.0.5' }]);
    const h = await waitFor(() => { const s = checker!.stats('c1'); return s && s.received >= 3 ? s : undefined; }, { timeoutMs: 3000, what: 'replies' });
    assert.equal(h.healthy, true);
    assert.equal(h.sourceIP, '10.1.0.5');
    assert.ok(h.rtt && h.rtt.minNs >= 100_000 && h.rtt.maxNs <= 900_000, JSON.stringify(h.rtt));
    assert.ok(changes.includes('c1'));
    const [pid] = checker.pids();
    assert.ok(pid && pidAlive(pid));
    checker.setTargets([]);
    await waitFor(() => !pidAlive(pid), { timeoutMs: 3000, what: 'ping killed' });
    assert.equal(checker.stats('c1'), undefined);
  });

  it('turns unhealthy after maxLoss consecutive losses and healthy again on a reply', async () => {
    const flag = join(dir, 'answer');
    const cmd = fakePing('lossy.sh', `i=1; while :; do if [ -e ${flag} ]; then echo "64 bytes from $last: icmp_seq=$i ttl=64 time=1.5 ms"; else echo "no answer yet for icmp_seq=$i"; fi; i=$((i+1)); sleep 0.02; done`);
    checker = new HealthChecker({ log: quietLogger().log, intervalMs: 20, maxLoss: 5, pingCommand: cmd });
    const flips: boolean[] = [];
    checker.on('health', (_c, healthy) => flips.push(healthy));
    checker.setTargets([{ cableName: 'c1', targetIP: '10.2.0.7' }]);
    await waitFor(() => flips.includes(false), { timeoutMs: 3000, what: 'unhealthy' });
    assert.ok(checker.stats('c1')!.consecutiveLost >= 5);
    assert.match(checker.unhealthyReason('c1') ?? '', /no reply to the last \d+ health-check pings to 10\.2\.0\.7/);
    writeFileSync(flag, '');
    await waitFor(() => flips.at(-1) === true, { timeoutMs: 3000, what: 'healthy again' });
    assert.equal(checker.unhealthyReason('c1'), undefined);
    assert.equal(checker.stats('c1')!.rtt?.lastNs, 1_500_000);
  });

  it('a ping that cannot run is restarted, its error kept, and silence counts as loss', async () => {
    const cmd = fakePing('dead.sh', 'echo "ping: connect: Network is unreachable" >&2; exit 2');
    checker = new HealthChecker({ log: quietLogger().log, intervalMs: 20, maxLoss: 3, pingCommand: cmd });
    checker.setTargets([{ cableName: 'c1', targetIP: '10.2.0.7' }]);
    const h = await waitFor(() => { const s = checker!.stats('c1'); return s && !s.healthy ? s : undefined; }, { timeoutMs: 3000, what: 'unhealthy' });
    assert.equal(h.lastError, 'ping: connect: Network is unreachable');
    assert.match(checker.unhealthyReason('c1') ?? '', /Network is unreachable/);
  });

  it('restarts statistics when the target changes', async () => {
    const cmd = fakePing('ok2.sh', 'i=1; while :; do echo "64 bytes from $last: icmp_seq=$i ttl=64 time=2 ms"; i=$((i+1)); sleep 0.02; done');
    checker = new HealthChecker({ log: quietLogger().log, intervalMs: 20, maxLoss: 5, pingCommand: cmd });
    checker.setTargets([{ cableName: 'c1', targetIP: '10.2.0.7' }]);
    await waitFor(() => (checker!.stats('c1')?.received ?? 0) >= 2, { timeoutMs: 3000, what: 'replies' });
    const [oldPid] = checker.pids();
    checker.setTargets([{ cableName: 'c1', targetIP: '10.2.0.8' }]);
    assert.equal(checker.stats('c1')?.targetIP, '10.2.0.8');
    assert.ok((checker.stats('c1')?.received ?? 0) < 2);
    await waitFor(() => !pidAlive(oldPid!), { timeoutMs: 3000, what: 'old ping killed' });
  });
});
