// `make image` end to end: build the OCI archive from this checkout (the cached Debian layer is allowed),
// look inside it, build it again to the same digest, and run two-cluster labs from it (IPsec, and
// WireGuard with Globalnet so every role runs from the image) that connect and pass a ping matrix.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { charonPlugins } from '../../src/cable-drivers/ipsec/charon-conf.js';
import { runDemo } from '../../src/lab/demo.js';
import { readImage, unpackImage, type ImageInfo } from '../../src/lab/image.js';
import { Lab, findRepoRoot, labDown, randomLabName } from '../../src/lab/lab.js';
import type { LabState } from '../../src/lab/state.js';
import { DEFAULT_STATE_ROOT, labRootfs } from '../../src/lab/topology.js';
import { exec } from '../../src/util/exec.js';
import { assertNothingLeft } from '../support/lab.js';

const repo = findRepoRoot();
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string; license: string };
const pinnedNode = join(repo, '.tools', 'node', 'bin', 'node');
const MiB = 1024 * 1024;

/** Runs image/build.sh; returns the archive and the digest it printed last. */
async function buildImage(out: string): Promise<{ archive: string; digest: string; log: string }> {
  const r = await exec(join(repo, 'image', 'build.sh'), ['--out', out], { timeoutMs: 15 * 60_000 });
  const [archive, digest] = r.stdout.trim().split('\n').at(-1)!.split(' ');
  return { archive: archive!, digest: digest!, log: r.stderr };
}

/** Runs a command inside the unpacked image with only the image's environment. */
function inImage(rootfs: string, info: ImageInfo, argv: string[], allowFailure = false): ReturnType<typeof exec> {
  const env = Object.entries(info.env).map(([k, v]) => `${k}=${v}`);
  return exec('chroot', [rootfs, '/usr/bin/env', '-i', ...env, ...argv], { allowFailure, timeoutMs: 60_000 });
}

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

