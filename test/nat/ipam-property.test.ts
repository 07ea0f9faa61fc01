// Property tests: random create/delete/resize/"restart" schedules (seeded, thousands of steps) never
// double-allocate or leak, checked against the statuses the planner wrote.
import assert from 'node:assert/strict';
import { Ipam } from '../../src/nat/ipam.js';
import { intToIpv4 as intToIp, ipv4ToInt as ipToInt, parseIpv4Cidr } from '../../src/net/cidr.js';
import type { Count } from '../../src/nat/resources.js';
import { rng, World } from './sim.js';

function countIn(r: () => number): Count {
  const x = r();
  if (x < 0.15) return { kind: 'default' };
  if (x < 0.22) return { kind: 'value', value: 0 };
  return { kind: 'value', value: 1 + Math.floor(r() * 5) };
}

function assertNoDuplicates(w: World, when: string): void {
  const seen = new Map<string, string>();
  for (const [owner, ip] of w.statusIps()) {
    const other = seen.get(ip);
    assert.ok(other === undefined, `${when}: ${ip} is in the status of both ${other} and ${owner}`);
    seen.set(ip, owner);
  }
}

function assertInCidr(w: World): void {
  const c = parseIpv4Cidr(w.globalCidr)!;
  for (const [owner, ip] of w.statusIps()) {
    const n = ipToInt(ip);
    assert.ok(n > c.base && n < c.base + c.size - 1, `${owner}: ${ip} is not a usable address of ${c.text}`);
  }
}

/** Converged: a second plan changes nothing, stats match the statuses, and failures are real exhaustion. */
function assertConverged(w: World, when: string): void {
  // New GlobalIngressIPs take one run to create and one to allocate; shrinking frees addresses one run late.
  let { plan } = w.reconcile();
  for (let i = 0; i < 4 && (plan.statusUpdates.length || plan.ingressObjects.length); i++) plan = w.reconcile().plan;
  assert.deepEqual(plan.statusUpdates, [], `${when}: not converged (status updates left)`);
  assert.deepEqual(plan.ingressObjects, [], `${when}: not converged (ingress ops left)`);
  const claimed = w.statusIps();
  assert.equal(plan.stats.allocated, claimed.length, `${when}: IPAM allocated ${plan.stats.allocated} but statuses hold ${claimed.length} (leak)`);
  assert.equal(plan.stats.available, plan.stats.size - claimed.length);
  const { ipam } = Ipam.fromClaims(w.globalCidr, claimed.map(([owner, ip]) => ({ owner: `${owner} ${ip}`, createdAt: '', ips: [ip] })));
  for (const e of [...w.geips.values(), ...w.cges.values()]) {
    const cond = e.status.conditions.find((c) => c.type === 'Allocated');
    if (cond?.reason !== 'IPPoolAllocationFailed') continue;
    const n = 'numberOfIPs' in e ? e.numberOfIPs : e.numGlobalIPs;
    const want = n.kind === 'value' ? n.value : 'numberOfIPs' in e ? 1 : 8;
    assert.ok(want === 1 ? ipam.available === 0 : ipam.largestFreeRun() < want, `${when}: ${e.meta.name} failed to get ${want} but the pool has room`);
  }
  // The data plane uses exactly the statuses' addresses, each for one owner.
  const claimedSet = new Set(claimed.map(([, ip]) => ip));
  for (const ip of plan.dataplane.ingress.keys()) assert.ok(claimedSet.has(ip), `${when}: ingress ${ip} is in no status`);
  for (const m of [plan.dataplane.egressPods, plan.dataplane.egressNs, plan.dataplane.egressCluster]) {
    for (const range of m.values()) {
      const [a, b] = range.split('-').map(ipToInt);
      for (let i = a!; i <= b!; i++) assert.ok(claimedSet.has(intToIp(i)), `${when}: egress ${intToIp(i)} is in no status`);
    }
  }
}

