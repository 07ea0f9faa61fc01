import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHawserError } from '../../../src/util/errors.js';
import { UapiClient, WgErrnoError } from '../../../src/cable-drivers/wireguard/wgctrl/index.js';
import { K1, K2 } from './fixtures.js';

/** A fake daemon on a temporary socket: records each request, answers with `reply(request)` in small chunks. */
class FakeDaemon {
  readonly requests: string[] = [];
  private server: Server | undefined;
  constructor(
    readonly dir: string,
    readonly ifname: string,
    private readonly reply: (req: string) => string | undefined,
  ) {}

  start(): Promise<void> {
    this.server = createServer((sock: Socket) => {
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        buf += d;
        if (!buf.endsWith('\n\n')) return;
        this.requests.push(buf);
        const out = this.reply(buf);
        buf = '';
        if (out === undefined) {
          sock.destroy();
          return;
        }
        // split the reply to prove the client reassembles it
        for (let i = 0; i < out.length; i += 7) sock.write(out.slice(i, i + 7));
      });
      sock.on('error', () => undefined);
    });
    return new Promise((resolve) => this.server!.listen(join(this.dir, `${this.ifname}.sock`), resolve));
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe('wireguard UAPI client (fake daemon on a unix socket)', () => {
  let dir: string;
  let daemon: FakeDaemon;
  let answer: (req: string) => string | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-uapi-'));
    answer = () => 'errno=0\n\n';
    daemon = new FakeDaemon(dir, 'wgt0', (r) => answer(r));
    await daemon.start();
  });
  afterEach(async () => {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gets a device', async () => {
    answer = () => `private_key=${K1.privHex}\nlisten_port=4500\npublic_key=${K2.pubHex}\nallowed_ip=10.2.0.0/16\nerrno=0\n\n`;
    const c = new UapiClient({ socketDir: dir });
    const dev = await c.device('wgt0');
    assert.deepEqual(daemon.requests, ['get=1\n\n']);
    assert.equal(dev.publicKey, K1.pub);
    assert.equal(dev.name, 'wgt0');
    assert.deepEqual(dev.peers.map((p) => [p.publicKey, p.allowedIPs]), [[K2.pub, ['10.2.0.0/16']]]);
  });

  it('sends a set transcript and accepts errno=0', async () => {
    const c = new UapiClient({ socketDir: dir });
    await c.configureDevice('wgt0', { listenPort: 4500, peers: [{ publicKey: K2.pub, remove: true }] });
    assert.deepEqual(daemon.requests, [`set=1\nlisten_port=4500\npublic_key=${K2.pubHex}\nremove=true\n\n`]);
  });

  it('reports a set errno', async () => {
    answer = () => 'errno=-22\n\n';
    const c = new UapiClient({ socketDir: dir });
    await assert.rejects(c.configureDevice('wgt0', { listenPort: 1 }), (err: unknown) => err instanceof WgErrnoError && err.errno === -22);
  });

  it('lists devices, skipping stale sockets', async () => {
    answer = () => 'listen_port=1\nerrno=0\n\n';
    // a socket file nobody answers on (a dead daemon's)
    writeFileSync(join(dir, 'dead0.sock'), '');
    const c = new UapiClient({ socketDir: dir });
    const devs = await c.devices();
    assert.deepEqual(devs.map((d) => d.name), ['wgt0']);
  });

  it('says NOT_FOUND when no daemon answers', async () => {
    const c = new UapiClient({ socketDir: dir });
    await assert.rejects(c.device('nothere0'), (err: unknown) => isHawserError(err, 'NOT_FOUND') && /nothere0/.test(err.message));
    assert.equal(await c.answers('nothere0'), false);
    assert.equal(await c.answers('wgt0'), true);
  });

  it('fails clearly when the daemon hangs up without a reply', async () => {
    answer = () => undefined;
    const c = new UapiClient({ socketDir: dir });
    await assert.rejects(c.device('wgt0'), /connection closed before a complete reply/);
  });

  it('times out on a silent daemon', async () => {
    answer = () => '';
    const c = new UapiClient({ socketDir: dir, timeoutMs: 150 });
    await assert.rejects(c.device('wgt0'), (err: unknown) => isHawserError(err, 'TIMEOUT'));
  });

  it('uses the injected dial', async () => {
    const dialed: string[] = [];
    const c = new UapiClient({ socketDir: '/nonexistent', dial: (p) => { dialed.push(p); return connect(join(dir, 'wgt0.sock')); } });
    await c.configureDevice('wgt9', {});
    assert.deepEqual(dialed, ['/nonexistent/wgt9.sock']);
  });
});
