import assert from 'node:assert/strict';
import { isHawserError } from '../../../src/util/errors.js';
import {
  NetlinkClient, WgErrnoError, ZERO_KEY, type GenlReply, type GenlTransport,
} from '../../../src/cable-drivers/wireguard/wgctrl/index.js';
import { K1, K2, K3, PSK } from './fixtures.js';

// Netlink attributes built by hand (not with the package under test).
const NESTED = 0x8000;
const pad4 = (n: number): number => (4 - (n % 4)) % 4;

/** One attribute; `padded` appends the alignment bytes (the kernel always does; the package not after the last). */
function nla(type: number, payload: Buffer, padded = true): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16LE(4 + payload.length, 0);
  h.writeUInt16LE(type, 2);
  return Buffer.concat([h, payload, padded ? Buffer.alloc(pad4(payload.length)) : Buffer.alloc(0)]);
}
/** A run of attributes as the `netlink` package emits them: the last one unpadded, at every level. */
const pkg = (...list: Array<[number, Buffer]>): Buffer => Buffer.concat(list.map(([t, p], i) => nla(t, p, i < list.length - 1)));
/** As the kernel emits them: all padded, nested items numbered 0 with NLA_F_NESTED. */
const kern = (...list: Buffer[]): Buffer => Buffer.concat(list);
const u16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const u64 = (n: bigint): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64LE(n); return b; };
const key = (b64: string): Buffer => Buffer.from(b64, 'base64');
const str = (s: string): Buffer => Buffer.from(`${s}\0`);
function sockaddrIn(ip: string, port: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(2, 0);
  b.writeUInt16BE(port, 2);
  Buffer.from(ip.split('.').map(Number)).copy(b, 4);
  return b;
}
function sockaddrIn6(addr16: Buffer, port: number): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16LE(10, 0);
  b.writeUInt16BE(port, 2);
  addr16.copy(b, 8);
  return b;
}
function timespec(sec: bigint, nsec: bigint): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigInt64LE(sec, 0);
  b.writeBigInt64LE(nsec, 8);
  return b;
}
const V6_FD00_2 = Buffer.from('fd000002000000000000000000000000', 'hex');
const V6_DB8_7 = Buffer.from('20010db8000000000000000000000007', 'hex');

interface Sent {
  family: number;
  cmd: number;
  version: number;
  flags?: number;
  data: Buffer;
}

/** The seam: records each request's bytes and answers from a queue (or with an error). */
class FakeGenl implements GenlTransport {
  readonly sent: Sent[] = [];
  replies: Array<GenlReply[] | Error> = [];
  closed = false;
  async request(family: number, cmd: number, version: number, data: Uint8Array[], options?: { flags?: number }): Promise<[GenlReply[], unknown]> {
    this.sent.push({ family, cmd, version, ...(options?.flags !== undefined ? { flags: options.flags } : {}), data: Buffer.concat(data) });
    const r = this.replies.shift() ?? [];
    if (r instanceof Error) throw r;
    return [r, {}];
  }
  close(): void {
    this.closed = true;
  }
}

const FAMILY = 0x1d;
const reply = (data: Buffer): GenlReply => ({ cmd: 0, version: 1, data });

