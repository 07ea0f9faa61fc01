// NAT discovery between gateways in network namespaces, directly and through nftables NAT routers.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { exec } from '../../../src/util/exec.js';
import { NetnsHarness, type NetnsProc } from '../../support/netns.js';

const here = dirname(fileURLToPath(import.meta.url));
const FIXTURE = resolve(here, 'fixture.ts');
const REPO = resolve(here, '../../..');
// Short probe/grace periods keep the test quick; the decision rules are the same.
const TIMINGS = { probeIntervalMs: 200, privateGraceMs: 400, fallbackMs: 20_000 };

interface Ep {
  cluster: string;
  privateIP: string;
  publicIP: string;
  nat: boolean;
}

function wire(e: Ep): Record<string, unknown> {
  return {
    cluster_id: e.cluster,
    cable_name: `submariner-cable-${e.cluster}-${e.privateIP.replace(/\./g, '-')}`,
    hostname: `gw-${e.cluster}`,
    subnets: ['10.0.0.0/16'],
    private_ip: e.privateIP,
    public_ip: e.publicIP,
    nat_enabled: e.nat,
    backend: 'vxlan',
    backend_config: { 'natt-discovery-port': '4490' },
  };
}

function startGateway(lab: NetnsHarness, ns: string, local: Ep, remote: Ep): NetnsProc {
  const cfg = JSON.stringify({ local: wire(local), remotes: [wire(remote)], timings: TIMINGS });
  return lab.spawn(ns, process.execPath, ['--import', 'tsx', FIXTURE, cfg], { cwd: REPO });
}

async function decision(p: NetnsProc): Promise<{ info: { useIP: string; useNAT: boolean }; source: string }> {
  const l = await p.line(/"event":"decided"/, 15_000);
  return JSON.parse(l) as { info: { useIP: string; useNAT: boolean }; source: string };
}

/** A NAT router: masquerades what leaves `out`, forwards UDP 4490 arriving on `out` to `host`. */
async function natRouter(lab: NetnsHarness, ns: string, out: string, host: string): Promise<void> {
  await lab.run(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  const rules = `table ip hwnat {
  chain pre { type nat hook prerouting priority dstnat; iifname "${out}" udp dport 4490 dnat to ${host}; }
  chain post { type nat hook postrouting priority srcnat; oifname "${out}" masquerade; }
}
`;
  await exec('nft', ['-f', '-'], { netns: ns, input: rules });
}

describe('natdiscovery: between network namespaces @real', function () {
  this.timeout(40_000);
  let lab: NetnsHarness;
  beforeEach(() => {
    lab = new NetnsHarness();
  });
  afterEach(async () => {
    await lab.cleanup();
  });

  it('same network, public IPs reachable too: both prefer the private IP, without NAT', async () => {
    const a = await lab.ns('hw-nd');
    const b = await lab.ns('hw-nd');
    await lab.link(a, 'wan0', '10.77.0.1/24', b, 'wan0', '10.77.0.2/24');
    await lab.ip(a, 'addr', 'add', '10.77.1.1/24', 'dev', 'wan0');
    await lab.ip(b, 'addr', 'add', '10.77.1.2/24', 'dev', 'wan0');
    const epA: Ep = { cluster: 'a', privateIP: '10.77.0.1', publicIP: '10.77.1.1', nat: false };
    const epB: Ep = { cluster: 'b', privateIP: '10.77.0.2', publicIP: '10.77.1.2', nat: false };
    const pa = startGateway(lab, a, epA, epB);
    const pb = startGateway(lab, b, epB, epA);
    assert.deepEqual((await decision(pa)).info, { useIP: '10.77.0.2', useNAT: false });
    assert.deepEqual((await decision(pb)).info, { useIP: '10.77.0.1', useNAT: false });
    assert.equal(pa.lines.filter((l) => l.includes('decided')).length, 1);
  });

  it('one gateway behind a NAT router (masquerade + DNAT): public IP with NAT towards it', async () => {
    const a = await lab.ns('hw-nd');
    const r = await lab.ns('hw-nd');
    const b = await lab.ns('hw-nd');
    await lab.link(a, 'lan0', '10.88.1.10/24', r, 'lan0', '10.88.1.1/24');
    await lab.link(r, 'wan0', '203.0.113.1/24', b, 'wan0', '203.0.113.2/24');
    await lab.ip(a, 'route', 'add', 'default', 'via', '10.88.1.1');
    await natRouter(lab, r, 'wan0', '10.88.1.10');
    const epA: Ep = { cluster: 'a', privateIP: '10.88.1.10', publicIP: '203.0.113.1', nat: true };
    const epB: Ep = { cluster: 'b', privateIP: '203.0.113.2', publicIP: '203.0.113.2', nat: false };
    const pa = startGateway(lab, a, epA, epB);
    const pb = startGateway(lab, b, epB, epA);
    const db = await decision(pb);
    assert.deepEqual(db, { event: 'decided', cable: 'submariner-cable-a-10-88-1-10', info: { useIP: '203.0.113.1', useNAT: true }, source: 'public-answer' });
    const da = await decision(pa);
    assert.deepEqual(da.info, { useIP: '203.0.113.2', useNAT: true });
  });

  it('both gateways behind NAT routers: both use the public IP with NAT', async () => {
    const a = await lab.ns('hw-nd');
    const ra = await lab.ns('hw-nd');
    const rb = await lab.ns('hw-nd');
    const b = await lab.ns('hw-nd');
    await lab.link(a, 'lan0', '10.88.1.10/24', ra, 'lan0', '10.88.1.1/24');
    await lab.link(ra, 'wan0', '203.0.113.1/24', rb, 'wan0', '203.0.113.2/24');
    await lab.link(rb, 'lan0', '10.89.2.1/24', b, 'lan0', '10.89.2.20/24');
    await lab.ip(a, 'route', 'add', 'default', 'via', '10.88.1.1');
    await lab.ip(b, 'route', 'add', 'default', 'via', '10.89.2.1');
    await natRouter(lab, ra, 'wan0', '10.88.1.10');
    await natRouter(lab, rb, 'wan0', '10.89.2.20');
    const epA: Ep = { cluster: 'a', privateIP: '10.88.1.10', publicIP: '203.0.113.1', nat: true };
    const epB: Ep = { cluster: 'b', privateIP: '10.89.2.20', publicIP: '203.0.113.2', nat: true };
    const pa = startGateway(lab, a, epA, epB);
    const pb = startGateway(lab, b, epB, epA);
    assert.deepEqual((await decision(pa)).info, { useIP: '203.0.113.2', useNAT: true });
    assert.deepEqual((await decision(pb)).info, { useIP: '203.0.113.1', useNAT: true });
  });
});
