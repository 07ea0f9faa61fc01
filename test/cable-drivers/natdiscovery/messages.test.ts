import assert from 'node:assert/strict';
import {
  type NatMessage, type NatRequest, type NatResponse, ResponseType, decodeMessage, encodeMessage, encodeRequestMessage, encodeResponseMessage,
} from '../../../src/cable-drivers/natdiscovery/messages.js';
import { seededRandom } from '../../support/prng.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// Byte transcripts worked out by hand from the protobuf wire format (field key = number<<3 | wire type).
const REQUEST: NatRequest = {
  requestNumber: 0x1234n,
  sender: { clusterId: 'a', endpointId: 'e1' },
  receiver: { clusterId: 'b', endpointId: 'e2' },
  usingSrc: { ip: '10.0.0.1', port: 4490 },
  usingDst: { ip: '10.0.0.2', port: 4490 },
};
const REQUEST_BYTES =
  '0801' + // version = 1
  '1233' + // request, 51 bytes
  '08b424' + // request_number = 0x1234
  '1207 0a0161 12026531' + // sender {cluster_id "a", endpoint_id "e1"}
  '1a07 0a0162 12026532' + // receiver {"b", "e2"}
  '220d 0a0831302e302e302e31 108a23' + // using_src {"10.0.0.1", 4490}
  '2a0d 0a0831302e302e302e32 108a23'; // using_dst {"10.0.0.2", 4490}

const RESPONSE: NatResponse = {
  requestNumber: 0x1234n,
  response: ResponseType.NAT_DETECTED,
  sender: { clusterId: 'b', endpointId: 'e2' },
  receiver: { clusterId: 'a', endpointId: 'e1' },
  srcIpNatDetected: true,
  srcPortNatDetected: false,
  dstIpNatDetected: false,
  receivedSrc: { ip: '10.0.0.9', port: 1024 },
};
const RESPONSE_BYTES =
  '0801' + '1a28' + // version, response (40 bytes)
  '08b424' + '1001' + // request_number, response = NAT_DETECTED
  '1a07 0a0162 12026532' + // sender
  '2207 0a0161 12026531' + // receiver
  '2801' + // src_ip_nat_detected = true (false fields are omitted)
  '420d 0a0831302e302e302e39 108008'; // received_src {"10.0.0.9", 1024}

const prng = seededRandom;

