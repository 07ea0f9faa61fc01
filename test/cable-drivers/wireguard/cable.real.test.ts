import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exec } from '../../../src/util/exec.js';
import { waitFor } from '../../../src/util/wait.js';
import type { WireGuardDriver } from '../../../src/cable-drivers/wireguard/index.js';
import { generatePrivateKey, presharedKeyFromText, publicKeyOf } from '../../../src/cable-drivers/wireguard/wgctrl/index.js';
import { Lab, PSK_TEXT, readPcap, type Gw, type WirePacket } from '../../support/wireguard-lab.js';

const SERVER_JS = `
const net = require('net'), crypto = require('crypto');
const h = crypto.createHash('sha256'); let n = 0;
const srv = net.createServer((s) => { s.on('data', (d) => { h.update(d); n += d.length; }); s.on('end', () => { console.log(JSON.stringify({ n, sha: h.digest('hex') })); srv.close(); }); });
srv.listen(5201, process.argv[1], () => console.log('listening'));`;
const CLIENT_JS = `
const net = require('net'), crypto = require('crypto');
const data = crypto.randomBytes(2 * 1024 * 1024);
const s = net.connect({ host: process.argv[1], port: 5201, localAddress: process.argv[2] }, () => s.end(data));
s.on('close', () => console.log(JSON.stringify({ n: data.length, sha: crypto.createHash('sha256').update(data).digest('hex') })));`;

/** A 2 MB TCP transfer from `from`'s pod address to `to`'s; returns the bytes that arrived intact. */
async function tcpTransfer(lab: Lab, from: Gw, to: Gw): Promise<number> {
  const server = lab.spawn(to.ns, process.execPath, ['-e', SERVER_JS, to.podIP]);
  await waitFor(() => /listening/.test(server.out()), { timeoutMs: 5000, what: 'TCP server' });
  const sent = JSON.parse((await exec(process.execPath, ['-e', CLIENT_JS, to.podIP, from.podIP], { netns: from.ns, timeoutMs: 20_000 })).stdout) as { n: number; sha: string };
  await server.exited;
  const got = JSON.parse(server.out().split('\n').find((l) => l.startsWith('{')) ?? '{}') as { n?: number; sha?: string };
  assert.equal(got.sha, sent.sha, 'received data equals sent data');
  return got.n ?? 0;
}

function assertOnlyWireGuard(pkts: WirePacket[], pods: string[], port: number): void {
  const wg = pkts.filter((p) => p.proto === 17 && (p.dport === port || p.sport === port) && p.wgType !== undefined);
  const types = new Set(wg.map((p) => p.wgType));
  assert.ok(types.has(1) && types.has(2), `WAN shows WireGuard handshakes (types seen: ${[...types].join(',')})`);
  assert.ok(wg.filter((p) => p.wgType === 4).length >= 10, `WAN shows WireGuard data packets (${wg.length} WireGuard packets)`);
  const leaked = pkts.filter((p) => pods.includes(p.src) || pods.includes(p.dst));
  assert.deepEqual(leaked, [], 'no packet with a pod address crosses the WAN in clear');
  // (a NAT router may answer an early handshake with ICMP port unreachable: WAN addresses, not pods)
  assert.equal(pkts.filter((p) => p.proto === 1 && (pods.includes(p.src) || pods.includes(p.dst))).length, 0, 'no ICMP between pod addresses on the WAN');
}

