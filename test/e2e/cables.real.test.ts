// End to end, per cable driver, in the lab with the real roles and daemons: a pod on cluster a's worker
// reaches a pod on cluster b's worker (both non-gateway nodes) and back, ICMP and TCP, and what crosses
// the WAN is the driver's encapsulation, never the pods' own packets (for the encrypting drivers).
//
// Matrix (one lab each, < 120 s together): WireGuard behind NAT, VXLAN without NAT, IPsec (libreswan)
// behind NAT. NAT is the harder path for the encrypting drivers (WireGuard endpoint learning, IPsec
// NAT-T / UDP-encapsulated ESP); VXLAN carries no NAT traversal of its own, so it runs on the plain WAN.
// Each lab has one gateway per cluster: standby gateways are covered by the election tests.
import assert from 'node:assert/strict';
import { waitForCables, readGateways, type Lab } from '../../src/lab/index.js';
import type { CableDriverName } from '../../src/config/roles.js';
import { SLOW_LEASE, captureWan, cableStateLines, labFor, missingStableFields, readLog, tcpTransfer } from '../support/lab.js';

interface Variant {
  driver: CableDriverName;
  nat: boolean;
  /** pcap filter for the driver's packets on the WAN. */
  wire: string;
  what: string;
  encrypted: boolean;
}

const A_POD = '10.42.1.2'; // a-wk1-pod1 (a-gw1 is node 0, a-wk1 node 1)
const B_POD = '10.44.1.2'; // b-wk1-pod1
/** ping -p fill pattern ("hawser-e2e-payl"), searched for in the WAN capture. */
const PATTERN = '6861777365722d6532652d7061796c';

const VARIANTS: Variant[] = [
  // WireGuard transport data messages: type 4 followed by three reserved zero bytes.
  { driver: 'wireguard', nat: true, wire: 'udp and udp[8:4] = 0x04000000', what: 'WireGuard transport data (UDP, message type 4)', encrypted: true },
  // VXLAN header: flags 0x08 (VNI valid), VNI 1000 = 0x0003e8 in bytes 4–6.
  { driver: 'vxlan', nat: false, wire: 'udp port 4500 and udp[8:4] = 0x08000000 and udp[12:4] = 0x0003e800', what: 'VXLAN VNI 1000', encrypted: false },
  // ESP (protocol 50) or UDP-encapsulated ESP on 4500 (a non-zero SPI where IKE has its zero marker; not the 1-byte keepalive).
  { driver: 'libreswan', nat: true, wire: 'ip proto 50 or (udp port 4500 and udp[4:2] > 9 and udp[8:4] != 0)', what: 'ESP', encrypted: true },
];

for (const v of VARIANTS) {
  describe(`e2e @real: ${v.driver} cable${v.nat ? ' behind NAT' : ''}, worker pod ↔ worker pod`, function () {
    this.timeout(60_000);
    let lab: Lab | undefined;
    let down = async (): Promise<void> => undefined;
    let cablesUpMs = 0;

    before(async () => {
      ({ lab, down } = await labFor(v.driver, { driver: v.driver, nat: v.nat, gatewaysPerCluster: 1, workersPerCluster: 1, podsPerNode: 1, roleEnv: SLOW_LEASE }));
      const t0 = Date.now();
      await waitForCables(lab, 45_000);
      cablesUpMs = Date.now() - t0;
    });

    after(async () => {
      await down();
    });

    it('pings both ways and moves 1 MiB over TCP both ways', async () => {
      const l = lab!;
      // The first packets may still find the cable warming up (routes on the workers): retry briefly.
      const ok = async (from: string, ip: string): Promise<boolean> => {
        for (let i = 0; i < 10; i++) if ((await l.ping(from, ip)).ok) return true;
        return false;
      };
      assert.ok(await ok('a-wk1-pod1', B_POD), `a-wk1-pod1 → ${B_POD} (cables up after ${cablesUpMs} ms)`);
      assert.ok(await ok('b-wk1-pod1', A_POD), `b-wk1-pod1 → ${A_POD}`);
      const ab = await tcpTransfer(l, 'a-wk1-pod1', 'b-wk1-pod1', B_POD);
      assert.deepEqual([ab.received, ab.intact], [1 << 20, true], `a → b TCP ${JSON.stringify(ab)}`);
      const ba = await tcpTransfer(l, 'b-wk1-pod1', 'a-wk1-pod1', A_POD);
      assert.deepEqual([ba.received, ba.intact], [1 << 20, true], `b → a TCP ${JSON.stringify(ba)}`);
    });

    it(`carries the pods' traffic on the WAN as ${v.what}${v.encrypted ? ', their payload never in clear' : ''}`, async () => {
      const l = lab!;
      const traffic = async (): Promise<void> => {
        await l.exec('a-wk1-pod1', ['ping', '-n', '-c', '5', '-i', '0.05', '-W', '1', '-p', PATTERN, B_POD], { allowFailure: true });
        await l.exec('b-wk1-pod1', ['ping', '-n', '-c', '5', '-i', '0.05', '-W', '1', '-p', PATTERN, A_POD], { allowFailure: true });
      };
      const wire = await captureWan(l, v.wire, traffic, { count: 4, timeoutMs: 5000 });
      assert.ok(wire.lines.length >= 4, `expected ${v.what} on the WAN, saw:\n${wire.lines.join('\n')}`);
      // Pod (and cni0) addresses never appear in an outer IP header on the WAN: everything crosses in the cable.
      const everything = await captureWan(l, 'ip', traffic);
      const podAddressed = everything.lines.filter((x) => /IP 10\.4[2-5]\.|> 10\.4[2-5]\./.test(x));
      assert.deepEqual(podAddressed, [], 'pod-addressed packets on the WAN');
      assert.ok(!everything.lines.some((x) => / ICMP echo/.test(x)), `plain ICMP echo on the WAN:\n${everything.lines.filter((x) => /ICMP/.test(x)).join('\n')}`);
      // The pings' payload pattern: in clear inside VXLAN (the positive control), never inside WireGuard/ESP.
      assert.ok(everything.pcap.length > 24 + 16 * everything.lines.length / 2, `the raw capture holds packets (${everything.pcap.length} B)`);
      const seen = everything.pcap.includes(Buffer.from(PATTERN, 'hex'));
      assert.equal(seen, !v.encrypted, v.encrypted ? 'ping payload visible on the WAN' : 'VXLAN should carry the payload in clear (capture check)');
    });

    it('reports connected in the Gateway status and logs exactly one `cable connected` info line per cable', async () => {
      const l = lab!;
      const [gw] = await readGateways(l.kubeConfig('cluster-a'), 'cluster-a');
      const conn = gw!.connections.find((c) => c.cluster === 'cluster-b');
      assert.equal(conn?.status, 'connected', JSON.stringify(conn));
      assert.equal(conn?.usingNAT, v.nat);
      for (const [node, remote] of [['a-gw1', 'cluster-b'], ['b-gw1', 'cluster-a']] as const) {
        const lines = cableStateLines(readLog(l, `${node}/gateway`), remote);
        assert.deepEqual(lines.map((x) => x.msg), ['cable connected'], `${node}: ${JSON.stringify(lines)}`);
        assert.deepEqual(missingStableFields(lines[0]!), []);
        assert.equal(lines[0]!.driver, v.driver);
      }
    });
  });
}
