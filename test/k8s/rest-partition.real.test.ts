// A write the client gave up on during a partition must not land once the partition heals: the REST client
// resets the connection of an aborted write instead of closing it, so the kernel drops the queued request
// (src/k8s/rest.ts, tcpUnder). The embedded API server runs in one namespace, the client in another; the
// client cuts and restores its own link. Nothing leaves the namespaces this test creates.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canUseNetns, useNetns } from '../support/netns.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(here, '../..');
const FIXTURE = resolve(here, 'fixtures/write-during-partition.ts');
const TOKEN = 'partition-test-token-0123';

describe('k8s REST client: an abandoned write does not land after a partition heals @real', function () {
  this.timeout(60_000);
  const h = useNetns();
  before(function () {
    if (!canUseNetns()) this.skip();
  });

  for (const scheme of ['https', 'http'] as const) {
    it(`over ${scheme}: the timed-out replace never reaches the API server`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hw-rp-'));
      try {
        await writeThroughPartition(scheme, dir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  async function writeThroughPartition(scheme: 'https' | 'http', dir: string): Promise<void> {
    writeFileSync(join(dir, 'tokens.yaml'), `tokens:\n  - token: ${TOKEN}\n    user: admin\n    groups: [system:masters]\n`, { mode: 0o600 });
    const server = await h.ns('hw-rps');
    const client = await h.ns('hw-rpc');
    await h.link(client, 'c0', '10.77.0.1/24', server, 's0', '10.77.0.2/24');
    const tlsArgs = scheme === 'https' ? ['--tls-dir', join(dir, 'tls'), '--tls-san', '10.77.0.2'] : ['--plain-http'];
    const api = h.spawn(server, join(REPO, 'bin/hawser'), ['apiserver', '--listen', '10.77.0.2:6443', '--token-file', join(dir, 'tokens.yaml'), ...tlsArgs], { cwd: REPO });
    await api.line(/listening|serving/i, 30_000);
    const args = { server: `${scheme}://10.77.0.2:6443`, token: TOKEN, caFile: scheme === 'https' ? join(dir, 'tls', 'ca.crt') : undefined, dev: 'c0', cutMs: 1500, watchMs: 8000 };
    const p = h.spawn(client, process.execPath, ['--import', 'tsx', FIXTURE, JSON.stringify(args)], { cwd: REPO });
    const out = JSON.parse(await p.line(/^\{/, 40_000)) as { gaveUp: string; landedAfterMs: number | null };
    assert.match(out.gaveUp, /PUT .*aborted/, 'the replace is given up (timeout) while the link is down');
    assert.equal(out.landedAfterMs, null, `the abandoned replace landed ${out.landedAfterMs} ms after the link came back`);
  }
});
