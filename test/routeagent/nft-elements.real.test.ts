// Element changes on an interval set written straight to nfnetlink (routeagent/nft-elements.ts): nft
// lists what we meant, adjacent CIDRs and /32s included, and a refused change leaves the set as it was.
import { strict as assert } from 'node:assert';
import { fileURLToPath } from 'node:url';
import { encodeElementChanges, type SetElementChange } from '../../src/routeagent/nft-elements.js';
import { Namespaces, run } from '../support/netns-commands.js';

const child = fileURLToPath(new URL('./nft-elements-child.ts', import.meta.url));

describe('routeagent: nft set elements over nfnetlink', () => {
  it('encodes deletes before adds, one message per set and verb, an end element per CIDR except at the top', () => {
    const { msgs, seqs } = encodeElementChanges('hawser', [{ set: 'A', add: ['10.0.0.0/24'], del: ['10.1.0.0/16'] }, { set: 'B', add: ['255.255.255.0/24'], del: [] }], 7);
    assert.deepEqual(seqs, [7, 8, 9]);
    assert.deepEqual(msgs.map((m) => m.readUInt16LE(4) & 0xff), [14, 12, 12]);
    // after the header (20), the table (12) and set (8) names and the list header (4): a start element of
    // 16 bytes (list element, key, value) and an end element of 24 (its flags too); B's CIDR ends at the top
    const elemsLen = (m: Buffer): number => m.length - 20 - 12 - 8 - 4;
    assert.equal(elemsLen(msgs[1]!), 40);
    assert.equal(elemsLen(msgs[2]!), 16);
    assert.equal(msgs[1]!.readUInt32BE(msgs[1]!.length - 4), 1, 'the end element carries NFT_SET_ELEM_INTERVAL_END');
  });
});

describe('routeagent: nft set elements over nfnetlink @real', function () {
  this.timeout(30_000);
  const nss = new Namespaces();
  let ns = '';

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    ns = await nss.create('hw-raelem');
    await run(ns, 'nft', ['-f', '-'], 'table ip hawser {\n set S { type ipv4_addr; flags interval; elements = { 10.0.0.0/24, 10.0.1.0/24, 192.168.0.0/16 }; }\n}\n');
  });
  after(() => nss.cleanup());

  const apply = async (changes: SetElementChange[]): Promise<string> => (await run(ns, process.execPath, ['--import', 'tsx', child, JSON.stringify({ table: 'hawser', changes })])).trim();
  const elements = async (): Promise<string[]> => {
    const text = await run(ns, 'nft', ['list', 'set', 'ip', 'hawser', 'S']);
    return (/elements = \{([^}]*)\}/.exec(text)?.[1] ?? '').split(',').map((e) => e.trim()).filter(Boolean).sort();
  };

  it('adds and deletes in one transaction, next to adjacent CIDRs, a /32 included', async () => {
    assert.equal(await apply([{ set: 'S', add: ['172.16.0.0/24', '10.9.9.9/32'], del: ['10.0.1.0/24'] }]), 'ok');
    assert.deepEqual(await elements(), ['10.0.0.0/24', '10.9.9.9', '172.16.0.0/24', '192.168.0.0/16']);
    // back next to 10.0.0.0/24: its start key is that CIDR's end key
    assert.equal(await apply([{ set: 'S', add: ['10.0.1.0/24'], del: ['10.9.9.9/32'] }]), 'ok');
    assert.deepEqual(await elements(), ['10.0.0.0/24', '10.0.1.0/24', '172.16.0.0/24', '192.168.0.0/16']);
  });

  it('a refused change (an overlap) applies nothing and says why', async () => {
    const out = await apply([{ set: 'S', add: ['192.168.1.0/24'], del: ['172.16.0.0/24'] }]);
    assert.match(out, /refused: E\w+/);
    assert.deepEqual(await elements(), ['10.0.0.0/24', '10.0.1.0/24', '172.16.0.0/24', '192.168.0.0/16']);
  });
});
