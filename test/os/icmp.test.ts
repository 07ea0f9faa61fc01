// The in-process prober's packets: echo request encoding, decoding what a raw ICMP socket reads (IP header
// first), and the socket filter, run here by a small classic-BPF interpreter over the same packets.
import assert from 'node:assert/strict';
import { decodeIcmpV4, echoFilterProgram, echoRequest, icmpErrorText, internetChecksum, setEchoSequence } from '../../src/os/icmp-packet.js';

/** An IPv4 header (no options unless `ihl` > 5) + payload, checksummed, protocol ICMP. */
function ipv4(src: string, dst: string, payload: Buffer, ihl = 5): Buffer {
  const h = Buffer.alloc(ihl * 4);
  h[0] = 0x40 | ihl;
  h.writeUInt16BE(h.length + payload.length, 2);
  h[8] = 64;
  h[9] = 1;
  Buffer.from(src.split('.').map(Number)).copy(h, 12);
  Buffer.from(dst.split('.').map(Number)).copy(h, 16);
  h.writeUInt16BE(internetChecksum(h), 10);
  return Buffer.concat([h, payload]);
}

/** The echo reply a target sends back for `request`: same identifier, sequence and data. */
function replyTo(request: Buffer): Buffer {
  const r = Buffer.from(request);
  r[0] = 0;
  r.writeUInt16BE(0, 2);
  r.writeUInt16BE(internetChecksum(r), 2);
  return r;
}

/** An ICMP error (type, code) quoting `datagram`'s header and first 8 bytes of payload, as routers send. */
function icmpError(type: number, code: number, datagram: Buffer): Buffer {
  const ihl = (datagram[0]! & 0x0f) * 4;
  const e = Buffer.concat([Buffer.alloc(8), datagram.subarray(0, ihl + 8)]);
  e[0] = type;
  e[1] = code;
  e.writeUInt16BE(internetChecksum(e), 2);
  return e;
}

/** Classic BPF, just the instructions the filter uses (ld/ldx/jeq/ret); returns the accepted length. */
function runBpf(prog: Buffer, pkt: Buffer): number {
  let a = 0;
  let x = 0;
  for (let pc = 0; pc < prog.length / 8; pc++) {
    const code = prog.readUInt16LE(pc * 8);
    const jt = prog[pc * 8 + 2]!;
    const jf = prog[pc * 8 + 3]!;
    const k = prog.readUInt32LE(pc * 8 + 4);
    const need = (off: number, n: number): void => {
      if (off + n > pkt.length) throw new Error('out of packet');
    };
    switch (code) {
      case 0xb1: need(k, 1); x = 4 * (pkt[k]! & 0x0f); break; // ldxb 4*([k]&0xf)
      case 0x50: need(x + k, 1); a = pkt[x + k]!; break; // ldb [x+k]
      case 0x48: need(x + k, 2); a = pkt.readUInt16BE(x + k); break; // ldh [x+k]
      case 0x15: pc += a === k ? jt : jf; break; // jeq #k
      case 0x06: return k; // ret #k
      default: throw new Error(`opcode ${code.toString(16)} not modelled`);
    }
  }
  throw new Error('fell off the program');
}
const accepts = (prog: Buffer, pkt: Buffer): boolean => {
  try {
    return runBpf(prog, pkt) > 0;
  } catch {
    return false; // a load past the end aborts a classic BPF program with 0: dropped
  }
};