describe('wireguard kernel back end (generic netlink, fake socket)', () => {
  it('gets a device with WG_CMD_GET_DEVICE (0) as a dump and merges a peer split over two messages', async () => {
    const fake = new FakeGenl();
    // what the kernel sends for a device whose first peer does not fit in one message
    const msg1 = kern(
      nla(1, u32(7)),
      nla(2, str('wgk0')),
      nla(3, key(K1.priv)),
      nla(4, key(K1.pub)),
      nla(6, u16(4500)),
      nla(7, u32(0)),
      nla(8 | NESTED, kern(
        nla(0 | NESTED, kern(
          nla(1, key(K2.pub)),
          nla(2, key(PSK.key)),
          nla(4, sockaddrIn('192.0.2.7', 4500)),
          nla(5, u16(10)),
          nla(6, timespec(1_700_000_000n, 250_000_000n)),
          nla(7, u64(92n)),
          nla(8, u64(1184n)),
          nla(9 | NESTED, nla(0 | NESTED, kern(nla(1, u16(2)), nla(2, Buffer.from([10, 2, 0, 0])), nla(3, Buffer.from([16]))))),
          nla(10, u32(1)),
        )),
      )),
    );
    const msg2 = kern(
      nla(1, u32(7)),
      nla(2, str('wgk0')),
      nla(8 | NESTED, kern(
        nla(0 | NESTED, kern(nla(1, key(K2.pub)), nla(9 | NESTED, nla(0 | NESTED, kern(nla(1, u16(10)), nla(2, V6_FD00_2), nla(3, Buffer.from([64]))))))),
        nla(0 | NESTED, kern(nla(1, key(K3.pub)), nla(2, Buffer.alloc(32)), nla(4, sockaddrIn6(V6_DB8_7, 51820)))),
      )),
    );
    fake.replies.push([reply(msg1), reply(msg2)]);
    const c = new NetlinkClient(fake, FAMILY);
    const dev = await c.device('wgk0');
    assert.equal(fake.sent.length, 1);
    assert.deepEqual(fake.sent[0], { family: FAMILY, cmd: 0, version: 1, flags: 0x300, data: pkg([2, str('wgk0')]) });
    assert.deepEqual(dev, {
      name: 'wgk0',
      type: 'kernel',
      privateKey: K1.priv,
      publicKey: K1.pub,
      listenPort: 4500,
      fwmark: 0,
      peers: [
        { publicKey: K2.pub, presharedKey: PSK.key, endpoint: '192.0.2.7:4500', persistentKeepaliveIntervalSec: 10, lastHandshakeMs: 1_700_000_000_250, rxBytes: 92, txBytes: 1184, allowedIPs: ['10.2.0.0/16', 'fd00:2::/64'], protocolVersion: 1 },
        { publicKey: K3.pub, presharedKey: ZERO_KEY, endpoint: '[2001:db8::7]:51820', persistentKeepaliveIntervalSec: 0, lastHandshakeMs: 0, rxBytes: 0, txBytes: 0, allowedIPs: [], protocolVersion: 0 },
      ],
    });
  });

  it('sets a device with WG_CMD_SET_DEVICE (1): exact attribute bytes', async () => {
    const fake = new FakeGenl();
    const c = new NetlinkClient(fake, FAMILY);
    await c.configureDevice('wgk0', {
      privateKey: K1.priv,
      listenPort: 4500,
      replacePeers: true,
      peers: [
        { publicKey: K2.pub, presharedKey: PSK.key, endpoint: '192.0.2.7:4500', persistentKeepaliveIntervalSec: 10, replaceAllowedIPs: true, allowedIPs: ['10.2.0.0/16'] },
        { publicKey: K3.pub, remove: true },
      ],
    });
    assert.equal(fake.sent.length, 1);
    const s = fake.sent[0]!;
    assert.equal(s.cmd, 1);
    assert.equal(s.version, 1);
    assert.equal(s.family, FAMILY);
    assert.equal(s.flags, undefined);
    // the package numbers array items from 1 and sets no NLA_F_NESTED; the kernel ignores both on input
    const expected = pkg(
      [2, str('wgk0')],
      [3, key(K1.priv)],
      [6, u16(4500)],
      [5, u32(1)],
      [8, pkg(
        [1, pkg(
          [1, key(K2.pub)],
          [3, u32(2)],
          [2, key(PSK.key)],
          [4, sockaddrIn('192.0.2.7', 4500)],
          [5, u16(10)],
          [9, pkg([1, pkg([1, u16(2)], [2, Buffer.from([10, 2, 0, 0])], [3, Buffer.from([16])])])],
        )],
        [2, pkg([1, key(K3.pub)], [3, u32(1)])],
      )],
    );
    assert.equal(s.data.toString('hex'), expected.toString('hex'));
  });

  it('splits a large config; continuation parts keep the peer and do not replace its allowed IPs again', async () => {
    const fake = new FakeGenl();
    const c = new NetlinkClient(fake, FAMILY);
    const ips = Array.from({ length: 450 }, (_, i) => `10.${Math.floor(i / 256)}.${i % 256}.0/24`);
    await c.configureDevice('wgk0', { replacePeers: true, peers: [{ publicKey: K2.pub, replaceAllowedIPs: true, allowedIPs: ips, persistentKeepaliveIntervalSec: 10 }] });
    assert.equal(fake.sent.length, 3);
    assert.ok(fake.sent.every((m) => m.cmd === 1));
    // the first message carries the device flags and the peer's flags; the rest only the key and more IPs
    const flagAttr = pkg([5, u32(1)]).subarray(0, 8).toString('hex');
    assert.ok(fake.sent[0]!.data.toString('hex').includes(flagAttr));
    assert.ok(!fake.sent[1]!.data.toString('hex').includes(flagAttr));
    assert.ok(!fake.sent[1]!.data.includes(Buffer.from(nla(3, u32(2)))));
  });

  it('translates ENODEV to NOT_FOUND and EINVAL to a WgErrnoError', async () => {
    const fake = new FakeGenl();
    fake.replies.push(new Error('Request rejected: ENODEV'), new Error('Request rejected: EINVAL'));
    const c = new NetlinkClient(fake, FAMILY);
    await assert.rejects(c.device('nope0'), (err: unknown) => isHawserError(err, 'NOT_FOUND') && /nope0/.test(err.message));
    await assert.rejects(c.configureDevice('wgk0', { listenPort: 1 }), (err: unknown) => err instanceof WgErrnoError && err.errno === -22);
    await c.close();
    assert.ok(fake.closed);
  });

  it('refuses a bad endpoint before sending anything', async () => {
    const fake = new FakeGenl();
    const c = new NetlinkClient(fake, FAMILY);
    await assert.rejects(c.configureDevice('wgk0', { peers: [{ publicKey: K2.pub, endpoint: 'host:1' }] }), /invalid endpoint/);
    assert.equal(fake.sent.length, 0);
  });
});
