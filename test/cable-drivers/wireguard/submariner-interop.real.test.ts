// WireGuard interop with a peer set up only with stock tools (wireguard-go + wg(8)), step by step as
// Submariner's WireGuard driver does it (submariner pkg/cable/wireguard/driver.go at 5b70b1e4):
// - NewDriver: a fresh private key (here `wg genkey`), the device listening on the local udp-port
//   (CE_IPSEC_NATTPORT, 4500), no peers; the public key published as backend_config.publicKey;
// - Init: link up;
// - ConnectToEndpoint: one peer per remote cluster with the key from the remote Endpoint's publicKey,
//   preshared key = sha256(PSK text), endpoint = NAT discovery's IP : the remote's udp-port, persistent
//   keepalive 10 s, allowed IPs = the remote Endpoint's subnets;
// - the route agent's part: routes to the remote subnets over the device with the CNI address as source
//   (Submariner puts them in table 150; the main table does the same here).
// Differences that do not reach the wire: the device is not named `submariner` (a unique name, so parallel
// tests on this host never share wireguard-go's /var/run/wireguard socket), and the keys come from wg(8).
//
// Both configuration orders are run on a flat WAN. Behind a NAT router (masquerade, no port forwarding) only
// the NATed side can start a handshake, so those two cases prove a handshake initiated by each side (hawser
// learning the peer's translated address, and the peer learning hawser's); pings then go both ways.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exec } from '../../../src/util/exec.js';
import { waitFor } from '../../../src/util/wait.js';
import type { WireGuardDriver } from '../../../src/cable-drivers/wireguard/index.js';
import type { EndpointSpec } from '../../../src/k8s/resources.js';
import { Lab, PSK_TEXT, type Gw } from '../../support/wireguard-lab.js';

interface StockPeer {
  publicKey: string;
  endpoint: EndpointSpec;
  connectTo(remote: EndpointSpec, useIP: string): Promise<void>;
}

/** NewDriver + Init of Submariner's driver, with wg(8) on a wireguard-go device. */
async function stockGateway(lab: Lab, g: Gw): Promise<StockPeer> {
  lab.spawn(g.ns, 'wireguard-go', ['-f', g.ifname]);
  await waitFor(async () => (await exec('wg', ['show', g.ifname], { netns: g.ns, allowFailure: true })).code === 0, { timeoutMs: 10_000, what: 'wireguard-go to create the device' });
  const priv = (await exec('wg', ['genkey'])).stdout.trim();
  const publicKey = (await exec('wg', ['pubkey'], { input: `${priv}\n` })).stdout.trim();
  const keyFile = join(lab.stateDir, `${g.name}.key`);
  writeFileSync(keyFile, `${priv}\n`, { mode: 0o600 });
  await exec('wg', ['set', g.ifname, 'private-key', keyFile, 'listen-port', '4500'], { netns: g.ns });
  await exec('ip', ['link', 'set', g.ifname, 'up'], { netns: g.ns });
  const endpoint = lab.localEndpoint(g, { publicKey, 'interface-name': 'submariner', 'udp-port': '4500', 'natt-discovery-port': '4490', 'preferred-server': 'false' });
  return {
    publicKey,
    endpoint,
    async connectTo(remote, useIP) {
      const pskFile = join(lab.stateDir, `${g.name}.psk`);
      writeFileSync(pskFile, `${createHash('sha256').update(PSK_TEXT).digest('base64')}\n`, { mode: 0o600 });
      const port = remote.backendConfig['udp-port'] ?? '4500';
      await exec('wg', ['set', g.ifname, 'peer', remote.backendConfig.publicKey ?? '', 'preshared-key', pskFile, 'endpoint', `${useIP}:${port}`,
        'persistent-keepalive', '10', 'allowed-ips', remote.subnets.join(',')], { netns: g.ns });
      for (const subnet of remote.subnets) await exec('ip', ['route', 'replace', subnet, 'dev', g.ifname, 'src', g.podIP], { netns: g.ns });
    },
  };
}