describe('os/icmp: echo packets', () => {
  it('computes the Internet checksum (RFC 1071 example) and odd lengths', () => {
    // RFC 1071 section 3: 0001 f203 f4f5 f6f7 sums to ddf2, checksum 220d
    assert.equal(internetChecksum(Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])), 0x220d);
    assert.equal(internetChecksum(Buffer.from([0x01])), ~0x0100 & 0xffff);
  });

  it('encodes a 64-byte echo request whose checksum verifies, and restamps the sequence', () => {
    const b = echoRequest(0x1234, 7);
    assert.equal(b.length, 64);
    assert.deepEqual([b[0], b[1], b.readUInt16BE(4), b.readUInt16BE(6)], [8, 0, 0x1234, 7]);
    assert.equal(internetChecksum(b), 0);
    setEchoSequence(b, 65535 + 3);
    assert.equal(b.readUInt16BE(6), 2, 'wraps at 16 bits');
    assert.equal(internetChecksum(b), 0);
  });

  it('decodes an echo reply after the IP header (with and without IP options)', () => {
    const req = echoRequest(0xbeef, 42);
    for (const ihl of [5, 7]) {
      const pkt = ipv4('10.52.0.1', '10.42.0.1', replyTo(req), ihl);
      assert.deepEqual(decodeIcmpV4(pkt, 0, pkt.length), { kind: 'reply', from: 0x0a340001, ident: 0xbeef, seq: 42 });
    }
    // at an offset inside a larger receive buffer
    const pkt = ipv4('10.52.0.1', '10.42.0.1', replyTo(req));
    const big = Buffer.concat([Buffer.alloc(100, 0xaa), pkt, Buffer.alloc(30)]);
    assert.equal(decodeIcmpV4(big, 100, pkt.length)?.kind, 'reply');
  });

  it('decodes ICMP errors quoting our echo request: who sent it, what it says, which probe', () => {
    const sent = ipv4('10.42.0.1', '10.99.0.1', echoRequest(0xbeef, 9));
    for (const [type, code, text] of [[3, 1, 'ICMP Host Unreachable'], [3, 0, 'ICMP Network Unreachable'], [11, 0, 'ICMP Time Exceeded in transit'], [3, 13, 'ICMP Unreachable (Communication Administratively Prohibited)']] as const) {
      const pkt = ipv4('192.168.77.2', '10.42.0.1', icmpError(type, code, sent));
      assert.deepEqual(decodeIcmpV4(pkt, 0, pkt.length), { kind: 'error', from: 0xc0a84d02, type, code, ident: 0xbeef, seq: 9, to: 0x0a630001 });
      assert.equal(icmpErrorText(type, code), text);
    }
  });

  it('a "fragmentation needed" carries the next hop\'s MTU; a DF probe may be any size', () => {
    const big = echoRequest(0xbeef, 3, 1472);
    assert.equal(big.length, 1480);
    assert.equal(internetChecksum(big), 0);
    const sent = ipv4('10.42.0.1', '10.99.0.1', big);
    const err = icmpError(3, 4, sent);
    err.writeUInt16BE(1300, 6);
    err.writeUInt16BE(0, 2);
    err.writeUInt16BE(internetChecksum(err), 2);
    const pkt = ipv4('192.168.77.2', '10.42.0.1', err);
    assert.deepEqual(decodeIcmpV4(pkt, 0, pkt.length), { kind: 'error', from: 0xc0a84d02, type: 3, code: 4, ident: 0xbeef, seq: 3, to: 0x0a630001, mtu: 1300 });
  });

  it('ignores what is not ours to read: echo requests, other types, corrupt or truncated packets, non-ICMP', () => {
    const req = echoRequest(0xbeef, 1);
    const incoming = ipv4('10.52.0.1', '10.42.0.1', req);
    assert.equal(decodeIcmpV4(incoming, 0, incoming.length), undefined, 'an echo request to us');
    const reply = ipv4('10.52.0.1', '10.42.0.1', replyTo(req));
    const corrupt = Buffer.from(reply);
    corrupt[30] = corrupt[30]! ^ 0xff;
    assert.equal(decodeIcmpV4(corrupt, 0, corrupt.length), undefined, 'bad ICMP checksum');
    assert.equal(decodeIcmpV4(reply, 0, 24), undefined, 'truncated');
    const udp = Buffer.from(reply);
    udp[9] = 17;
    assert.equal(decodeIcmpV4(udp, 0, udp.length), undefined, 'not ICMP');
    const quotedUdp = ipv4('10.42.0.1', '10.99.0.1', Buffer.alloc(8));
    quotedUdp[9] = 17;
    const err = ipv4('192.168.77.2', '10.42.0.1', icmpError(3, 3, quotedUdp));
    assert.equal(decodeIcmpV4(err, 0, err.length), undefined, 'an error about a UDP datagram');
  });
});

describe('os/icmp: socket filter', () => {
  const prog = echoFilterProgram(0xbeef);
  const sent = ipv4('10.42.0.1', '10.99.0.1', echoRequest(0xbeef, 9));
  const theirs = ipv4('10.42.0.1', '10.99.0.1', echoRequest(0x0101, 9));

  it('passes our echo replies and errors about our probes', () => {
    assert.ok(accepts(prog, ipv4('10.52.0.1', '10.42.0.1', replyTo(echoRequest(0xbeef, 3)))));
    assert.ok(accepts(prog, ipv4('10.52.0.1', '10.42.0.1', replyTo(echoRequest(0xbeef, 3)), 6)), 'IP options on the reply');
    assert.ok(accepts(prog, ipv4('192.168.77.2', '10.42.0.1', icmpError(3, 1, sent))));
    assert.ok(accepts(prog, ipv4('192.168.77.2', '10.42.0.1', icmpError(11, 0, sent))));
  });

  it("drops other processes' replies and errors, echo requests to this host, and other ICMP", () => {
    assert.equal(accepts(prog, ipv4('10.52.0.1', '10.42.0.1', replyTo(echoRequest(0x0101, 3)))), false);
    assert.equal(accepts(prog, ipv4('192.168.77.2', '10.42.0.1', icmpError(3, 1, theirs))), false);
    assert.equal(accepts(prog, ipv4('10.52.0.1', '10.42.0.1', echoRequest(0xbeef, 3))), false, 'a remote health check pinging us');
    const redirect = icmpError(5, 1, sent);
    assert.equal(accepts(prog, ipv4('192.168.77.2', '10.42.0.1', redirect)), false);
    assert.equal(accepts(prog, ipv4('192.168.77.2', '10.42.0.1', Buffer.alloc(4))), false, 'truncated');
  });

  it('is encoded as struct sock_filter: 8 bytes per instruction, ending in ret', () => {
    assert.equal(prog.length % 8, 0);
    assert.equal(prog.readUInt16LE(prog.length - 8), 0x06);
  });
});