describe('image @real: make image', function () {
  this.timeout(20 * 60_000);
  const work = mkdtempSync(join(tmpdir(), 'hw-image-'));
  const rootfs = join(work, 'rootfs');
  let built: { archive: string; digest: string; log: string };
  let info: ImageInfo;

  before(async () => {
    built = await buildImage(join(work, 'one'));
    info = await unpackImage(built.archive, rootfs);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('is an OCI archive whose manifest digest the build printed, with the OCI annotations and ≤ 120 MiB compressed', () => {
    assert.equal(info.digest, built.digest);
    assert.equal(readFileSync(`${built.archive}.digest`, 'utf8').trim(), built.digest);
    const a = info.annotations;
    assert.equal(a['org.opencontainers.image.version'], pkg.version);
    assert.equal(a['org.opencontainers.image.licenses'], pkg.license);
    assert.match(a['org.opencontainers.image.revision'] ?? '', /^[0-9a-f]{40}(-dirty)?$/);
    assert.match(a['org.opencontainers.image.source'] ?? '', /^https:\/\//);
    assert.match(a['org.opencontainers.image.created'] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(info.entrypoint, ['/usr/bin/tini', '--']);
    const compressed = info.layers.reduce((n, l) => n + l.size, 0);
    assert.ok(compressed <= 120 * MiB, `compressed layers ${(compressed / MiB).toFixed(1)} MiB > 120 MiB`);
    assert.match(built.log, /compressed size [\d.]+ MiB/);
  });

  it('runs `hawser version` from the image: the package version, on the Node the build carried', async () => {
    const r = await inImage(rootfs, info, ['hawser', 'version', '-o', 'json']);
    const v = JSON.parse(r.stdout) as { version: string; node: string };
    assert.equal(v.version, pkg.version);
    // The Node `make setup` pins (.tools/node) is the one the image carries.
    assert.ok(existsSync(pinnedNode), 'no pinned Node in .tools/node: make setup');
    assert.equal(v.node, (await exec(pinnedNode, ['--version'])).stdout.trim());
    assert.match(v.node, /^v24\./, 'the image carries Node 24');
  });

  it('has every program and strongSwan plugin hawser runs, each with its libraries', async () => {
    for (const prog of ['ip', 'nft', 'iptables', 'wireguard-go', 'wg', 'charon-systemd', 'swanctl', 'ping', 'fping', 'tini', 'node', 'hawser']) {
      const r = await inImage(rootfs, info, ['sh', '-c', `command -v ${prog}`], true);
      assert.equal(r.code, 0, `${prog} is not on the image's PATH`);
    }
    const plugins = charonPlugins(true).map((p) => `/usr/lib/ipsec/plugins/libstrongswan-${p}.so`);
    // Plugins built into libcharon have no .so of their own.
    const files = plugins.filter((f) => existsSync(join(rootfs, f)));
    for (const p of ['kernel-libipsec', 'kernel-netlink', 'socket-default', 'vici', 'openssl', 'gmp']) {
      assert.ok(files.some((f) => f.endsWith(`-${p}.so`)), `strongSwan plugin ${p} is missing`);
    }
    for (const f of ['/usr/sbin/charon-systemd', '/usr/bin/wireguard-go', '/usr/local/bin/node', '/usr/sbin/nft', ...files]) {
      const r = await inImage(rootfs, info, ['/lib64/ld-linux-x86-64.so.2', '--list', f]);
      assert.doesNotMatch(r.stdout, /not found/, `${f}: ${r.stdout}`);
    }
    for (const argv of [['ip', '-V'], ['nft', '--version'], ['wg', '--version'], ['ping', '-V'], ['iptables', '--version'], ['tini', '--version']]) {
      await inImage(rootfs, info, argv);
    }
  });

  it('holds nothing of a toolchain: no compiler, npm, apt or their caches, no TypeScript sources or dev dependencies', () => {
    for (const p of ['usr/bin/gcc', 'usr/bin/cc', 'usr/bin/c++', 'usr/bin/make', 'usr/bin/apt', 'usr/bin/apt-get', 'usr/bin/npm', 'usr/local/bin/npm', 'usr/bin/tsc',
      'root/.npm', 'root/.cache', 'opt/hawser/src', 'opt/hawser/node_modules/.bin/tsc', 'opt/hawser/node_modules/typescript', 'opt/hawser/node_modules/tsx',
      'opt/hawser/node_modules/mocha', 'opt/hawser/node_modules/eslint']) {
      assert.equal(existsSync(join(rootfs, p)), false, `/${p} is in the image`);
    }
    for (const dir of ['var/lib/apt/lists', 'var/cache/apt']) {
      const left = existsSync(join(rootfs, dir)) ? readdirSync(join(rootfs, dir)) : [];
      assert.deepEqual(left, [], `/${dir} is not empty`);
    }
    const logs = readdirSync(join(rootfs, 'var/log'), { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(rootfs, 'var/log', f)).isFile());
    assert.deepEqual(logs, [], 'build logs in /var/log');
    assert.equal(existsSync(join(rootfs, 'usr/share/man/man8')), false, 'man pages');
    // Compiled output only: JavaScript, no sources beside it.
    assert.ok(existsSync(join(rootfs, 'opt/hawser/dist/src/cli/main.js')));
    assert.equal(existsSync(join(rootfs, 'opt/hawser/dist/src/cli/main.ts')), false);
  });

  it('builds again to the same digest, byte for byte', async () => {
    const again = await buildImage(join(work, 'two'));
    assert.equal(again.digest, built.digest);
    assert.ok(readFileSync(again.archive).equals(readFileSync(built.archive)), 'the two archives differ');
    assert.equal((await readImage(again.archive)).digest, built.digest);
  });

  for (const [driver, globalnet] of [['libreswan', false], ['wireguard', true]] as const) {
    it(`runs a two-cluster lab from the image over ${driver}${globalnet ? ' with Globalnet' : ''}: cables connect, the ping matrix passes, down leaves nothing`, async () => {
      const name = randomLabName();
      const out = sink();
      const progress = sink();
      // Anything of the host's environment leaking into a role would carry this.
      process.env.HW_IMAGE_TEST_HOST_ONLY = name;
      let state: LabState | undefined;
      try {
        const code = await runDemo({
          name, driver, globalnet, image: built.archive, gatewaysPerCluster: 1, workersPerCluster: 1, timeoutS: 120, keep: true,
          out: out.stream, progressOut: progress.stream,
        });
        assert.equal(code, 0, `demo failed:\n${out.text()}\n${progress.text()}`);
        assert.match(out.text(), /demo OK in [\d.]+ s: every cable connected, every pod reaches every pod of the other clusters/);
        const lab = Lab.open(name);
        state = lab.state();
        const root = realpathSync(labRootfs(lab.stateDir));
        // Every role, and every daemon a gateway started (charon / wireguard-go, ping), runs inside the image.
        const roles = lab.topology.processes.filter((p) => p.node !== undefined);
        assert.ok(roles.some((p) => p.kind === 'globalnet') === globalnet);
        for (const p of roles) {
          const pid = lab.pid(p.id);
          assert.ok(pid !== undefined, `${p.id} is not running`);
          assert.equal(readlinkSync(`/proc/${pid}/root`), root, `${p.id} runs outside the image`);
          assert.equal(readlinkSync(`/proc/${pid}/exe`), join(root, 'usr/local/bin/node'));
          assert.doesNotMatch(readFileSync(`/proc/${pid}/environ`, 'latin1'), /HW_IMAGE_TEST_HOST_ONLY/, `${p.id} sees the host's environment`);
        }
        const daemon = driver === 'wireguard' ? 'usr/bin/wireguard-go' : 'usr/sbin/charon-systemd';
        const gwPids = (await exec('ip', ['netns', 'pids', lab.netns('a-gw1')])).stdout.split('\n').filter(Boolean);
        const exes = gwPids.map((pid) => { try { return readlinkSync(`/proc/${pid}/exe`); } catch { return ''; } });
        assert.ok(exes.includes(join(root, daemon)), `no ${daemon} from the image on a-gw1 (${exes.join(', ')})`);
      } finally {
        delete process.env.HW_IMAGE_TEST_HOST_ONLY;
        await labDown(name).catch(() => undefined);
      }
      await assertNothingLeft(name, state, `${DEFAULT_STATE_ROOT}/${name}`);
    });
  }
});
