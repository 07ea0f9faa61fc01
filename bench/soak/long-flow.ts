// A flow that lives through gateway failovers with Globalnet on: a 10/s ping from a pod of cluster-b to a pod
// of cluster-a (by global IP, so the new active gateway of cluster-b must SNAT it), started before each graceful
// failover of cluster-b and watched until it answers again (15 s at most). The soak's failover probe found that
// such a flow can stay down for good while new flows (new ICMP ids) work: see the README, "Long-lived flows
// across a failover with Globalnet".
//   npx tsx bench/soak/long-flow.ts [--failovers 4]      (root; about 3 minutes)
import { Lab, globalIpsByPod, randomLabName, waitForCables } from '../../src/lab/index.js';
import { errorMessage } from '../../src/util/errors.js';
import { waitFor } from '../../src/util/wait.js';
import { runFailover } from '../../test/support/failover/scenario.js';

const i = process.argv.indexOf('--failovers');
const failovers = i < 0 ? 4 : Number(process.argv[i + 1]);
const out = (l: string): void => void process.stdout.write(`${l}\n`);

const lab = await Lab.up({ name: `lf${randomLabName()}`, clusters: 2, driver: 'wireguard', globalnet: true, gatewaysPerCluster: 2, workersPerCluster: 1, podsPerNode: 1 });
let broken = 0;
try {
  await waitForCables(lab, 180_000);
  const ip = await waitFor(async () => (await globalIpsByPod(lab)).get('a-wk1-pod1'), { timeoutMs: 120_000, intervalMs: 1000, what: 'global IP of a-wk1-pod1' });
  for (let n = 1; n <= failovers; n++) {
    try {
      // returnOld: the old gateway comes back as the standby, so the next failover has somewhere to go.
      const r = await runFailover(lab, { kind: 'sigterm', cluster: 'cluster-b', fromPod: 'b-wk1-pod1', toIp: ip, restoreTimeoutMs: 15_000, returnTimeoutMs: 40_000 });
      out(`failover ${n} (${r.oldActive} → ${r.newActive}): the long flow lost ${r.outage.lost} pings, first reply after ${Math.round(r.outage.firstReplyMs)} ms`);
    } catch (err) {
      broken++;
      out(`failover ${n}: the long flow did not come back: ${errorMessage(err).split('\n')[0]}`);
      // Bring the stopped gateway back for the next round.
      for (const node of lab.cluster('cluster-b').nodes) if (node.gateway && !lab.roleRunning(node.name, 'gateway')) await lab.startRole(node.name, 'gateway');
    }
  }
  out(`${broken} of ${failovers} long flows did not survive a graceful failover`);
} finally {
  await lab.down();
}