function run(seed: number, cidr: string, steps: number): { reconciles: number; exhausted: number } {
  const r = rng(seed);
  const w = new World(cidr);
  w.addClusterEgress('cluster-egress.submariner.io', { kind: 'value', value: 3 });
  let n = 0;
  let reconciles = 0;
  let exhausted = 0;
  let corrupted = false;
  for (let step = 0; step < steps; step++) {
    w.tick(r() < 0.3 ? 0 : 1000); // same-second creations happen too
    const x = r();
    const geips = [...w.geips.keys()];
    const exports = [...w.exports.keys()];
    if (x < 0.2) w.addEgress(`ns${Math.floor(r() * 4)}`, `e${n++}`, countIn(r));
    else if (x < 0.4 && geips.length) w.geips.delete(geips[Math.floor(r() * geips.length)]!);
    else if (x < 0.48 && geips.length) {
      const e = w.geips.get(geips[Math.floor(r() * geips.length)]!)!;
      e.numberOfIPs = countIn(r);
      e.meta = { ...e.meta, generation: (e.meta.generation ?? 1) + 1 };
    } else if (x < 0.6) w.exportService(`ns${Math.floor(r() * 4)}`, `s${n++}`, `10.43.0.${Math.floor(r() * 250) + 1}`);
    else if (x < 0.72 && exports.length) {
      const k = exports[Math.floor(r() * exports.length)]!;
      w.exports.delete(k);
      if (r() < 0.5) w.services.delete(k);
    } else if (x < 0.75) {
      // Corrupt: a younger object's status claims an older one's address (Submariner #4122's aftermath).
      const holders = w.statusIps();
      const young = [...w.geips.values()].at(-1);
      if (holders.length && young) {
        young.status = { ...young.status, allocatedIPs: [holders[Math.floor(r() * holders.length)]![1]] };
        corrupted = true;
      }
    } else if (x < 0.8) {
      // "Restart": several changes land while the controller is down, then it comes back (stateless planner).
      for (let i = 0; i < 5; i++) {
        const ks = [...w.geips.keys()];
        if (ks.length && r() < 0.6) w.geips.delete(ks[Math.floor(r() * ks.length)]!);
        else w.addEgress(`ns${Math.floor(r() * 4)}`, `e${n++}`, countIn(r));
      }
    }
    // Reconcile most steps; some writes fail like optimistic-concurrency conflicts.
    if (r() < 0.7) {
      const { plan, failed } = w.reconcile(() => r() < 0.1);
      reconciles++;
      if (plan.notes.some((no) => /allocating/.test(no.message))) exhausted++;
      if (failed === 0) corrupted = false;
      if (!corrupted) assertNoDuplicates(w, `seed ${seed} step ${step}`);
      assertInCidr(w);
    }
    if (step % 250 === 249) {
      assertConverged(w, `seed ${seed} step ${step}`);
      assertNoDuplicates(w, `seed ${seed} step ${step} (converged)`);
      corrupted = false;
    }
  }
  return { reconciles, exhausted };
}

describe('nat: IPAM properties over the planner (seeded random schedules)', () => {
  it('a /26 under pressure (3 seeds x 1,000 steps): no double allocation, no leak, exhaustion only when real', () => {
    let exhausted = 0;
    for (const seed of [1, 2, 3]) exhausted += run(seed, '242.0.0.0/26', 1000).exhausted;
    assert.ok(exhausted > 0, 'the schedule should hit pool exhaustion at least once');
  });

  it('a /22 over 2,500 steps', () => {
    run(42, '242.0.0.0/22', 2500);
  });

  it('frees what was deleted while down and keeps the older claim of a conflict', () => {
    const w = new World('242.0.0.0/24');
    w.addEgress('a', 'old', { kind: 'value', value: 2 });
    w.tick();
    w.addEgress('b', 'young', { kind: 'value', value: 1 });
    w.tick();
    w.addEgress('c', 'gone', { kind: 'value', value: 4 });
    w.reconcile();
    assert.deepEqual(w.geips.get('a/old')!.status.allocatedIPs, ['242.0.0.1', '242.0.0.2']);
    assert.deepEqual(w.geips.get('b/young')!.status.allocatedIPs, ['242.0.0.254']);
    assert.deepEqual(w.geips.get('c/gone')!.status.allocatedIPs, ['242.0.0.3', '242.0.0.4', '242.0.0.5', '242.0.0.6']);
    // Down: c/gone is deleted, young's status is corrupted to old's first address.
    w.geips.delete('c/gone');
    w.geips.get('b/young')!.status.allocatedIPs = ['242.0.0.1'];
    const { plan } = w.reconcile();
    assert.deepEqual(w.geips.get('a/old')!.status.allocatedIPs, ['242.0.0.1', '242.0.0.2']);
    assert.deepEqual(w.geips.get('b/young')!.status.allocatedIPs, ['242.0.0.254']);
    const cond = w.geips.get('b/young')!.status.conditions[0]!;
    assert.equal(cond.reason, 'Reallocated');
    assert.equal(cond.status, 'True');
    assert.match(cond.message, /242\.0\.0\.1 is also claimed by the older GlobalEgressIP a\/old/);
    assert.equal(plan.stats.allocated, 3, 'the deleted object\'s four addresses are free');
    assertConverged(w, 'after restart');
  });
});
