// The two ways NftDataplane writes elements (nfnetlink batches, libnftables text) leave the kernel with
// the same table, and a full resync of an existing table sends only what differs from the kernel.
import assert from 'node:assert/strict';
import { cloneDataplane, emptyDataplane, NFT_TABLE, NftDataplane, type Dataplane } from '../../src/nat/nft.js';
import { NfnlSocket } from '../../src/os/nftables/nfnl-socket.js';
import { createNetns, deleteNetns, uniqueName } from '../../src/os/netns.js';
import { exec } from '../../src/util/exec.js';

function dataplane(n: number): Dataplane {
  const d = emptyDataplane();
  d.remoteGlobalCidrs.push('242.1.0.0/16', '242.2.0.0/16');
  d.egressCluster.set('10.40.0.0/16', '242.0.0.250-242.0.0.254');
  d.egressCluster.set('10.96.0.0/12', '242.0.0.250-242.0.0.254');
  for (let i = 0; i < n; i++) d.egressPods.set(`10.40.${i >> 8}.${i & 255}`, `242.0.0.${(i % 200) + 1}-242.0.0.${(i % 200) + 1}`);
  d.egressNs.set('10.40.200.1', '242.0.0.240-242.0.0.243');
  d.egressHdlsPods.set('10.40.201.1', '242.0.0.230-242.0.0.230');
  d.egressHdlsEps.set('10.40.202.1', '242.0.0.231-242.0.0.231');
  d.ingress.set('242.0.0.230', '10.40.201.1');
  d.ingress.set('242.0.0.231', '10.40.202.1');
  return d;
}

