import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gatewayConfigFromEnv } from '../../../src/config/roles.js';
import { createLogger } from '../../../src/log/index.js';
import { isHawserError } from '../../../src/util/errors.js';
import { waitFor } from '../../../src/util/wait.js';
import { WireGuardDriver } from '../../../src/cable-drivers/wireguard/index.js';
import type { NetOps, LocalAddress } from '../../../src/cable-drivers/wireguard/netops.js';
import type { NetObserved } from '../../../src/cable-drivers/wireguard/planner.js';
import { publicKeyOf, ZERO_KEY, type Config, type Device, type WgClient } from '../../../src/cable-drivers/wireguard/wgctrl/index.js';
import type { EndpointSpec } from '../../../src/k8s/resources.js';
import { K1, K2, K3, PSK } from './fixtures.js';

/** An in-memory device that interprets Configs as wireguard-go does, and counts writes. */
class FakeWg implements WgClient {
  readonly type = 'kernel' as const;
  dev: Device = { name: 'wgf', type: 'kernel', listenPort: 51000, fwmark: 0, peers: [] };
  writes: Config[] = [];
  async devices(): Promise<Device[]> {
    return [structuredClone(this.dev)];
  }
  async device(): Promise<Device> {
    return structuredClone(this.dev);
  }
  async configureDevice(_name: string, cfg: Config): Promise<void> {
    this.writes.push(structuredClone(cfg));
    if (cfg.privateKey !== undefined) {
      this.dev.privateKey = cfg.privateKey;
      this.dev.publicKey = publicKeyOf(cfg.privateKey);
    }
    if (cfg.listenPort !== undefined) this.dev.listenPort = cfg.listenPort;
    if (cfg.replacePeers) this.dev.peers = [];
    for (const pc of cfg.peers ?? []) {
      const i = this.dev.peers.findIndex((p) => p.publicKey === pc.publicKey);
      if (pc.remove) {
        if (i >= 0) this.dev.peers.splice(i, 1);
        continue;
      }
      if (i < 0 && pc.updateOnly) continue;
      const p = i >= 0 ? this.dev.peers[i]! : { publicKey: pc.publicKey, presharedKey: ZERO_KEY, persistentKeepaliveIntervalSec: 0, lastHandshakeMs: 0, rxBytes: 0, txBytes: 0, allowedIPs: [], protocolVersion: 1 };
      if (i < 0) this.dev.peers.push(p);
      if (pc.presharedKey !== undefined) p.presharedKey = pc.presharedKey;
      if (pc.endpoint !== undefined) p.endpoint = pc.endpoint;
      if (pc.persistentKeepaliveIntervalSec !== undefined) p.persistentKeepaliveIntervalSec = pc.persistentKeepaliveIntervalSec;
      if (pc.replaceAllowedIPs) p.allowedIPs = [];
      p.allowedIPs.push(...(pc.allowedIPs ?? []));
    }
  }
  async close(): Promise<void> {}
}

/** Routes as a map keyed by `dst`, interpreting the planner's `ip` lines. */
class FakeNet implements NetOps {
  routes = new Map<string, string>();
  rules: string[] = [];
  up = false;
  applied: string[][] = [];
  async observe(dev: string): Promise<NetObserved> {
    return {
      linkExists: true,
      linkUp: this.up,
      routes: [...this.routes].map(([dst, src]) => ({ dst, dev, protocol: '119', family: 4 as const, ...(src ? { prefsrc: src } : {}) })),
      rules: this.rules.map(() => ({ priority: 150, table: '150', protocol: '119', family: 4 as const })),
    };
  }
  async apply(lines: readonly string[]): Promise<void> {
    this.applied.push([...lines]);
    for (const l of lines) {
      const w = l.split(' ');
      if (l.startsWith('link set')) this.up = true;
      else if (w[0] === 'route' && w[1] === 'replace') this.routes.set(w[2]!, w.includes('src') ? w[w.indexOf('src') + 1]! : '');
      else if (w[0] === 'route' && w[1] === 'del') this.routes.delete(w[2]!);
      else if (w[0] === 'rule' && w[1] === 'add') this.rules.push(l);
      else if (w[0] === 'rule' && w[1] === 'del') this.rules = [];
    }
  }
  async addresses(): Promise<LocalAddress[]> {
    return [{ dev: 'lo', address: '127.0.0.1', family: 4 }, { dev: 'cni0', address: '10.1.0.1', family: 4 }];
  }
  async linkExists(): Promise<boolean> {
    return true;
  }
  async linkAdd(): Promise<void> {}
  async linkDel(): Promise<void> {}
}

