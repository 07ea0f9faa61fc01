// The import-rule check (scripts/check-imports.ts): the rules it applies, and that today's tree passes it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MAY_IMPORT, checkTree, importsOf, ruleBroken } from '../../scripts/check-imports.js';

describe('import rules (scripts/check-imports.ts)', () => {
  it('finds static, type-only, re-export and dynamic imports with their lines', () => {
    const text = "import a from './a.js';\nimport type { B } from '../b.js';\nexport { c } from './c.js';\nconst d = await import('../d.js');\nimport x from 'node:fs';\n";
    assert.deepEqual(importsOf(text), [
      { spec: './a.js', line: 1 },
      { spec: '../b.js', line: 2 },
      { spec: './c.js', line: 3 },
      { spec: '../d.js', line: 4 },
    ]);
  });

  it('forbids upward imports, roles importing each other, drivers importing each other, src importing test', () => {
    assert.equal(ruleBroken('src/gateway/role.ts', 'src/k8s/informer.ts'), undefined);
    assert.match(ruleBroken('src/k8s/informer.ts', 'src/gateway/role.ts') ?? '', /src\/k8s may import only .* \(not gateway\)/);
    assert.match(ruleBroken('src/routeagent/role.ts', 'src/gateway/x.ts') ?? '', /not gateway/);
    assert.match(ruleBroken('src/nat/role.ts', 'src/gateway/x.ts') ?? '', /not gateway/);
    assert.match(ruleBroken('src/cable-drivers/vxlan/x.ts', 'src/gateway/x.ts') ?? '', /not gateway/);
    assert.match(ruleBroken('src/cable-drivers/wireguard/x.ts', 'src/cable-drivers/ipsec/y.ts') ?? '', /cable drivers do not import each other/);
    assert.equal(ruleBroken('src/cable-drivers/wireguard/x.ts', 'src/cable-drivers/types.ts'), undefined);
    assert.match(ruleBroken('src/k8s/x.ts', 'test/support/fixtures.ts') ?? '', /never imports test/);
    assert.match(ruleBroken('src/newthing/x.ts', 'src/util/json.ts') ?? '', /not in the layer table/);
    assert.match(ruleBroken('test/nat/x.test.ts', 'test/gateway/y.ts') ?? '', /only from test\/support/);
    assert.equal(ruleBroken('test/nat/x.test.ts', 'test/support/fixtures.ts'), undefined);
  });

  it('today\'s tree has no violation outside the allow-list', () => {
    const bad = checkTree().filter((v) => !v.allowed);
    assert.deepEqual(bad.map((v) => `${v.file}:${v.line} ${v.rule}`), []);
  });

  it('the layer table in docs/architecture.md says what the check enforces', () => {
    const doc = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');
    const rows = new Map<string, string[]>();
    for (const m of doc.matchAll(/^\| \d+ \| `([a-z0-9-]+)` \| ([^|]+) \|/gm)) {
      const list = m[2]!.trim();
      rows.set(m[1]!, list === '—' ? [] : list === 'everything' ? [...MAY_IMPORT[m[1]!]!] : list.split(', '));
    }
    assert.deepEqual(Object.fromEntries(rows), Object.fromEntries(Object.entries(MAY_IMPORT).map(([k, v]) => [k, [...v]])));
  });
});
