import assert from 'node:assert/strict';
import { elementKey, parseGeneration, parseMonitorLine } from '../../src/os/nftables/monitor.js';

describe('os/nft monitor lines', () => {
  const rows: { line: string; want: ReturnType<typeof parseMonitorLine> }[] = [
    { line: 'add table ip t', want: { op: 'add', object: 'table', family: 'ip', table: 't' } },
    { line: 'delete set ip t m', want: { op: 'delete', object: 'set', family: 'ip', table: 't', name: 'm' } },
    { line: 'add map ip t m { type ipv4_addr : interval ipv4_addr; } ', want: { op: 'add', object: 'map', family: 'ip', table: 't', name: 'm' } },
    { line: 'delete element ip t m { 10.0.0.2 : 242.0.0.2/31 }', want: { op: 'delete', object: 'element', family: 'ip', table: 't', name: 'm', elements: ['10.0.0.2 : 242.0.0.2/31'] } },
    { line: 'add element ip hawser-globalnet egress_pods { 10.0.0.1 : 242.0.0.1/32, 10.0.0.3 : 242.0.0.1/32 }', want: { op: 'add', object: 'element', family: 'ip', table: 'hawser-globalnet', name: 'egress_pods', elements: ['10.0.0.1 : 242.0.0.1/32', '10.0.0.3 : 242.0.0.1/32'] } },
    { line: 'delete element ip t s { 10.9.0.0/16 }', want: { op: 'delete', object: 'element', family: 'ip', table: 't', name: 's', elements: ['10.9.0.0/16'] } },
    { line: 'add rule ip t c ip saddr 10.0.0.1 counter', want: { op: 'add', object: 'rule', family: 'ip', table: 't', name: 'c' } },
    { line: '# new generation 2 by process 2874 (nft)', want: undefined },
  ];
  for (const r of rows) it(r.line, () => assert.deepEqual(parseMonitorLine(r.line), r.want));

  it('element keys and generations', () => {
    assert.equal(elementKey('10.0.0.2 : 242.0.0.2/31'), '10.0.0.2');
    assert.equal(elementKey('10.9.0.0/16'), '10.9.0.0/16');
    assert.deepEqual(parseGeneration({ generation: 3, pid: 1, process: 'nft', lines: ['delete table ip t', 'garbage'] }).map((e) => e.object), ['table']);
  });
});