describe('WireGuard cable @real', function () {
  this.timeout(60_000);

  describe('two gateways joined by a veth', () => {
    let lab: Lab;
    let a: Gw;
    let b: Gw;
    let da: WireGuardDriver;
    let db: WireGuardDriver;

    before(async () => {
      lab = new Lab();
      [a, b] = await lab.directPair();
      da = lab.driver(a);
      db = lab.driver(b);
      await Promise.all([da.init(), db.init()]);
    });
    after(async () => {
      await da?.cleanup().catch(() => undefined);
      await db?.cleanup().catch(() => undefined);
      await lab?.destroy();
    });

    it('connects; ping and TCP between pod addresses; the WAN carries only WireGuard', async () => {
      const cap = await lab.capture(a.wanNs, a.wanIf);
      await da.connect(lab.endpointOf(b, db), lab.nat(a, b));
      await db.connect(lab.endpointOf(a, da), lab.nat(b, a));
      await waitFor(() => lab.ping(a, b.podIP), { timeoutMs: 10_000, what: 'ping through the cable' });
      assert.ok(await lab.ping(a, b.podIP, ['-c', '5', '-i', '0.05', '-W', '1']));
      assert.ok(await lab.ping(b, a.podIP, ['-c', '5', '-i', '0.05', '-W', '1']));
      assert.equal(await tcpTransfer(lab, a, b), 2 * 1024 * 1024);
      const pkts = readPcap(await cap.stop());
      assertOnlyWireGuard(pkts, [a.podIP, b.podIP], 4500);
    });

    it('publishes publicKey, interface-name and udp-port', () => {
      const bc = da.localBackendConfig();
      assert.equal(bc.publicKey, da.publicKey);
      assert.equal(bc['interface-name'], a.ifname);
      assert.equal(bc['udp-port'], '4500');
    });

    it('reports connections from the device: connected, counters, handshake time', async () => {
      const [c] = await da.connections();
      assert.ok(c);
      assert.equal(c.status, 'connected', c.statusMessage);
      assert.equal(c.cableName, lab.endpointOf(b, db).cableName);
      assert.equal(c.usingIP, b.ip);
      assert.ok((c.rxBytes ?? 0) > 0 && (c.txBytes ?? 0) > 0);
      assert.ok(c.lastHandshakeMs !== undefined && Date.now() - c.lastHandshakeMs < 60_000);
    });

    it('connect() with the same peer config makes zero writes', async () => {
      const before = { ...da.stats };
      await da.connect(lab.endpointOf(b, db), lab.nat(a, b));
      assert.deepEqual(da.stats, before);
      assert.deepEqual(await da.plan(), []);
    });

    it('installs routes in table 150 tagged proto 119, and the rule; cleanup removes exactly ours', async () => {
      const routes = await exec('ip', ['-N', '-j', 'route', 'show', 'table', '150'], { netns: a.ns });
      assert.match(routes.stdout, new RegExp(`"dst":"10.2.0.0/16","dev":"${a.ifname}","protocol":"119"[^}]*"prefsrc":"10.1.0.1"`));
      // someone else's route in table 150 survives our cleanup
      await exec('ip', ['route', 'add', '10.77.0.0/16', 'dev', 'eth0', 'table', '150'], { netns: a.ns });
      await da.cleanup();
      const after = await exec('ip', ['-N', '-j', 'route', 'show', 'table', '150'], { netns: a.ns });
      assert.doesNotMatch(after.stdout, /"protocol":"119"/);
      assert.match(after.stdout, /10\.77\.0\.0\/16/);
      const rules = await exec('ip', ['-N', '-j', 'rule', 'show'], { netns: a.ns });
      assert.doesNotMatch(rules.stdout, /"protocol":"119"/);
      const link = await exec('ip', ['link', 'show', 'dev', a.ifname], { netns: a.ns, allowFailure: true });
      assert.notEqual(link.code, 0, 'device removed');
      assert.equal(da.daemonPid, undefined);
    });
  });

  describe('one gateway behind a NAT router (masquerade)', () => {
    let lab: Lab;
    let a: Gw;
    let b: Gw;
    let da: WireGuardDriver;
    let db: WireGuardDriver;

    before(async () => {
      lab = new Lab();
      const w = await lab.wan();
      a = await lab.gateway(w, 1, 'a');
      b = await lab.natGateway(w, 2, 'b');
      da = lab.driver(a);
      db = lab.driver(b);
      await Promise.all([da.init(), db.init()]);
    });
    after(async () => {
      await da?.cleanup().catch(() => undefined);
      await db?.cleanup().catch(() => undefined);
      await lab?.destroy();
    });

    it('connects through the NAT: ping and TCP both ways; the WAN sees WireGuard from the public address only', async () => {
      assert.notEqual(b.ip, b.publicIP);
      const cap = await lab.capture(b.wanNs, b.wanIf);
      await da.connect(lab.endpointOf(b, db), lab.nat(a, b));
      await db.connect(lab.endpointOf(a, da), lab.nat(b, a));
      await waitFor(() => lab.ping(b, a.podIP), { timeoutMs: 10_000, what: 'ping from behind the NAT' });
      assert.ok(await lab.ping(a, b.podIP, ['-c', '5', '-i', '0.05', '-W', '1']), 'ping into the NATed cluster');
      assert.equal(await tcpTransfer(lab, a, b), 2 * 1024 * 1024);
      assert.equal(await tcpTransfer(lab, b, a), 2 * 1024 * 1024);
      const pkts = readPcap(await cap.stop());
      assertOnlyWireGuard(pkts, [a.podIP, b.podIP], 4500);
      assert.equal(pkts.filter((p) => p.src === b.ip || p.dst === b.ip).length, 0, 'the private address never reaches the WAN');
      const [c] = await da.connections();
      assert.equal(c?.status, 'connected');
      assert.equal(c?.usingNAT, true);
      // the peer roamed to the NAT's mapping: reconnecting with the same config must not rewrite it
      const before = { ...da.stats };
      await da.connect(lab.endpointOf(b, db), lab.nat(a, b));
      assert.deepEqual(da.stats, before);
    });
  });

  describe('interop: a hawser gateway and a wireguard-go configured with wg(8) as Submariner does', () => {
    let lab: Lab;
    let a: Gw;
    let p: Gw;
    let da: WireGuardDriver;

    before(async () => {
      lab = new Lab();
      const w = await lab.wan();
      a = await lab.gateway(w, 1, 'a');
      p = await lab.gateway(w, 3, 'p');
      da = lab.driver(a);
      await da.init();
    });
    after(async () => {
      await da?.cleanup().catch(() => undefined);
      await lab?.destroy();
    });

    it('connects to a peer with no hawser code', async () => {
      // the other side: wireguard-go + wg set, psk = sha256(PSK text), keepalive 10, route to our pods
      const wgGo = lab.spawn(p.ns, 'wireguard-go', ['-f', p.ifname]);
      await waitFor(async () => (await exec('wg', ['show', p.ifname], { netns: p.ns, allowFailure: true })).code === 0, { timeoutMs: 5000, what: 'wireguard-go to start' });
      const priv = generatePrivateKey();
      const keyFile = join(lab.stateDir, 'p.key');
      const pskFile = join(lab.stateDir, 'p.psk');
      writeFileSync(keyFile, priv + '\n', { mode: 0o600 });
      writeFileSync(pskFile, presharedKeyFromText(PSK_TEXT) + '\n', { mode: 0o600 });
      await exec('wg', ['set', p.ifname, 'private-key', keyFile, 'listen-port', '4500', 'peer', da.publicKey!, 'preshared-key', pskFile, 'endpoint', `${a.ip}:4500`, 'persistent-keepalive', '10', 'allowed-ips', a.podCidr], { netns: p.ns });
      await exec('ip', ['link', 'set', p.ifname, 'up'], { netns: p.ns });
      await exec('ip', ['route', 'add', a.podCidr, 'dev', p.ifname, 'src', p.podIP], { netns: p.ns });

      const remote = lab.localEndpoint(p, { publicKey: publicKeyOf(priv), 'interface-name': 'submariner', 'udp-port': '4500' });
      await da.connect(remote, lab.nat(a, p));
      await waitFor(() => lab.ping(a, p.podIP), { timeoutMs: 10_000, what: 'ping to the wg(8) peer' });
      assert.ok(await lab.ping(a, p.podIP, ['-c', '3', '-i', '0.05', '-W', '1']));
      const shown = await exec('wg', ['show', p.ifname, 'latest-handshakes'], { netns: p.ns });
      assert.match(shown.stdout, new RegExp(`${da.publicKey!.replace(/[+/]/g, '\\$&')}\\s+[1-9]\\d+`));
      const [c] = await da.connections();
      assert.equal(c?.status, 'connected');
      wgGo.child.kill('SIGTERM');
      await wgGo.exited;
    });
  });
});
