// charon supervision without charon: a PID file naming somebody else's charon-systemd is never adopted
// nor killed; missing binaries are reported with the package to install.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Charon } from '../../../src/cable-drivers/ipsec/index.js';
import { createLogger } from '../../../src/log/index.js';
import { pidAlive } from '../../../src/os/daemon.js';
import { isHawserError } from '../../../src/util/errors.js';

const quiet = createLogger({ level: 'fatal' });

describe('ipsec charon supervision', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hw-charon-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves alone a live charon-systemd that was not started with our strongswan.conf', async () => {
    const fake = join(dir, 'charon-systemd');
    copyFileSync('/bin/sleep', fake);
    const other = spawn(fake, ['30'], { stdio: 'ignore' });
    try {
      const charon = new Charon({ dir, conf: { userspace: true, ikePort: 500, nattPort: 4500, debug: false }, log: quiet });
      writeFileSync(charon.paths.pidFile, `${other.pid}\n`);
      assert.ok(pidAlive(other.pid!, 'charon-systemd'));
      await charon.stop();
      assert.ok(pidAlive(other.pid!, 'charon-systemd'), 'not killed');
      assert.equal(existsSync(charon.paths.pidFile), false, 'its PID file entry is dropped');
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('preflight names the package to install', () => {
    const charon = new Charon({ dir, binary: join(dir, 'missing-charon'), conf: { userspace: true, ikePort: 500, nattPort: 4500, debug: false }, log: quiet });
    assert.throws(() => charon.preflight(), (e: unknown) => isHawserError(e, 'EXEC') && /charon-systemd/.test(e.message));
  });

  it('writes strongswan.conf once and reports changes', () => {
    const charon = new Charon({ dir, conf: { userspace: true, ikePort: 500, nattPort: 4500, debug: false }, log: quiet });
    assert.equal(charon.writeConfig(), true);
    assert.equal(charon.writeConfig(), false);
  });
});