describe('nat: nftables element paths (nfnetlink and libnftables text) @real', function () {
  this.timeout(60_000);
  const ns = { bin: uniqueName('hw-npb', 5), text: uniqueName('hw-npt', 5) };
  let bin: NftDataplane;
  let text: NftDataplane;
  const list = async (netns: string): Promise<string> => (await exec('nft', ['list', 'table', 'ip', NFT_TABLE], { netns })).stdout;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    await createNetns(ns.bin);
    await createNetns(ns.text);
    bin = new NftDataplane({ netns: ns.bin });
    text = new NftDataplane({ netns: ns.text, elements: 'text' });
  });

  after(async () => {
    bin?.close();
    text?.close();
    await deleteNetns(ns.bin);
    await deleteNetns(ns.text);
  });

  it('a first load, element changes and a resync leave the same `nft list table` either way', async () => {
    const d = dataplane(3000);
    await bin.sync(d);
    await text.sync(cloneDataplane(d));
    assert.equal(bin.lastFull, 'created');
    assert.equal(text.lastFull, 'replaced');
    assert.equal(await list(ns.bin), await list(ns.text));
    const e = cloneDataplane(d);
    e.egressPods.delete('10.40.0.1');
    e.egressPods.set('10.40.0.2', '242.0.0.199-242.0.0.200');
    e.ingress.set('242.0.0.232', '10.40.0.9');
    e.remoteGlobalCidrs.push('242.3.0.0/16');
    assert.deepEqual(await bin.sync(e), { mode: 'incremental', changes: 7 });
    assert.deepEqual(await text.sync(cloneDataplane(e)), { mode: 'incremental', changes: 7 });
    await bin.applyDelta([{ set: 'egress_ns', key: '10.40.0.3', value: '242.0.0.240-242.0.0.243' }, { set: 'ingress', key: '242.0.0.231' }]);
    await text.applyDelta([{ set: 'egress_ns', key: '10.40.0.3', value: '242.0.0.240-242.0.0.243' }, { set: 'ingress', key: '242.0.0.231' }]);
    const listing = await list(ns.bin);
    assert.equal(listing, await list(ns.text));
    assert.match(listing, /10\.40\.0\.2 : 242\.0\.0\.199-242\.0\.0\.200/);
    bin.invalidate();
    await bin.sync(bin.current ?? cloneDataplane(e));
    assert.equal(await list(ns.bin), listing);
  });

  it('the declarations fingerprint ignores elements and sees a foreign rule', async () => {
    const sock = NfnlSocket.open(ns.bin);
    if ('unavailable' in sock) throw new Error(sock.unavailable);
    try {
      const before = await sock.fingerprint('ip', NFT_TABLE);
      assert.ok(before && /sets:/.test(before) && /rules:/.test(before));
      await exec('nft', ['add', 'element', 'ip', NFT_TABLE, 'egress_pods', '{ 10.98.0.1 : 242.0.0.9-242.0.0.9 }'], { netns: ns.bin });
      await exec('nft', ['add', 'element', 'ip', NFT_TABLE, 'remote_global_cidrs', '{ 242.9.0.0/16 }'], { netns: ns.bin });
      assert.equal(await sock.fingerprint('ip', NFT_TABLE), before);
      await exec('nft', ['add', 'rule', 'ip', NFT_TABLE, 'ingress', 'counter'], { netns: ns.bin });
      assert.notEqual(await sock.fingerprint('ip', NFT_TABLE), before);
      assert.equal(await sock.fingerprint('ip', 'nosuch'), undefined);
    } finally {
      sock.close();
    }
    bin.invalidate();
    await bin.sync(dataplane(3000));
    assert.equal(bin.lastFull, 'replaced', 'the foreign rule made the resync replace the table');
  });

  it('a full resync of an existing table sends only the difference from what the kernel holds', async () => {
    const d = dataplane(3000);
    await bin.fullResync(d);
    // behind our back: one element gone, one foreign, one changed value
    await exec('nft', ['delete', 'element', 'ip', NFT_TABLE, 'egress_pods', '{ 10.40.1.1 }'], { netns: ns.bin });
    await exec('nft', ['add', 'element', 'ip', NFT_TABLE, 'egress_pods', '{ 10.99.0.1 : 242.0.0.9-242.0.0.9 }'], { netns: ns.bin });
    await exec('nft', ['delete', 'element', 'ip', NFT_TABLE, 'ingress', '{ 242.0.0.230 }'], { netns: ns.bin });
    await exec('nft', ['add', 'element', 'ip', NFT_TABLE, 'ingress', '{ 242.0.0.230 : 10.1.1.1 }'], { netns: ns.bin });
    const monitor = await exec('sh', ['-c', `timeout 20 nft monitor elements > /tmp/${ns.bin}.monitor 2>&1 & echo $!`], { netns: ns.bin });
    const pid = Number(monitor.stdout.trim());
    try {
      await new Promise((r) => setTimeout(r, 300)); // let the monitor subscribe before the resync
      bin.invalidate();
      assert.equal((await bin.sync(d)).mode, 'full');
      assert.equal(bin.lastFull, 'diff');
      const listing = await list(ns.bin);
      assert.match(listing, /10\.40\.1\.1 : 242\.0\.0\.58\/32/);
      assert.doesNotMatch(listing, /10\.99\.0\.1/);
      assert.match(listing, /242\.0\.0\.230 : 10\.40\.201\.1/);
      // poll for the monitor's lines of our transaction: only the delta, never a flush of a point map
      const deadline = Date.now() + 5000;
      let seen = '';
      while (Date.now() < deadline) {
        seen = (await exec('cat', [`/tmp/${ns.bin}.monitor`])).stdout;
        if (/add element ip hawser-globalnet ingress/.test(seen)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const egressPodLines = seen.split('\n').filter((l) => / egress_pods /.test(l));
      assert.deepEqual(egressPodLines.map((l) => l.replace(/\s+/g, ' ').trim()).sort(), [
        'add element ip hawser-globalnet egress_pods { 10.40.1.1 : 242.0.0.58/32 }',
        'delete element ip hawser-globalnet egress_pods { 10.99.0.1 : 242.0.0.9/32 }',
      ]);
    } finally {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await exec('rm', ['-f', `/tmp/${ns.bin}.monitor`]);
    }
  });

  it('a table hawser did not shape (a foreign chain in it) is replaced whole', async () => {
    await exec('nft', ['add', 'chain', 'ip', NFT_TABLE, 'foreign'], { netns: ns.bin });
    bin.invalidate();
    await bin.sync(dataplane(100));
    assert.equal(bin.lastFull, 'replaced');
    assert.doesNotMatch(await list(ns.bin), /chain foreign/);
    bin.invalidate();
    await bin.sync(dataplane(100));
    assert.equal(bin.lastFull, 'diff');
  });
});
