import assert from 'node:assert/strict';
import { Ipam } from '../../src/nat/ipam.js';

describe('nat: IPAM', () => {
  it('hands out single addresses from the top and blocks from the lowest contiguous run', () => {
    const ipam = new Ipam('242.0.0.0/29'); // usable .1-.6
    assert.equal(ipam.size, 6);
    assert.deepEqual(ipam.allocate('a', 1), ['242.0.0.6']);
    assert.deepEqual(ipam.allocate('b', 2), ['242.0.0.1', '242.0.0.2']);
    assert.deepEqual(ipam.allocate('c', 1), ['242.0.0.5']);
    assert.deepEqual(ipam.release('b'), ['242.0.0.1', '242.0.0.2']);
    assert.deepEqual(ipam.allocate('d', 3), ['242.0.0.1', '242.0.0.2', '242.0.0.3']);
    assert.equal(ipam.allocate('e', 2), undefined, 'only .4 is left');
    assert.deepEqual(ipam.allocate('e', 1), ['242.0.0.4']);
    assert.equal(ipam.available, 0);
    assert.equal(ipam.allocate('f', 1), undefined);
    ipam.release('a');
    assert.deepEqual(ipam.allocate('f', 1), ['242.0.0.6']);
  });

  it('never hands out the network or broadcast address and rejects claims on them', () => {
    const ipam = new Ipam('242.0.0.0/30');
    assert.deepEqual(ipam.allocate('a', 2), ['242.0.0.1', '242.0.0.2']);
    assert.deepEqual(ipam.reserve('b', ['242.0.0.3']), { reason: 'out-of-cidr', ip: '242.0.0.3' });
    assert.deepEqual(ipam.reserve('c', ['242.0.0.0']), { reason: 'out-of-cidr', ip: '242.0.0.0' });
  });

  it('rebuilds from claims: the older claim wins a conflict, the younger is rejected whole', () => {
    const { ipam, rejected } = Ipam.fromClaims('242.0.0.0/24', [
      { owner: 'young', createdAt: '2024-05-02T00:00:00Z', ips: ['242.0.0.9', '242.0.0.10'] },
      { owner: 'old', createdAt: '2024-05-01T00:00:00Z', ips: ['242.0.0.10'] },
      { owner: 'bad', createdAt: '2024-05-01T00:00:00Z', ips: ['10.0.0.1'] },
      { owner: 'junk', createdAt: '2024-05-01T00:00:00Z', ips: ['nope'] },
    ]);
    assert.deepEqual(ipam.ipsOf('old'), ['242.0.0.10']);
    assert.deepEqual(ipam.ipsOf('young'), []);
    assert.equal(ipam.ownerOf('242.0.0.9'), undefined, 'a rejected claim reserves nothing');
    assert.deepEqual(rejected.map((r) => [r.claim.owner, r.why.reason]).sort(), [['bad', 'out-of-cidr'], ['junk', 'invalid'], ['young', 'conflict']]);
  });

  it('rejects invalid or tiny CIDRs with an actionable error', () => {
    assert.throws(() => new Ipam('242.0.0.0/31'), /too small/);
    assert.throws(() => new Ipam('fd00::/64'), /not an IPv4 CIDR/);
  });

  it('allocates 65,534 singles from a /16 quickly (hints keep it linear)', () => {
    const ipam = new Ipam('242.0.0.0/16');
    const t0 = performance.now();
    for (let i = 0; i < ipam.size; i++) assert.ok(ipam.allocate(`o${i}`, 1));
    assert.equal(ipam.available, 0);
    assert.ok(performance.now() - t0 < 2000);
  });
});
