// A daemon that dies while starting: the error carries its last log line (the reason), not only the log's path.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log/index.js';
import { Daemon, lastLine } from '../../src/os/daemon.js';

describe('os: supervised daemon start', () => {
  let dir: string;
  before(() => void (dir = mkdtempSync(join(tmpdir(), 'hw-daemon-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('lastLine reads the last non-empty line, or nothing', () => {
    const f = join(dir, 'x.log');
    writeFileSync(f, 'one\ntwo  \n\n');
    assert.equal(lastLine(f), 'two');
    writeFileSync(f, '');
    assert.equal(lastLine(f), undefined);
    assert.equal(lastLine(join(dir, 'missing.log')), undefined);
  });

  it('an exit during start names the daemon\'s last log line and the log', async () => {
    const logFile = join(dir, 'd.log');
    const d = new Daemon({
      name: 'fake-wg', command: 'sh', args: ['-c', 'echo starting; echo "ERROR: Failed to listen on uapi socket: too many open files"; exit 1'],
      pidFile: join(dir, 'd.pid'), logFile, ready: () => Promise.resolve(false), readyTimeoutMs: 10_000,
    }, createLogger({ destination: { write: () => undefined } }));
    await assert.rejects(d.ensure(), (err: Error) => {
      assert.equal(err.message, `fake-wg exited during start (code 1): ERROR: Failed to listen on uapi socket: too many open files; see ${logFile}`);
      return true;
    });
  });
});
