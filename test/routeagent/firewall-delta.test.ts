import assert from 'node:assert/strict';
import { checkFirewall, elementDelta, firewallElements, firewallSkeleton, renderFirewall } from '../../src/routeagent/firewall.js';
import type { PlannedFirewall } from '../../src/routeagent/types.js';

const fw: PlannedFirewall = {
  family: 'ip',
  table: 'hawser',
  nodeIP: '10.0.0.12',
  localCidrs: ['10.96.0.0/12', '10.244.0.0/16'],
  remoteCidrs: ['10.245.0.0/16', '10.250.1.1/32'],
  vxlanPort: 4800,
  mss: { kind: 'fixed', value: 1340 },
};

const sets = (f: PlannedFirewall): { local: Set<string>; remote: Set<string> } => {
  const e = firewallElements(f);
  return { local: new Set(e.local), remote: new Set(e.remote) };
};

/** What nft prints for the table (multi-line sets, a /32 as a bare address). */
function listed(f: PlannedFirewall, remote: string[] = firewallElements(f).remote.map((e) => e.replace(/\/32$/, ''))): string {
  const text = renderFirewall(f).split('\n').slice(2).join('\n');
  return text.replace(/(set SUBMARINER-REMOTECIDRS \{ type ipv4_addr; flags interval;)[^}]*\}[^}]*\}/, `$1\n\t\telements = { ${remote.join(',\n\t\t\t     ')} }\n\t}`);
}

describe('routeagent firewall: set-element deltas', () => {
  it('the skeleton leaves out the CIDRs and nothing else', () => {
    assert.equal(firewallSkeleton(fw), firewallSkeleton({ ...fw, remoteCidrs: [], localCidrs: ['10.0.0.0/8'] }));
    assert.notEqual(firewallSkeleton(fw), firewallSkeleton({ ...fw, nodeIP: '10.0.0.13' }));
    assert.notEqual(firewallSkeleton(fw), firewallSkeleton({ ...fw, mss: { kind: 'pmtu' } }));
    assert.notEqual(firewallSkeleton(fw), firewallSkeleton({ ...fw, vxlanPort: 4801 }));
  });

  it('one CIDR added or removed is one transaction on that set only; equal sets give none', () => {
    assert.equal(elementDelta(fw, sets(fw), firewallElements(fw)), undefined);
    const more = { ...fw, remoteCidrs: [...fw.remoteCidrs, '192.168.7.0/24'] };
    const add = elementDelta(fw, sets(fw), firewallElements(more))!;
    assert.equal(add.script, 'add element ip hawser SUBMARINER-REMOTECIDRS { 192.168.7.0/24 }\n');
    assert.deepEqual(add.remote, { add: ['192.168.7.0/24'], del: [] });
    assert.deepEqual(add.local, { add: [], del: [] });
    const del = elementDelta(fw, sets(more), firewallElements(fw))!;
    assert.equal(del.script, 'delete element ip hawser SUBMARINER-REMOTECIDRS { 192.168.7.0/24 }\n');
    assert.deepEqual(del.steps, ['nft delete element ip hawser SUBMARINER-REMOTECIDRS { 192.168.7.0/24 }']);
  });

  it('a covering CIDR deletes the ones it covers before it is added (interval sets refuse overlaps)', () => {
    const cover = { ...fw, remoteCidrs: [...fw.remoteCidrs, '10.244.0.0/14'], localCidrs: ['10.96.0.0/12'] };
    const d = elementDelta(fw, { local: new Set(['10.96.0.0/12']), remote: new Set(['10.245.0.0/16']) }, firewallElements(cover))!;
    assert.equal(d.script, 'delete element ip hawser SUBMARINER-REMOTECIDRS { 10.245.0.0/16 }\nadd element ip hawser SUBMARINER-REMOTECIDRS { 10.244.0.0/14, 10.250.1.1/32 }\n');
  });

  it('a listing with the planned skeleton is checked by its elements (a /32 printed bare), not replaced', () => {
    const c = checkFirewall(fw, listed(fw));
    assert.equal(c.kind, 'elements');
    assert.ok(c.kind === 'elements');
    assert.deepEqual(c.have, sets(fw));
    assert.equal(elementDelta(fw, c.have, firewallElements(fw)), undefined);
    // an element deleted behind our back is one add
    const gone = checkFirewall(fw, listed(fw, ['10.245.0.0/16']));
    assert.ok(gone.kind === 'elements');
    assert.equal(elementDelta(fw, gone.have, firewallElements(fw))?.script, 'add element ip hawser SUBMARINER-REMOTECIDRS { 10.250.1.1/32 }\n');
  });

  it('the digest of a table we changed by deltas is accepted only when given; other skeleton changes replace', () => {
    const more = { ...fw, remoteCidrs: [...fw.remoteCidrs, '192.168.7.0/24'] };
    const old = listed(fw);
    const digest = /plan=(\w+)/.exec(old)![1]!;
    assert.equal(checkFirewall(more, old).kind, 'replace');
    assert.equal(checkFirewall(more, old, digest).kind, 'elements');
    const why = (f: PlannedFirewall, l: string | undefined, known?: string): string => {
      const c = checkFirewall(f, l, known);
      return c.kind === 'replace' ? c.why : c.kind;
    };
    assert.equal(why(fw, undefined), 'absent');
    assert.equal(why({ ...fw, nodeIP: '10.0.0.13' }, old), 'plan changed');
    assert.equal(why(fw, old.replace(/\t\tudp dport 4800[^\n]*\n/, '')), 'rules were changed');
    assert.equal(why(fw, old.replace(/\tset SUBMARINER-LOCALCIDRS[^\n]*\n/, '')), 'a set is missing');
    assert.equal(why(fw, listed(fw, ['10.245.0.0/16', '10.250.1.1-10.250.1.9'])), 'a set holds a range hawser did not write');
    const r = checkFirewall(fw, undefined);
    assert.ok(r.kind === 'replace');
    assert.equal(r.script, renderFirewall(fw));
    assert.equal(r.digest, digest);
  });
});
