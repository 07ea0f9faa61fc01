// Issue 21 items 3 and 4: durability on a small, full disk (a tmpfs mounted under a test dir),
// compaction failing with ENOSPC, and `kill -9` at random points: no acknowledged write is lost,
// no resourceVersion is handed out twice, the server always starts again.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startApiServer, type RunningApiServer } from '../../src/apiserver/index.js';
import { parseFrames } from '../../src/apiserver/journal.js';
import { waitFor } from '../../src/util/wait.js';
import { ADMIN_TOKEN, quietLog, raw } from '../support/apiserver.js';

const BIN = new URL('../../bin/hawser', import.meta.url).pathname;
const TOKENS = [{ token: ADMIN_TOKEN, user: 'admin', groups: ['system:masters'] }];
const CM = '/api/v1/namespaces/default/configmaps';
type J = Record<string, unknown>;

function mountTmpfs(dir: string, size: string): void {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'hw-tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount tmpfs on ${dir}: ${r.stderr}`);
}

function umount(dir: string): void {
  spawnSync('umount', ['-l', dir]);
}

/** Fills the file system of `path` with a file until ENOSPC, then gives back `leave` bytes. */
function fillDisk(path: string, leave: number): void {
  const fd = openSync(path, 'w');
  let size = 0;
  try {
    for (const chunk of [Buffer.alloc(64 * 1024, 0x61), Buffer.alloc(4096, 0x61)]) {
      for (;;) {
        try {
          size += writeSync(fd, chunk);
        } catch {
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  truncateSync(path, Math.max(0, size - leave));
}

function rvOf(o: J): number {
  return Number((o.metadata as J).resourceVersion);
}

async function create(srv: { url: string }, name: string, bytes: number): Promise<{ status: number; rv?: number; reason?: string }> {
  const r = await raw(srv as RunningApiServer, 'POST', CM, { token: ADMIN_TOKEN, body: JSON.stringify({ metadata: { name }, data: { v: 'x'.repeat(bytes) } }) });
  const j = r.json();
  return r.status === 201 ? { status: 201, rv: rvOf(j) } : { status: r.status, reason: String(j.reason) };
}

/** Every acknowledged object is there with the resourceVersion it was acknowledged with. */
async function assertAcked(srv: { url: string }, acked: Map<string, number>): Promise<void> {
  for (const [name, rv] of acked) {
    const r = await raw(srv as RunningApiServer, 'GET', `${CM}/${name}`, { token: ADMIN_TOKEN });
    assert.equal(r.status, 200, `acknowledged ${name} (rv ${rv}) is lost`);
    assert.equal(rvOf(r.json()), rv, `${name} has another resourceVersion`);
  }
}

describe('apiserver: durability on a full disk and under kill -9 (issue 21) @real', function () {
  this.timeout(180_000);
  let base: string;
  const mounts: string[] = [];
  const children: ChildProcess[] = [];

  before(function () {
    if (process.getuid?.() !== 0) this.skip();
    base = mkdtempSync(join(tmpdir(), `hw-durability-${Math.random().toString(36).slice(2, 8)}-`));
  });
  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const m of mounts) umount(m);
    if (base) rmSync(base, { recursive: true, force: true });
  });

  const tmpfs = (name: string, size: string): string => {
    const dir = join(base, name);
    mountTmpfs(dir, size);
    mounts.push(dir);
    return dir;
  };

  it('answers 507 when the journal cannot be appended, never acknowledges a torn record, and recovers', async () => {
    const mnt = tmpfs('append', '512k');
    const data = join(mnt, 'data');
    let srv = await startApiServer({ plainHttp: true, dataDir: data, tokens: TOKENS, log: quietLog });
    const acked = new Map<string, number>();
    try {
      for (let i = 0; i < 5; i++) {
        const r = await create(srv, `before-${i}`, 2000);
        assert.equal(r.status, 201);
        acked.set(`before-${i}`, r.rv!);
      }
      fillDisk(join(mnt, 'filler'), 6 * 1024);
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await create(srv, `full-${i}`, 3000);
        statuses.push(r.status);
        if (r.status === 201) acked.set(`full-${i}`, r.rv!);
        else assert.equal(r.reason, 'InsufficientStorage');
      }
      assert.ok(statuses.includes(507), `statuses ${statuses.join(',')}`);
      // reads still work, and the journal holds whole records only
      assert.equal((await raw(srv, 'GET', CM, { token: ADMIN_TOKEN })).status, 200);
      const journal = readFileSync(join(data, 'journal.log'));
      assert.equal(parseFrames(journal).end, journal.length, 'the journal ends with a whole record');
      rmSync(join(mnt, 'filler'));
      const after = await waitFor(async () => {
        const r = await create(srv, `after-${Date.now()}`, 100);
        return r.status === 201 ? r : undefined;
      }, { timeoutMs: 10_000, what: 'writes accepted again' });
      assert.ok(after.rv! > Math.max(...acked.values()));
      await srv.close();
      srv = await startApiServer({ plainHttp: true, dataDir: data, tokens: TOKENS, log: quietLog });
      await assertAcked(srv, acked);
      const next = await create(srv, 'next', 10);
      assert.ok(next.rv! > after.rv!, 'no resourceVersion reused after a restart');
    } finally {
      await srv.close();
    }
  });

  it('keeps the journal when compaction fails with ENOSPC (no descriptor reuse, nothing lost)', async () => {
    const mnt = tmpfs('compact', '1m');
    const data = join(mnt, 'data');
    const logged: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void logged.push(line) });
    let srv = await startApiServer({ plainHttp: true, dataDir: data, tokens: TOKENS, log, compactBytes: 16 * 1024 });
    const acked = new Map<string, number>();
    let spy: Socket | undefined;
    try {
      for (let i = 0; i < 40; i++) {
        const r = await create(srv, `bulk-${i}`, 5000);
        assert.equal(r.status, 201);
        acked.set(`bulk-${i}`, r.rv!);
      }
      // room for small journal records, not for a ~200 KB snapshot
      fillDisk(join(mnt, 'filler'), 48 * 1024);
      for (let i = 0; i < 300 && !logged.some((l) => l.includes('journal compaction failed')); i++) {
        const r = await create(srv, `trigger-${i}`, 100);
        assert.equal(r.status, 201, 'journal appends still fit');
        acked.set(`trigger-${i}`, r.rv!);
      }
      assert.ok(logged.some((l) => l.includes('journal compaction failed') && l.includes('ENOSPC')), 'compaction failed with ENOSPC');
      // a new connection after the failed compaction must not receive journal records
      const u = new URL(srv.url);
      const got: Buffer[] = [];
      spy = await new Promise<Socket>((resolve, reject) => {
        const s = netConnect(Number(u.port), u.hostname, () => resolve(s));
        s.on('error', reject);
      });
      spy.on('data', (b: Buffer) => got.push(b));
      for (let i = 0; i < 20; i++) {
        const r = await create(srv, `small-${i}`, 10);
        assert.ok(r.status === 201 || r.status === 507, `${r.status}`);
        if (r.status === 201) acked.set(`small-${i}`, r.rv!);
      }
      assert.ok(acked.has('small-0'), 'small writes go on while compaction fails');
      assert.equal(Buffer.concat(got).length, 0, 'a client connection received journal bytes');
      const fds = readdirSync('/proc/self/fd').map((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          return '';
        }
      });
      assert.ok(fds.includes(join(data, 'journal.log')), 'the journal is still open');
      rmSync(join(mnt, 'filler'));
      await srv.close();
      srv = await startApiServer({ plainHttp: true, dataDir: data, tokens: TOKENS, log: quietLog, compactBytes: 16 * 1024 });
      await assertAcked(srv, acked);
    } finally {
      spy?.destroy();
      await srv.close();
    }
  });

  it('loses no acknowledged write and reuses no resourceVersion across kill -9 at random points', async () => {
    const dir = join(base, 'kill');
    mkdirSync(dir, { recursive: true });
    const tokenFile = join(dir, 'tokens.yaml');
    writeFileSync(tokenFile, `tokens:\n  - {token: ${ADMIN_TOKEN}, user: admin, groups: [system:masters]}\n`, { mode: 0o600 });
    const small = tmpfs('kill-tmpfs', '768k');
    const start = async (dataDir: string): Promise<{ child: ChildProcess; url: string }> => {
      const child = spawn(process.execPath, [BIN, 'apiserver', '--listen', '127.0.0.1:0', '--plain-http', '--token-file', tokenFile, '--data-dir', dataDir], {
        stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'info' },
      });
      children.push(child);
      let out = '';
      let err = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
      const line = await waitFor(() => {
        if (child.exitCode !== null) throw new Error(`apiserver exited ${child.exitCode}: ${err}${out}`);
        return out.split('\n').find((l) => l.includes('apiserver serving'));
      }, { timeoutMs: 60_000, what: 'the apiserver to serve' });
      return { child, url: (JSON.parse(line) as { url: string }).url };
    };
    const kill9 = async (child: ChildProcess): Promise<void> => {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    };
    const allRvs = new Map<number, string>();
    const acked = new Map<string, number>();
    const rounds: { dataDir: string; fill: boolean }[] = [
      { dataDir: join(dir, 'data'), fill: false },
      { dataDir: join(dir, 'data'), fill: false },
      { dataDir: join(small, 'data'), fill: true },
      { dataDir: join(small, 'data'), fill: true },
    ];
    let lastDir = '';
    for (const [round, { dataDir, fill }] of rounds.entries()) {
      if (lastDir && lastDir !== dataDir) {
        acked.clear();
        allRvs.clear();
      }
      lastDir = dataDir;
      const { child, url } = await start(dataDir);
      const srv = { url };
      // everything acknowledged before is still there, with its resourceVersion
      await assertAcked(srv, acked);
      if (fill && !existsSync(join(small, 'filler'))) fillDisk(join(small, 'filler'), 200 * 1024);
      let stop = false;
      const writers = Array.from({ length: 6 }, async (_, w) => {
        for (let i = 0; !stop; i++) {
          const name = `r${round}-w${w}-${i}`;
          try {
            const r = await create(srv, name, 1500);
            if (r.status === 201) {
              assert.ok(!allRvs.has(r.rv!), `resourceVersion ${r.rv} given to ${name} and ${allRvs.get(r.rv!)}`);
              allRvs.set(r.rv!, name);
              acked.set(name, r.rv!);
            } else assert.ok(r.status === 507, `${name}: ${r.status}`);
          } catch (err) {
            // the connection died with the server: that write was never acknowledged
            if (!stop) throw err;
          }
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 300 + Math.floor(Math.random() * 900)));
      stop = true;
      await kill9(child);
      await Promise.all(writers);
      assert.ok(acked.size > 0);
    }
    // the last data dir starts once more and keeps counting past every acknowledged resourceVersion
    rmSync(join(small, 'filler'), { force: true });
    const { child, url } = await start(lastDir);
    try {
      await assertAcked({ url }, acked);
      const r = await create({ url }, 'final', 10);
      assert.equal(r.status, 201);
      assert.ok(r.rv! > Math.max(...acked.values()));
    } finally {
      await kill9(child);
    }
  });
});
