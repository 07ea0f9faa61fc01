import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { CableEngine, planCables, planText, selectRemoteEndpoints, fallbackNat, type EndpointObject } from '../../src/cable-drivers/engine.js';
import type { CableDriver, CableOutcome, ConnectionState, NatInfo, WantedCable } from '../../src/cable-drivers/types.js';
import { parseEndpointSpec, type EndpointSpec } from '../../src/k8s/resources.js';
import { createLogger } from '../../src/log/index.js';
import { waitFor } from '../../src/util/wait.js';

function ep(cluster: string, ip: string, extra: Record<string, unknown> = {}): EndpointSpec {
  const r = parseEndpointSpec({ cluster_id: cluster, cable_name: `submariner-cable-${cluster}-${ip.replace(/\./g, '-')}`, hostname: 'h', subnets: ['10.1.0.0/16'], private_ip: ip, public_ip: ip, nat_enabled: false, backend: 'wireguard', ...extra });
  if (!r.ok) throw new Error(r.error);
  return r.value;
}
const obj = (spec: EndpointSpec, t: string): EndpointObject => ({ name: spec.cableName, creationTimestamp: t, spec });
const noNat = (e: EndpointSpec): NatInfo => ({ useIP: e.privateIP, useNAT: false });

/** A declarative driver over an in-memory "data path": cables it carries, keyed by name with the useIP. */
class FakeDriver implements CableDriver {
  readonly name = 'wireguard' as const;
  /** One line per set(): the cable names given, sorted. */
  calls: string[] = [];
  failFor = new Map<string, string>();
  /** Rejects the next set() with this message (the daemon is dead). */
  dead: string | undefined;
  /** The data path: survives a new engine (restart). */
  path = new Map<string, { endpoint: EndpointSpec; useIP: string }>();
  inits = 0;
  closed = 0;
  async init(): Promise<void> {
    this.inits++;
  }
  localBackendConfig(): Record<string, string> {
    return { publicKey: 'k' };
  }
  async set(cables: readonly WantedCable[]): Promise<Map<string, CableOutcome>> {
    this.calls.push(cables.map((c) => c.endpoint.cableName).sort().join(','));
    if (this.dead) throw new Error(this.dead);
    const out = new Map<string, CableOutcome>();
    const keep = new Set<string>();
    for (const c of cables) {
      const f = this.failFor.get(c.endpoint.cableName);
      if (f) {
        out.set(c.endpoint.cableName, { ok: false, error: f });
        continue;
      }
      keep.add(c.endpoint.cableName);
      const cur = this.path.get(c.endpoint.cableName);
      const changed = cur?.useIP !== c.nat.useIP;
      this.path.set(c.endpoint.cableName, { endpoint: c.endpoint, useIP: c.nat.useIP });
      out.set(c.endpoint.cableName, { ok: true, changed });
    }
    for (const k of [...this.path.keys()]) if (!keep.has(k)) this.path.delete(k);
    return out;
  }
  async connections(): Promise<ConnectionState[]> {
    return [...this.path.entries()].map(([cableName, p]) => ({ cableName, endpoint: p.endpoint, status: 'connected', statusMessage: '', usingIP: p.useIP, usingNAT: false }));
  }
  async disconnect(remote: EndpointSpec): Promise<void> {
    this.path.delete(remote.cableName);
  }
  async cleanup(): Promise<void> {}
  async close(): Promise<void> {
    this.closed++;
  }
}

describe('cable engine: selection and plan', () => {
  it('keeps the newest endpoint per remote cluster and skips our own', () => {
    const sel = selectRemoteEndpoints([obj(ep('b', '10.0.0.1'), '2026-01-01T00:00:00Z'), obj(ep('b', '10.0.0.2'), '2026-01-01T00:00:05Z'), obj(ep('a', '10.9.0.1'), '2026-01-01T00:00:00Z')], 'a', 'wireguard');
    assert.deepEqual(sel.wanted.map((e) => e.cableName), ['submariner-cable-b-10-0-0-2']);
  });
  it('rejects a different driver and endpoints without valid subnets, with reasons', () => {
    const sel = selectRemoteEndpoints([obj(ep('b', '10.0.0.1', { backend: 'vxlan' }), 't'), obj(ep('c', '10.0.0.3', { subnets: ['bogus'] }), 't')], 'a', 'wireguard');
    assert.equal(sel.wanted.length, 0);
    assert.match(sel.rejected[0]!.reason, /uses cable driver "vxlan"/);
    assert.match(sel.rejected[1]!.reason, /no valid subnets \(invalid: bogus\)/);
  });
  it('libreswan and ipsec are the same driver', () => {
    assert.equal(selectRemoteEndpoints([obj(ep('b', '10.0.0.1', { backend: 'libreswan' }), 't')], 'a', 'ipsec').wanted.length, 1);
  });
  it('plans connect, replace and remove', () => {
    const b1 = ep('b', '10.0.0.1');
    const b2 = ep('b', '10.0.0.2');
    const c1 = ep('c', '10.0.0.3');
    const applied = new Map([[b1.cableName, { endpoint: b1, fingerprint: 'x' }], [c1.cableName, { endpoint: c1, fingerprint: 'y' }]]);
    assert.equal(planText(planCables([b2], noNat, applied)), [
      'connect submariner-cable-b-10-0-0-2 via 10.0.0.2 [new]',
      'disconnect submariner-cable-b-10-0-0-1 [replaced]',
      'disconnect submariner-cable-c-10-0-0-3 [gone]',
    ].join('\n'));
  });
  it('uses the public IP when either side is behind NAT', () => {
    const local = ep('a', '10.9.0.1', { nat_enabled: true });
    assert.deepEqual(fallbackNat(local, ep('b', '10.0.0.1', { public_ip: '198.51.100.7' })), { useIP: '198.51.100.7', useNAT: true });
    assert.deepEqual(fallbackNat(ep('a', '10.9.0.1'), ep('b', '10.0.0.1', { public_ip: '198.51.100.7' })), { useIP: '10.0.0.1', useNAT: false });
  });
});

