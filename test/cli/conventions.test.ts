// CLI conventions, for every command and subcommand: `--help`/`-h` prints the usage and starts nothing
// (no daemon, no API call, no file written), a bad flag is one line on stderr and exit code 2.
// "No API call" is observed, not assumed: KUBECONFIG points at a TCP listener of this test that counts
// connections; "nothing started" means the process ended by itself and left its working directory empty.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(REPO, 'bin', 'hawser');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Every command, and every subcommand that has its own code path. */
const COMMANDS: readonly (readonly string[])[] = [
  ['gateway'], ['route-agent'], ['globalnet'], ['apiserver'],
  ['lab'], ...['up', 'down', 'status', 'list', 'exec', 'stop-role', 'start-role', 'prometheus', 'demo'].map((s) => ['lab', s]),
  ['show'], ...['all', 'connections', 'endpoints', 'gateways', 'networks', 'versions', 'brokers'].map((s) => ['show', s]),
  ['diagnose'], ...['node', 'all', 'probe'].map((s) => ['diagnose', s]), ['version'], ['deploy-broker'], ['join'], ['migrate'], ['rollback'],
  ['uninstall'], ...['node', 'cluster', 'all', 'hold'].map((s) => ['uninstall', s]),
];

describe('cli: conventions of every command (--help, bad flags, exit codes)', function () {
  this.timeout(180_000);
  let dir: string;
  let api: Server;
  let apiConnections = 0;
  let env: NodeJS.ProcessEnv;

  /** Runs bin/hawser in a fresh empty directory; a process still running after the deadline is killed (and fails the test). */
  const hawser = async (args: readonly string[]): Promise<Run & { wrote: string[] }> => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    const child = spawn(BIN, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const deadline = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('close', (c, s) => resolve({ code: c, signal: s })));
    clearTimeout(deadline);
    return { code, signal, stdout, stderr, wrote: readdirSync(cwd) };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-cli-'));
    api = createServer((s) => {
      apiConnections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const port = (api.address() as AddressInfo).port;
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, [
      'apiVersion: v1', 'kind: Config', 'current-context: c',
      `clusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]`,
      'users: [{name: u, user: {token: not-a-real-token}}]',
      'contexts: [{name: c, context: {cluster: c, user: u}}]', '',
    ].join('\n'));
    const home = join(dir, 'home');
    mkdirSync(home);
    // Lab state goes to a root of our own: a lab subcommand that ignored --help would act on an empty root.
    env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfig, HAWSER_LAB_ROOT: join(dir, 'labs') };
  });

  after(async () => {
    await new Promise<void>((resolve) => api.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('hawser --help, -h and help print the command list; --version the version', async () => {
    for (const flag of ['--help', '-h', 'help']) {
      const r = await hawser([flag]);
      assert.equal(r.code, 0, `${flag}: ${r.stderr}`);
      assert.match(r.stdout, /^usage: hawser <command>/);
      for (const [c] of COMMANDS.filter((c) => c.length === 1)) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'), `${c} listed`);
      assert.equal(r.stderr, '');
    }
    const v = await hawser(['--version']);
    assert.equal(v.code, 0, v.stderr);
    // bin/hawser runs the pinned Node (.tools/node) when present, which may differ from the test's
    assert.match(v.stdout, new RegExp(`^hawser ${VERSION.replace(/\./g, '\\.')} \\(node v\\d+\\.\\d+\\.\\d+\\)\\n$`));
  });

  it('no command, an unknown command: one line on stderr, exit 2', async () => {
    for (const args of [[], ['no-such-command'], ['--no-such-flag']]) {
      const r = await hawser(args);
      assert.equal(r.code, 2, JSON.stringify(args));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^hawser: [^\n]+ \(see: hawser --help\)\n$/, JSON.stringify(args));
    }
  });

  for (const cmd of COMMANDS) {
    const top = cmd[0]!;
    it(`${cmd.join(' ')} --help and -h: its usage, exit 0, nothing started`, async () => {
      const before = apiConnections;
      for (const flag of ['--help', '-h']) {
        // with more arguments around it too: help wins wherever it stands before `--`
        for (const args of [[...cmd, flag], [...cmd, flag, '--kubeconfig', env.KUBECONFIG!]]) {
          const r = await hawser(args);
          assert.equal(r.signal, null, `${args.join(' ')} was still running after 30 s: it started something`);
          assert.equal(r.code, 0, `${args.join(' ')}: rc ${r.code}: ${r.stderr}`);
          assert.match(r.stdout, new RegExp(`^usage: hawser ${top === 'rollback' ? 'migrate' : top}\\b`), args.join(' '));
          assert.equal(r.stderr, '', args.join(' '));
          assert.deepEqual(r.wrote, [], `${args.join(' ')} wrote files`);
        }
      }
      assert.equal(apiConnections, before, `${cmd.join(' ')} --help connected to the API server`);
    });

    it(`${cmd.join(' ')} with a bad flag: one line on stderr, exit 2, nothing started`, async () => {
      const before = apiConnections;
      const r = await hawser([...cmd, '--no-such-flag']);
      assert.equal(r.signal, null, 'still running after 30 s');
      assert.equal(r.code, 2, `rc ${r.code}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`^hawser ${top}: [^\\n]*--no-such-flag[^\\n]* \\(see: hawser ${top} --help\\)\\n$`));
      assert.deepEqual(r.wrote, []);
      assert.equal(apiConnections, before, 'connected to the API server');
    });
  }

  it('arguments after -- belong to the program lab exec runs, not to hawser', async () => {
    // `lab exec X -- cmd --help` must not print hawser's usage; with no lab it is an error about the lab
    const r = await hawser(['lab', 'exec', '--name', 'hw-none', 'cluster-a', '--', 'true', '--help']);
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stdout, /^usage:/);
  });
});
