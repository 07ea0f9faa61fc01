// The change-proportional shortcuts checked against the whole computation they stand in for, over seeded
// random CIDR lists (sorted and not, overlapping, non-canonical texts, repeats): element lists from the
// last list (firewallElements vs setElements), element deltas walked from the last list (elementDelta
// with `unchanged` vs the set difference), and changedRange itself.
import assert from 'node:assert/strict';
import { elementDelta, firewallElements, listChange, setElements } from '../../src/routeagent/firewall.js';
import { changedRange } from '../../src/routeagent/route-index.js';
import type { PlannedFirewall } from '../../src/routeagent/types.js';
import { seededRandom as rng } from '../support/prng.js';

const fw = (remote: string[]): PlannedFirewall => ({ family: 'ip', table: 'hawser', nodeIP: '10.0.0.12', localCidrs: ['10.96.0.0/12'], remoteCidrs: remote, vxlanPort: 4800, mss: { kind: 'pmtu' } });

describe('routeagent: change-proportional shortcuts equal the whole computation', () => {
  it('changedRange: what lies outside the range is equal, and the range is as small as a prefix and suffix allow', () => {
    const r = rng(7);
    for (let n = 0; n < 500; n++) {
      const a = Array.from({ length: Math.floor(r() * 8) }, () => Math.floor(r() * 4));
      const b = Array.from({ length: Math.floor(r() * 8) }, () => Math.floor(r() * 4));
      const { from, prevTo, nextTo } = changedRange(a, b, (x, y) => x === y);
      assert.deepEqual(a.slice(0, from), b.slice(0, from));
      assert.deepEqual(a.slice(prevTo), b.slice(nextTo));
      assert.equal(a.length - prevTo, b.length - nextTo);
      if (from < Math.min(a.length, b.length)) assert.notEqual(a[from], b[from], 'the prefix is the longest');
    }
  });

  it('element lists and deltas over 2,000 random steps from one list to the next', () => {
    const r = rng(42);
    const text = (): string => {
      const k = r();
      // mostly /24s from a small space (so adds and removes collide), some wider ones that cover them, a few non-canonical and bad texts
      if (k < 0.8) return `172.${16 + Math.floor(r() * 2)}.${Math.floor(r() * 16)}.0/24`;
      if (k < 0.9) return `172.${16 + Math.floor(r() * 2)}.${Math.floor(r() * 4) * 4}.0/22`;
      if (k < 0.97) return `172.16.${Math.floor(r() * 16)}.7/24`;
      return 'not-a-cidr';
    };
    let list: string[] = [];
    let made: readonly string[] | undefined;
    for (let step = 0; step < 2000; step++) {
      const next = [...list];
      const edits = r() < 0.8 ? 1 : 1 + Math.floor(r() * 5);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(r() * (next.length + 1));
        if (r() < 0.5 && next.length) next.splice(Math.min(at, next.length - 1), 1);
        else next.splice(at, 0, text());
      }
      // like the planner, mostly sorted and unique: sort some steps' lists
      const given = r() < 0.7 ? setElements(next).concat(next.filter((t) => t === 'not-a-cidr')) : next;
      const want = firewallElements(fw(given));
      assert.deepEqual([...want.remote], setElements(given), `step ${step}: elements of ${JSON.stringify(given)}`);
      if (made) {
        const d = elementDelta(fw(given), undefined, want, { local: firewallElements(fw(given)).local, remote: made });
        const have = new Set(made);
        for (const x of d?.remote.del ?? []) assert.ok(have.delete(x), `step ${step}: deletes ${x}, which is not there`);
        for (const x of d?.remote.add ?? []) {
          assert.ok(!have.has(x), `step ${step}: adds ${x}, which is there`);
          have.add(x);
        }
        assert.deepEqual([...have].sort(), [...want.remote].sort(), `step ${step}: the delta takes the set to the elements`);
      }
      made = want.remote;
      list = given;
    }
  });

  it('listChange between element lists is their set difference', () => {
    assert.deepEqual(listChange(['a', 'b', 'c', 'd'], ['a', 'c', 'e', 'd']), { add: ['e'], del: ['b'] });
    assert.deepEqual(listChange(['a', 'b'], ['a', 'b']), { add: [], del: [] });
    assert.deepEqual(listChange([], ['x']), { add: ['x'], del: [] });
  });
});
