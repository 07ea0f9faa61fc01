// Drift made behind hawser's back, with the real kernel: an element deleted or added by another process
// is undone from nftables notifications alone (one element transaction, no listing, no full resync); a
// deleted table is rebuilt by a full resync.
import assert from 'node:assert/strict';
import { emptyDataplane, NftDataplane, NFT_TABLE, type Dataplane } from '../../src/nat/nft.js';
import { createNetns, deleteNetns, netnsPids, uniqueName } from '../../src/os/netns.js';
import { exec } from '../../src/util/exec.js';

function dataplane(n: number): Dataplane {
  const d = emptyDataplane();
  d.remoteGlobalCidrs.push('242.1.0.0/16');
  for (let i = 0; i < n; i++) d.egressPods.set(`10.40.${i >> 8}.${i & 255}`, `242.0.0.${(i % 250) + 1}-242.0.0.${(i % 250) + 1}`);
  d.ingress.set('242.0.0.254', '10.40.0.7');
  return d;
}

async function poll(what: string, deadlineMs: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`${what}: not within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('nat: Globalnet table drift repaired from nftables notifications @real', function () {
  this.timeout(60_000);
  const ns = uniqueName('hw-gnd', 5);
  let nft: NftDataplane;
  const has = async (map: string, key: string): Promise<boolean> =>
    (await exec('nft', ['get', 'element', 'ip', NFT_TABLE, map, `{ ${key} }`], { netns: ns, allowFailure: true })).code === 0;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    await createNetns(ns);
    nft = new NftDataplane({ netns: ns });
    await nft.sync(dataplane(2000));
    await nft.watch();
  });

  after(async () => {
    nft?.close();
    for (const pid of await netnsPids(ns)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await deleteNetns(ns);
  });

  it('an element deleted with `nft delete element` is back within one second, without a full resync', async () => {
    const before = { ...nft.counters };
    assert.equal(before.full, 1);
    assert.ok(await has('egress_pods', '10.40.3.7'));
    await exec('nft', ['delete', 'element', 'ip', NFT_TABLE, 'egress_pods', '{ 10.40.3.7 }'], { netns: ns });
    await poll('element restored', 1000, () => has('egress_pods', '10.40.3.7'));
    await exec('nft', ['delete', 'element', 'ip', NFT_TABLE, 'ingress', '{ 242.0.0.254 }'], { netns: ns });
    await poll('ingress element restored', 1000, () => has('ingress', '242.0.0.254'));
    assert.equal(nft.counters.full, before.full, 'no full resync');
    assert.equal(nft.counters.driftResyncs, 0);
    assert.equal(nft.counters.repairs, before.repairs + 2);
    const value = (await exec('nft', ['get', 'element', 'ip', NFT_TABLE, 'egress_pods', '{ 10.40.3.7 }'], { netns: ns })).stdout;
    assert.match(value, /10\.40\.3\.7 : 242\.0\.0\.26\/32/);
  });

  it('an element added behind our back is removed again; our own changes are not undone', async () => {
    const before = { ...nft.counters };
    await exec('nft', ['add', 'element', 'ip', NFT_TABLE, 'egress_pods', '{ 10.99.0.1 : 242.0.0.9-242.0.0.9 }'], { netns: ns });
    await poll('foreign element removed', 1000, async () => !(await has('egress_pods', '10.99.0.1')));
    const d = dataplane(2000);
    d.egressPods.delete('10.40.0.1');
    d.egressPods.set('10.40.100.1', '242.0.0.3-242.0.0.3');
    assert.deepEqual(await nft.sync(d), { mode: 'incremental', changes: 2 });
    // our own transaction's notifications arrive too; they must leave the table as we set it
    assert.ok(!(await has('egress_pods', '10.40.0.1')));
    assert.ok(await has('egress_pods', '10.40.100.1'));
    assert.equal(nft.counters.full, before.full);
    assert.equal(nft.counters.repairs, before.repairs + 1);
  });

  it('a deleted table is rebuilt by one full resync', async () => {
    const before = { ...nft.counters };
    await exec('nft', ['delete', 'table', 'ip', NFT_TABLE], { netns: ns });
    await poll('table rebuilt', 2000, () => has('egress_pods', '10.40.100.1'));
    assert.equal(nft.counters.driftResyncs, before.driftResyncs + 1);
  });
});