async function latestHandshake(g: Gw, peerKey: string): Promise<number> {
  const out = (await exec('wg', ['show', g.ifname, 'latest-handshakes'], { netns: g.ns })).stdout;
  const line = out.split('\n').find((l) => l.startsWith(peerKey));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

describe('WireGuard interop: a wireguard-go + wg(8) peer set up as Submariner\'s driver does @real', function () {
  this.timeout(60_000);
  let lab: Lab;
  let da: WireGuardDriver | undefined;
  afterEach(async () => {
    await da?.cleanup().catch(() => undefined);
    da = undefined;
    await lab?.destroy();
  });

  for (const first of ['submariner', 'hawser'] as const) {
    it(`${first} side configured first, then the other; handshake and pings both ways`, async () => {
      lab = new Lab();
      const w = await lab.wan();
      const a = await lab.gateway(w, 1, 'a');
      const s = await lab.gateway(w, 4, 's');
      da = lab.driver(a);
      await da.init();
      const peer = await stockGateway(lab, s);
      // What each side reads from the other's Endpoint (hawser's comes from what its driver publishes).
      const hawserEndpoint = lab.endpointOf(a, da);
      assert.equal(hawserEndpoint.backendConfig.publicKey, da.publicKey);
      const connectHawser = (): Promise<void> => da!.connect(peer.endpoint, lab.nat(a, s));
      const connectStock = (): Promise<void> => peer.connectTo(hawserEndpoint, lab.nat(s, a).useIP);
      if (first === 'submariner') {
        await connectStock();
        await connectHawser();
      } else {
        await connectHawser();
        await connectStock();
      }
      await expectCable(lab, a, s, da, peer);
    });
  }

  // Behind a NAT router (masquerade, no port forwarding) only the NATed side can start the handshake: it is
  // configured second, so it initiates at once; the other side learns its translated address from it.
  for (const behindNat of ['hawser', 'submariner'] as const) {
    it(`${behindNat} behind a NAT router: it initiates, the other side learns its public address; pings both ways`, async () => {
      lab = new Lab();
      const w = await lab.wan();
      const a = behindNat === 'hawser' ? await lab.natGateway(w, 1, 'a') : await lab.gateway(w, 1, 'a');
      const s = behindNat === 'submariner' ? await lab.natGateway(w, 4, 's') : await lab.gateway(w, 4, 's');
      da = lab.driver(a);
      await da.init();
      const peer = await stockGateway(lab, s);
      const hawserEndpoint = lab.endpointOf(a, da);
      if (behindNat === 'hawser') {
        await peer.connectTo(hawserEndpoint, lab.nat(s, a).useIP);
        await da.connect(peer.endpoint, lab.nat(a, s));
      } else {
        await da.connect(peer.endpoint, lab.nat(a, s));
        await peer.connectTo(hawserEndpoint, lab.nat(s, a).useIP);
      }
      await expectCable(lab, a, s, da, peer);
    });
  }
});

async function expectCable(lab: Lab, a: Gw, s: Gw, da: WireGuardDriver, peer: StockPeer): Promise<void> {
  await waitFor(async () => (await latestHandshake(s, da.publicKey!)) > 0, { timeoutMs: 15_000, what: 'a WireGuard handshake between hawser and the wg(8) peer' });
  await waitFor(() => lab.ping(a, s.podIP), { timeoutMs: 10_000, what: 'ping from hawser\'s pod address to the peer\'s' });
  assert.ok(await lab.ping(a, s.podIP, ['-c', '3', '-i', '0.05', '-W', '1']), 'hawser → peer');
  assert.ok(await lab.ping(s, a.podIP, ['-c', '3', '-i', '0.05', '-W', '1']), 'peer → hawser');
  const conns = await da.connections();
  assert.equal(conns.find((c) => c.endpoint.cableName === peer.endpoint.cableName)?.status, 'connected');
}
