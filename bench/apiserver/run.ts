// Benchmark of the embedded API server, run as its own process (`hawser apiserver --plain-http`):
// list latency with 10,000 objects against a baseline of merely parsing the same JSON, and
// watch throughput with writers and watchers against the same writes with no watcher.
// Each measurement runs twice: in memory, and with --data-dir (every write journalled and fsynced
// before it is answered). `--compare <other checkout>` runs the same measurements against that
// checkout's `bin/hawser` first, for before/after figures from one run.
//   npx tsx bench/apiserver/run.ts [--objects 10000] [--writes 5000] [--compare /path/to/old/checkout]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const arg = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const argText = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const OBJECTS = arg('objects', 10_000);
const WRITES = arg('writes', 5_000);
const CONCURRENCY = 32;
const TOKEN = 'bench-token-0123456789';
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });

let base = '';

function call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; text: string }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, {
      method,
      agent,
      headers: { Authorization: `Bearer ${TOKEN}`, ...(payload ? { 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(payload)) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function pool(n: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) await work(next++);
  }));
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

interface Watcher {
  events: number;
  stop(): void;
}

function watch(path: string): Watcher {
  const w: Watcher = { events: 0, stop: () => undefined };
  const req = request(`${base}${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } }, (res) => {
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        buf = buf.slice(i + 1);
        w.events++;
      }
    });
    res.on('error', () => undefined);
  });
  req.on('error', () => undefined);
  req.end();
  w.stop = () => req.destroy();
  return w;
}

async function writeBurst(names: string[], n: number): Promise<number> {
  const t0 = performance.now();
  await pool(n, async (i) => {
    const r = await call('PATCH', `/api/v1/namespaces/bench/configmaps/${names[i % names.length]}`, { data: { v: String(i) } }, 'application/merge-patch+json');
    if (r.status !== 200) throw new Error(`patch: ${r.status} ${r.text}`);
  });
  return (performance.now() - t0) / 1000;
}

interface Figures {
  creates: number;
  listP50: number;
  writes: number;
  writesWatched: number;
  events: number;
}

async function runOnce(bin: string, label: string, durable: boolean): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-bench-apiserver-'));
  // the server refuses a token file others can read
  writeFileSync(join(dir, 'tokens.yaml'), `tokens:\n  - {token: ${TOKEN}, user: bench, groups: [system:masters]}\n`, { mode: 0o600 });
  // BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the server only
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const dataArgs = durable ? ['--data-dir', join(dir, 'data')] : [];
  const child = spawn(process.execPath, [...nodeArgs, bin, 'apiserver', '--listen', '127.0.0.1:0', '--plain-http', '--token-file', join(dir, 'tokens.yaml'), ...dataArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, LOG_LEVEL: 'info' },
  });
  try {
    base = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`apiserver exited ${code}`)));
    });
    console.log(`\n== ${label}, ${durable ? 'with --data-dir (journal, fsync before the answer)' : 'in memory'}`);
    console.log(`apiserver at ${base} (separate process, plain HTTP, keep-alive client, ${CONCURRENCY} in flight)`);
    await call('POST', '/api/v1/namespaces', { metadata: { name: 'bench' } });

    let t0 = performance.now();
    const names = Array.from({ length: OBJECTS }, (_, i) => `cm-${String(i).padStart(5, '0')}`);
    await pool(OBJECTS, async (i) => {
      const r = await call('POST', '/api/v1/namespaces/bench/configmaps', { metadata: { name: names[i], labels: { shard: String(i % 100), app: 'bench' } }, data: { key: `value-${i}`, more: 'x'.repeat(200) } });
      if (r.status !== 201) throw new Error(`create: ${r.status} ${r.text}`);
    });
    const createS = (performance.now() - t0) / 1000;
    console.log(`create: ${OBJECTS} objects in ${createS.toFixed(2)} s = ${(OBJECTS / createS).toFixed(0)} creates/s`);

    const lat: number[] = [];
    let body = '';
    for (let i = 0; i < 15; i++) {
      t0 = performance.now();
      const r = await call('GET', '/api/v1/namespaces/bench/configmaps');
      lat.push(performance.now() - t0);
      body = r.text;
    }
    const items = (JSON.parse(body) as { items: unknown[] }).items.length;
    const parse: number[] = [];
    for (let i = 0; i < 15; i++) {
      t0 = performance.now();
      JSON.parse(body);
      parse.push(performance.now() - t0);
    }
    const sel: number[] = [];
    for (let i = 0; i < 15; i++) {
      t0 = performance.now();
      await call('GET', '/api/v1/namespaces/bench/configmaps?labelSelector=shard%3D7');
      sel.push(performance.now() - t0);
    }
    const page: number[] = [];
    for (let i = 0; i < 15; i++) {
      t0 = performance.now();
      await call('GET', '/api/v1/namespaces/bench/configmaps?limit=500');
      page.push(performance.now() - t0);
    }
    console.log(`list ${items} objects (${(body.length / 1e6).toFixed(1)} MB): p50 ${pct(lat, 50).toFixed(1)} ms, p95 ${pct(lat, 95).toFixed(1)} ms`);
    console.log(`  baseline: JSON.parse of the same body in the client: p50 ${pct(parse, 50).toFixed(1)} ms -> list/parse ratio ${(pct(lat, 50) / pct(parse, 50)).toFixed(2)}`);
    console.log(`  label-selected list (1% match): p50 ${pct(sel, 50).toFixed(1)} ms; first page of 500: p50 ${pct(page, 50).toFixed(1)} ms`);

    const hot = names.slice(0, 1000);
    const baseS = await writeBurst(hot, WRITES);
    const baseRate = WRITES / baseS;
    console.log(`writes with no watcher: ${WRITES} patches in ${baseS.toFixed(2)} s = ${baseRate.toFixed(0)} writes/s (baseline)`);

    const rv = (JSON.parse((await call('GET', '/api/v1/namespaces/bench/configmaps?limit=1')).text) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    const watchers = [
      watch(`/api/v1/namespaces/bench/configmaps?watch=1&resourceVersion=${rv}`),
      watch(`/api/v1/configmaps?watch=1&resourceVersion=${rv}`),
      watch(`/api/v1/namespaces/bench/configmaps?watch=1&resourceVersion=${rv}&labelSelector=app%3Dbench`),
      watch(`/api/v1/namespaces/bench/configmaps?watch=1&resourceVersion=${rv}&labelSelector=shard%3D7`),
    ];
    const expected = WRITES * 3 + hot.filter((_, i) => i % 100 === 7).length * Math.ceil(WRITES / hot.length);
    t0 = performance.now();
    const wS = await writeBurst(hot, WRITES);
    const deadline = Date.now() + 30_000;
    while (watchers.reduce((n, w) => n + w.events, 0) < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const deliveredS = (performance.now() - t0) / 1000;
    const delivered = watchers.reduce((n, w) => n + w.events, 0);
    for (const w of watchers) w.stop();
    console.log(`writes with 4 watchers: ${(WRITES / wS).toFixed(0)} writes/s (${((WRITES / wS) / baseRate).toFixed(2)} of baseline)`);
    console.log(`watch events delivered: ${delivered}/${expected} in ${deliveredS.toFixed(2)} s = ${(delivered / deliveredS).toFixed(0)} events/s across 4 watches (${(WRITES / deliveredS).toFixed(0)} events/s per full watch)`);
    return { creates: OBJECTS / createS, listP50: pct(lat, 50), writes: baseRate, writesWatched: WRITES / wS, events: delivered / deliveredS };
  } finally {
    child.kill('SIGTERM');
    agent.destroy();
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const own = new URL('../../bin/hawser', import.meta.url).pathname;
  const compare = argText('compare');
  const servers: [string, string][] = compare ? [[join(compare, 'bin', 'hawser'), `before (${compare})`], [own, 'after (this checkout)']] : [[own, 'this checkout']];
  const results: { label: string; durable: boolean; f: Figures }[] = [];
  for (const durable of [false, true]) {
    for (const [bin, label] of servers) results.push({ label, durable, f: await runOnce(bin, label, durable) });
  }
  if (compare) {
    console.log('\n== after / before (same run; >1 is better except for list latency)');
    for (const durable of [false, true]) {
      const [b, a] = results.filter((r) => r.durable === durable).map((r) => r.f);
      console.log(`${durable ? 'with --data-dir' : 'in memory      '}: creates/s ${(a!.creates / b!.creates).toFixed(2)}, list p50 ${(a!.listP50 / b!.listP50).toFixed(2)}, ` +
        `writes/s ${(a!.writes / b!.writes).toFixed(2)}, writes/s with watchers ${(a!.writesWatched / b!.writesWatched).toFixed(2)}, watch events/s ${(a!.events / b!.events).toFixed(2)}`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
