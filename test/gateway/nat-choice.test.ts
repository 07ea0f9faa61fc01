import assert from 'node:assert/strict';
import { NatChoice } from '../../src/gateway/nat-choice.js';
import { Failures } from '../../src/gateway/status-writer.js';
import type { NatDiscoveryPort } from '../../src/gateway/ports.js';
import type { NatInfo } from '../../src/cable-drivers/types.js';
import { parseEndpointSpec, type EndpointSpec } from '../../src/k8s/resources.js';
import { quietLog } from '../support/apiserver.js';

function endpoint(cluster: string, privateIP: string, publicIP: string, nat: boolean): EndpointSpec {
  const r = parseEndpointSpec({ cluster_id: cluster, cable_name: `submariner-cable-${cluster}-${privateIP.replace(/\./g, '-')}`, hostname: `gw-${cluster}`, subnets: ['10.0.0.0/16'], private_ip: privateIP, public_ip: publicIP, nat_enabled: nat, backend: 'vxlan', backend_config: { 'natt-discovery-port': '4490' } });
  if (!r.ok) throw new Error(r.error);
  return r.value;
}
const local = endpoint('a', '10.0.0.5', '203.0.113.5', false);
const natted = endpoint('b', '10.1.0.5', '203.0.113.6', true);

class FakeDiscovery implements NatDiscoveryPort {
  decided = new Map<string, NatInfo>();
  remotes: string[] = [];
  stopped = 0;
  private cb: (() => void) | undefined;
  setLocal(): void {}
  setRemotes(eps: readonly { cableName: string }[]): void {
    this.remotes = eps.map((e) => e.cableName);
  }
  decision(c: string): NatInfo | undefined {
    return this.decided.get(c);
  }
  onDecided(cb: () => void): void {
    this.cb = cb;
  }
  decide(c: string, n: NatInfo): void {
    this.decided.set(c, n);
    this.cb?.();
  }
  async stop(): Promise<void> {
    this.stopped++;
  }
}

describe('gateway NAT choice', () => {
  it('guesses while discovery probes (our NAT flag counts), then follows its decision; stop() ends it', async () => {
    const d = new FakeDiscovery();
    let decided = 0;
    const n = new NatChoice({ discovery: async () => d, failures: new Failures(quietLog), onDecided: () => decided++ });
    await n.start(local, () => true);
    assert.deepEqual(n.decision(local, natted), { useIP: '203.0.113.6', useNAT: true });
    n.setRemotes([natted]);
    assert.deepEqual(d.remotes, [natted.cableName]);
    d.decide(natted.cableName, { useIP: '10.1.0.5', useNAT: false });
    assert.equal(decided, 1);
    assert.deepEqual(n.decision(local, natted), { useIP: '10.1.0.5', useNAT: false });
    await n.stop();
    assert.equal(d.stopped, 1);
  });

  it('a start that is no longer wanted stops at once; a discovery that cannot start is a status problem and the fallback rule decides', async () => {
    const d = new FakeDiscovery();
    const late = new NatChoice({ discovery: async () => d, failures: new Failures(quietLog), onDecided: () => undefined });
    await late.start(local, () => false);
    assert.equal(d.stopped, 1);
    const failures = new Failures(quietLog);
    const broken = new NatChoice({ discovery: () => Promise.reject(new Error('EADDRINUSE 4490')), failures, onDecided: () => undefined });
    await broken.start(local, () => true);
    assert.match(failures.text(), /NAT discovery failed to start \(using the fallback NAT decision\): EADDRINUSE 4490/);
    // Submariner's fallback: the remote's own flags only (it says NAT: its public IP)
    assert.deepEqual(broken.decision(local, natted), { useIP: '203.0.113.6', useNAT: true });
  });
});
