// The short soak (test/support/soak, also run by bench/soak/run.ts): three clusters with Globalnet and two gateways each, three minutes of
// Endpoint/Service/GlobalEgressIP churn, failovers, API server restarts, wireguard-go kills, WAN loss and
// route-agent restarts; fails on any invariant violation (test/support/soak/invariants.ts) and on a failover whose
// cross-cluster pings do not recover within FAILOVER_RECOVERY_BOUND_MS (test/support/soak/recovery.ts). A node loss is
// judged from the moment the Globalnet Lease moved. That exception dates from when the new gateway's Globalnet
// waited out the old holder's 20 s Lease; it now preempts it about 2 s after the gateway Lease moves (README
// "Scale and soak"), so the two judgements nearly agree, and the bench run (which has no exception) counts
// every miss. Slopes depend on the machine's load: printed, not asserted.
import assert from 'node:assert/strict';
import { formatSoak, runSoak } from '../support/soak/soak.js';
import { apiServerAvailable } from '../support/lab.js';

describe('soak @real: three minutes of churn and faults leave no invariant broken', function () {
  this.timeout(330_000);

  before(async function () {
    if (!(await apiServerAvailable())) this.skip();
  });

  it('keeps one active gateway per cluster, leaks nothing, keeps IPAM and nft in step, and pings recover within the failover bounds', async () => {
    const lines: string[] = [];
    const r = await runSoak({ minutes: 3, nodeLossFromGlobalnetLease: true, log: (l) => lines.push(l) });
    console.log(formatSoak(r).replace(/^/gm, '      '));
    assert.deepEqual(r.violations, [], `invariant violations:\n${r.violations.join('\n')}\nlog:\n${lines.join('\n')}`);
    assert.ok(r.checks >= 3 * 60 / 10, `only ${r.checks} invariant checks in 3 minutes (want at least one per 10 s)`);
  });
});
