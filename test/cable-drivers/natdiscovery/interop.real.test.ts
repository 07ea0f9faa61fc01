// NAT discovery between hawser behind a NAT router and a Submariner-like peer (built only from Submariner's
// natdiscovery.proto, see submariner-peer.ts) on the WAN, in network namespaces, for the 0.19 and the 2025 id
// forms: each side discovers the other, and both see the NAT.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { exec } from '../../../src/util/exec.js';
import { NetnsHarness } from '../../support/netns.js';

const here = dirname(fileURLToPath(import.meta.url));
const HAWSER = resolve(here, 'fixture.ts');
const PEER = resolve(here, 'submariner-peer-main.ts');
const REPO = resolve(here, '../../..');

const hawserEp = {
  cluster_id: 'hawser', cable_name: 'submariner-cable-hawser-10-88-1-10', hostname: 'gw-h', subnets: ['10.1.0.0/16'],
  private_ip: '10.88.1.10', public_ip: '203.0.113.1', nat_enabled: true, backend: 'libreswan', backend_config: { 'natt-discovery-port': '4490' },
};
const peerEp = {
  cluster_id: 'sub', cable_name: 'submariner-cable-sub-203-0-113-2', hostname: 'gw-s', subnets: ['10.2.0.0/16'],
  private_ip: '203.0.113.2', public_ip: '203.0.113.2', nat_enabled: false, backend: 'libreswan', backend_config: { 'natt-discovery-port': '4490' },
};

describe('natdiscovery: interop through a NAT router with a Submariner peer built from natdiscovery.proto @real', function () {
  this.timeout(40_000);
  let lab: NetnsHarness;
  beforeEach(() => {
    lab = new NetnsHarness();
  });
  afterEach(async () => {
    await lab.cleanup();
  });

  for (const version of ['0.19', '2025'] as const) {
    it(`Submariner ${version}: hawser behind NAT and the peer discover each other, both with NAT`, async () => {
      const h = await lab.ns('hw-ndi');
      const r = await lab.ns('hw-ndi');
      const s = await lab.ns('hw-ndi');
      await lab.link(h, 'lan0', '10.88.1.10/24', r, 'lan0', '10.88.1.1/24');
      await lab.link(r, 'wan0', '203.0.113.1/24', s, 'wan0', '203.0.113.2/24');
      await lab.ip(h, 'route', 'add', 'default', 'via', '10.88.1.1');
      await lab.run(r, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      // masquerade out of the WAN, forward UDP 4490 to hawser (the port forwarding Submariner documents)
      await exec('nft', ['-f', '-'], { netns: r, input: `table ip hwnat {
  chain pre { type nat hook prerouting priority dstnat; iifname "wan0" udp dport 4490 dnat to 10.88.1.10; }
  chain post { type nat hook postrouting priority srcnat; oifname "wan0" masquerade; }
}
` });
      const peer = lab.spawn(s, process.execPath, ['--import', 'tsx', PEER, JSON.stringify({
        version, bindIP: '203.0.113.2', port: 4490,
        local: { clusterId: 'sub', cableName: peerEp.cable_name, privateIP: '203.0.113.2', publicIP: '203.0.113.2' },
        remote: { clusterId: 'hawser', cableName: hawserEp.cable_name, privateIP: '10.88.1.10', publicIP: '203.0.113.1', nattDiscoveryPort: 4490 },
      })], { cwd: REPO });
      await peer.line(/"ready"/, 15_000);
      const hawser = lab.spawn(h, process.execPath, ['--import', 'tsx', HAWSER, JSON.stringify({ local: hawserEp, remotes: [peerEp], timings: { probeIntervalMs: 200, privateGraceMs: 400 } })], { cwd: REPO });
      const hd = JSON.parse(await hawser.line(/"decided"/, 20_000)) as { info: unknown; source: string };
      // The peer's address is both its private and public IP; our requests were masqueraded: NAT.
      assert.deepEqual(hd.info, { useIP: '203.0.113.2', useNAT: true });
      const pd = JSON.parse(await peer.line(/"decided"/, 20_000)) as { info: unknown; errors: string[] };
      // hawser's private IP is unreachable from the WAN; its public IP answers (DNAT seen: NAT_DETECTED).
      assert.deepEqual(pd.info, { useIP: '203.0.113.1', useNAT: true });
      assert.deepEqual(pd.errors, []);
      const want = version === '2025' ? `${peerEp.cable_name}-v4` : peerEp.cable_name;
      // hawser got its answer from the peer, so the peer has received a request in the form it accepts.
      await peer.line(new RegExp(`"asked","id":"${want}"`), 5000);
    });
  }
});
