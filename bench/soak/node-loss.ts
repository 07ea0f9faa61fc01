// One node-loss failover with Globalnet on, traced: what the soak's node-loss fault does (the active gateway's
// LAN link cut for 15 s), with both Leases, every Gateway's haStatus and a cross-cluster ping (by global IP)
// sampled every 250 ms, then the Globalnet and gateway log lines of both gateway nodes from the cut on.
//   npx tsx bench/soak/node-loss.ts [--cut-s 15] [--watch-s 60]      (root; about 2 minutes)
import { readFileSync } from 'node:fs';
import { Lab, globalIpsByPod, randomLabName, waitForCables } from '../../src/lab/index.js';
import { RestClient, resourcePath } from '../../src/k8s/rest.js';
import { errorMessage } from '../../src/util/errors.js';
import { sleep, waitFor } from '../../src/util/wait.js';
import { cutLink, restoreLink } from '../../test/support/failover/scenario.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
}

const cutS = arg('--cut-s', 15);
const watchS = arg('--watch-s', 60);
const out = (l: string): void => void process.stdout.write(`${l}\n`);

const lab = await Lab.up({ name: `nl${randomLabName()}`, clusters: 2, driver: 'wireguard', globalnet: true, gatewaysPerCluster: 2, workersPerCluster: 1, podsPerNode: 1 });
try {
  await waitForCables(lab, 180_000);
  const ips = await waitFor(async () => (await globalIpsByPod(lab)).get('b-wk1-pod1'), { timeoutMs: 120_000, intervalMs: 1000, what: 'global IP of b-wk1-pod1' });
  await waitFor(async () => (await lab.ping('a-wk1-pod1', ips, 1)).ok, { timeoutMs: 120_000, intervalMs: 1000, what: 'a→b ping' });
  const c = new RestClient(lab.kubeConfig('cluster-a'), 3000);
  const lease = async (name: string): Promise<string> => {
    const o = await c.getOrUndefined(resourcePath('coordination.k8s.io', 'v1', 'leases', 'submariner-operator', name)).catch(() => undefined);
    const sp = (o?.spec ?? {}) as { holderIdentity?: unknown; renewTime?: unknown };
    const who = String(sp.holderIdentity ?? '?').replace(/-submariner-(gateway|globalnet)$/, '');
    // The Globalnet Lease with its renewTime: a renewal restarts a candidate's expiry clock.
    return name === 'submariner-globalnet-lock' ? `${who} (renewed ${String(sp.renewTime ?? '?').slice(11, 21)})` : who;
  };
  const haStatus = async (): Promise<string> => {
    const l = await c.list(resourcePath('submariner.io', 'v1', 'gateways', 'submariner-operator')).catch(() => ({ items: [] }));
    return l.items.map((g) => `${g.metadata?.name}=${String((g.status as { haStatus?: unknown } | undefined)?.haStatus ?? '?')}`).sort().join(' ');
  };
  const old = await lease('submariner-gateway-lock');
  out(`lab ${lab.name}: cutting ${old}'s LAN link for ${cutS} s; samples every 250 ms (only changes printed)`);
  const t0 = Date.now();
  await cutLink(lab, old);
  const restored = sleep(cutS * 1000).then(() => restoreLink(lab, old)).then(() => out(`+${((Date.now() - t0) / 1000).toFixed(1)} s link restored`));
  let last = '';
  while (Date.now() - t0 < watchS * 1000) {
    const t = Date.now();
    const [g, n, h, p] = await Promise.all([lease('submariner-gateway-lock'), lease('submariner-globalnet-lock'), haStatus(), lab.ping('a-wk1-pod1', ips, 1).catch(() => ({ ok: false }))]);
    const line = `gateway Lease ${g}, Globalnet Lease ${n}, ${h}, ping a→b ${p.ok ? 'ok' : 'LOST'}`;
    if (line !== last) out(`+${((t - t0) / 1000).toFixed(1)} s ${line}`);
    last = line;
    await sleep(Math.max(0, 250 - (Date.now() - t)));
  }
  await restored;
  c.close();
  for (const node of ['a-gw1', 'a-gw2']) {
    for (const role of ['globalnet', 'gateway']) {
      const plan = lab.topology.processes.find((p) => p.id === `${node}/${role}`);
      if (!plan) continue;
      const lines = readFileSync(plan.log, 'utf8').split('\n').flatMap((l) => {
        try {
          const o = JSON.parse(l) as { time?: unknown; level?: unknown; msg?: unknown; why?: unknown; err?: { message?: unknown } };
          const at = typeof o.time === 'string' ? Date.parse(o.time) : typeof o.time === 'number' ? o.time : NaN;
          if (!(at >= t0 - 1000)) return [];
          const err = typeof o.err?.message === 'string' ? ` (${o.err.message.split('\n')[0]!.slice(0, 120)})` : '';
          return [`  +${((at - t0) / 1000).toFixed(1)} s [${String(o.level)}] ${String(o.msg)}${typeof o.why === 'string' ? ` (${o.why})` : ''}${err}`];
        } catch {
          return [];
        }
      });
      out(`${node}/${role}: ${lines.length} lines since the cut${lines.length > 40 ? ' (first 40)' : ''}`);
      for (const l of lines.slice(0, 40)) out(l);
    }
  }
} catch (err) {
  out(`node-loss trace failed: ${errorMessage(err)}`);
  process.exitCode = 1;
} finally {
  await lab.down();
}