describe('natdiscovery: protobuf messages', () => {
  it('encodes a request exactly as the transcript', () => {
    assert.equal(toHex(encodeRequestMessage(REQUEST)), REQUEST_BYTES.replace(/\s+/g, ''));
  });

  it('encodes a response exactly as the transcript (proto3 omits false/zero scalars)', () => {
    assert.equal(toHex(encodeResponseMessage(RESPONSE)), RESPONSE_BYTES.replace(/\s+/g, ''));
  });

  it('decodes both transcripts', () => {
    assert.deepEqual(decodeMessage(hex(REQUEST_BYTES)), { ok: true, value: { version: 1, kind: 'request', request: REQUEST } });
    assert.deepEqual(decodeMessage(hex(RESPONSE_BYTES)), { ok: true, value: { version: 1, kind: 'response', response: RESPONSE } });
  });

  it('keeps presence of empty sub-messages and absence of missing ones', () => {
    const bytes = encodeRequestMessage({ requestNumber: 0n, sender: { clusterId: '', endpointId: '' } });
    assert.equal(toHex(bytes), '0801' + '1202' + '1200');
    const d = decodeMessage(bytes);
    assert.ok(d.ok && d.value.kind === 'request');
    assert.deepEqual(d.value.request, { requestNumber: 0n, sender: { clusterId: '', endpointId: '' } });
  });

  it('handles the full uint64 range of request numbers and negative int32', () => {
    const max = 0xffffffffffffffffn;
    const d = decodeMessage(encodeRequestMessage({ requestNumber: max }));
    assert.ok(d.ok && d.value.kind === 'request');
    assert.equal(d.value.request.requestNumber, max);
    const neg = encodeMessage({ version: -1, kind: 'empty' });
    assert.equal(toHex(neg), '08ffffffffffffffffff01');
    assert.deepEqual(decodeMessage(neg), { ok: true, value: { version: -1, kind: 'empty' } });
  });

  it('skips unknown fields of every wire type, and known fields with an unexpected wire type', () => {
    const withUnknown =
      '0801' +
      '7805' + // field 15 varint
      '8101 0102030405060708' + // field 16 fixed64
      '8d01 01020304' + // field 17 fixed32
      '9201 03616263' + // field 18 bytes
      '1a' + '0c' + '08b424' + '1502000000' /* field 2 as fixed32: skipped */ + '7a020000'; /* field 15 bytes */
    const d = decodeMessage(hex(withUnknown));
    assert.ok(d.ok, d.ok ? '' : d.error);
    assert.equal(d.value.kind, 'response');
    if (d.value.kind === 'response') {
      assert.equal(d.value.response.requestNumber, 0x1234n);
      assert.equal(d.value.response.response, ResponseType.OK);
    }
  });

  it('keeps unknown enum values as numbers (proto3 open enums)', () => {
    const d = decodeMessage(hex('0801 1a02 1009'));
    assert.ok(d.ok && d.value.kind === 'response');
    assert.equal(d.value.response.response, 9);
  });

  const malformed: Array<[string, string]> = [
    ['truncated varint', '08'],
    ['varint longer than 10 bytes', '08ffffffffffffffffffff01'],
    ['length past the end', '1205 0801'],
    ['nested length past its parent', '1204 1205 0a01'],
    ['field number 0', '0001'],
    ['group wire type', '0b'],
    ['wire type 7', '0f'],
    ['truncated fixed64', '0901020304'],
    ['truncated fixed32', '0d0102'],
    ['invalid UTF-8 in a string', '1205 1203 0a01ff'],
  ];
  for (const [name, bytes] of malformed) {
    it(`rejects malformed input without throwing: ${name}`, () => {
      const d = decodeMessage(hex(bytes));
      assert.equal(d.ok, false, name);
    });
  }

  it('rejects oversized datagrams', () => {
    assert.equal(decodeMessage(new Uint8Array(4096)).ok, false);
  });

  it('fuzz: random bytes never throw', () => {
    const rnd = prng(1);
    for (let i = 0; i < 20_000; i++) {
      const b = new Uint8Array(Math.floor(rnd() * 80));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
      const d = decodeMessage(b);
      if (d.ok) encodeMessage(d.value); // whatever decodes must re-encode
    }
  });

  it('fuzz: mutated valid messages never throw', () => {
    const rnd = prng(2);
    const seeds = [hex(REQUEST_BYTES), hex(RESPONSE_BYTES)];
    let rejected = 0;
    for (let i = 0; i < 20_000; i++) {
      const b = Uint8Array.from(seeds[i % 2]!);
      const n = 1 + Math.floor(rnd() * 4);
      let out: Uint8Array = b;
      for (let k = 0; k < n; k++) {
        const op = rnd();
        const at = Math.floor(rnd() * out.length);
        if (op < 0.5) out[at] = Math.floor(rnd() * 256);
        else if (op < 0.75) out = out.subarray(0, at);
        else out = Uint8Array.from([...out.subarray(0, at), Math.floor(rnd() * 256), ...out.subarray(at)]);
      }
      const d = decodeMessage(out);
      if (!d.ok) rejected++;
      else encodeMessage(d.value);
    }
    assert.ok(rejected > 1000, `expected many rejections, got ${rejected}`);
  });

  it('fuzz: random messages round-trip', () => {
    const rnd = prng(3);
    const str = (): string => (rnd() < 0.2 ? '' : Math.floor(rnd() * 1e9).toString(36) + (rnd() < 0.1 ? 'é✓' : ''));
    const pair = (): { ip: string; port: number } | undefined => (rnd() < 0.2 ? undefined : { ip: str(), port: Math.floor(rnd() * 65536) });
    const det = (): { clusterId: string; endpointId: string } | undefined => (rnd() < 0.2 ? undefined : { clusterId: str(), endpointId: str() });
    const u64 = (): bigint => BigInt.asUintN(64, (BigInt(Math.floor(rnd() * 2 ** 32)) << 32n) | BigInt(Math.floor(rnd() * 2 ** 32)));
    const strip = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
    for (let i = 0; i < 2000; i++) {
      let m: NatMessage;
      if (rnd() < 0.5) {
        m = { version: 1, kind: 'request', request: strip({ requestNumber: u64(), sender: det(), receiver: det(), usingSrc: pair(), usingDst: pair() }) };
      } else {
        m = {
          version: 1, kind: 'response', response: strip({
            requestNumber: u64(), response: Math.floor(rnd() * 6), sender: det(), receiver: det(),
            srcIpNatDetected: rnd() < 0.5, srcPortNatDetected: rnd() < 0.5, dstIpNatDetected: rnd() < 0.5, receivedSrc: pair(),
          }),
        };
      }
      assert.deepEqual(decodeMessage(encodeMessage(m)), { ok: true, value: m });
    }
  });
});
