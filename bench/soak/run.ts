// Soak: a three-cluster WireGuard + Globalnet lab with two gateways per cluster under churn and faults,
// invariants checked every 5 s and at the end (test/support/soak/soak.ts, test/support/soak/invariants.ts).
//   npx tsx bench/soak/run.ts [--minutes 60] [--keep-on-failure] [--strict-bars]
// --strict-bars: a failover whose 10/s probe saw the path down longer than its election bar is a violation.
// (root; minutes + about 1 minute for the lab; exit code 1 on any invariant violation.)
import { errorMessage } from '../../src/util/errors.js';
import { formatSoak, runSoak } from '../../test/support/soak/soak.js';

function parseArgs(argv: string[]): { minutes: number; keep: boolean; strictBars: boolean } {
  const a = { minutes: 60, keep: false, strictBars: false };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    if (f === '--minutes') a.minutes = Number(argv[++i]);
    else if (f === '--keep-on-failure') a.keep = true;
    else if (f === '--strict-bars') a.strictBars = true;
    else throw new Error(`unknown argument ${f} (usage: --minutes N [--keep-on-failure] [--strict-bars])`);
  }
  if (!(a.minutes >= 1)) throw new Error('--minutes must be at least 1');
  return a;
}

const args = parseArgs(process.argv.slice(2));
try {
  const r = await runSoak({ minutes: args.minutes, keepOnFailure: args.keep, strictBars: args.strictBars, log: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(formatSoak(r));
  if (r.violations.length) process.exitCode = 1;
} catch (err) {
  process.stderr.write(`soak failed: ${errorMessage(err)}\n`);
  process.exitCode = 1;
}
