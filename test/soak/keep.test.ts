// What a failed soak says about "why": role log lines parsed, and the per-role digest of warnings and errors.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLogLine, warningDigest } from '../support/soak/keep.js';

const line = (o: Record<string, unknown>): string => JSON.stringify({ time: '2026-01-01T00:00:10.000Z', ...o });

describe('soak: kept logs', () => {
  let dir: string;
  before(() => void (dir = mkdtempSync(join(tmpdir(), 'hw-soak-keep-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('parses a role\'s JSON log line with its stable fields and the error\'s first line', () => {
    const r = parseLogLine(line({ level: 'warn', msg: 'health check: connection unhealthy', cluster: 'cluster-c', cable: 'submariner-cable-x', err: { message: 'no reply\nstack' }, pid: 7 }));
    assert.deepEqual(r, { at: Date.parse('2026-01-01T00:00:10.000Z'), level: 'warn', text: 'health check: connection unhealthy (cluster=cluster-c cable=submariner-cable-x err=no reply)' });
    assert.equal(parseLogLine('plain text from a child'), undefined);
    assert.equal(parseLogLine('{"broken'), undefined);
  });

  it('digests warnings and errors per role of the clusters asked about, repeated texts counted, older lines left out', () => {
    const log = join(dir, 'c-gw1.gateway.log');
    writeFileSync(log, [
      line({ level: 'warn', msg: 'before the lab started', time: '2026-01-01T00:00:01.000Z' }),
      line({ level: 'info', msg: 'cable connected', cluster: 'cluster-c' }),
      line({ level: 'warn', msg: 'health check: connection unhealthy', cable: 'k' }),
      line({ level: 'warn', msg: 'health check: connection unhealthy', cable: 'k', time: '2026-01-01T00:00:12.000Z' }),
      line({ level: 'error', msg: 'cable error', cable: 'k', time: '2026-01-01T00:00:13.000Z' }),
      'not json',
    ].join('\n'));
    const procs: Parameters<typeof warningDigest>[0] = [
      { id: 'c-gw1/gateway', kind: 'gateway', cluster: 'cluster-c', log },
      { id: 'a-gw1/gateway', kind: 'gateway', cluster: 'cluster-a', log },
      { id: 'cluster-c/apiserver', kind: 'apiserver', cluster: 'cluster-c', log },
    ];
    assert.equal(warningDigest(procs, ['cluster-c'], Date.parse('2026-01-01T00:00:05.000Z')), [
      'c-gw1/gateway:',
      '  00:00:12.000 [warn] ×2 health check: connection unhealthy (cable=k)',
      '  00:00:13.000 [error] cable error (cable=k)',
    ].join('\n'));
    assert.match(warningDigest(procs, ['cluster-b'], 0), /no warnings or errors/);
  });

  it('quotes the last line of a daemon log a warning points to (it goes with the lab)', () => {
    const daemonLog = join(dir, 'submariner.log');
    writeFileSync(daemonLog, 'starting\nERROR: (submariner) Failed to listen on uapi socket: too many open files\n');
    const log = join(dir, 'a-gw1.gateway.log');
    writeFileSync(log, line({ level: 'warn', msg: `cable driver wireguard failed to start: wireguard-go exited during start (code 1); see ${daemonLog}`, err: { message: 'same' } }));
    assert.equal(warningDigest([{ id: 'a-gw1/gateway', kind: 'gateway', cluster: 'cluster-a', log }], ['cluster-a'], 0), [
      'a-gw1/gateway:',
      `  00:00:10.000 [warn] cable driver wireguard failed to start: wireguard-go exited during start (code 1); see ${daemonLog} (err=same)`,
      '    its log ends: ERROR: (submariner) Failed to listen on uapi socket: too many open files',
    ].join('\n'));
  });
});
