// The soak's first fault, traced: the same lab and warm-up as test/support/soak/soak.ts (three clusters, WireGuard,
// Globalnet, two gateways each, churn from the start), then a graceful failover of cluster-b's active gateway
// `--after-s` seconds after the lab answered its first cross-cluster pings (the soak's +10 s), with the old
// gateway restarted 5 s later. Every second: the three ping pairs, cluster-b's Leases and Gateways, cluster-b's
// Endpoints on the broker, and the WireGuard peers of every gateway node (only changes printed). Then the log
// lines of cluster-b's gateways and the other clusters' active gateways from the fault on.
//   npx tsx bench/soak/first-fault.ts [--after-s 10] [--watch-s 40] [--no-churn]   (root; about 2 minutes)
import { join } from 'node:path';
import { Lab, globalIpsByPod, randomLabName, waitForCables } from '../../src/lab/index.js';
import { RestClient, resourcePath } from '../../src/k8s/rest.js';
import { UapiClient } from '../../src/cable-drivers/wireguard/wgctrl/index.js';
import { errorMessage } from '../../src/util/errors.js';
import { sleep, waitFor } from '../../src/util/wait.js';
import { Churn, PAIRS, pairName } from '../../test/support/soak/soak.js';
import { roleLogLines } from '../../test/support/soak/keep.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
}

const afterS = arg('--after-s', 10);
const watchS = arg('--watch-s', 40);
const churnOn = !process.argv.includes('--no-churn');
const out = (l: string): void => void process.stdout.write(`${l}\n`);

