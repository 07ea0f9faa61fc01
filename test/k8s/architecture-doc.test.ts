// docs/architecture.md "Where each object is made": every file it names exists under src/ and holds the
// function named beside it, so that one search for that name finds where the object is made.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';

const ROOT = new URL('../../', import.meta.url);

function section(): string {
  const doc = readFileSync(new URL('docs/architecture.md', ROOT), 'utf8');
  const start = doc.indexOf('## Where each object is made');
  const end = doc.indexOf('\n## ', start + 1);
  assert.ok(start >= 0 && end > start, 'docs/architecture.md has a "Where each object is made" section');
  return doc.slice(start, end);
}

describe('docs/architecture.md: where each object is made', () => {
  const rows = section().split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Object') && !l.startsWith('|---'));

  it('has a row for each Submariner kind hawser writes and each kernel object it owns', () => {
    const first = rows.map((r) => r.split('|')[1]!.trim());
    for (const want of ['`Endpoint` (local)', '`Cluster` (local)', '`Gateway` (this node\'s)', '`RouteAgent`', 'WireGuard device and peers', 'VXLAN cable device', 'Route-agent firewall', 'Globalnet NAT']) {
      assert.ok(first.includes(want), `a row for ${want}`);
    }
  });

  it('every file named exists and holds the functions named beside it', () => {
    const problems: string[] = [];
    let pairs = 0;
    for (const row of rows) {
      for (const m of row.matchAll(/`([\w./-]+\.ts)`((?:,?\s*`\w+`)*)/g)) {
        const file = new URL(`src/${m[1]}`, ROOT);
        if (!existsSync(file)) {
          problems.push(`src/${m[1]} does not exist`);
          continue;
        }
        const text = readFileSync(file, 'utf8');
        for (const sym of [...m[2]!.matchAll(/`(\w+)`/g)].map((x) => x[1]!)) {
          pairs++;
          if (!new RegExp(`\\b${sym}\\b`).test(text)) problems.push(`src/${m[1]} has no ${sym}`);
        }
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(pairs >= 30, `the table names functions (found ${pairs})`);
  });
});
