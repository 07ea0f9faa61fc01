// Run inside a test's namespace (`ip netns exec`) by nft-elements.real.test.ts: applies one element
// transaction given as JSON in argv[2] and prints `ok` or the error. A netlink socket belongs to the
// namespace it was opened in, so this part cannot run in the test process itself.
import { NfnlSetElements, type SetElementChange } from '../../src/routeagent/nft-elements.js';

const { table, changes } = JSON.parse(process.argv[2] ?? '{}') as { table: string; changes: SetElementChange[] };
const w = new NfnlSetElements();
try {
  await w.apply(table, changes);
  process.stdout.write('ok\n');
} catch (err) {
  process.stdout.write(`${err instanceof Error ? err.message : String(err)}\n`);
} finally {
  w.close();
}
