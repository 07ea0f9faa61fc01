// The production layout: `tsc -p tsconfig.build.json` output plus package.json and the production
// dependencies only (what `npm ci --omit=dev` installs), in a directory without src/, tsx or TypeScript.
// Every role's module graph must load there, and missing dependencies must read as one actionable line.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exec, type ExecResult } from '../../src/util/exec.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

/** Top-level node_modules entries of the production tree (nested ones come along with their parent). */
async function productionPackages(): Promise<string[]> {
  const npmLs = await exec('npm', ['ls', '--omit=dev', '--all', '--parseable'], { env: process.env, allowFailure: true, timeoutMs: 60_000 });
  const nm = join(REPO, 'node_modules') + sep;
  return npmLs.stdout.split('\n').filter((p) => p.startsWith(nm)).map((p) => relative(nm, p))
    .filter((rel) => !rel.includes(`${sep}node_modules${sep}`));
}

describe('cli: the compiled build runs without src/ and without dev dependencies', function () {
  this.timeout(180_000);
  let dir: string;
  let bare: string;
  // No SUBMARINER_*/KUBECONFIG from the caller: a role then stops at its configuration check, after
  // loading its whole module graph.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir() };
  const node = (root: string, args: string[]): Promise<ExecResult> =>
    exec(process.execPath, [join(root, 'dist', 'src', 'cli', 'main.js'), ...args], { env, allowFailure: true, timeoutMs: 30_000 });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-dist-'));
    bare = mkdtempSync(join(tmpdir(), 'hw-dist-bare-'));
    const tsc = await exec(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], { allowFailure: true, timeoutMs: 120_000 });
    assert.equal(tsc.code, 0, tsc.stdout + tsc.stderr);
    const packages = await productionPackages();
    assert.ok(packages.includes('pino') && !packages.includes('tsx') && !packages.includes('typescript'), `production packages: ${packages.join(' ')}`);
    for (const root of [dir, bare]) {
      cpSync(join(REPO, 'package.json'), join(root, 'package.json'));
      mkdirSync(join(root, 'bin'));
      cpSync(join(REPO, 'bin', 'hawser'), join(root, 'bin', 'hawser'));
    }
    for (const p of packages) cpSync(join(REPO, 'node_modules', p), join(dir, 'node_modules', p), { recursive: true });
    cpSync(join(dir, 'dist'), join(bare, 'dist'), { recursive: true });
  });
  after(() => {
    for (const d of [dir, bare]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('has no src/, tsx or typescript in the copy', () => {
    assert.ok(!existsSync(join(dir, 'src')));
    assert.ok(!existsSync(join(dir, 'node_modules', 'tsx')));
    assert.ok(!existsSync(join(dir, 'node_modules', 'typescript')));
    assert.ok(!existsSync(join(dir, 'dist', 'test')), 'the production build compiles src/ only');
  });

  it('prints the package version, from dist/ and through bin/hawser', async () => {
    const r = await node(dir, ['version', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { version: VERSION, node: process.version });
    const viaBin = await exec(join(dir, 'bin', 'hawser'), ['version'], { env, allowFailure: true, timeoutMs: 30_000 });
    assert.equal(viaBin.code, 0, viaBin.stderr);
    assert.equal(viaBin.stdout.trim(), `hawser ${VERSION} (node ${process.version})`);
  });

  for (const role of ['gateway', 'route-agent', 'globalnet', 'apiserver']) {
    it(`${role} --help prints its usage`, async () => {
      const r = await node(dir, [role, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^usage: hawser ${role}`));
    });
  }

  for (const role of ['gateway', 'route-agent', 'globalnet']) {
    it(`${role} loads its whole module graph and reports the missing configuration`, async () => {
      const r = await node(dir, [role]);
      assert.equal(r.code, 2, `rc ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^hawser ${role}: invalid configuration: `, 'm'));
      assert.doesNotMatch(r.stderr, /ERR_MODULE_NOT_FOUND|Cannot find (package|module)/);
    });
  }

  it('without node_modules: one line saying what to run, no stack trace', async () => {
    const r = await exec(join(bare, 'bin', 'hawser'), ['gateway'], { env, allowFailure: true, timeoutMs: 30_000 });
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^hawser gateway: dependencies missing \(.*\): run `make setup`/);
    // Commands without dependencies still work there.
    const v = await exec(join(bare, 'bin', 'hawser'), ['version'], { env, allowFailure: true, timeoutMs: 30_000 });
    assert.equal(v.stdout.trim(), `hawser ${VERSION} (node ${process.version})`);
  });
});
