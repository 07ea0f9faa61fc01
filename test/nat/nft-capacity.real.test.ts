// Point maps are declared with a size (the kernel's fixed-bucket hash: half the insertion work of the
// resizable one), so they must grow before they fill: in place while the buckets allocated at creation
// still suffice, by replacing the table once a map would hold more than four times its creation size.
import assert from 'node:assert/strict';
import { emptyDataplane, mapCapacity, NFT_TABLE, NftDataplane, type Dataplane } from '../../src/nat/nft.js';
import { createNetns, deleteNetns, uniqueName } from '../../src/os/netns.js';
import { NfnlSocket } from '../../src/os/nftables/nfnl-socket.js';
import { exec } from '../../src/util/exec.js';

function dataplane(pods: number): Dataplane {
  const d = emptyDataplane();
  d.remoteGlobalCidrs.push('242.1.0.0/16');
  for (let i = 0; i < pods; i++) d.egressPods.set(`10.40.${i >> 8}.${i & 255}`, `242.0.0.${(i % 250) + 1}-242.0.0.${(i % 250) + 1}`);
  d.ingress.set('242.0.0.254', '10.40.0.7');
  return d;
}

describe('nat: Globalnet map sizes grow with their contents @real', function () {
  this.timeout(60_000);
  const ns = uniqueName('hw-gnc', 5);
  let dp: NftDataplane;
  let sock: NfnlSocket;

  const declared = async (map: string): Promise<number> => {
    const text = (await exec('nft', ['list', 'map', 'ip', NFT_TABLE, map], { netns: ns })).stdout;
    return Number(/\bsize (\d+)/.exec(text)?.[1] ?? NaN);
  };
  const handle = async (): Promise<string> => /# handle (\d+)/.exec((await exec('nft', ['-a', 'list', 'table', 'ip', NFT_TABLE], { netns: ns })).stdout)?.[1] ?? '';
  const count = async (set: string): Promise<number> => (await sock.dumpElements({ family: 'ip', table: NFT_TABLE, set })).length;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    await createNetns(ns);
    dp = new NftDataplane({ netns: ns });
    const s = NfnlSocket.open(ns);
    if ('unavailable' in s) throw new Error(s.unavailable);
    sock = s;
  });

  after(async () => {
    dp?.close();
    sock?.close();
    await deleteNetns(ns);
  });

  it('sizes from the desired count: at least twice it, a power of two, 1024 at least', () => {
    assert.equal(mapCapacity(0), 1024);
    assert.equal(mapCapacity(512), 1024);
    assert.equal(mapCapacity(513), 2048);
    assert.equal(mapCapacity(50_000), 131_072);
  });

  it('a new table is sized for its load; the kernel refuses elements beyond the size', async () => {
    await dp.sync(dataplane(100));
    assert.equal(dp.lastFull, 'created');
    assert.equal(await declared('egress_pods'), 1024);
    assert.equal(await declared('ingress'), 1024);
    const extra = Array.from({ length: 1000 }, (_, i) => `10.99.${i >> 8}.${i & 255} : 242.0.0.1-242.0.0.1`);
    const r = await exec('nft', ['add', 'element', 'ip', NFT_TABLE, 'egress_pods', `{ ${extra.join(', ')} }`], { netns: ns, allowFailure: true });
    assert.notEqual(r.code, 0, 'beyond the declared size');
    assert.match(r.stderr, /Too many open files|ENFILE/);
    assert.equal(await count('egress_pods'), 100, 'the refused transaction added nothing');
  });

  it('grows in place (same table) before an incremental change would overflow a map', async () => {
    const h = await handle();
    assert.deepEqual(await dp.sync(dataplane(1500)), { mode: 'incremental', changes: 1400 });
    assert.equal(dp.growth.inPlace, 1);
    assert.equal(await declared('egress_pods'), 4096);
    assert.equal(await declared('ingress'), 1024, 'only the map that needed it');
    const sizes = await sock.setSizes('ip', NFT_TABLE);
    assert.equal(sizes.get('egress_pods'), 4096, 'read back over nfnetlink as nft lists it');
    assert.equal(sizes.get('remote_global_cidrs'), 0, 'interval sets have no size');
    assert.equal(await handle(), h, 'the table was not replaced');
    assert.equal(await count('egress_pods'), 1500);
    // the incremental path, within the new size: no further growth
    for (let i = 1500; i < 2100; i += 100) {
      await dp.applyDelta(Array.from({ length: 100 }, (_, j) => ({ set: 'egress_pods' as const, key: `10.41.${(i + j) >> 8}.${(i + j) & 255}`, value: '242.0.0.9-242.0.0.9' })));
    }
    assert.equal(await declared('egress_pods'), 4096);
    assert.equal(dp.growth.inPlace, 1);
    assert.equal(await count('egress_pods'), 2100);
    assert.equal(await handle(), h);
    // a resync afterwards still finds the table as built (the fingerprint follows the new size)
    dp.invalidate();
    await dp.sync(dp.current ?? dataplane(0));
    assert.equal(dp.lastFull, 'diff');
  });

  it('past four times its creation size a map gets fresh buckets: the table is replaced in one transaction', async () => {
    const h = await handle();
    // 5000 > 4096 (the size now); room for it, 16384, is more than 4 × 1024 (its creation size)
    await dp.sync(dataplane(5000));
    assert.equal(dp.growth.replaced, 1);
    assert.equal(dp.growth.inPlace, 1);
    assert.equal(await declared('egress_pods'), 16_384);
    assert.notEqual(await handle(), h, 'a new table');
    assert.equal(await count('egress_pods'), 5000);
    assert.equal(await count('ingress'), 1);
    dp.invalidate();
    await dp.sync(dataplane(5000));
    assert.equal(dp.lastFull, 'diff', 'the replaced table is known as ours');
  });

  it('without nfnetlink (libnftables text only) a map outgrowing its size makes the table be replaced', async () => {
    const ns2 = uniqueName('hw-gnt', 5);
    await createNetns(ns2);
    const text = new NftDataplane({ netns: ns2, elements: 'text' });
    try {
      await text.sync(dataplane(100));
      await text.sync(dataplane(1500));
      assert.deepEqual(text.growth, { inPlace: 0, replaced: 1 });
      const listing = (await exec('nft', ['list', 'map', 'ip', NFT_TABLE, 'egress_pods'], { netns: ns2 })).stdout;
      assert.match(listing, /size 4096/);
      assert.equal((listing.match(/ : 242\./g) ?? []).length, 1500);
    } finally {
      text.close();
      await deleteNetns(ns2);
    }
  });
});
