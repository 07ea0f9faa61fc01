import assert from 'node:assert/strict';
import { checkName, Nft, nftString, parseTableListing } from '../../src/os/nft.js';
import { createNetns, deleteNetns, uniqueName } from '../../src/os/netns.js';
import { isHawserError } from '../../src/util/errors.js';
import { isNftError } from '../../src/os/nft.js';

describe('os/nft names and strings', () => {
  it('refuses names and strings that could change a script', () => {
    assert.equal(checkName('SUBMARINER-POSTROUTING'), 'SUBMARINER-POSTROUTING');
    assert.throws(() => checkName('x; flush ruleset'), /not a valid nftables name/);
    assert.equal(nftString('hawser: a comment'), '"hawser: a comment"');
    assert.throws(() => nftString('a" ; flush ruleset ; "'), /cannot put/);
  });
});

describe('os/nft adapter @real', function () {
  this.timeout(20_000);
  const ns = uniqueName('hw-nft', 5);
  const nft = new Nft({ netns: ns });

  before(() => createNetns(ns));
  after(() => deleteNetns(ns));

  it('applies a transaction, lists only the asked table, deletes idempotently', async () => {
    assert.equal(await nft.listTable('ip', 'mine'), undefined);
    await nft.run('table ip other {\n chain c {\n  type nat hook postrouting priority srcnat; policy accept;\n  masquerade\n }\n}\n');
    await nft.run('table ip mine {\n comment "x=1"\n set s { type ipv4_addr; flags interval; auto-merge; elements = { 10.0.0.0/16, 10.1.0.0/16 }; }\n chain a {\n  type filter hook input priority filter; policy accept;\n  ip saddr @s counter comment "t"\n }\n}\n');
    const listing = await nft.listTable('ip', 'mine');
    assert.ok(listing);
    const t = parseTableListing(listing);
    assert.equal(t.comment, 'x=1');
    assert.deepEqual([...t.sets], [['s', ['10.0.0.0/15']]]);
    assert.deepEqual(t.chains.get('a'), ['ip saddr @s counter packets 0 bytes 0 comment "t"']);
    assert.match(listing, /elements = \{ 10\.0\.0\.0\/15 \}/, 'auto-merge joined adjacent prefixes');
    const terse = await nft.listTable('ip', 'mine', { terse: true });
    assert.doesNotMatch(terse!, /elements/);
    assert.equal(parseTableListing(terse!).comment, 'x=1');
    assert.equal(await nft.deleteTable('ip', 'mine'), true);
    assert.equal(await nft.deleteTable('ip', 'mine'), false);
    assert.match(await nft.listRuleset(), /table ip other/);
  });

  it('a bad script changes nothing and says why', async () => {
    await assert.rejects(nft.run('table ip mine {\n chain a { type filter hook input priority filter; bogus }\n}\n'), (e: unknown) => isHawserError(e, 'NFT') && /syntax error/.test(e.message));
    assert.equal(await nft.listTable('ip', 'mine'), undefined);
  });

  it('a missing nft binary is an actionable error', async () => {
    const missing = new Nft({ binary: '/nonexistent/nft' });
    await assert.rejects(missing.listRuleset(), /install the nftables package/);
  });
});

describe('os/nft engines @real', function () {
  this.timeout(20_000);

  it('in this process: libnftables, one call per change, errors name the command line', async function () {
    if (process.getuid?.() !== 0) this.skip();
    const nft = new Nft();
    try {
      assert.equal(nft.kind, 'libnftables');
      // Only a read of a table that cannot exist in the host namespace: tests never write outside their own netns.
      const t0 = process.hrtime.bigint();
      assert.equal(await nft.listTable('ip', 'hw-never-there-x'), undefined);
      assert.ok(process.hrtime.bigint() - t0 < 1_000_000_000n);
      await assert.rejects(nft.exec('list table ip hw-never-there-x\n'), (e: unknown) => isNftError(e, 'not-found') && /in `list table ip hw-never-there-x`/.test(e.message));
      assert.equal(nft.committerPid, process.pid);
    } finally {
      nft.close();
    }
  });

  it('the nft binary fallback gives the same translated errors', async function () {
    if (process.getuid?.() !== 0) this.skip();
    const nft = new Nft({ binary: 'nft' });
    assert.equal(nft.kind, 'nft-binary');
    await assert.rejects(nft.run('table ip x {\n chain a { type filter hook input priority filter; bogus }\n}\n'), (e: unknown) => isNftError(e, 'syntax') && /chain a \{ type filter/.test(e.message));
  });
});
