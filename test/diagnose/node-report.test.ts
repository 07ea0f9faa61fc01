// diagnose all reads each node's `hawser diagnose node -o json` from stdout, where a log line may come first.
import assert from 'node:assert/strict';
import { nodeReportFrom } from '../../src/diagnose/all.js';

describe('diagnose all: a node report from stdout', () => {
  it('takes the report line and skips a log line written before it', () => {
    const log = '{"level":"warn","msg":"libnftables cannot be loaded: falling back to one nft process per change (install libnftables1)"}';
    const report = '{"checks":[{"name":"binary ip","verdict":"ok","detail":"found"}],"sent":[],"pmtu":[]}';
    assert.deepEqual(nodeReportFrom(`${log}\n${report}\n`).checks, [{ name: 'binary ip', verdict: 'ok', detail: 'found' }]);
    assert.deepEqual(nodeReportFrom(`${report}\n`).checks.length, 1);
    assert.throws(() => nodeReportFrom(`${log}\n`), /no report in the output/);
  });
});
