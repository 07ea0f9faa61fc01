import assert from 'node:assert/strict';
import { elementKey, GenerationSplitter, parseGeneration, parseNotification, type NftGeneration } from '../../src/os/nftables/monitor.js';
import { encodeBatch, ipv4CidrElements } from '../../src/os/nftables/nfnl.js';

/** One nf_tables notification as the kernel sends it: nlmsghdr, nfgenmsg, then attributes. */
function message(msgType: number, family: number, attrs: [number, Buffer][]): Buffer {
  const body = Buffer.concat(attrs.map(([t, v]) => {
    const a = Buffer.alloc((4 + v.length + 3) & ~3);
    a.writeUInt16LE(4 + v.length, 0);
    a.writeUInt16LE(t, 2);
    v.copy(a, 4);
    return a;
  }));
  const h = Buffer.alloc(20);
  h.writeUInt32LE(20 + body.length, 0);
  h.writeUInt16LE((10 << 8) | msgType, 4);
  h[16] = family;
  return Buffer.concat([h, body]);
}
const str = (s: string): Buffer => Buffer.from(`${s}\0`);
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const gen = (id: number, pid: number, name: string): Buffer => message(15, 0, [[1, u32(id)], [2, u32(pid)], [3, str(name)]]);
const parse = (b: Buffer): ReturnType<typeof parseNotification> => parseNotification(b, 0, b.length);

/** The NEWSETELEM/DELSETELEM messages our own encoder writes: the same layout as the kernel's notifications. */
function elementMessages(op: 'add' | 'delete', set: string, keys: string[], values?: string[]): Buffer {
  const b = encodeBatch([{ op, family: 'ip', table: 'hawser-globalnet', set, ipv4: { keys, ...(values ? { values, range: true } : {}) } }], 1);
  return b.buffer.subarray(20, b.buffer.length - 20); // without the batch begin/end frames
}

describe('os/nftables notifications (NFNLGRP_NFTABLES) decoded', () => {
  it('tables, chains, rules, sets and maps: op, kind, family, table and name', () => {
    assert.deepEqual(parse(message(0, 2, [[1, str('t')]])), { op: 'add', object: 'table', family: 'ip', table: 't' });
    assert.deepEqual(parse(message(2, 1, [[1, str('t')]])), { op: 'delete', object: 'table', family: 'inet', table: 't' });
    assert.deepEqual(parse(message(5, 2, [[1, str('t')], [3, str('egress')]])), { op: 'delete', object: 'chain', family: 'ip', table: 't', name: 'egress' });
    assert.deepEqual(parse(message(6, 2, [[1, str('t')], [2, str('ingress')]])), { op: 'add', object: 'rule', family: 'ip', table: 't', name: 'ingress' });
    assert.deepEqual(parse(message(11, 2, [[1, str('t')], [2, str('s')], [3, u32(1)]])), { op: 'delete', object: 'set', family: 'ip', table: 't', name: 's' });
    assert.deepEqual(parse(message(9, 2, [[1, str('t')], [2, str('m')], [3, u32(0x8)]])), { op: 'add', object: 'map', family: 'ip', table: 't', name: 'm' });
    assert.equal(parse(message(15, 0, [[1, u32(3)]])), undefined, 'a generation is no event');
    assert.equal(parse(message(99, 2, [[1, str('t')]])), undefined);
  });

  it('elements as nft prints them: key, and a map value (a range as first-last)', () => {
    assert.deepEqual(parse(elementMessages('add', 'egress_pods', ['10.0.0.1', '10.0.0.3'], ['242.0.0.1', '242.0.0.1-242.0.0.4'])), {
      op: 'add', object: 'element', family: 'ip', table: 'hawser-globalnet', name: 'egress_pods', elements: ['10.0.0.1 : 242.0.0.1-242.0.0.1', '10.0.0.3 : 242.0.0.1-242.0.0.4'],
    });
    assert.deepEqual(parse(elementMessages('delete', 'ingress', ['242.0.0.9']))?.elements, ['242.0.0.9']);
    const cidr = encodeBatch([{ op: 'add', family: 'ip', table: 't', set: 's', elements: ipv4CidrElements('10.9.0.0/16') }], 1).buffer;
    assert.deepEqual(parse(cidr.subarray(20, cidr.length - 20))?.elements, ['10.9.0.0', '10.10.0.0']);
    assert.equal(elementKey('10.0.0.2 : 242.0.0.2-242.0.0.3'), '10.0.0.2');
    assert.equal(elementKey('10.9.0.0'), '10.9.0.0');
  });

  it('groups messages by generation across datagrams, with the committing PID; decodes only on request', () => {
    const gens: NftGeneration[] = [];
    const s = new GenerationSplitter((g) => gens.push(g));
    s.push(Buffer.concat([message(0, 2, [[1, str('a')]]), elementMessages('add', 'm', ['10.0.0.1'], ['1.1.1.1'])]));
    s.push(Buffer.concat([elementMessages('delete', 'm', ['10.0.0.2']), gen(7, 4242, 'nft'), message(2, 2, [[1, str('b')]])]));
    assert.equal(gens.length, 1);
    assert.deepEqual({ generation: gens[0]!.generation, pid: gens[0]!.pid, process: gens[0]!.process }, { generation: 7, pid: 4242, process: 'nft' });
    assert.deepEqual(parseGeneration(gens[0]!).map((e) => `${e.op} ${e.object} ${e.name ?? e.table}`), ['add table a', 'add element m', 'delete element m']);
    s.push(gen(8, 1, 'hawser'));
    assert.deepEqual(parseGeneration(gens[1]!).map((e) => `${e.op} ${e.object} ${e.table}`), ['delete table b']);
    // after lost notifications a partial generation is dropped, never delivered as if whole
    s.push(message(0, 2, [[1, str('c')]]));
    s.reset();
    s.push(gen(9, 1, 'nft'));
    assert.deepEqual(parseGeneration(gens[2]!), []);
  });
});
