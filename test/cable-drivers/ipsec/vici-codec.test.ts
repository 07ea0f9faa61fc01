// VICI wire format: the README's own example, transcripts captured from charon 5.9.8, and each way a
// packet can be malformed.
import assert from 'node:assert/strict';
import {
  PacketReader, PacketType, ViciError, decodeMessage, decodePacket, encodeMessage, encodePacket, messageToText,
  parseIkeSas, parseVersion, type ViciSection,
} from '../../../src/cable-drivers/ipsec/vici/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

/** The encoding example of strongSwan's vici README, byte for byte. */
const README_EXAMPLE = Buffer.from([
  3, 4, ...Buffer.from('key1'), 0, 6, ...Buffer.from('value1'),
  1, 8, ...Buffer.from('section1'),
  1, 11, ...Buffer.from('sub-section'),
  3, 4, ...Buffer.from('key2'), 0, 6, ...Buffer.from('value2'),
  2,
  4, 5, ...Buffer.from('list1'),
  5, 0, 5, ...Buffer.from('item1'),
  5, 0, 5, ...Buffer.from('item2'),
  6,
  2,
]);
const README_TREE = { key1: 'value1', section1: { 'sub-section': { key2: 'value2' }, list1: ['item1', 'item2'] } };

// Captured from charon-systemd 5.9.8 (whole packets, with the length prefix).
const VERSION_RESPONSE = hex(`000000640103066461656d6f6e000e636861726f6e2d73797374656d64030776657273696f6e0005352e392e3803077379736e616d65
  00054c696e7578030772656c65617365000f362e31382e34342d66632d7636363903076d616368696e6500067838365f3634`);
const UNKNOWN_COMMAND = hex('0000000102');
const EVENT_UNKNOWN = hex('0000000106');
const EVENT_CONFIRM = hex('0000000105');
const UNLOAD_CONN_FAILED = hex(`000000370103077375636365737300026e6f03066572726d7367001f756e6c6f61643a206d697373696e6720636f6e6e656374696f6e206e616d65`);

function malformed(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof ViciError && err.code === 'MALFORMED' && re.test(err.message));
}

