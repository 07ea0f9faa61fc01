// The route agent's element changes on an interval set, written through src/os/nftables' nfnetlink
// socket (routeagent/nft-elements.ts): nft lists what we meant, adjacent CIDRs and /32s included, and a
// refused change leaves the set as it was and names the CIDR.
import { strict as assert } from 'node:assert';
import { isNftError } from '../../src/os/nftables/errors.js';
import { NFT_SET_ELEM_INTERVAL_END } from '../../src/os/nftables/nfnl.js';
import { createLogger } from '../../src/log/index.js';
import { planRouteAgent, RouteAgentDataplane, type RouteAgentInput } from '../../src/routeagent/index.js';
import { elementOps, NfnlSetElements } from '../../src/routeagent/nft-elements.js';
import { ipIn, Namespaces, run } from '../support/netns-commands.js';

const hex = (b: Buffer): string => [...b].join('.');

describe('routeagent: nft set elements over nfnetlink', () => {
  it('deletes before adds, one op per set and verb, an end element per CIDR except at the top', () => {
    const ops = elementOps('hawser', [{ set: 'A', add: ['10.0.0.0/24'], del: ['10.1.0.0/16'] }, { set: 'B', add: ['255.255.255.0/24', '10.9.9.9/32'], del: [] }]);
    assert.deepEqual(ops.map((o) => `${o.op} ${o.family} ${o.table} ${o.set}`), ['delete ip hawser A', 'add ip hawser A', 'add ip hawser B']);
    const els = ops.map((o) => (o.op === 'flush' ? [] : o.elements.map((e) => `${hex(e.key)}${e.flags === NFT_SET_ELEM_INTERVAL_END ? ' end' : ''}`)));
    assert.deepEqual(els, [['10.1.0.0', '10.2.0.0 end'], ['10.0.0.0', '10.0.1.0 end'], ['255.255.255.0', '10.9.9.9', '10.9.9.10 end']]);
    assert.throws(() => elementOps('hawser', [{ set: 'A', add: ['10.0.0.0/33'], del: [] }]), /not an IPv4 CIDR/);
  });
});

describe('routeagent: nft set elements over nfnetlink @real', function () {
  this.timeout(30_000);
  const nss = new Namespaces();
  let ns = '';
  let w: NfnlSetElements | undefined;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    ns = await nss.create('hw-raelem');
    await run(ns, 'nft', ['-f', '-'], 'table ip hawser {\n set S { type ipv4_addr; flags interval; elements = { 10.0.0.0/24, 10.0.1.0/24, 192.168.0.0/16 }; }\n}\n');
    const opened = NfnlSetElements.open(ns);
    if ('unavailable' in opened) throw new Error(opened.unavailable);
    w = opened;
  });
  after(async () => {
    w?.close();
    await nss.cleanup();
  });

  const elements = async (): Promise<string[]> => {
    const text = await run(ns, 'nft', ['list', 'set', 'ip', 'hawser', 'S']);
    return (/elements = \{([^}]*)\}/.exec(text)?.[1] ?? '').split(',').map((e) => e.trim()).filter(Boolean).sort();
  };

  it('adds and deletes in one transaction in another netns, next to adjacent CIDRs, a /32 included', async () => {
    await w!.apply('hawser', [{ set: 'S', add: ['172.16.0.0/24', '10.9.9.9/32'], del: ['10.0.1.0/24'] }]);
    assert.deepEqual(await elements(), ['10.0.0.0/24', '10.9.9.9', '172.16.0.0/24', '192.168.0.0/16']);
    // back next to 10.0.0.0/24: its start key is that CIDR's end key
    await w!.apply('hawser', [{ set: 'S', add: ['10.0.1.0/24'], del: ['10.9.9.9/32'] }]);
    assert.deepEqual(await elements(), ['10.0.0.0/24', '10.0.1.0/24', '172.16.0.0/24', '192.168.0.0/16']);
  });

  it('a refused change (an overlap) applies nothing and names the op, the CIDR and the errno', async () => {
    await assert.rejects(w!.apply('hawser', [{ set: 'S', add: ['192.168.1.0/24'], del: ['172.16.0.0/24'] }]), (e: unknown) => {
      assert.ok(isNftError(e), String(e));
      assert.match(e.message, /add element ip hawser S \{ 192\.168\.1\.0\/24.*: E[A-Z]+/);
      return true;
    });
    assert.deepEqual(await elements(), ['10.0.0.0/24', '10.0.1.0/24', '172.16.0.0/24', '192.168.0.0/16']);
  });
});

describe('routeagent: the data plane of another netns changes its sets over nfnetlink @real', function () {
  this.timeout(60_000);
  const nss = new Namespaces();
  let ns = '';
  let dp: RouteAgentDataplane | undefined;
  const applied: string[] = [];
  const realApply = Object.getOwnPropertyDescriptor(NfnlSetElements.prototype, 'apply')!;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    ns = await nss.create('hw-raelns');
    await ipIn(ns, 'link add eth0 type veth peer name eth1\naddress add 192.168.90.12/24 dev eth0\nlink set eth0 up\nlink set eth1 up\n');
    // counts the element transactions that went through nfnetlink (the text path does not come here)
    Object.defineProperty(NfnlSetElements.prototype, 'apply', {
      ...realApply,
      value(this: NfnlSetElements, table: string, changes: { set: string; add: readonly string[]; del: readonly string[] }[]) {
        applied.push(changes.map((c) => `${c.set} -${c.del.join(' -')} +${c.add.join(' +')}`).join('; '));
        return (realApply.value as NfnlSetElements['apply']).call(this, table, changes);
      },
    });
    dp = new RouteAgentDataplane({ netns: ns, log: createLogger({ level: 'fatal' }), resyncIntervalMs: 0 });
  });
  after(async () => {
    Object.defineProperty(NfnlSetElements.prototype, 'apply', realApply);
    await dp?.uninstall().catch(() => undefined);
    await dp?.close();
    await nss.cleanup();
  });

  const input = (remoteCidrs: string[]): RouteAgentInput => ({
    nodeName: 'n', nodeIP: '192.168.90.12', nodes: [{ name: 'gw', ip: '192.168.90.11' }, { name: 'n', ip: '192.168.90.12' }],
    activeGateway: { nodeName: 'gw', nodeIP: '192.168.90.11' }, localClusterCidrs: ['10.244.0.0/16'], localServiceCidrs: ['10.96.0.0/12'], remoteCidrs, cableDriver: 'libreswan',
  });

  it('one remote CIDR added is one nfnetlink transaction in that netns, and nft lists it', async () => {
    const r0 = await dp!.reconcile(planRouteAgent(input(['172.16.0.0/24'])));
    assert.deepEqual(r0.failures, []);
    const r1 = await dp!.reconcile(planRouteAgent(input(['172.16.0.0/24', '172.17.0.0/16'])));
    assert.deepEqual(r1.failures, []);
    assert.equal(r1.nft, 1);
    assert.equal(applied.length, 1, applied.join('\n'));
    assert.match(applied[0]!, /\+172\.17\.0\.0\/16/);
    assert.match(await run(ns, 'nft', ['list', 'table', 'ip', planRouteAgent(input([])).firewall.table]), /172\.16\.0\.0\/24, 172\.17\.0\.0\/16/);
  });
});
