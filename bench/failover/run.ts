// Gateway failover outage on the lab (WireGuard): graceful (SIGTERM of the active gateway's hawser), process
// crash (SIGKILL: the data path stays up) and node loss (the node's LAN link cut), with hawser's election
// timings and with Submariner's (15/10/2 s, no release on shutdown) measured in the same run.
//   npx tsx bench/failover/run.ts            (root; about 4 minutes; not part of `make test`)
// Outage = pings lost × 100 ms of a 10/s ping from a pod on cluster A's worker to a pod on cluster B's
// worker; "first reply" = from the failure to the first reply after the last loss.
import { cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, randomLabName, waitForCables } from '../../src/lab/index.js';
import { errorMessage } from '../../src/util/errors.js';
import { FAILURE_TITLES, runFailover, violations, type FailoverResult, type FailureKind } from '../../test/support/failover/scenario.js';

interface Timings {
  name: string;
  env: Record<string, string>;
}

const HAWSER: Timings = { name: 'hawser defaults (2/1.5/0.25 s, release on SIGTERM)', env: {} };
const SUBMARINER: Timings = {
  name: "Submariner's timings (15/10/2 s, no release)",
  env: { HAWSER_LEASE_DURATION: '15', HAWSER_RENEW_DEADLINE: '10', HAWSER_RETRY_PERIOD: '2', HAWSER_LEASE_RELEASE_ON_SHUTDOWN: 'false' },
};
const KINDS: FailureKind[] = ['sigterm', 'sigkill', 'link'];
const GOALS: Partial<Record<FailureKind, number>> = { sigterm: 1000, link: 4000 };

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function measure(t: Timings): Promise<Map<FailureKind, FailoverResult>> {
  const t0 = Date.now();
  const lab = await Lab.up({ name: randomLabName(), driver: 'wireguard', roleEnv: t.env });
  const out = new Map<FailureKind, FailoverResult>();
  try {
    await waitForCables(lab, 90_000);
    log(`${t.name}: lab ${lab.name} connected after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const toIp = lab.node('b-wk1').pods[0]!.ip;
    for (const kind of KINDS) {
      const r = await runFailover(lab, { kind, cluster: 'cluster-a', fromPod: 'a-wk1-pod1', toIp, restoreTimeoutMs: 60_000, log });
      const bad = violations(r.returnSamples, r.oldActive);
      if (bad.length) {
        log(`  ! old gateway not fenced while coming back: ${bad.slice(0, 3).join('; ')}`);
        keepLogs(lab);
      }
      out.set(kind, r);
    }
  } catch (err) {
    keepLogs(lab);
    throw err;
  } finally {
    await lab.down();
  }
  return out;
}

/** The lab's logs outlive it when something went wrong. */
function keepLogs(lab: Lab): void {
  const dest = join(tmpdir(), `hawser-failover-${lab.name}-logs`);
  try {
    cpSync(join(lab.stateDir, 'logs'), dest, { recursive: true });
    log(`  logs kept in ${dest}`);
  } catch {
    // the logs are a help, not the result
  }
}

function ms(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? '–' : `${Math.round(v)} ms`;
}

/** ours ÷ baseline; '–' when neither lost anything (the data path outlived the process either way). */
function ratioOf(ours: number, base: number): string {
  if (ours === 0 && base === 0) return '–';
  return (ours / Math.max(1, base)).toFixed(2);
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()).join('\n');
}

async function main(): Promise<void> {
  const started = Date.now();
  const results: Array<[Timings, Map<FailureKind, FailoverResult>]> = [];
  for (const t of [HAWSER, SUBMARINER]) results.push([t, await measure(t)]);
  const [[, ours], [, base]] = results as [[Timings, Map<FailureKind, FailoverResult>], [Timings, Map<FailureKind, FailoverResult>]];
  const rows = [['failure', 'timings', 'lost', 'outage', 'first reply', 'lease taken', 'ratio (outage, first reply)']];
  for (const kind of KINDS) {
    for (const [t, m] of results) {
      const r = m.get(kind)!;
      const b = base.get(kind)!;
      const ratio = t === SUBMARINER ? '1 (baseline)' : `${ratioOf(r.outage.outageMs, b.outage.outageMs)}, ${ratioOf(r.outage.firstReplyMs, b.outage.firstReplyMs)}`;
      rows.push([FAILURE_TITLES[kind], t === HAWSER ? 'hawser' : 'Submariner', String(r.outage.lost), ms(r.outage.outageMs), ms(r.outage.firstReplyMs), ms(r.takeoverMs), ratio]);
    }
  }
  console.log('\nGateway failover, 10/s ping a-wk1-pod1 → b-wk1-pod1 (WireGuard lab)\n');
  console.log(table(rows));
  console.log('\nratio = hawser ÷ Submariner timings (lower is better); lease taken = failure → Lease names the standby');
  for (const kind of KINDS) {
    const goal = GOALS[kind];
    if (!goal) continue;
    const r = ours.get(kind)!;
    const worst = Math.max(r.outage.outageMs, r.outage.firstReplyMs);
    console.log(`goal ${FAILURE_TITLES[kind]} < ${goal / 1000} s: ${worst < goal ? 'met' : 'NOT met'} (outage ${ms(r.outage.outageMs)}, first reply ${ms(r.outage.firstReplyMs)})`);
  }
  for (const [t, m] of results) {
    for (const [kind, r] of m) {
      const bad = violations(r.returnSamples, r.oldActive);
      console.log(`${t === HAWSER ? 'hawser' : 'Submariner'} ${kind}: old ${r.oldActive} back → passive, no cables after ${ms(r.oldFencedMs)}; ${r.returnSamples.length} samples, ${bad.length} with two active; ${r.returnOutage?.lost ?? '?'} pings lost meanwhile`);
    }
  }
  console.log(`\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${errorMessage(err)}`);
  process.exit(1);
});
