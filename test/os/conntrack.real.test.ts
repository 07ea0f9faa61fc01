// ctnetlink through NfnlSocket: the encoders and parser (pure), then a dump and a delete against the kernel in
// a namespace of the test's own (a ct rule there turns conntrack on; the traffic is a ping to its loopback).
import assert from 'node:assert/strict';
import { ipv4ToInt } from '../../src/net/cidr.js';
import { createNetns, deleteNetns, uniqueName } from '../../src/os/netns.js';
import { encodeConntrackDelete, encodeConntrackDump, parseConntrackDump, type CtEntry } from '../../src/os/nftables/conntrack.js';
import { NfnlSocket } from '../../src/os/nftables/nfnl-socket.js';
import { exec } from '../../src/util/exec.js';
import { canUseNetns } from '../support/netns.js';

describe('os/nftables conntrack (ctnetlink) encoding', () => {
  it('a dump request is one CT_GET with NLM_F_DUMP for IPv4', () => {
    const b = encodeConntrackDump(7);
    assert.equal(b.readUInt32LE(0), b.length);
    assert.equal(b.readUInt16LE(4), (1 << 8) | 1);
    assert.equal(b.readUInt16LE(6) & 0x300, 0x300);
    assert.equal(b.readUInt32LE(8), 7);
    assert.equal(b[16], 2);
  });

  it('a delete names the original tuple (addresses, protocol, ICMP id/type/code or ports) and reads back as it was written', () => {
    const icmp = { src: '10.42.2.2', dst: '242.0.255.251', proto: 1, icmpId: 26368, icmpType: 8, icmpCode: 0 };
    const tcp = { src: '10.42.2.2', dst: '242.0.0.9', proto: 6, srcPort: 40000, dstPort: 443 };
    for (const orig of [icmp, tcp]) {
      const del = encodeConntrackDelete(orig, 0, 9);
      assert.equal(del.readUInt16LE(4), (1 << 8) | 2);
      assert.equal(del.readUInt16LE(6), 0x1 | 0x4);
      // The same attributes as a CT_NEW dump reply (orig and, for the parser, the same tuple as reply), then DONE.
      const reply = Buffer.from(del);
      reply.writeUInt16LE((1 << 8) | 0, 4);
      const tuple = reply.subarray(20);
      const asReply = Buffer.from(tuple);
      asReply.writeUInt16LE((asReply.readUInt16LE(2) & 0x8000) | 2, 2);
      const msg = Buffer.concat([reply, asReply]);
      msg.writeUInt32LE(msg.length, 0);
      const done = Buffer.alloc(20);
      done.writeUInt32LE(20, 0);
      done.writeUInt16LE(3, 4);
      done.writeUInt32LE(9, 8);
      const chunk = parseConntrackDump(Buffer.concat([msg, done]), 9);
      assert.equal(chunk.done, true);
      assert.deepEqual(chunk.entries, [{ orig, reply: orig, zone: 0 }]);
    }
  });
});

describe('os/nftables conntrack against the kernel @real', function () {
  this.timeout(30_000);
  let ns = '';
  before(async function () {
    if (!canUseNetns()) this.skip();
    ns = uniqueName('hw-ct');
    await createNetns(ns);
    await exec('nft', ['-f', '-'], { netns: ns, input: 'table ip hwct {\n chain out { type filter hook output priority 0; ct state new counter; }\n}\n' });
  });
  after(async () => {
    if (ns) await deleteNetns(ns);
  });

  it('dumps the entry a ping made, deletes it by its original tuple, and a second delete finds nothing', async () => {
    await exec('ping', ['-n', '-c', '1', '-W', '1', '127.0.0.1'], { netns: ns });
    const sock = NfnlSocket.open(ns);
    if ('unavailable' in sock) throw new Error(sock.unavailable);
    try {
      const mine = (es: readonly CtEntry[]): CtEntry[] => es.filter((e) => e.orig.proto === 1 && e.orig.dst === '127.0.0.1');
      const found = mine(await sock.dumpConntrack());
      assert.equal(found.length, 1, 'the ping left one ICMP entry');
      assert.equal(found[0]!.reply.dst, '127.0.0.1');
      assert.equal(typeof found[0]!.orig.icmpId, 'number');
      assert.equal(await sock.deleteConntrack(found), 1);
      assert.deepEqual(mine(await sock.dumpConntrack()), []);
      assert.equal(await sock.deleteConntrack(found), 0, 'already gone is not an error');
    } finally {
      sock.close();
    }
  });

  it('a dump of thousands of entries spans many reads; `keep` keeps only the entries passing it', async () => {
    // 3,000 UDP flows to loopback ports, 20 of them to 127.0.0.2, sent by one process in the namespace
    await exec(process.execPath, ['-e', UDP_FLOWS, '3000', '20'], { netns: ns });
    const sock = NfnlSocket.open(ns);
    if ('unavailable' in sock) throw new Error(sock.unavailable);
    try {
      const all = (await sock.dumpConntrack()).filter((e) => e.orig.proto === 17);
      assert.ok(all.length >= 3000, `${all.length} UDP entries`);
      const second = ipv4ToInt('127.0.0.2');
      const kept = await sock.dumpConntrack((a) => a.origDst === second);
      assert.equal(kept.length, 20);
      assert.ok(kept.every((e) => e.orig.proto === 17 && e.orig.dst === '127.0.0.2'));
      assert.deepEqual(kept.map((e) => e.orig.dstPort).sort((a, b) => a! - b!), Array.from({ length: 20 }, (_, i) => 20000 + i));
    } finally {
      sock.close();
    }
  });
});

/** argv: total flows, how many of them go to 127.0.0.2 (ports 20000…); the rest to 127.0.0.1 ports 10000…. */
const UDP_FLOWS = `
const dgram = require('node:dgram');
const [total, second] = process.argv.slice(1).map(Number);
const s = dgram.createSocket('udp4');
let i = 0;
const next = () => {
  if (i === total) return s.close();
  const to = i < second ? ['127.0.0.2', 20000 + i] : ['127.0.0.1', 10000 + i];
  i++;
  s.send('x', to[1], to[0], next);
};
next();
`;
