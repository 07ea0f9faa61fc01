// nftables notifications read in process from an nfnetlink socket inside a throwaway netns: what `nft`
// does there is seen per generation with nft's PID, and a 20,000-element transaction arrives whole.
import assert from 'node:assert/strict';
import { createNetns, deleteNetns, uniqueName } from '../../src/os/netns.js';
import { NftMonitor, parseGeneration, type NftGeneration } from '../../src/os/nftables/monitor.js';
import { exec } from '../../src/util/exec.js';

describe('os/nftables notifications in process @real', function () {
  this.timeout(60_000);
  const ns = uniqueName('hw-nmo', 5);
  let m: NftMonitor;
  const gens: NftGeneration[] = [];
  const lost: string[] = [];

  /** Runs an nft script in the netns and returns the generation it committed (by nft's PID). */
  async function committed(script: string): Promise<NftGeneration> {
    const seen = gens.length;
    await exec('nft', ['-f', '-'], { netns: ns, input: script });
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const g = gens.slice(seen).find((x) => x.process === 'nft');
      if (g) return g;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no generation seen for ${script}`);
  }

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    await createNetns(ns);
    m = new NftMonitor({ netns: ns });
    m.on('generation', (g: NftGeneration) => gens.push(g));
    m.on('lost', (why: string) => lost.push(why));
    m.on('unavailable', (why: string) => lost.push(`unavailable: ${why}`));
    m.start();
  });

  after(async () => {
    m?.stop();
    await deleteNetns(ns);
  });

  it('a table, a map and elements added, then an element and the table deleted', async () => {
    const g = await committed('table ip t {\n map m {\n type ipv4_addr : interval ipv4_addr\n elements = { 10.0.0.1 : 242.0.0.1-242.0.0.2 }\n }\n chain c {\n type nat hook postrouting priority srcnat; policy accept;\n snat ip to ip saddr map @m\n }\n}\n');
    assert.ok(g.pid && g.pid > 1 && g.pid !== process.pid, 'the nft process committed it');
    const evs = parseGeneration(g).map((e) => `${e.op} ${e.object} ${e.family} ${e.table} ${e.name ?? ''} ${(e.elements ?? []).join(',')}`.trim());
    assert.ok(evs.includes('add table ip t'), evs.join('\n'));
    assert.ok(evs.includes('add map ip t m'), evs.join('\n'));
    assert.ok(evs.includes('add element ip t m 10.0.0.1 : 242.0.0.1-242.0.0.2'), evs.join('\n'));
    assert.ok(evs.includes('add chain ip t c'), evs.join('\n'));
    assert.ok(evs.includes('add rule ip t c'), evs.join('\n'));
    const del = parseGeneration(await committed('delete element ip t m { 10.0.0.1 }\n'));
    assert.deepEqual(del, [{ op: 'delete', object: 'element', family: 'ip', table: 't', name: 'm', elements: ['10.0.0.1 : 242.0.0.1-242.0.0.2'] }], 'the kernel names the deleted element with its value');
    const gone = parseGeneration(await committed('delete table ip t\n')).map((e) => `${e.op} ${e.object}`);
    assert.ok(gone.includes('delete table'), gone.join(', '));
  });

  it('the receive buffer is forced past net.core.rmem_max (room for a 50,000-element load)', () => {
    assert.ok((m.receiveBuffer ?? 0) >= 32 * 1024 * 1024, String(m.receiveBuffer));
  });

  it('20,000 elements in one transaction arrive whole in one generation, nothing lost', async () => {
    const els = Array.from({ length: 20_000 }, (_, i) => `10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255} : 242.0.0.1-242.0.0.1`);
    const g = await committed(`table ip big {\n map m {\n type ipv4_addr : interval ipv4_addr\n elements = { ${els.join(', ')} }\n }\n}\n`);
    const added = parseGeneration(g).filter((e) => e.object === 'element').reduce((n, e) => n + e.elements!.length, 0);
    assert.equal(added, 20_000);
    assert.deepEqual(lost, []);
  });
});
