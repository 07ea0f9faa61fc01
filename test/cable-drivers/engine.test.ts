import assert from 'node:assert/strict';
import { pino } from 'pino';
import { CableEngine, planCables, planText, selectRemoteEndpoints, fallbackNat, type EndpointObject } from '../../src/cable-drivers/engine.js';
import type { CableDriver, ConnectionState, NatInfo } from '../../src/cable-drivers/types.js';
import { parseEndpointSpec, type EndpointSpec } from '../../src/k8s/resources.js';

function ep(cluster: string, ip: string, extra: Record<string, unknown> = {}): EndpointSpec {
  const r = parseEndpointSpec({ cluster_id: cluster, cable_name: `submariner-cable-${cluster}-${ip.replace(/\./g, '-')}`, hostname: 'h', subnets: ['10.1.0.0/16'], private_ip: ip, public_ip: ip, nat_enabled: false, backend: 'wireguard', ...extra });
  if (!r.ok) throw new Error(r.error);
  return r.value;
}
const obj = (spec: EndpointSpec, t: string): EndpointObject => ({ name: spec.cableName, creationTimestamp: t, spec });
const noNat = (e: EndpointSpec): NatInfo => ({ useIP: e.privateIP, useNAT: false });

class FakeDriver implements CableDriver {
  readonly name = 'wireguard' as const;
  calls: string[] = [];
  failFor = new Map<string, string>();
  peers = new Map<string, ConnectionState>();
  async init(): Promise<void> {}
  localBackendConfig(): Record<string, string> { return {}; }
  async connect(remote: EndpointSpec, nat: NatInfo): Promise<void> {
    this.calls.push(`connect ${remote.cableName}`);
    const f = this.failFor.get(remote.cableName);
    if (f) throw new Error(f);
    this.peers.set(remote.cableName, { cableName: remote.cableName, endpoint: remote, status: 'connected', statusMessage: '', usingIP: nat.useIP, usingNAT: nat.useNAT });
  }
  async disconnect(remote: EndpointSpec): Promise<void> { this.calls.push(`disconnect ${remote.cableName}`); this.peers.delete(remote.cableName); }
  async connections(): Promise<ConnectionState[]> { return [...this.peers.values()]; }
  async cleanup(): Promise<void> {}
  async close(): Promise<void> {}
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

describe('cable engine: apply', () => {
  const log = pino({ level: 'silent' });
  it('is idempotent and isolates a failing cable with backoff', async () => {
    const d = new FakeDriver();
    let now = 0;
    const eng = new CableEngine({ driver: d, localEndpoint: ep('a', '10.9.0.1'), log, natFor: noNat, now: () => now });
    const good = ep('b', '10.0.0.1');
    const bad = ep('c', '10.0.0.3');
    d.failFor.set(bad.cableName, 'remote endpoint has no publicKey');
    eng.setWanted({ wanted: [good, bad], rejected: [] });
    await eng.reconcile();
    assert.deepEqual(d.calls, [`connect ${good.cableName}`, `connect ${bad.cableName}`]);
    const st = await eng.connections();
    assert.equal(st.find((c) => c.cableName === good.cableName)!.status, 'connected');
    const b = st.find((c) => c.cableName === bad.cableName)!;
    assert.equal(b.status, 'error');
    assert.equal(b.statusMessage, 'remote endpoint has no publicKey');
    d.calls = [];
    await eng.reconcile();
    assert.deepEqual(d.calls, [], 'nothing to do before the backoff passes');
    now = 1500;
    d.failFor.clear();
    await eng.reconcile();
    assert.deepEqual(d.calls, [`connect ${bad.cableName}`]);
    assert.ok((await eng.connections()).every((c) => c.status === 'connected'));
  });
  it('disconnects everything when fenced', async () => {
    const d = new FakeDriver();
    const eng = new CableEngine({ driver: d, localEndpoint: ep('a', '10.9.0.1'), log, natFor: noNat });
    eng.setWanted({ wanted: [ep('b', '10.0.0.1')], rejected: [] });
    await eng.reconcile();
    await eng.disconnectAll();
    assert.equal(d.peers.size, 0);
  });
});
