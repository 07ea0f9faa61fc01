// A gateway behind a NAT router finds its public IP through an `api:` resolver served inside the test's
// namespaces (a tiny HTTP server that answers the caller's source address), and one without NAT is told
// that what it found is its private IP. Nothing leaves the namespaces this test creates.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { exec } from '../../src/util/exec.js';
import type { PublicIpAssessment, PublicIpResult } from '../../src/gateway/public-ip.js';
import { NetnsHarness } from '../support/netns.js';

const here = dirname(fileURLToPath(import.meta.url));
const FIXTURE = resolve(here, 'fixtures/resolve-public-ip.ts');
const REPO = resolve(here, '../..');
// The "what is my IP" service: answers every GET with the address the request came from.
const ECHO_SERVER = `require('http').createServer((q, s) => s.end('your address: ' + q.socket.remoteAddress.replace(/^::ffff:/, '') + '\\n'))
  .listen(8080, process.argv[1], () => console.log('listening'));`;

describe('gateway: public IP through an api: resolver in namespaces @real', function () {
  this.timeout(40_000);
  let lab: NetnsHarness;
  let gw: string;
  beforeEach(async () => {
    lab = new NetnsHarness();
    // gw (10.88.1.10) ── lan ── router (masquerade) ── wan 203.0.113.0/24 ── internet (203.0.113.2, echo server)
    gw = await lab.ns('hw-pip');
    const router = await lab.ns('hw-pip');
    const internet = await lab.ns('hw-pip');
    await lab.link(gw, 'lan0', '10.88.1.10/24', router, 'lan0', '10.88.1.1/24');
    await lab.link(router, 'wan0', '203.0.113.1/24', internet, 'wan0', '203.0.113.2/24');
    await lab.ip(gw, 'route', 'add', 'default', 'via', '10.88.1.1');
    // A second path without NAT, for the "private IP found" case: gw also sits on the internet's LAN.
    await lab.link(gw, 'flat0', '198.51.100.10/24', internet, 'flat0', '198.51.100.2/24');
    await lab.run(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await exec('nft', ['-f', '-'], { netns: router, input: 'table ip hwpip {\n chain post { type nat hook postrouting priority srcnat; oifname "wan0" masquerade; }\n}\n' });
    const server = lab.spawn(internet, process.execPath, ['-e', ECHO_SERVER, '0.0.0.0']);
    await server.line(/listening/, 10_000);
  });
  afterEach(async () => {
    await lab.cleanup();
  });

  async function resolveIn(ns: string, chain: string, airGapped: boolean, privateIP: string): Promise<{ result: PublicIpResult; assessment: PublicIpAssessment }> {
    const p = lab.spawn(ns, process.execPath, ['--import', 'tsx', FIXTURE, JSON.stringify({ chain, airGapped, privateIP })], { cwd: REPO });
    return JSON.parse(await p.line(/^\{/, 20_000)) as { result: PublicIpResult; assessment: PublicIpAssessment };
  }

  it('behind the NAT router: the router\'s WAN address, after a failing resolver in the chain', async () => {
    const { result, assessment } = await resolveIn(gw, 'api:http://203.0.113.2:8081/ip,api:http://203.0.113.2:8080/ip', false, '10.88.1.10');
    assert.equal(result.ip, '203.0.113.1');
    assert.deepEqual(result.via, { kind: 'api', value: 'http://203.0.113.2:8080/ip' });
    assert.match(result.failures[0] ?? '', /^api:http:\/\/203\.0\.113\.2:8081\/ip: /);
    assert.equal(assessment.level, 'info');
  });

  it('without NAT on the path: the private IP comes back, and it is said (warning + status)', async () => {
    const { result, assessment } = await resolveIn(gw, 'api:http://198.51.100.2:8080/ip', false, '198.51.100.10');
    assert.equal(result.ip, '198.51.100.10');
    assert.equal(assessment.level, 'warn');
    assert.match(assessment.status ?? '', /is this node's private IP/);
  });

  it('air-gapped: the reachable api: resolver is not asked; without a literal the public IP is empty, and it is said', async () => {
    const { result, assessment } = await resolveIn(gw, 'api:http://203.0.113.2:8080/ip', true, '10.88.1.10');
    assert.equal(result.ip, '');
    assert.equal(assessment.level, 'warn');
    assert.match(assessment.status ?? '', /publishing an empty public IP/);
  });
});