describe('vici codec', () => {
  it('decodes and encodes the README example exactly', () => {
    assert.deepEqual(plain(decodeMessage(README_EXAMPLE)), README_TREE);
    assert.deepEqual(encodeMessage(README_TREE), README_EXAMPLE);
  });

  it('encodes requests as charon expects them', () => {
    assert.deepEqual(encodePacket(PacketType.CMD_REQUEST, 'version'), hex('00000009 00 07 76657273696f6e'));
    assert.deepEqual(encodePacket(PacketType.EVENT_REGISTER, 'list-sa'), hex('00000009 03 07 6c6973742d7361'));
    assert.deepEqual(
      encodePacket(PacketType.CMD_REQUEST, 'unload-conn', { name: 'c1' }),
      hex('00000017 00 0b 756e6c6f61642d636f6e6e 03 04 6e616d65 0002 6331'),
    );
    // numbers as decimal text, booleans as yes/no, undefined skipped, byte arrays raw
    assert.deepEqual(plain(decodeMessage(encodeMessage({ a: 4500, b: true, c: false, d: undefined, e: new Uint8Array([0x41, 0x42]) }))), { a: '4500', b: 'yes', c: 'no', e: 'AB' });
  });

  it('decodes packets captured from charon 5.9.8', () => {
    const reader = new PacketReader();
    const packets = reader.push(Buffer.concat([VERSION_RESPONSE, UNKNOWN_COMMAND, EVENT_UNKNOWN, EVENT_CONFIRM, UNLOAD_CONN_FAILED]));
    assert.deepEqual(packets.map((p) => p.type), [PacketType.CMD_RESPONSE, PacketType.CMD_UNKNOWN, PacketType.EVENT_UNKNOWN, PacketType.EVENT_CONFIRM, PacketType.CMD_RESPONSE]);
    assert.deepEqual(parseVersion(packets[0]!.message!), { daemon: 'charon-systemd', version: '5.9.8', sysname: 'Linux', release: '6.18.44-fc-v669', machine: 'x86_64' });
    assert.deepEqual(plain(packets[4]!.message), { success: 'no', errmsg: 'unload: missing connection name' });
    assert.equal(reader.pending, 0);
  });

  it('reassembles packets split at every byte', () => {
    const stream = Buffer.concat([VERSION_RESPONSE, EVENT_CONFIRM, encodePacket(PacketType.EVENT, 'ike-updown', { up: 'yes', c: { state: 'ESTABLISHED' } })]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const r = new PacketReader();
      const got = [...r.push(stream.subarray(0, cut)), ...r.push(stream.subarray(cut))];
      assert.equal(got.length, 3, `cut at ${cut}`);
      assert.equal(got[2]!.name, 'ike-updown');
    }
    const r = new PacketReader();
    const one = [...stream].flatMap((b) => r.push(Buffer.from([b])));
    assert.equal(one.length, 3);
  });

  it('round-trips a list-sa event into typed IKE/CHILD SAs', () => {
    const ev: ViciSection = decodeMessage(encodeMessage({
      'submariner-cable-b-10-0-0-2': {
        uniqueid: '3', version: '2', state: 'ESTABLISHED', 'local-host': '10.0.0.1', 'local-port': '4500', 'local-id': '10.0.0.1',
        'remote-host': '10.0.0.2', 'remote-port': '4500', 'remote-id': '10.0.0.2', initiator: 'yes', 'nat-remote': 'yes', 'nat-any': 'yes',
        established: '12', 'rekey-time': '13500',
        'child-sas': {
          'submariner-cable-b-10-0-0-2-0-0-7': {
            name: 'submariner-cable-b-10-0-0-2-0-0', uniqueid: '7', reqid: '1', state: 'INSTALLED', mode: 'TUNNEL', protocol: 'ESP', encap: 'yes',
            'spi-in': 'c1f0a2b3', 'spi-out': 'd4e5f6a7', 'encr-alg': 'AES_GCM_16', 'bytes-in': '1234', 'packets-in': '5', 'bytes-out': '99999999999', 'packets-out': '6',
            'local-ts': ['10.1.0.0/24'], 'remote-ts': ['10.2.0.0/24'],
          },
        },
      },
    }));
    const [sa] = parseIkeSas([ev]);
    assert.equal(sa!.name, 'submariner-cable-b-10-0-0-2');
    assert.equal(sa!.state, 'ESTABLISHED');
    assert.equal(sa!.initiator, true);
    assert.equal(sa!.natAny, true);
    assert.equal(sa!.established, 12);
    const c = sa!.children[0]!;
    assert.equal(c.name, 'submariner-cable-b-10-0-0-2-0-0');
    assert.equal(c.key, 'submariner-cable-b-10-0-0-2-0-0-7');
    assert.equal(c.bytesOut, 99999999999);
    assert.equal(c.encap, true);
    assert.deepEqual(c.remoteTs, ['10.2.0.0/24']);
  });

  it('prints messages as text with secrets redacted', () => {
    const text = messageToText({ id: 'hawser-psk', type: 'IKE', data: 's3cret', owners: [], conn: { a: ['x', 'y z'] } }, { redact: ['data'] });
    assert.equal(text, 'id = hawser-psk\ntype = IKE\ndata = <redacted>\nowners = []\nconn {\n  a = [x, "y z"]\n}');
  });

  it('rejects each kind of malformed message with a typed error', () => {
    malformed(() => decodeMessage(Buffer.from([9])), /unknown element type 9/);
    malformed(() => decodeMessage(Buffer.from([2])), /section end without a section/);
    malformed(() => decodeMessage(Buffer.from([5, 0, 0])), /list item outside a list/);
    malformed(() => decodeMessage(Buffer.from([6])), /list end without a list/);
    malformed(() => decodeMessage(Buffer.from([1, 1, 0x61])), /section\(s\) not closed/);
    malformed(() => decodeMessage(Buffer.from([4, 1, 0x61])), /list not closed/);
    malformed(() => decodeMessage(Buffer.from([4, 1, 0x61, 4, 1, 0x62])), /nested list/);
    malformed(() => decodeMessage(Buffer.from([4, 1, 0x61, 3, 1, 0x62, 0, 0])), /key\/value inside a list/);
    malformed(() => decodeMessage(Buffer.from([4, 1, 0x61, 1, 1, 0x62])), /section inside a list/);
    malformed(() => decodeMessage(Buffer.from([3, 5, 0x61])), /truncated key name/);
    malformed(() => decodeMessage(Buffer.from([3, 1, 0x61, 0])), /truncated key value length/);
    malformed(() => decodeMessage(Buffer.from([3, 1, 0x61, 0, 9, 0x62])), /truncated key value/);
    malformed(() => decodeMessage(Buffer.from([3, 0])), /empty key name/);
    malformed(() => decodeMessage(Buffer.from([3, 1, 0x61, 0, 0, 3, 1, 0x61, 0, 0])), /duplicate key "a"/);
    malformed(() => decodeMessage(Buffer.from(Array.from({ length: 70 }, () => [1, 1, 0x61]).flat())), /nested deeper than 64/);
  });

  it('rejects malformed packets and oversized lengths', () => {
    malformed(() => decodePacket(Buffer.alloc(0)), /empty/);
    malformed(() => decodePacket(Buffer.from([8])), /unknown packet type 8/);
    malformed(() => decodePacket(Buffer.from([0])), /without a name length/);
    malformed(() => decodePacket(Buffer.from([7, 5, 0x61])), /name truncated/);
    malformed(() => decodePacket(Buffer.from([7, 0])), /empty name/);
    malformed(() => decodePacket(Buffer.from([5, 1])), /unexpected byte/);
    const r = new PacketReader();
    assert.throws(() => r.push(hex('00080001')), (e: unknown) => e instanceof ViciError && e.code === 'TOO_LARGE');
    malformed(() => new PacketReader().push(hex('00000000')), /zero length/);
    assert.throws(() => new PacketReader(16).push(hex('00000011')), (e: unknown) => e instanceof ViciError && e.code === 'TOO_LARGE');
  });

  it('refuses to encode what the format cannot carry', () => {
    const enc = (e: unknown): boolean => e instanceof ViciError && e.code === 'ENCODE';
    assert.throws(() => encodeMessage({ ['k'.repeat(256)]: 'v' }), enc);
    assert.throws(() => encodeMessage({ '': 'v' }), enc);
    assert.throws(() => encodeMessage({ k: 'v'.repeat(65536) }), enc);
    assert.throws(() => encodeMessage({ k: Number.NaN }), enc);
    assert.throws(() => encodePacket(PacketType.CMD_REQUEST), enc);
    assert.throws(() => encodePacket(PacketType.EVENT_CONFIRM, 'x'), enc);
    assert.throws(() => encodePacket(PacketType.CMD_REQUEST, 'x', { k: 'v'.repeat(60000), l: 'v'.repeat(60000), m: 'v'.repeat(60000), n: 'v'.repeat(60000), o: 'v'.repeat(60000), p: 'v'.repeat(60000), q: 'v'.repeat(60000), r: 'v'.repeat(60000), s: 'v'.repeat(60000) }), enc);
  });
});