const lab = await Lab.up({ name: `ff${randomLabName()}`, clusters: 3, driver: 'wireguard', globalnet: true, gatewaysPerCluster: 2, workersPerCluster: 1, podsPerNode: 1 });
let stop = false;
try {
  const t0 = Date.now();
  await waitForCables(lab, 240_000);
  const ips = await waitFor(async () => {
    const m = await globalIpsByPod(lab);
    return PAIRS.every(([, to]) => m.has(to)) ? m : undefined;
  }, { timeoutMs: 120_000, intervalMs: 1000, what: 'global IPs of the worker pods' });
  await waitFor(async () => (await Promise.all(PAIRS.map(([from, to]) => lab.ping(from, ips.get(to)!, 1)))).every((r) => r.ok), { timeoutMs: 120_000, intervalMs: 1000, what: 'cross-cluster pings' });
  const start = Date.now();
  out(`lab ${lab.name} answered after ${((start - t0) / 1000).toFixed(1)} s; failover of cluster-b at +${afterS} s${churnOn ? ', churn on' : ''}`);
  const rel = (t: number): string => `+${((t - start) / 1000).toFixed(1)} s`;
  const churn = new Churn(lab);
  const churnLoop = (async () => {
    while (churnOn && !stop) {
      const t = Date.now();
      await churn.tick().catch(() => undefined);
      await sleep(Math.max(0, 1000 - (Date.now() - t)));
    }
  })();

  const b = new RestClient(lab.kubeConfig('cluster-b'), 3000);
  const broker = new RestClient(lab.kubeConfig(lab.topology.brokerCluster), 3000);
  const holder = async (name: string): Promise<string> => {
    const o = await b.getOrUndefined(resourcePath('coordination.k8s.io', 'v1', 'leases', 'submariner-operator', name)).catch(() => undefined);
    return String((o?.spec as { holderIdentity?: unknown } | undefined)?.holderIdentity ?? '?').replace(/-submariner-(gateway|globalnet)$/, '');
  };
  const gateways = async (): Promise<string> => {
    const l = await b.list(resourcePath('submariner.io', 'v1', 'gateways', 'submariner-operator')).catch(() => ({ items: [] }));
    return l.items.map((g) => {
      const st = (g.status ?? {}) as { haStatus?: unknown; connections?: Array<{ status?: unknown; endpoint?: { cluster_id?: unknown } }> };
      const conns = (st.connections ?? []).filter((c) => !String(c.endpoint?.cluster_id).startsWith('soak-')).map((c) => `${String(c.endpoint?.cluster_id)}:${String(c.status)}`).join(',');
      return `${g.metadata?.name}=${String(st.haStatus ?? '?')}[${conns}]`;
    }).sort().join(' ');
  };
  const endpoints = async (): Promise<string> => {
    const l = await broker.list(resourcePath('submariner.io', 'v1', 'endpoints', 'submariner-k8s-broker')).catch(() => ({ items: [] }));
    return l.items.map((e) => String((e.spec as { hostname?: unknown } | undefined)?.hostname ?? '?')).filter((h) => h.startsWith('b-')).sort().join(',');
  };
  const gwNodes = lab.topology.clusters.flatMap((c) => c.nodes.filter((n) => n.gateway).map((n) => n.name));
  // Peer key (first 6 chars) → endpoint and allowed IPs, and whether it ever completed a handshake.
  const keyNames = new Map<string, string>();
  const peers = async (node: string): Promise<string> => {
    try {
      const dev = await new UapiClient({ socketDir: join(lab.node(node).dir, 'wireguard'), timeoutMs: 2000 }).device('submariner');
      if (dev.publicKey) keyNames.set(dev.publicKey, node);
      return dev.peers.filter((p) => !p.endpoint?.startsWith('198.18.3.')).map((p) => `${keyNames.get(p.publicKey) ?? p.publicKey.slice(0, 6)}@${p.endpoint ?? '-'}${p.lastHandshakeMs ? ' hs' : ' no-hs'}(${p.allowedIPs.filter((a) => a.startsWith('242.')).join(',')})`).sort().join(' ');
    } catch (err) {
      return `? ${errorMessage(err).slice(0, 60)}`;
    }
  };
  await Promise.all(gwNodes.map(peers));

  const last = new Map<string, string>();
  const show = (t: number, key: string, v: string): void => {
    if (last.get(key) !== v) out(`${rel(t)} ${key}: ${v}`);
    last.set(key, v);
  };
  let faultAt = 0;
  let old = '';
  const fault = (async () => {
    await sleep(Math.max(0, start + afterS * 1000 - Date.now()));
    old = await holder('submariner-gateway-lock');
    faultAt = Date.now();
    out(`${rel(faultAt)} FAULT: SIGTERM ${old}/gateway`);
    await lab.stopRole(old, 'gateway', 'SIGTERM');
    await sleep(5000);
    out(`${rel(Date.now())} restarting ${old}/gateway`);
    await lab.startRole(old, 'gateway');
  })();
  while (Date.now() - start < (afterS + watchS) * 1000) {
    const t = Date.now();
    const [p, g, n, gw, ep, wg, gi] = await Promise.all([
      Promise.all(PAIRS.map(async ([from, to]) => `${pairName([from, to])} ${(await lab.ping(from, ips.get(to)!, 1).catch(() => ({ ok: false }))).ok ? 'ok' : 'LOST'}`)),
      holder('submariner-gateway-lock'), holder('submariner-globalnet-lock'), gateways(), endpoints(), Promise.all(gwNodes.map(peers)), globalIpsByPod(lab),
    ]);
    show(t, 'global IPs of the ping targets', PAIRS.map(([, to]) => `${to} ${gi.get(to) ?? '-'}${gi.get(to) === ips.get(to) ? '' : ` (pinged: ${ips.get(to)})`}`).join(', '));
    show(t, 'pings', p.join(', '));
    show(t, 'cluster-b Leases', `gateway ${g}, Globalnet ${n}`);
    show(t, 'cluster-b Gateways', gw);
    show(t, 'broker Endpoints of b', ep);
    gwNodes.forEach((node, i) => show(t, `${node} peers`, wg[i]!));
    await sleep(Math.max(0, 1000 - (Date.now() - t)));
  }
  await fault;
  stop = true;
  await churnLoop;
  b.close();
  broker.close();
  for (const id of lab.topology.processes.filter((p) => p.kind === 'gateway').map((p) => p.id)) {
    const lines = roleLogLines(lab, id, faultAt - 1000, start);
    out(`${id}: ${lines.length} lines from the fault on${lines.length > 60 ? ' (first 60)' : ''}`);
    for (const l of lines.slice(0, 60)) out(`  ${l}`);
  }
} catch (err) {
  out(`first-fault trace failed: ${errorMessage(err)}`);
  process.exitCode = 1;
} finally {
  stop = true;
  if (process.argv.includes('--keep')) out(`kept lab ${lab.name} (hawser lab down --name ${lab.name})`);
  else await lab.down();
}
