// The README's layout table is how a newcomer finds a concern's home: it must name every folder of src/
// and nothing that is gone.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findRepoRoot } from '../../src/lab/index.js';

describe('README layout table', () => {
  it('names every folder of src/, and only folders that exist', () => {
    const root = findRepoRoot();
    const folders = readdirSync(join(root, 'src'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    const table = readFileSync(join(root, 'README.md'), 'utf8').split('\n').filter((l) => l.startsWith('| `src/'));
    const named = [...new Set(table.flatMap((l) => [...(l.split('|')[1] ?? '').matchAll(/`src\/([a-z0-9-]+)`/g)].map((m) => m[1]!)))].sort();
    assert.deepEqual(named, folders);
  });
});
