// `hawser apiserver` as operators run it: flags, the serving log line, SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags } from '../../src/cli/commands/apiserver.js';
import { waitFor } from '../../src/util/wait.js';

const BIN = new URL('../../bin/hawser', import.meta.url).pathname;

function runHawser(args: string[]): { done: Promise<{ code: number | null; stdout: string; stderr: string }>; kill(sig: NodeJS.Signals): void; out(): string } {
  const child = spawn(process.execPath, [BIN, 'apiserver', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'info' } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { done, kill: (sig) => child.kill(sig), out: () => stdout };
}

describe('apiserver: hawser apiserver command', function () {
  this.timeout(30_000);

  it('parses its flags', () => {
    assert.deepEqual(parseFlags(['--listen', '127.0.0.1:6443', '--plain-http', '--data-dir=/d', '--crds', 'deploy/crds']), {
      host: '127.0.0.1', port: 6443, plainHttp: true, dataDir: '/d', crdDir: 'deploy/crds',
    });
    assert.equal(parseFlags(['--listen', '[::1]:0']).host, '::1');
    assert.equal(parseFlags(['--listen', ':6443']).host, '0.0.0.0');
    for (const bad of [[], ['--listen'], ['--listen', 'nope'], ['--listen', '1.2.3.4:99999'], ['--listen', 'host.example:1'], ['--listen', '127.0.0.1:1', '--bogus'], ['--listen', '127.0.0.1:1', '--plain-http', '--tls-dir', '/x']]) {
      assert.throws(() => parseFlags(bad), /--/, JSON.stringify(bad));
    }
  });

  it('exits 2 with one line on bad flags or a bad token file', async () => {
    let r = await runHawser(['--listen', 'nowhere']).done;
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /--listen/);
    const dir = mkdtempSync(join(tmpdir(), 'hawser-cli-'));
    try {
      writeFileSync(join(dir, 'tokens.yaml'), 'tokens: [{user: x}]\n', { mode: 0o600 });
      r = await runHawser(['--listen', '127.0.0.1:0', '--plain-http', '--token-file', join(dir, 'tokens.yaml')]).done;
      assert.equal(r.code, 2);
      assert.match(r.stderr, /tokens\[0\]: "token" must be a string/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('logs its URL when serving and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hawser-cli-'));
    try {
      writeFileSync(join(dir, 'tokens.yaml'), 'tokens:\n  - {token: cli-token-123456, user: admin, groups: [system:masters]}\n', { mode: 0o600 });
      const p = runHawser(['--listen', '127.0.0.1:0', '--tls-dir', join(dir, 'tls'), '--token-file', join(dir, 'tokens.yaml'), '--data-dir', join(dir, 'data')]);
      const line = await waitFor(() => p.out().split('\n').find((l) => l.includes('apiserver serving')), { timeoutMs: 20_000, what: 'the serving log line' });
      const logged = JSON.parse(line) as { level: string; url: string };
      assert.equal(logged.level, 'info');
      assert.match(logged.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${logged.url.replace('https', 'http')}/healthz`).catch(() => undefined);
      assert.equal(res, undefined, 'HTTPS only');
      p.kill('SIGTERM');
      const r = await p.done;
      assert.equal(r.code, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
