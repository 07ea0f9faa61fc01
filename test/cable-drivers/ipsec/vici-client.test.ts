// The VICI client against a scripted fake charon on a unix socket: queueing, streaming, events,
// error answers, malformed packets, timeouts and reconnection after a restart.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  PacketReader, PacketType, ViciClient, ViciError, encodePacket, type ViciInputSection, type ViciPacket,
} from '../../../src/cable-drivers/ipsec/vici/index.js';
import { waitFor } from '../../../src/util/wait.js';

type Handler = (p: ViciPacket, s: Socket, fake: FakeCharon) => void;

/** A fake charon: answers one request at a time and records whether a client ever pipelined. */
class FakeCharon {
  server: Server | undefined;
  readonly sockets = new Set<Socket>();
  readonly registered = new Map<Socket, Set<string>>();
  readonly requests: string[] = [];
  maxOutstanding = 0;
  silent = new Set<string>();
  handlers = new Map<string, Handler>();
  readonly knownEvents = new Set(['ike-updown', 'child-updown', 'log', 'list-sa', 'list-conn', 'control-log']);

  constructor(readonly path: string) {}

  start(): Promise<void> {
    return new Promise((resolve) => {
      this.server = createServer((s) => this.accept(s));
      this.server.listen(this.path, resolve);
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = undefined;
  }

  emit(event: string, msg: ViciInputSection): void {
    for (const [s, evs] of this.registered) if (evs.has(event)) s.write(encodePacket(PacketType.EVENT, event, msg));
  }

  private accept(s: Socket): void {
    this.sockets.add(s);
    this.registered.set(s, new Set());
    s.on('close', () => {
      this.sockets.delete(s);
      this.registered.delete(s);
    });
    s.on('error', () => undefined);
    const reader = new PacketReader();
    let outstanding = 0;
    s.on('data', (chunk: Buffer) => {
      for (const p of reader.push(chunk)) {
        outstanding++;
        this.maxOutstanding = Math.max(this.maxOutstanding, outstanding);
        const done = (): void => {
          outstanding--;
        };
        this.handle(p, s, done);
      }
    });
  }

  private handle(p: ViciPacket, s: Socket, done: () => void): void {
    const name = p.name ?? '';
    if (p.type === PacketType.EVENT_REGISTER || p.type === PacketType.EVENT_UNREGISTER) {
      if (!this.knownEvents.has(name)) s.write(encodePacket(PacketType.EVENT_UNKNOWN));
      else {
        if (p.type === PacketType.EVENT_REGISTER) this.registered.get(s)?.add(name);
        else this.registered.get(s)?.delete(name);
        s.write(encodePacket(PacketType.EVENT_CONFIRM));
      }
      done();
      return;
    }
    this.requests.push(name);
    if (this.silent.has(name)) return done();
    const h = this.handlers.get(name);
    // Answer asynchronously so that a pipelining client would be caught with 2 outstanding.
    setTimeout(() => {
      done();
      if (h) h(p, s, this);
      else s.write(encodePacket(PacketType.CMD_UNKNOWN));
    }, 2);
  }
}

describe('vici client (fake charon)', function () {
  this.timeout(10_000);
  let dir: string;
  let fake: FakeCharon;
  let client: ViciClient;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-vici-'));
    fake = new FakeCharon(join(dir, 'charon.vici'));
    fake.handlers.set('version', (_p, s) => s.write(encodePacket(PacketType.CMD_RESPONSE, undefined, { daemon: 'charon', version: '5.9.8', sysname: 'Linux', release: 'x', machine: 'y' })));
    fake.handlers.set('list-sas', (_p, s, f) => {
      const evs = f.registered.get(s);
      if (evs?.has('list-sa')) {
        s.write(encodePacket(PacketType.EVENT, 'list-sa', { a: { uniqueid: '1', state: 'ESTABLISHED', 'child-sas': { 'a-0-0-1': { name: 'a-0-0', state: 'INSTALLED', 'bytes-in': '10' } } } }));
        s.write(encodePacket(PacketType.EVENT, 'list-sa', { b: { uniqueid: '2', state: 'CONNECTING' } }));
      }
      s.write(encodePacket(PacketType.CMD_RESPONSE));
    });
    fake.handlers.set('load-conn', (p, s) => {
      const ok = Object.keys(p.message ?? {}).length === 1;
      s.write(encodePacket(PacketType.CMD_RESPONSE, undefined, ok ? { success: 'yes' } : { success: 'no', errmsg: 'bad conn' }));
    });
    fake.handlers.set('initiate', (_p, s, f) => {
      if (f.registered.get(s)?.has('control-log')) s.write(encodePacket(PacketType.EVENT, 'control-log', { group: 'IKE', level: '1', msg: 'initiating IKE_SA x[1]' }));
      s.write(encodePacket(PacketType.CMD_RESPONSE, undefined, { success: 'no', errmsg: 'establishing CHILD_SA failed' }));
    });
    await fake.start();
    client = new ViciClient({ socketPath: fake.path, requestTimeoutMs: 1_000, reconnectMinMs: 20, reconnectMaxMs: 100 });
  });

  afterEach(async () => {
    client.close();
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers typed commands and never has two requests outstanding', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => client.version()));
    assert.equal(answers.length, 20);
    assert.equal(answers[0]!.version, '5.9.8');
    assert.equal(fake.maxOutstanding, 1);
  });

  it('streams list-sas events into typed SAs', async () => {
    const sas = await client.listSas();
    assert.deepEqual(sas.map((s) => `${s.name}:${s.state}:${s.children.map((c) => `${c.name}/${c.bytesIn}`).join(',')}`), ['a:ESTABLISHED:a-0-0/10', 'b:CONNECTING:']);
    const again = await client.listSas();
    assert.equal(again.length, 2, 'the stream registration is kept for the next call');
  });

  it('delivers subscribed events, also while a command is running', async () => {
    const got: string[] = [];
    await client.subscribe('ike-updown', (m) => got.push(String(m.up)));
    fake.handlers.set('stats', (_p, s, f) => {
      f.emit('ike-updown', { up: 'yes' });
      s.write(encodePacket(PacketType.CMD_RESPONSE, undefined, { uptime: { running: '1 s', since: 'now' }, plugins: ['vici'] }));
    });
    const st = await client.stats();
    assert.deepEqual(st.plugins, ['vici']);
    fake.emit('ike-updown', { up: 'no' });
    await waitFor(() => got.length === 2, { timeoutMs: 1_000 });
    assert.deepEqual(got, ['yes', 'no']);
  });

  it('turns CMD_UNKNOWN, EVENT_UNKNOWN and success=no into typed errors', async () => {
    await assert.rejects(client.request('no-such-command'), (e: unknown) => e instanceof ViciError && e.code === 'UNKNOWN_COMMAND');
    await assert.rejects(client.subscribe('no-such-event', () => undefined), (e: unknown) => e instanceof ViciError && e.code === 'UNKNOWN_EVENT');
    await assert.rejects(client.loadConn('x', {}).then(() => client.request('load-conn', { a: { x: '1' }, b: { y: '2' } })).then((m) => {
      if (m.success === 'no') throw new ViciError('COMMAND_FAILED', String(m.errmsg));
    }), (e: unknown) => e instanceof ViciError && e.code === 'COMMAND_FAILED');
    await assert.rejects(client.initiate({ child: 'c', timeoutMs: 1000 }), (e: unknown) => e instanceof ViciError && e.code === 'COMMAND_FAILED' && e.errmsg === 'establishing CHILD_SA failed' && (e.log ?? []).includes('initiating IKE_SA x[1]'));
    assert.equal((await client.version()).daemon, 'charon', 'the connection is still usable');
  });

  it('a malformed answer fails the request with a typed error and the client reconnects', async () => {
    fake.handlers.set('get-conns', (_p, s) => s.write(Buffer.from([0, 0, 0, 3, 1, 9, 9])));
    await assert.rejects(client.getConns(), (e: unknown) => e instanceof ViciError && (e.code === 'MALFORMED' || e.code === 'CLOSED'));
    assert.equal((await client.version()).version, '5.9.8');
    fake.handlers.set('get-conns', (_p, s) => s.write(Buffer.from([0, 0x7f, 0, 0])));
    await assert.rejects(client.getConns(), (e: unknown) => e instanceof ViciError);
    assert.equal((await client.version()).version, '5.9.8');
  });

  it('times out a silent daemon, then resynchronizes on a new connection', async () => {
    fake.silent.add('get-shared');
    await assert.rejects(client.getShared({ timeoutMs: 200 }), (e: unknown) => e instanceof ViciError && e.code === 'TIMEOUT');
    assert.equal((await client.version()).version, '5.9.8');
  });

  it('reconnects after charon restarts and renews event registrations', async () => {
    const states: string[] = [];
    client.onConnection((s) => states.push(s));
    const got: string[] = [];
    await client.subscribe('child-updown', (m) => got.push(String(m.up)));
    await fake.stop();
    await waitFor(() => states.includes('disconnected'), { timeoutMs: 1_000 });
    await assert.rejects(client.version({ timeoutMs: 300 }), (e: unknown) => e instanceof ViciError && e.code === 'TIMEOUT' && /is charon running/.test(e.message));
    await fake.start();
    await waitFor(() => states.filter((s) => s === 'connected').length >= 2, { timeoutMs: 2_000, what: 'reconnect' });
    await waitFor(() => [...fake.registered.values()].some((s) => s.has('child-updown')), { timeoutMs: 1_000 });
    fake.emit('child-updown', { up: 'yes' });
    await waitFor(() => got.includes('yes'), { timeoutMs: 1_000 });
    assert.equal((await client.version()).version, '5.9.8');
  });

  it('close() fails waiting commands with CLOSED; a missing socket is a CONNECT error', async () => {
    fake.silent.add('get-conns');
    const pending = client.getConns();
    await waitFor(() => fake.requests.includes('get-conns'), { timeoutMs: 1_000 });
    client.close();
    await assert.rejects(pending, (e: unknown) => e instanceof ViciError && e.code === 'CLOSED');
    const lost = new ViciClient({ socketPath: join(dir, 'nothing.vici') });
    await assert.rejects(lost.connect(), (e: unknown) => e instanceof ViciError && e.code === 'CONNECT' && /ENOENT/.test(e.message));
    lost.close();
  });
});
