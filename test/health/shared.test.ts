// SharedHealthChecker: fping's output format, and the checker driven by a stand-in fping script
// (no root, no network): one process for all targets, loss runs per target, restart on a new target list.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eachLine, fpingArgs, parseFpingLine, probeGapMs } from '../../src/health/fping-output.js';
import { PassThrough } from 'node:stream';
import { SharedHealthChecker } from '../../src/health/shared.js';
import { pidAlive } from '../../src/os/daemon.js';
import { waitFor } from '../../src/util/wait.js';
import { logSink } from '../support/fixtures.js';

describe('healthcheck: fping output', () => {
  it('parses replies, timeouts and per-target errors; ignores duplicates and summaries', () => {
    assert.deepEqual(parseFpingLine('10.0.0.2 : [3], 64 bytes, 0.045 ms (0.051 avg, 0% loss)'), { kind: 'reply', target: '10.0.0.2', seq: 3, rttNs: 45_000 });
    assert.deepEqual(parseFpingLine('10.0.0.10 : [12], 64 bytes, 1.50 ms (1.20 avg, 0% loss)'), { kind: 'reply', target: '10.0.0.10', seq: 12, rttNs: 1_500_000 });
    assert.deepEqual(parseFpingLine('10.0.0.9  : [0], timed out (NaN avg, 100% loss)'), { kind: 'timeout', target: '10.0.0.9', seq: 0 });
    assert.deepEqual(parseFpingLine('ICMP Host Unreachable from 10.0.0.1 for ICMP Echo sent to 10.0.0.9'), { kind: 'error', target: '10.0.0.9', message: 'ICMP Host Unreachable' });
    assert.deepEqual(parseFpingLine('10.0.0.9: error while sending ping: Network is unreachable'), { kind: 'error', target: '10.0.0.9', message: 'Network is unreachable' });
    assert.equal(parseFpingLine('10.0.0.2 : duplicate for [3], 64 bytes, 0.050 ms').kind, 'other');
    assert.equal(parseFpingLine('10.0.0.2 : xmt/rcv/%loss = 5/5/0%, min/avg/max = 0.04/0.05/0.06').kind, 'other');
  });

  it('splits a stream into lines whatever the chunking, the last unterminated line at the end', async () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    eachLine(stream, (l) => lines.push(l));
    for (const chunk of ['10.0.0.2 : [0], 64 by', 'tes, 0.045 ms\n10.0.0.3 : [0], timed out\n', '\n', 'last']) stream.write(chunk);
    stream.end();
    await new Promise((r) => stream.once('end', r));
    assert.deepEqual(lines, ['10.0.0.2 : [0], 64 bytes, 0.045 ms', '10.0.0.3 : [0], timed out', '', 'last']);
  });

  it('builds one command line for every target: loop mode, the period, the shared source', () => {
    assert.deepEqual(fpingArgs({ intervalMs: 60_000, sourceIP: '10.1.0.5', targets: ['10.2.0.7', '10.3.0.7'] }), ['-l', '-p', '60000', '-S', '10.1.0.5', '10.2.0.7', '10.3.0.7']);
    assert.deepEqual(fpingArgs({ intervalMs: 1000, targets: ['10.2.0.7'] }), ['-l', '-p', '1000', '10.2.0.7']);
  });

  it('spreads the probes over the period, so many targets still get one probe per period each', () => {
    // fping's default 10 ms gap would make a round of 200 targets last 2 s
    assert.equal(probeGapMs(1000, 200), 4);
    assert.equal(probeGapMs(1000, 2000), 1);
    assert.equal(probeGapMs(1000, 80), 10);
    assert.equal(probeGapMs(60_000, 200), 10);
    assert.equal(probeGapMs(20, 3), 5);
    assert.equal(fpingArgs({ intervalMs: 1000, targets: Array.from({ length: 200 }, (_, i) => `10.9.${i >> 8}.${i & 255}`) }).slice(0, 5).join(' '), '-l -p 1000 -i 4');
  });
});