describe('cable engine: declarative set() through the driver', () => {
  let lines: Array<{ level: string; msg: string; cable?: string; remoteCluster?: string; why?: string }>;
  const log = (): ReturnType<typeof createLogger> => createLogger({ level: 'debug', destination: new Writable({ write: (c: Buffer, _e, cb) => { lines.push(JSON.parse(c.toString())); cb(); } }) });
  const info = (msg: string): string[] => lines.filter((l) => l.level === 'info' && l.msg === msg).map((l) => `${l.cable}${l.why ? ` ${l.why}` : ''}`);
  const good = ep('b', '10.0.0.1');
  const bad = ep('c', '10.0.0.3');
  beforeEach(() => {
    lines = [];
  });

  it('start() initialises the driver and returns the keys to publish', async () => {
    const d = new FakeDriver();
    const eng = new CableEngine({ driver: d, localEndpoint: ep('a', '10.9.0.1'), log: log(), natFor: noNat, resyncMs: 0 });
    assert.deepEqual(await eng.start(), { publicKey: 'k' });
    assert.equal(d.inits, 1);
  });

  it('hands the whole wanted set over in one set(); isolates a failing cable with backoff; is idempotent', async () => {
    const d = new FakeDriver();
    let now = 0;
    const eng = new CableEngine({ driver: d, localEndpoint: ep('a', '10.9.0.1'), log: log(), natFor: noNat, now: () => now, resyncMs: 0 });
    d.failFor.set(bad.cableName, 'remote endpoint has no publicKey');
    eng.setWanted({ wanted: [good, bad], rejected: [] });
    assert.equal(await eng.reconcile(), `connect ${good.cableName} via 10.0.0.1 [new]\nconnect ${bad.cableName} via 10.0.0.3 [new]`);
    assert.deepEqual(d.calls, [`${good.cableName},${bad.cableName}`]);
    const st = await eng.connections();
    assert.equal(st.find((c) => c.cableName === good.cableName)!.status, 'connected');
    const b = st.find((c) => c.cableName === bad.cableName)!;
    assert.deepEqual([b.status, b.statusMessage], ['error', 'remote endpoint has no publicKey']);
    assert.equal(eng.nextRetryAt(), 1000);
    // before its backoff passes the failing cable is not asked for again; the good one is a no-op
    assert.equal(await eng.reconcile(), '');
    assert.deepEqual(d.calls.slice(1), [good.cableName]);
    assert.equal((await eng.connections()).find((c) => c.cableName === bad.cableName)!.status, 'error');
    now = 1500;
    d.failFor.clear();
    assert.equal(await eng.reconcile(), `connect ${bad.cableName} via 10.0.0.3 [retry]`);
    assert.ok((await eng.connections()).every((c) => c.status === 'connected'));
    assert.equal(eng.nextRetryAt(), undefined);
    assert.deepEqual(info('cable configured'), [`${good.cableName} new`, `${bad.cableName} retry`]);
    assert.equal(lines.filter((l) => l.msg === 'cable failed').length, 1, 'one error line per distinct failure');
  });

  it('a changed Endpoint of a backing-off cable is tried at once', async () => {
    const d = new FakeDriver();
    const eng = new CableEngine({ driver: d, localEndpoint: ep('a', '10.9.0.1'), log: log(), natFor: noNat, now: () => 0, resyncMs: 0 });
    d.failFor.set(bad.cableName, 'nope');
    eng.setWanted({ wanted: [bad], rejected: [] });
    await eng.reconcile();
    d.failFor.clear();
    eng.setWanted({ wanted: [{ ...bad, subnets: ['10.3.0.0/16'] }], rejected: [] });
    await eng.reconcile();
    assert.deepEqual(d.calls, [bad.cableName, bad.cableName]);
    assert.equal((await eng.connections())[0]!.status, 'connected');
  });

  it('a restart adopts the data path as it is: the driver changes nothing, no cable is logged as configured', async () => {
    const d = new FakeDriver();
    const first = new CableEngine({ driver: d, localEndpoint: ep('a', '10.9.0.1'), log: log(), natFor: noNat, resyncMs: 0 });
    first.setWanted({ wanted: [good], rejected: [] });
    await first.reconcile();
    await first.stop();
    assert.equal(d.closed, 1);
    assert.equal(d.path.size, 1, 'stop() leaves the data path');
    lines = [];
    const second = new CableEngine({ driver: d, localEndpoint: ep('a', '10.9.0.1'), log: log(), natFor: noNat, resyncMs: 0 });
    await second.start();
    second.setWanted({ wanted: [good], rejected: [] });
    await second.reconcile();
    assert.deepEqual(info('cable configured'), []);
    assert.ok(lines.some((l) => /adopted as it is/.test(l.msg)));
    assert.equal((await second.connections())[0]!.status, 'connected');
  });

  it('a cable no longer wanted is removed by the same set() and logged once as removed', async () => {
    const d = new FakeDriver();
    const eng = new CableEngine({ driver: d, localEndpoint: ep('a', '10.9.0.1'), log: log(), natFor: noNat, resyncMs: 0 });
    eng.setWanted({ wanted: [good, bad], rejected: [] });
    await eng.reconcile();
    eng.setWanted({ wanted: [good], rejected: [] });
    assert.equal(await eng.reconcile(), `disconnect ${bad.cableName} [gone]`);
    assert.deepEqual([...d.path.keys()], [good.cableName]);
    await eng.reconcile();
    assert.deepEqual(info('cable removed'), [`${bad.cableName} gone`]);
    assert.equal(lines.find((l) => l.msg === 'cable removed')!.remoteCluster, 'c');
  });

  it('a driver that cannot work at all fails every cable it was given, and recovers', async () => {
    const d = new FakeDriver();
    let now = 0;
    const eng = new CableEngine({ driver: d, localEndpoint: ep('a', '10.9.0.1'), log: log(), natFor: noNat, now: () => now, resyncMs: 0 });
    d.dead = 'wireguard-go does not answer';
    eng.setWanted({ wanted: [good, bad], rejected: [] });
    await eng.reconcile();
    assert.deepEqual((await eng.connections()).map((c) => `${c.status}: ${c.statusMessage}`), ['error: wireguard-go does not answer', 'error: wireguard-go does not answer']);
    d.dead = undefined;
    now = 1000;
    await eng.reconcile();
    assert.ok((await eng.connections()).every((c) => c.status === 'connected'));
  });

  it('shutdown() is set([]): every cable goes; stop() leaves them', async () => {
    const d = new FakeDriver();
    const eng = new CableEngine({ driver: d, localEndpoint: ep('a', '10.9.0.1'), log: log(), natFor: noNat, resyncMs: 0 });
    eng.setWanted({ wanted: [good, bad], rejected: [] });
    await eng.reconcile();
    await eng.shutdown();
    assert.equal(d.path.size, 0);
    assert.equal(d.calls.at(-1), '');
    assert.deepEqual(await eng.connections(), [], 'nothing wanted after shutdown');
    assert.deepEqual(info('cable removed').sort(), [`${good.cableName} shutdown`, `${bad.cableName} shutdown`].sort());
  });

  it('after shutdown() a queued pass brings nothing back; setWanted + reconcile serves again, resync included', async () => {
    const d = new FakeDriver();
    const eng = new CableEngine({ driver: d, localEndpoint: ep('a', '10.9.0.1'), log: log(), natFor: noNat, resyncMs: 20 });
    eng.setWanted({ wanted: [good], rejected: [] });
    await eng.reconcile();
    const late = eng.reconcile(); // queued ahead of the shutdown, as a resync tick can be
    await eng.shutdown();
    await late;
    await eng.reconcile(); // queued after it
    assert.equal(d.path.size, 0);
    eng.setWanted({ wanted: [good], rejected: [] });
    await eng.reconcile();
    d.path.clear(); // removed behind our back: the resync, restarted by serving again, repairs it
    await waitFor(() => d.path.size === 1, { timeoutMs: 5000, intervalMs: 10, what: 'the resync to restore the cable' });
    await eng.stop();
    const setsBefore = d.calls.length;
    await eng.reconcile();
    assert.equal(d.calls.length, setsBefore, 'no set() on a stopped engine');
  });

  it('resyncs on its own period once reconciling (drift repair)', async () => {
    const d = new FakeDriver();
    const eng = new CableEngine({ driver: d, localEndpoint: ep('a', '10.9.0.1'), log: log(), natFor: noNat, resyncMs: 20 });
    eng.setWanted({ wanted: [good], rejected: [] });
    await eng.reconcile();
    d.path.clear(); // removed behind our back
    await waitFor(() => d.path.size === 1, { timeoutMs: 5000, intervalMs: 10, what: 'the resync to restore the cable' });
    await eng.stop();
  });
});
