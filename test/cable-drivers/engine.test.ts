import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { CableEngine, diffCableStates, planCables, planText, selectRemoteEndpoints, fallbackNat, type CableStateChange, type ConnectionView, type EndpointObject } from '../../src/cable-drivers/engine.js';
import type { CableDriver, CableOutcome, ConnectionState, NatInfo, SetOptions, WantedCable } from '../../src/cable-drivers/types.js';
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
  /** Observed status per cable (default connected): what a handshake or SA would say. */
  status = new Map<string, ConnectionState['status']>();
  reads = 0;
  changed: (() => void) | undefined;
  onDataPathChange(cb: () => void): void {
    this.changed = cb;
  }
  async init(): Promise<void> {
    this.inits++;
  }
  localBackendConfig(): Record<string, string> {
    return { publicKey: 'k' };
  }
  /** set() calls that asked for a full read-back (the engine's resync). */
  resyncs = 0;
  async set(cables: readonly WantedCable[], opts: SetOptions = {}): Promise<Map<string, CableOutcome>> {
    this.calls.push(cables.map((c) => c.endpoint.cableName).sort().join(','));
    if (opts.resync) this.resyncs++;
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
    this.reads++;
    return [...this.path.entries()].map(([cableName, p]) => ({ cableName, endpoint: p.endpoint, status: this.status.get(cableName) ?? 'connected', statusMessage: '', usingIP: p.useIP, usingNAT: false }));
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
  let states: string[];
  const onState = (c: CableStateChange): void => void states.push(`${c.cable}:${c.from ?? '-'}>${c.to}${c.why ? ` ${c.why}` : ''}`);
  const log = (): ReturnType<typeof createLogger> => createLogger({ level: 'debug', destination: new Writable({ write: (c: Buffer, _e, cb) => { lines.push(JSON.parse(c.toString())); cb(); } }) });
  const info = (msg: string): string[] => lines.filter((l) => l.level === 'info' && l.msg === msg).map((l) => `${l.cable}${l.why ? ` ${l.why}` : ''}`);
  const good = ep('b', '10.0.0.1');
  const bad = ep('c', '10.0.0.3');
  beforeEach(() => {
    lines = [];
    states = [];
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

  it('a cable no longer wanted is removed by the same set() and reported once as removed', async () => {
    const d = new FakeDriver();
    const eng = new CableEngine({ driver: d, localEndpoint: ep('a', '10.9.0.1'), log: log(), natFor: noNat, resyncMs: 0, onState });
    eng.setWanted({ wanted: [good, bad], rejected: [] });
    await eng.reconcile();
    eng.setWanted({ wanted: [good], rejected: [] });
    assert.equal(await eng.reconcile(), `disconnect ${bad.cableName} [gone]`);
    assert.deepEqual([...d.path.keys()], [good.cableName]);
    await eng.reconcile();
    assert.deepEqual(states, [`${good.cableName}:->connected`, `${bad.cableName}:->connected`, `${bad.cableName}:connected>removed gone`]);
  });

  it('reports each state change once, from outcomes, observations and health verdicts, in order', async () => {
    const d = new FakeDriver();
    const changes: CableStateChange[] = [];
    let now = 0;
    const unhealthy = new Map<string, string>();
    const eng = new CableEngine({
      driver: d, localEndpoint: ep('a', '10.9.0.1'), log: log(), natFor: noNat, now: () => now, resyncMs: 0, settleMs: 0,
      onState: (c) => {
        onState(c);
        changes.push(c);
      },
      unhealthy: (c) => unhealthy.get(c),
    });
    d.failFor.set(bad.cableName, 'remote endpoint has no publicKey');
    d.status.set(good.cableName, 'connecting');
    eng.setWanted({ wanted: [good, bad], rejected: [] });
    await eng.reconcile();
    assert.deepEqual(states, [`${good.cableName}:->connecting`, `${bad.cableName}:->error`]);
    assert.equal(changes[1]!.statusMessage, 'remote endpoint has no publicKey');
    assert.equal(changes[1]!.cluster, 'c');
    // the handshake comes without a call of ours: the next observation (status refresh) reports it
    d.status.delete(good.cableName);
    await eng.connections();
    await eng.connections();
    assert.deepEqual(states.slice(2), [`${good.cableName}:connecting>connected`]);
    // a health verdict flips the connected cable to error and back, without reading the driver
    const reads = d.reads;
    unhealthy.set(good.cableName, 'no reply to the last 5 health-check pings');
    eng.healthChanged(good.cableName);
    unhealthy.delete(good.cableName);
    eng.healthChanged(good.cableName);
    assert.equal(d.reads, reads);
    assert.deepEqual(states.slice(3), [`${good.cableName}:connected>error`, `${good.cableName}:error>connected`]);
    assert.equal(changes[3]!.statusMessage, 'no reply to the last 5 health-check pings');
    // the failed cable recovers on its retry
    now = 1500;
    d.failFor.clear();
    await eng.reconcile();
    assert.deepEqual(states.slice(5), [`${bad.cableName}:error>connected`]);
    await eng.shutdown();
    assert.deepEqual(states.slice(6).sort(), [`${good.cableName}:connected>removed shutdown`, `${bad.cableName}:connected>removed shutdown`].sort());
  });

  it('looks again only while a cable is connecting, and when the driver says its data path changed', async () => {
    const d = new FakeDriver();
    const eng = new CableEngine({ driver: d, localEndpoint: ep('a', '10.9.0.1'), log: log(), natFor: noNat, resyncMs: 0, settleMs: 10, onState });
    d.status.set(good.cableName, 'connecting');
    eng.setWanted({ wanted: [good], rejected: [] });
    await eng.reconcile();
    await waitFor(() => d.reads >= 3, { timeoutMs: 5000, intervalMs: 5, what: 'the engine to look at the connecting cable again' });
    d.status.delete(good.cableName);
    await waitFor(() => states.includes(`${good.cableName}:connecting>connected`), { timeoutMs: 5000, intervalMs: 5, what: 'the handshake to be reported' });
    const settled = d.reads;
    // settled: nothing more is read on its own (the settle tick would have run several times by now)
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(d.reads, settled);
    // wireguard-go restarted by the driver: one observation, and the cable on its way up again is followed
    d.status.set(good.cableName, 'error');
    d.changed!();
    await waitFor(() => states.includes(`${good.cableName}:connected>error`), { timeoutMs: 5000, intervalMs: 5, what: 'the data-path change to be observed' });
    await eng.stop();
  });

  it('diffCableStates: new, changed, unchanged and removed (with why)', () => {
    const v = (cable: string, status: ConnectionView['status']): ConnectionView => ({ cableName: cable, clusterId: `c-${cable}`, endpoint: good, status, statusMessage: '', usingIP: '', usingNAT: false });
    const first = diffCableStates(new Map(), [v('x', 'connecting'), v('y', 'connected')]);
    assert.deepEqual(first.changes.map((c) => `${c.cable}:${c.from ?? '-'}>${c.to}`), ['x:->connecting', 'y:->connected']);
    const second = diffCableStates(first.next, [v('x', 'connected'), v('y', 'connected')]);
    assert.deepEqual(second.changes.map((c) => `${c.cable}:${c.from}>${c.to}`), ['x:connecting>connected']);
    const third = diffCableStates(second.next, [v('x', 'error')], new Map([['y', 'replaced']]));
    assert.deepEqual(third.changes.map((c) => `${c.cable}:${c.from}>${c.to}:${c.why ?? ''}`), ['x:connected>error:', 'y:connected>removed:replaced']);
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
    const eng = new CableEngine({ driver: d, localEndpoint: ep('a', '10.9.0.1'), log: log(), natFor: noNat, resyncMs: 0, onState });
    eng.setWanted({ wanted: [good, bad], rejected: [] });
    await eng.reconcile();
    await eng.shutdown();
    assert.equal(d.path.size, 0);
    assert.equal(d.calls.at(-1), '');
    assert.deepEqual(await eng.connections(), [], 'nothing wanted after shutdown');
    assert.deepEqual(states.filter((x) => x.includes('removed')).sort(), [`${good.cableName}:connected>removed shutdown`, `${bad.cableName}:connected>removed shutdown`].sort());
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

  it('the resync tick asks the driver for a full read-back (set with resync); a pass for a change does not', async () => {
    const d = new FakeDriver();
    const eng = new CableEngine({ driver: d, localEndpoint: ep('a', '10.9.0.1'), log: log(), natFor: noNat, resyncMs: 20 });
    eng.setWanted({ wanted: [good], rejected: [] });
    await eng.reconcile();
    assert.equal(d.resyncs, 0, 'an ordinary pass trusts the driver\'s own state');
    await waitFor(() => d.resyncs >= 2, { timeoutMs: 5000, intervalMs: 10, what: 'two resync ticks' });
    assert.equal(d.calls.at(-1), good.cableName, 'the resync hands over the wanted set as it is');
    await eng.stop();
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