describe('healthcheck: SharedHealthChecker with a stand-in fping', () => {
  let dir: string;
  let checker: SharedHealthChecker | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hw-hcs-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    await checker?.stop();
    checker = undefined;
  });

  /**
   * A script standing in for fping: it records its arguments, then every 20 ms prints a reply for each
   * target except those listed in the file `silent` (those time out).
   */
  function fakeFping(name: string): string {
    const file = join(dir, name);
    writeFileSync(file, `#!/bin/sh
echo "$@" >> ${join(dir, `${name}.args`)}
echo $$ >> ${join(dir, `${name}.pids`)}
while [ $# -gt 0 ]; do case "$1" in -l) shift ;; -p|-i|-S) shift 2 ;; *) break ;; esac; done
i=0
while :; do
  for t in "$@"; do
    if grep -qx "$t" ${join(dir, 'silent')} 2>/dev/null; then echo "$t : [$i], timed out (NaN avg, 100% loss)"
    else echo "$t : [$i], 64 bytes, 0.5 ms (0.5 avg, 0% loss)"; fi
  done
  i=$((i+1)); sleep 0.02
done
`);
    chmodSync(file, 0o755);
    return file;
  }

  it('probes every target from one process, per-target loss, and one restart per change of the target list', async () => {
    const cmd = fakeFping('fp1.sh');
    writeFileSync(join(dir, 'silent'), '10.3.0.7\n');
    checker = new SharedHealthChecker({ log: logSink().log, intervalMs: 20, maxLoss: 5, fpingCommand: cmd });
    const flips: Array<[string, boolean]> = [];
    checker.on('health', (c, healthy) => flips.push([c, healthy]));
    checker.setTargets([
      { cableName: 'c2', targetIP: '10.2.0.7', sourceIP: '10.1.0.5' },
      { cableName: 'c3', targetIP: '10.3.0.7', sourceIP: '10.1.0.5' },
    ]);
    await waitFor(() => flips.some(([c, h]) => c === 'c3' && !h) && (checker!.stats('c2')?.received ?? 0) >= 5, { timeoutMs: 5000, what: 'c3 unhealthy, c2 replies' });
    assert.equal(checker.pids().length, 1, 'one prober for both targets');
    const c2 = checker.stats('c2')!;
    assert.equal(c2.healthy, true);
    assert.equal(c2.rtt?.lastNs, 500_000);
    assert.equal(c2.sourceIP, '10.1.0.5');
    assert.match(checker.unhealthyReason('c3') ?? '', /no reply to the last \d+ health-check pings to 10\.3\.0\.7/);
    assert.equal(readFileSync(join(dir, 'fp1.sh.args'), 'utf8').trim(), '-l -p 20 -i 8 -S 10.1.0.5 10.2.0.7 10.3.0.7');

    // a third remote: the same one process is replaced by one with the longer list; c2 keeps its statistics
    const [first] = checker.pids();
    const before = checker.stats('c2')!.received;
    checker.setTargets([
      { cableName: 'c2', targetIP: '10.2.0.7', sourceIP: '10.1.0.5' },
      { cableName: 'c3', targetIP: '10.3.0.7', sourceIP: '10.1.0.5' },
      { cableName: 'c4', targetIP: '10.4.0.7', sourceIP: '10.1.0.5' },
    ]);
    await checker.settled();
    assert.equal(pidAlive(first!), false, 'the old prober was ended');
    await waitFor(() => (checker!.stats('c4')?.received ?? 0) >= 2, { timeoutMs: 3000, what: 'c4 replies' });
    assert.equal(checker.pids().length, 1);
    assert.ok(checker.stats('c2')!.received > before, 'c2 statistics carried over');

    // the remote answers again
    writeFileSync(join(dir, 'silent'), '');
    await waitFor(() => flips.at(-1)?.[0] === 'c3' && flips.at(-1)?.[1] === true, { timeoutMs: 3000, what: 'c3 healthy again' });

    // all gone: the prober is ended by PID
    const [pid] = checker.pids();
    checker.setTargets([]);
    await checker.settled();
    assert.equal(pidAlive(pid!), false);
    assert.deepEqual(checker.pids(), []);
    assert.equal(checker.stats('c2'), undefined);
  });

  it('a burst of target changes leaves exactly one prober running, with the last list (no orphaned process per change)', async () => {
    const cmd = fakeFping('burst.sh');
    writeFileSync(join(dir, 'silent'), '');
    checker = new SharedHealthChecker({ log: logSink().log, intervalMs: 20, maxLoss: 5, fpingCommand: cmd });
    // Endpoints arrive one by one, faster than a prober is replaced (as 200 remotes do at start).
    const targets = Array.from({ length: 30 }, (_, i) => ({ cableName: `c${i}`, targetIP: `10.9.0.${i + 1}` }));
    for (let i = 1; i <= targets.length; i++) {
      checker.setTargets(targets.slice(0, i));
      if (i % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    await checker.settled();
    await waitFor(() => (checker!.stats('c29')?.received ?? 0) >= 2, { timeoutMs: 5000, what: 'the last target replies' });
    const started = readFileSync(join(dir, 'burst.sh.pids'), 'utf8').trim().split('\n').map(Number);
    const alive = started.filter((pid) => pidAlive(pid));
    assert.deepEqual(alive, checker.pids(), `one prober alive of ${started.length} started`);
    const lastArgs = readFileSync(join(dir, 'burst.sh.args'), 'utf8').trim().split('\n').at(-1)!;
    assert.ok(lastArgs.endsWith(targets.map((t) => t.targetIP).sort().join(' ')), lastArgs);
    await checker.stop();
    checker = undefined;
    assert.deepEqual(started.filter((pid) => pidAlive(pid)), [], 'nothing left after stop');
  });

  it('a prober that cannot run is restarted, its error kept, and silence counts as loss', async () => {
    const file = join(dir, 'dead.sh');
    writeFileSync(file, '#!/bin/sh\necho "fping: cannot bind source address : Cannot assign requested address" >&2\nexit 1\n');
    chmodSync(file, 0o755);
    checker = new SharedHealthChecker({ log: logSink().log, intervalMs: 20, maxLoss: 3, fpingCommand: file });
    checker.setTargets([{ cableName: 'c1', targetIP: '10.2.0.7', sourceIP: '10.9.9.9' }]);
    const h = await waitFor(() => { const s = checker!.stats('c1'); return s && !s.healthy ? s : undefined; }, { timeoutMs: 3000, what: 'unhealthy' });
    assert.match(h.lastError ?? '', /cannot bind source address/);
    assert.match(checker.unhealthyReason('c1') ?? '', /cannot bind source address/);
  });

  it('a missing fping binary is an error on each connection, not a crash', async () => {
    checker = new SharedHealthChecker({ log: logSink().log, intervalMs: 20, maxLoss: 2, fpingCommand: join(dir, 'no-such-fping') });
    checker.setTargets([{ cableName: 'c1', targetIP: '10.2.0.7' }]);
    const h = await waitFor(() => { const s = checker!.stats('c1'); return s && !s.healthy ? s : undefined; }, { timeoutMs: 3000, what: 'unhealthy' });
    assert.match(h.lastError ?? '', /cannot run .*no-such-fping/);
  });
});
