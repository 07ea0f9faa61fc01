// IPsec with Globalnet over userspace ESP (charon's kernel-libipsec): every child SA's local side is the
// cluster's global CIDR, where no interface holds an address (only nft does), so charon could install no
// policy route ("error installing route with policy 242.0.0.0/16 === 242.1.0.0/16") and renegotiated every
// few seconds without carrying a packet. The driver now lends charon the global CIDR's network address
// (Globalnet's IPAM never allocates it). Found by bench/scale with IPsec remotes.
import assert from 'node:assert/strict';
import { Lab, globalIpsByPod, waitForCables } from '../../src/lab/index.js';
import { waitFor } from '../../src/util/wait.js';

describe('e2e @real: IPsec (userspace ESP) carries Globalnet traffic between clusters with the same CIDRs', function () {
  this.timeout(180_000);
  let lab: Lab | undefined;

  before(async function () {
    this.timeout(120_000);
    lab = await Lab.up({ driver: 'libreswan', globalnet: true, gatewaysPerCluster: 1, workersPerCluster: 1 });
    await waitForCables(lab, 60_000);
  });
  after(async () => lab?.down());

  it('pings a pod of the other cluster by its GlobalIngressIP, both ways, from a worker-node pod', async () => {
    const L = lab!;
    const ips = await waitFor(async () => {
      const m = await globalIpsByPod(L);
      return m.has('a-wk1-pod1') && m.has('b-wk1-pod1') ? m : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500, what: 'GlobalIngressIPs of the worker pods' });
    for (const [from, to] of [['a-wk1-pod1', 'b-wk1-pod1'], ['b-wk1-pod1', 'a-wk1-pod1']] as const) {
      const ip = ips.get(to)!;
      await waitFor(async () => (await L.exec(from, ['ping', '-n', '-c', '1', '-W', '1', ip], { allowFailure: true })).code === 0 || undefined, {
        timeoutMs: 20_000, intervalMs: 250, what: `${from} pings ${to} at its GlobalIngressIP ${ip} through the IPsec cable`,
      });
      const r = await L.exec(from, ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '1', ip], { allowFailure: true });
      assert.match(r.stdout, / 0% packet loss/, `${from} → ${to} (${ip}): ${r.stdout}`);
    }
  });
});