const ENV = {
  SUBMARINER_NAMESPACE: 'submariner-operator', SUBMARINER_CLUSTERID: 'a', NODE_NAME: 'gw-a', SUBMARINER_CLUSTERCIDR: '10.1.0.0/16', SUBMARINER_SERVICECIDR: '100.1.0.0/16',
  SUBMARINER_CABLEDRIVER: 'wireguard', CE_IPSEC_PSK: PSK.text, BROKER_K8S_APISERVER: '127.0.0.1:1', BROKER_K8S_APISERVERTOKEN: 'x', BROKER_K8S_REMOTENAMESPACE: 'broker',
};
const config = gatewayConfigFromEnv(ENV);

const remote = (id: string, ip: string, pub: string | undefined, subnets: string[]): EndpointSpec => ({
  clusterId: id, cableName: `submariner-cable-${id}-${ip.replace(/\./g, '-')}`, hostname: `gw-${id}`, subnets, invalidSubnets: [], privateIP: ip, publicIP: ip, healthCheckIP: '',
  privateIPs: [ip], publicIPs: [ip], healthCheckIPs: [], natEnabled: false, backend: 'wireguard', backendConfig: pub ? { publicKey: pub } : {},
});

describe('WireGuard driver (fake device and routes)', () => {
  let now: number;
  let wg: FakeWg;
  let net: FakeNet;
  let lines: string[];
  let stateDir: string;
  const log = (): ReturnType<typeof createLogger> => createLogger({ level: 'debug', destination: new Writable({ write: (c: Buffer, _e, cb) => { lines.push(c.toString()); cb(); } }) });
  const make = (): WireGuardDriver => {
    return new WireGuardDriver({ config, localEndpoint: remote('a', '192.0.2.1', undefined, ['10.1.0.0/16']), log: log() }, { ifname: 'wgf', client: wg, netOps: net, now: () => now, handshakeGraceMs: 20_000, stateDir, resyncIntervalMs: 0 });
  };
  const B = remote('b', '192.0.2.2', K2.pub, ['10.2.0.0/16']);
  const C = remote('c', '192.0.2.3', K3.pub, ['10.3.0.0/16']);

  beforeEach(() => {
    now = 1_700_000_000_000;
    wg = new FakeWg();
    net = new FakeNet();
    lines = [];
    stateDir = mkdtempSync(join(tmpdir(), 'hw-wgs-'));
  });

  afterEach(() => {
    rmSync(stateDir, { recursive: true, force: true });
  });

  const logged = (level: string, msg: RegExp): boolean => lines.some((l) => {
    const o = JSON.parse(l) as { level: string; msg: string };
    return o.level === level && msg.test(o.msg);
  });
  const stateFile = (): string => join(stateDir, 'wgf.cables.json');

  it('a restarted driver names the peers a previous run connected (state file), and only those', async () => {
    const d1 = make();
    await d1.init();
    await d1.connect(B, { useIP: '192.0.2.2', useNAT: false });
    await d1.connect(C, { useIP: '198.51.100.3', useNAT: true });
    await d1.close();
    const text = readFileSync(stateFile(), 'utf8');
    assert.ok(!text.includes(PSK.key) && !text.includes(wg.dev.privateKey!), 'no private or preshared key in the state file');
    // a peer someone else put on the device is not ours to name
    await wg.configureDevice('wgf', { peers: [{ publicKey: K1.pub, allowedIPs: ['10.9.0.0/16'] }] });
    now += 5_000;
    const d2 = make();
    await d2.init();
    const conns = await d2.connections();
    assert.deepEqual(conns.map((c) => [c.cableName, c.endpoint.clusterId, c.usingIP, c.usingNAT, c.status]), [
      [B.cableName, 'b', '192.0.2.2', false, 'connecting'],
      [C.cableName, 'c', '198.51.100.3', true, 'connecting'],
    ]);
    assert.deepEqual(conns[0]?.endpoint.subnets, ['10.2.0.0/16']);
    // disconnecting an adopted cable removes its peer (by the saved key) and routes
    await d2.disconnect(C);
    assert.deepEqual(wg.dev.peers.map((p) => p.publicKey).sort(), [K1.pub, K2.pub].sort());
    assert.deepEqual((await d2.connections()).map((c) => c.cableName), [B.cableName]);
    assert.ok(!readFileSync(stateFile(), 'utf8').includes(C.cableName));
    await d2.close();
  });

  it('a corrupt state file starts empty with a warning; a missing one quietly', async () => {
    await wg.configureDevice('wgf', { privateKey: K1.priv, listenPort: 4500, peers: [{ publicKey: K2.pub, allowedIPs: ['10.2.0.0/16'] }] });
    writeFileSync(stateFile(), '{"version":1,"cables":[{"cableName":');
    const d = make();
    await d.init();
    assert.deepEqual(await d.connections(), []);
    assert.ok(logged('warn', /state file unusable/));
    await d.close();
    rmSync(stateFile());
    lines = [];
    const d2 = make();
    await d2.init();
    assert.deepEqual(await d2.connections(), []);
    assert.ok(!logged('warn', /state file/));
    assert.ok(!existsSync(stateFile()), 'nothing connected: nothing written');
    await d2.close();
  });

  it('sweep removes the peers and routes no connect() claimed, and nothing else', async () => {
    const d1 = make();
    await d1.init();
    await d1.connect(B, { useIP: '192.0.2.2', useNAT: false });
    await d1.connect(C, { useIP: '192.0.2.3', useNAT: false });
    await d1.close();
    await wg.configureDevice('wgf', { peers: [{ publicKey: K1.pub, allowedIPs: ['10.9.0.0/16'] }] });
    net.routes.set('10.9.0.0/16', '');
    const d2 = make();
    await d2.init();
    await d2.connect(B, { useIP: '192.0.2.2', useNAT: false });
    assert.equal(wg.dev.peers.length, 3, 'kept until the sweep');
    await d2.sweep();
    assert.deepEqual(wg.dev.peers.map((p) => p.publicKey), [K2.pub]);
    assert.deepEqual([...net.routes.keys()], ['10.2.0.0/16']);
    assert.deepEqual((await d2.connections()).map((c) => c.cableName), [B.cableName]);
    assert.ok(!readFileSync(stateFile(), 'utf8').includes(C.cableName));
    await d2.close();
  });

  it('disconnect of a cable it never knew, without a peer, is a quiet no-op', async () => {
    const d = make();
    await d.init();
    await d.connect(B, { useIP: '192.0.2.2', useNAT: false });
    const writes = wg.writes.length;
    const applied = net.applied.length;
    lines = [];
    await d.disconnect(C);
    await d.disconnect({ ...C, backendConfig: {} });
    assert.equal(wg.writes.length, writes);
    assert.equal(net.applied.length, applied);
    assert.ok(!logged('info', /cable removed/));
    assert.ok(logged('debug', /unknown WireGuard cable/));
    assert.equal(wg.dev.peers.length, 1);
  });

  it('a new device gets a new key; connect configures the peer (psk = sha256 of the PSK text, keepalive 10) and routes', async () => {
    const d = make();
    await d.init();
    assert.ok(d.publicKey && d.publicKey === wg.dev.publicKey);
    await d.connect(B, { useIP: '192.0.2.2', useNAT: false });
    assert.deepEqual(wg.dev.peers.map((p) => [p.publicKey, p.presharedKey, p.endpoint, p.persistentKeepaliveIntervalSec, p.allowedIPs]), [[K2.pub, PSK.key, '192.0.2.2:4500', 10, ['10.2.0.0/16']]]);
    assert.deepEqual([...net.routes], [['10.2.0.0/16', '10.1.0.1']]);
    assert.equal(net.rules.length, 1);
    assert.ok(net.up);
    // same again: not a single write
    const writes = wg.writes.length;
    const applied = net.applied.length;
    await d.connect(B, { useIP: '192.0.2.2', useNAT: false });
    assert.equal(wg.writes.length, writes);
    assert.equal(net.applied.length, applied);
    assert.ok(!lines.join('').includes(PSK.key), 'the preshared key never reaches the log');
  });

  it('a remote without udp-port is reached on our CE_IPSEC_NATTPORT, as Submariner\'s driver does', async () => {
    const cfg = gatewayConfigFromEnv({ ...ENV, CE_IPSEC_NATTPORT: '4501' });
    const d = new WireGuardDriver({ config: cfg, localEndpoint: remote('a', '192.0.2.1', undefined, ['10.1.0.0/16']), log: log() }, { ifname: 'wgf', client: wg, netOps: net, now: () => now, stateDir, resyncIntervalMs: 0 });
    await d.init();
    await d.connect(B, { useIP: '192.0.2.2', useNAT: false });
    assert.equal(wg.dev.peers[0]?.endpoint, '192.0.2.2:4501');
    await d.connect({ ...C, backendConfig: { ...C.backendConfig, 'udp-port': '4600' } }, { useIP: '192.0.2.3', useNAT: false });
    assert.equal(wg.dev.peers.find((p) => p.publicKey === K3.pub)?.endpoint, '192.0.2.3:4600');
  });

  it('without a PSK uses Submariner\'s default text "default psk" (sha256), with a warning', async () => {
    const cfg = { ...config, ipsec: { ...config.ipsec, psk: '' } };
    const d = new WireGuardDriver({ config: cfg, localEndpoint: remote('a', '192.0.2.1', undefined, ['10.1.0.0/16']), log: log() }, { ifname: 'wgf', client: wg, netOps: net, now: () => now, stateDir, resyncIntervalMs: 0 });
    await d.init();
    await d.connect(B, { useIP: '192.0.2.2', useNAT: false });
    assert.equal(wg.dev.peers[0]?.presharedKey, createHash('sha256').update('default psk').digest('base64'));
    assert.ok(logged('warn', /default psk/));
  });

  it('adopts an existing device key', async () => {
    await wg.configureDevice('wgf', { privateKey: K1.priv, listenPort: 4500 });
    wg.writes = [];
    const d = make();
    await d.init();
    assert.equal(d.publicKey, K1.pub);
    assert.deepEqual(wg.writes, []);
    assert.deepEqual(d.localBackendConfig(), { publicKey: K1.pub, 'interface-name': 'wgf', 'udp-port': '4500' });
  });

  it('status: connecting within the grace, error after it, connected on a handshake, connecting when stale', async () => {
    const d = make();
    await d.init();
    await d.connect(B, { useIP: '192.0.2.2', useNAT: false });
    assert.equal((await d.connections())[0]?.status, 'connecting');
    now += 21_000;
    const [e] = await d.connections();
    assert.equal(e?.status, 'error');
    assert.match(e?.statusMessage ?? '', /no WireGuard handshake with 192\.0\.2\.2:4500 in 21 s/);
    wg.dev.peers[0]!.lastHandshakeMs = now - 3_000;
    wg.dev.peers[0]!.rxBytes = 500;
    const [ok] = await d.connections();
    assert.equal(ok?.status, 'connected');
    assert.equal(ok?.rxBytes, 500);
    assert.equal(ok?.lastHandshakeMs, now - 3_000);
    now += 200_000;
    assert.equal((await d.connections())[0]?.status, 'connecting');
  });

  it('a key change replaces the peer; disconnect removes peer and routes', async () => {
    const d = make();
    await d.init();
    await d.connect(B, { useIP: '192.0.2.2', useNAT: false });
    await d.connect(C, { useIP: '192.0.2.3', useNAT: false });
    const B2 = { ...B, backendConfig: { publicKey: K1.pub } };
    await d.connect(B2, { useIP: '192.0.2.2', useNAT: false });
    assert.deepEqual(wg.dev.peers.map((p) => p.publicKey).sort(), [K1.pub, K3.pub].sort());
    await d.disconnect(B2);
    assert.deepEqual(wg.dev.peers.map((p) => p.publicKey), [K3.pub]);
    assert.deepEqual([...net.routes.keys()], ['10.3.0.0/16']);
  });

  it('refuses two cables with one key, and our own key', async () => {
    const d = make();
    await d.init();
    await d.connect(B, { useIP: '192.0.2.2', useNAT: false });
    await assert.rejects(d.connect({ ...C, backendConfig: { publicKey: K2.pub } }, { useIP: '192.0.2.3', useNAT: false }), /same public key as submariner-cable-b/);
    await assert.rejects(d.connect({ ...C, backendConfig: { publicKey: d.publicKey! } }, { useIP: '192.0.2.3', useNAT: false }), /our own public key/);
    await assert.rejects(d.connect(C, { useIP: 'nope', useNAT: false }), (err: unknown) => isHawserError(err, 'INVALID') && /no usable IP/.test(err.message));
    assert.deepEqual(wg.dev.peers.map((p) => p.publicKey), [K2.pub]);
  });

  it('after a restart keeps unclaimed peers until the prune grace, then removes them', async () => {
    await wg.configureDevice('wgf', { privateKey: K1.priv, listenPort: 4500, peers: [{ publicKey: K3.pub, allowedIPs: ['10.3.0.0/16'] }] });
    const d = new WireGuardDriver(
      { config, localEndpoint: remote('a', '192.0.2.1', undefined, ['10.1.0.0/16']), log: log() },
      { ifname: 'wgf', client: wg, netOps: net, now: () => now, pruneAfterMs: 50, stateDir },
    );
    await d.init();
    await d.connect(B, { useIP: '192.0.2.2', useNAT: false });
    assert.equal(wg.dev.peers.length, 2);
    await new Promise((r) => setTimeout(r, 120));
    await d.connections();
    assert.deepEqual(wg.dev.peers.map((p) => p.publicKey), [K2.pub]);
    await d.close();
  });

  it('repairs drift on resync: a route and a peer removed behind its back come back', async () => {
    const d = new WireGuardDriver(
      { config, localEndpoint: remote('a', '192.0.2.1', undefined, ['10.1.0.0/16']), log: log() },
      { ifname: 'wgf', client: wg, netOps: net, now: () => now, resyncIntervalMs: 30, stateDir },
    );
    await d.init();
    await d.connect(B, { useIP: '192.0.2.2', useNAT: false });
    net.routes.clear();
    wg.dev.peers = [];
    await waitFor(() => net.routes.has('10.2.0.0/16') && wg.dev.peers.length === 1, { timeoutMs: 2000, what: 'resync' });
    await d.close();
  });

  it('says how to fix a missing wireguard-go', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hw-wgd-'));
    try {
      const d = new WireGuardDriver(
        { config, localEndpoint: remote('a', '192.0.2.1', undefined, ['10.1.0.0/16']), log: log() },
        { ifname: 'hwg-nobin0', backend: 'userspace', socketDir: dir, stateDir: dir, wireguardGo: '/nonexistent/wireguard-go' },
      );
      await assert.rejects(d.init(), (err: unknown) => isHawserError(err, 'EXEC') && /wireguard-go is not installed.*apt-get install wireguard-go/.test(err.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
