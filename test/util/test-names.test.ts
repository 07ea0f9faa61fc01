// One naming convention for tests that need root and real namespaces: the file is `*.real.test.ts` AND the
// top-level title carries `@real` (mocha --grep @real selects them). Files in other folders that still break
// it are listed here for the owners to rename; the list only shrinks.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;

const NOT_YET_RENAMED: readonly string[] = [];

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? testFiles(p) : n.endsWith('.test.ts') ? [relative(ROOT, p)] : [];
  });
}

describe('test file naming', () => {
  it('tests tagged for root (the real tag in a title) live in *.real.test.ts, and every *.real.test.ts is tagged', () => {
    const bad: string[] = [];
    for (const f of testFiles(join(ROOT, 'test'))) {
      // describePreset (test/lab/preset-support.ts) titles its suite `lab @real: preset …`
      const titled = /(describe|it)\([^\n]*@real|describePreset\(/.test(readFileSync(join(ROOT, f), 'utf8'));
      const named = f.endsWith('.real.test.ts');
      if (titled !== named && !NOT_YET_RENAMED.includes(f)) bad.push(`${f}: ${titled ? '@real in a title but not named *.real.test.ts' : 'named *.real.test.ts without @real in a title'}`);
    }
    assert.deepEqual(bad, []);
  });
});
