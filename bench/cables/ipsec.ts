// The IPsec part of the cable benchmark, in one lab and one run:
//  - Endpoint seen -> first packet through: from connect() on both gateways to the first ping answered
//    between pod addresses (charon already running, as after gateway start);
//  - iperf3 throughput through hawser's cable, divided by the same through two charons configured by hand
//    (swanctl.conf, same algorithms, same kernel-libipsec data path) in the same lab, runs alternating.
import { createIpsecDriver, type IpsecDriver } from '../../src/cable-drivers/ipsec/index.js';
import type { EndpointSpec } from '../../src/k8s/resources.js';
import { waitFor } from '../../src/util/wait.js';
import {
  buildLab, endpointOf, gatewayConfigOf, handSwanctlConf, iperf, memoryLogger, ping, startPlainCharon, type LabGateway, type PlainCharon,
} from '../../test/support/ipsec-lab.js';

export interface IpsecCableBench {
  /** Endpoint seen -> first packet through, per trial (ms). */
  connectMs: number[];
  connectMedianMs: number;
  /** Medians over the alternating rounds. */
  hawserMbps: number;
  handMbps: number;
  hawserRuns: number[];
  handRuns: number[];
  /** hawser / hand-configured charon throughput. */
  ratio: number;
}

export interface IpsecBenchOptions {
  /** iperf3 seconds per measurement (default 3). */
  seconds?: number;
  /** connect trials (default 3). */
  trials?: number;
  /** alternating throughput rounds (default 3). */
  rounds?: number;
}

const PSK = 'YmVuY2gtcHNrLWZvci1oYXdzZXItaXBzZWM=';

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

async function firstPacketMs(a: LabGateway, b: LabGateway, da: IpsecDriver, db: IpsecDriver, ea: EndpointSpec, eb: EndpointSpec): Promise<number> {
  const t0 = performance.now();
  await Promise.all([da.connect(eb, { useIP: b.ip, useNAT: false }), db.connect(ea, { useIP: a.ip, useNAT: false })]);
  await waitFor(() => ping(a, a.podIPs[0]!, b.podIPs[0]!, 0.05), { timeoutMs: 10_000, intervalMs: 1, what: 'first packet through the IPsec cable' });
  return performance.now() - t0;
}

export async function benchIpsecCable(opts: IpsecBenchOptions = {}): Promise<IpsecCableBench> {
  const seconds = opts.seconds ?? 3;
  const trials = opts.trials ?? 3;
  const rounds = opts.rounds ?? 3;
  // Two pairs side by side: a-b through hawser, c-d through charons configured by hand. Throughput runs
  // alternate between them so that noise on a shared machine hits both alike.
  const lab = await buildLab([
    { key: 'a', subnets: ['10.61.0.0/24'] },
    { key: 'b', subnets: ['10.62.0.0/24'] },
    { key: 'c', subnets: ['10.63.0.0/24'] },
    { key: 'd', subnets: ['10.64.0.0/24'] },
  ]);
  const [a, b, c, d] = (['a', 'b', 'c', 'd'] as const).map((k) => lab.gateways[k]!) as [LabGateway, LabGateway, LabGateway, LabGateway];
  const ea = endpointOf(a);
  const eb = endpointOf(b);
  const mk = (gw: LabGateway, ep: EndpointSpec): IpsecDriver =>
    createIpsecDriver({ config: gatewayConfigOf(gw, PSK), localEndpoint: ep, log: memoryLogger(`bench-${gw.key}`).log }, { dir: gw.dir, netns: gw.ns });
  const da = mk(a, ea);
  const db = mk(b, eb);
  const hand: PlainCharon[] = [];
  try {
    await Promise.all([da.init(), db.init()]);
    const connectMs: number[] = [];
    for (let i = 0; i < trials; i++) {
      if (i > 0) await Promise.all([da.disconnect(eb), db.disconnect(ea)]);
      connectMs.push(await firstPacketMs(a, b, da, db, ea, eb));
    }
    hand.push(await startPlainCharon(c, `${lab.tmp}/hand-c`, handSwanctlConf({ name: 'hand', localIP: c.ip, remoteIP: d.ip, psk: PSK, children: [{ name: 'hand-0-0', local: c.subnets[0]!, remote: d.subnets[0]! }] })));
    hand.push(await startPlainCharon(d, `${lab.tmp}/hand-d`, handSwanctlConf({ name: 'hand', localIP: d.ip, remoteIP: c.ip, psk: PSK, children: [{ name: 'hand-0-0', local: d.subnets[0]!, remote: c.subnets[0]!, start: false }] })));
    await waitFor(() => ping(c, c.podIPs[0]!, d.podIPs[0]!, 0.2), { timeoutMs: 10_000, intervalMs: 20, what: 'hand-configured cable' });
    const hawser: number[] = [];
    const byHand: number[] = [];
    for (let i = 0; i < rounds; i++) {
      hawser.push(await iperf(a, a.podIPs[0]!, b, b.podIPs[0]!, seconds));
      byHand.push(await iperf(c, c.podIPs[0]!, d, d.podIPs[0]!, seconds));
    }
    const hawserMbps = median(hawser);
    const handMbps = median(byHand);
    return { connectMs, connectMedianMs: median(connectMs), hawserMbps, handMbps, hawserRuns: hawser, handRuns: byHand, ratio: handMbps > 0 ? hawserMbps / handMbps : 0 };
  } finally {
    for (const h of hand) await h.stop();
    await da.cleanup().catch(() => undefined);
    await db.cleanup().catch(() => undefined);
    await lab.destroy();
  }
}
