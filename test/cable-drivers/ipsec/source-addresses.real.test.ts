// Regression (lab): with userspace ESP every child SA whose local side is the service CIDR failed to install
// (no local address in it for kernel-libipsec's route), so every cable showed `error` while pods pinged.
// Here the service CIDRs have no address on the gateways, as on real nodes: all 2x2 child SAs come up,
// traffic crosses the service-CIDR child, and cleanup() takes back exactly the address it lent.
import assert from 'node:assert/strict';
import { createIpsecDriver } from '../../../src/cable-drivers/ipsec/index.js';
import { SOURCE_ADDRESS_LABEL } from '../../../src/cable-drivers/ipsec/source-addresses.js';
import { exec } from '../../../src/util/exec.js';
import { waitFor } from '../../../src/util/wait.js';
import { buildLab, endpointOf, gatewayConfigOf, memoryLogger, waitPing, type Lab } from '../../support/ipsec-lab.js';

const PSK = 'c2VydmljZS1jaWRyLWxhYi1wc2s=';
const SERVICE: Record<string, string> = { a: '10.21.0.0/24', b: '10.22.0.0/24' };

async function lentAddresses(ns: string): Promise<string[]> {
  const r = await exec('ip', ['-4', '-o', 'addr', 'show', 'dev', 'lo'], { netns: ns });
  return r.stdout.split('\n').filter((l) => l.includes(SOURCE_ADDRESS_LABEL)).map((l) => /inet (\S+)/.exec(l)?.[1] ?? '');
}

describe('ipsec driver @real: service CIDRs without a host address (userspace ESP)', function () {
  this.timeout(60_000);
  let lab: Lab | undefined;
  const drivers: ReturnType<typeof createIpsecDriver>[] = [];

  after(async () => {
    for (const d of drivers) await d.cleanup().catch(() => undefined);
    await lab?.destroy();
  });

  it('brings up all four child SAs, routes the service-CIDR child, and removes the lent address on cleanup', async () => {
    lab = await buildLab([{ key: 'a', subnets: ['10.1.0.0/24'] }, { key: 'b', subnets: ['10.2.0.0/24'] }]);
    const gws = [lab.gateways.a!, lab.gateways.b!];
    // Endpoints publish service then cluster CIDR, as Submariner does; only the cluster CIDR has a host address.
    const eps = gws.map((gw) => endpointOf({ ...gw, subnets: [SERVICE[gw.key]!, ...gw.subnets] }));
    for (const [i, gw] of gws.entries()) {
      const m = memoryLogger(`ipsec-svc-${gw.key}`);
      const config = gatewayConfigOf(gw, PSK, { SUBMARINER_SERVICECIDR: SERVICE[gw.key]! });
      drivers.push(createIpsecDriver({ config, localEndpoint: eps[i]!, log: m.log }, { dir: gw.dir, netns: gw.ns }));
    }
    await Promise.all(drivers.map((d) => d.init()));
    assert.deepEqual(await lentAddresses(gws[0]!.ns), ['10.21.0.0/32']);
    await Promise.all([drivers[0]!.connect(eps[1]!, { useIP: gws[1]!.ip, useNAT: false }), drivers[1]!.connect(eps[0]!, { useIP: gws[0]!.ip, useNAT: false })]);
    for (const [i, d] of drivers.entries()) {
      const cable = eps[1 - i]!.cableName;
      const s = await waitFor(async () => (await d.connections()).find((c) => c.cableName === cable && c.status === 'connected'), { timeoutMs: 15_000, intervalMs: 100, what: `${gws[i]!.key} connected` });
      assert.equal(s.statusMessage, '');
    }
    // a's pod address -> b's lent service-CIDR address: only the (a pod === b service) child carries it.
    await waitPing(gws[0]!, gws[0]!.podIPs[0]!, '10.22.0.0', 5_000);
    await waitPing(gws[0]!, gws[0]!.podIPs[0]!, gws[1]!.podIPs[0]!, 5_000);
    const routes = await exec('ip', ['route', 'show', 'table', '220'], { netns: gws[0]!.ns });
    assert.match(routes.stdout, /10\.2\.0\.0\/24 dev ipsec0 .*src 10\.1\.0\.1/, 'the pod-CIDR source wins for the gateway\'s own traffic');
    await drivers[0]!.cleanup();
    assert.deepEqual(await lentAddresses(gws[0]!.ns), []);
    const lo = await exec('ip', ['-4', '-o', 'addr', 'show', 'dev', 'lo'], { netns: gws[0]!.ns });
    assert.match(lo.stdout, /10\.1\.0\.1\/32/, 'addresses that are not ours stay');
  });
});
