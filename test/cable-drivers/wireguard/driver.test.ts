import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gatewayConfigFromEnv } from '../../../src/config/roles.js';
import { createLogger } from '../../../src/log/index.js';
import { isHawserError } from '../../../src/util/errors.js';
import { WireGuardDriver } from '../../../src/cable-drivers/wireguard/index.js';
import { publicKeyOf, ZERO_KEY, type Config, type Device, type WgClient } from '../../../src/cable-drivers/wireguard/wgctrl/index.js';
import type { EndpointSpec } from '../../../src/k8s/resources.js';
import { FakeRtnl } from '../../support/fake-rtnl.js';
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

/** The shared rtnetlink fake with a node's devices: lo, the CNI bridge (10.1.0.1) and the WireGuard device. */
function nodeRtnl(): FakeRtnl {
  const r = new FakeRtnl();
  const lo = r.addLink({ name: 'lo', mtu: 65536, up: true });
  const cni = r.addLink({ name: 'cni0', kind: 'bridge', mtu: 1500, up: true });
  r.addLink({ name: 'wgf', kind: 'wireguard', mtu: 1420, up: false });
  r.addrs.push({ ifindex: lo.index, family: 4, address: '127.0.0.1', prefix: 8 }, { ifindex: cni.index, family: 4, address: '10.1.0.1', prefix: 24 });
  return r;
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
  let net: FakeRtnl;
  let lines: string[];
  let stateDir: string;
  const log = (): ReturnType<typeof createLogger> => createLogger({ level: 'debug', destination: new Writable({ write: (c: Buffer, _e, cb) => { lines.push(c.toString()); cb(); } }) });
  const make = (): WireGuardDriver => {
    return new WireGuardDriver({ config, localEndpoint: remote('a', '192.0.2.1', undefined, ['10.1.0.0/16']), log: log() }, { ifname: 'wgf', client: wg, rtnl: net, now: () => now, handshakeGraceMs: 20_000, stateDir });
  };
  const B = remote('b', '192.0.2.2', K2.pub, ['10.2.0.0/16']);
  const C = remote('c', '192.0.2.3', K3.pub, ['10.3.0.0/16']);

  beforeEach(() => {
    now = 1_700_000_000_000;
    wg = new FakeWg();
    net = nodeRtnl();
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
  /** Our routes in table 150 as `dst src`. */
  const routes = (): string[] => net.routes_.filter((r) => r.table === 150 && r.protocol === 119).map((r) => `${r.dst} ${r.prefsrc ?? '-'}`).sort();
  const wgUp = (): boolean => net.links_.find((l) => l.name === 'wgf')!.up;

  it('a restart adopts the device as it is: a matching peer and its routes get no write; what no cable claims goes in the same set()', async () => {
    const d1 = make();
    await d1.init();
    await d1.set([{ endpoint: B, nat: { useIP: '192.0.2.2', useNAT: false } }, { endpoint: C, nat: { useIP: '198.51.100.3', useNAT: true } }]);
    wg.dev.peers.forEach((p) => (p.lastHandshakeMs = now - 5_000));
    await d1.close();
    const writes = wg.writes.length;
    net.log = [];
    const d2 = make();
    await d2.init();
    assert.equal(d2.publicKey, d1.publicKey, 'the device key is kept');
    assert.deepEqual(await d2.connections(), [], 'nothing is named before the first set()');
    // C's cluster went away while hawser was down: B is wanted as it is
    const out = await d2.set([{ endpoint: B, nat: { useIP: '192.0.2.2', useNAT: false } }]);
    assert.deepEqual([...out], [[B.cableName, { ok: true, changed: false }]]);
    assert.deepEqual(wg.writes.slice(writes), [{ peers: [{ publicKey: K3.pub, remove: true }] }], 'only the unclaimed peer is written');
    assert.deepEqual(net.takeWrites(), ['route del 10.3.0.0/16 oif 12 table 150']);
    assert.deepEqual(routes(), ['10.2.0.0/16 10.1.0.1']);
    assert.equal((await d2.connections())[0]?.status, 'connected');
    await d2.set([{ endpoint: B, nat: { useIP: '192.0.2.2', useNAT: false } }]);
    assert.equal(wg.writes.length, writes + 1, 'idempotent');
    assert.deepEqual(net.takeWrites(), []);
  });

  it('set([]) removes every peer and route of ours, and nothing else', async () => {
    const d = make();
    await d.init();
    const other = net.links_.find((l) => l.name === 'cni0')!;
    await net.apply([{ op: 'route-replace', route: { table: 150, dst: '10.9.0.0/16', oif: other.index, protocol: 147 } }]);
    await d.set([{ endpoint: B, nat: { useIP: '192.0.2.2', useNAT: false } }, { endpoint: C, nat: { useIP: '192.0.2.3', useNAT: false } }]);
    await d.set([]);
    assert.deepEqual(wg.dev.peers, []);
    assert.deepEqual(routes(), []);
    assert.ok(net.routes_.some((r) => r.dst === '10.9.0.0/16'), 'the route agent\'s route stays');
    assert.deepEqual(await d.connections(), []);
  });

  it('one bad cable is its own outcome; the others are configured by the same set()', async () => {
    const d = make();
    await d.init();
    const out = await d.set([{ endpoint: { ...C, backendConfig: { publicKey: 'not-a-key' } }, nat: { useIP: '192.0.2.3', useNAT: false } }, { endpoint: B, nat: { useIP: '192.0.2.2', useNAT: false } }]);
    assert.deepEqual(out.get(B.cableName), { ok: true, changed: true });
    const bad = out.get(C.cableName);
    assert.ok(bad && !bad.ok && /invalid backend_config\.publicKey/.test(bad.error));
    assert.deepEqual(wg.dev.peers.map((p) => p.publicKey), [K2.pub]);
    assert.deepEqual(routes(), ['10.2.0.0/16 10.1.0.1']);
  });

  it('a new device gets a new key; connect configures the peer (psk = sha256 of the PSK text, keepalive 10) and routes', async () => {
    const d = make();
    await d.init();
    assert.ok(d.publicKey && d.publicKey === wg.dev.publicKey);
    await d.connect(B, { useIP: '192.0.2.2', useNAT: false });
    assert.deepEqual(wg.dev.peers.map((p) => [p.publicKey, p.presharedKey, p.endpoint, p.persistentKeepaliveIntervalSec, p.allowedIPs]), [[K2.pub, PSK.key, '192.0.2.2:4500', 10, ['10.2.0.0/16']]]);
    assert.deepEqual(routes(), ['10.2.0.0/16 10.1.0.1']);
    assert.deepEqual(net.rules_.map((r) => [r.pref, r.table, r.protocol]), [[150, 150, 119]]);
    assert.ok(wgUp());
    // same again: not a single write
    const writes = wg.writes.length;
    net.log = [];
    await d.connect(B, { useIP: '192.0.2.2', useNAT: false });
    assert.equal(wg.writes.length, writes);
    assert.deepEqual(net.takeWrites(), []);
    assert.ok(!lines.join('').includes(PSK.key), 'the preshared key never reaches the log');
  });

  it('a remote without udp-port is reached on our CE_IPSEC_NATTPORT, as Submariner\'s driver does', async () => {
    const cfg = gatewayConfigFromEnv({ ...ENV, CE_IPSEC_NATTPORT: '4501' });
    const d = new WireGuardDriver({ config: cfg, localEndpoint: remote('a', '192.0.2.1', undefined, ['10.1.0.0/16']), log: log() }, { ifname: 'wgf', client: wg, rtnl: net, now: () => now, stateDir });
    await d.init();
    await d.connect(B, { useIP: '192.0.2.2', useNAT: false });
    assert.equal(wg.dev.peers[0]?.endpoint, '192.0.2.2:4501');
    await d.connect({ ...C, backendConfig: { ...C.backendConfig, 'udp-port': '4600' } }, { useIP: '192.0.2.3', useNAT: false });
    assert.equal(wg.dev.peers.find((p) => p.publicKey === K3.pub)?.endpoint, '192.0.2.3:4600');
  });

  it('without a PSK uses Submariner\'s default text "default psk" (sha256), with a warning', async () => {
    const cfg = { ...config, ipsec: { ...config.ipsec, psk: '' } };
    const d = new WireGuardDriver({ config: cfg, localEndpoint: remote('a', '192.0.2.1', undefined, ['10.1.0.0/16']), log: log() }, { ifname: 'wgf', client: wg, rtnl: net, now: () => now, stateDir });
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
    assert.deepEqual(routes(), ['10.3.0.0/16 10.1.0.1']);
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

  it('a route set() could not install is that cable\'s error; the others keep theirs', async () => {
    const d = make();
    await d.init();
    net.failOn = [{ pattern: /route replace 10\.3\.0\.0\/16/, errno: 'EINVAL' }];
    const out = await d.set([{ endpoint: B, nat: { useIP: '192.0.2.2', useNAT: false } }, { endpoint: C, nat: { useIP: '192.0.2.3', useNAT: false } }]);
    assert.deepEqual(out.get(B.cableName), { ok: true, changed: true });
    const c = out.get(C.cableName);
    assert.ok(c && !c.ok && /cannot route 10\.3\.0\.0\/16 into wgf: .*EINVAL/.test(c.error), JSON.stringify(c));
    net.failOn = [];
    assert.deepEqual((await d.set([{ endpoint: B, nat: { useIP: '192.0.2.2', useNAT: false } }, { endpoint: C, nat: { useIP: '192.0.2.3', useNAT: false } }])).get(C.cableName), { ok: true, changed: true });
  });

  it('repairs drift on the next set(): a route and a peer removed behind its back come back', async () => {
    const d = make();
    await d.init();
    await d.connect(B, { useIP: '192.0.2.2', useNAT: false });
    net.routes_ = [];
    wg.dev.peers = [];
    await d.set([{ endpoint: B, nat: { useIP: '192.0.2.2', useNAT: false } }]);
    assert.deepEqual(routes(), ['10.2.0.0/16 10.1.0.1']);
    assert.equal(wg.dev.peers.length, 1);
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
