import assert from 'node:assert/strict';
import { decodeProtobufObject } from '../../src/apiserver/protobuf.js';
import { ApiError } from '../../src/apiserver/types.js';

// A minimal protobuf writer for test inputs.
function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}
const field = (num: number, payload: Buffer | string): Buffer => {
  const b = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return Buffer.concat([varint((num << 3) | 2), varint(b.length), b]);
};
const boolField = (num: number, v: boolean): Buffer => Buffer.concat([varint(num << 3), varint(v ? 1 : 0)]);
const mapEntry = (num: number, k: string, v: string | Buffer): Buffer => field(num, Buffer.concat([field(1, k), field(2, v)]));
const envelope = (apiVersion: string, kind: string, raw: Buffer): Buffer =>
  Buffer.concat([Buffer.from('k8s\0', 'latin1'), field(1, Buffer.concat([field(1, apiVersion), field(2, kind)])), field(2, raw)]);

describe('apiserver: protobuf request bodies', () => {
  it('decodes a Secret as Go writes it (zero values present on the wire)', () => {
    const meta = Buffer.concat([field(1, 'psk'), field(2, ''), field(3, 'ns'), mapEntry(11, 'app', 'x'), field(8, Buffer.alloc(0))]);
    const raw = Buffer.concat([field(1, meta), mapEntry(2, 'psk', Buffer.from([0, 1, 2])), field(3, ''), boolField(5, false)]);
    assert.deepEqual(decodeProtobufObject(envelope('v1', 'Secret', raw)), {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'psk', namespace: 'ns', labels: { app: 'x' } },
      data: { psk: 'AAEC' },
      immutable: false,
    });
  });
  it('decodes IntOrString ports of a Service', () => {
    const port = Buffer.concat([field(1, 'http'), Buffer.from([3 << 3, 80]), field(4, Buffer.concat([Buffer.from([1 << 3, 1]), field(3, 'web')]))]);
    const raw = Buffer.concat([field(1, field(1, 's')), field(2, field(1, port))]);
    assert.deepEqual(decodeProtobufObject(envelope('v1', 'Service', raw)).spec, { ports: [{ name: 'http', port: 80, targetPort: 'web' }] });
  });
  const refused = (body: Buffer, code: number): void => {
    assert.throws(() => decodeProtobufObject(body), (e: unknown) => e instanceof ApiError && e.httpCode === code);
  };
  it('refuses kinds and fields it does not know (415) and garbage (400), without throwing anything else', () => {
    refused(envelope('apps/v1', 'Deployment', Buffer.alloc(0)), 415);
    refused(envelope('v1', 'ConfigMap', field(99, 'x')), 415);
    refused(Buffer.from('{"kind":"ConfigMap"}'), 400);
    refused(Buffer.concat([Buffer.from('k8s\0', 'latin1'), Buffer.from([0x0a, 0xff])]), 400);
    refused(envelope('v1', 'ConfigMap', Buffer.from([0x0a, 0x05, 0x01])), 400);
    for (let i = 0; i < 300; i++) {
      const junk = Buffer.concat([Buffer.from('k8s\0', 'latin1'), Buffer.from(Array.from({ length: 1 + (i % 40) }, (_, j) => (i * 31 + j * 17) % 256))]);
      try {
        decodeProtobufObject(junk);
      } catch (err) {
        assert.ok(err instanceof ApiError, `junk ${i} threw ${String(err)}`);
      }
    }
  });
});
