import { strict as assert } from 'node:assert';
import { floodFdb, vtepAddress, vtepIP, vtepMac, ZERO_MAC } from '../../src/net/vtep.js';

describe('net/vtep', () => {
  it('VTEP by replacing the first octet, for either overlay (table)', () => {
    const table: [string, number, string | undefined][] = [
      ['10.0.0.11', 240, '240.0.0.11'],
      ['192.168.1.7', 241, '241.168.1.7'],
      ['fd00::1', 240, undefined],
      ['banana', 241, undefined],
    ];
    for (const [ip, octet, want] of table) assert.equal(vtepAddress(ip, octet), want, `${ip} ${octet}`);
    assert.throws(() => vtepIP('fd00::1', 240), /not an IPv4 node address/);
  });

  it('MAC from all four octets, locally administered unicast', () => {
    assert.equal(vtepMac('172.16.0.13'), '02:68:ac:10:00:0d');
    assert.notEqual(vtepMac('10.1.2.3'), vtepMac('11.1.2.3'));
  });

  it('one flood entry per remote underlay address', () => {
    assert.deepEqual(floodFdb('vx0', ['10.0.0.1', '10.0.0.2', '10.0.0.1']), [
      { dev: 'vx0', mac: ZERO_MAC, dst: '10.0.0.1' },
      { dev: 'vx0', mac: ZERO_MAC, dst: '10.0.0.2' },
    ]);
  });
});
