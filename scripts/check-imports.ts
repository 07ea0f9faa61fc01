// The import rules of docs/architecture.md, enforced: which src/ folder may import which, roles never import
// each other, cable drivers never import each other, src/ never imports test/ or bench/, and tests borrow
// helpers only from test/support. `make test` runs it before mocha; it prints every violation with file:line
// and the rule, and exits 1 if there is any that the allow-list below does not excuse.
//
//   npx tsx scripts/check-imports.ts            check the tree
//   npx tsx scripts/check-imports.ts --list     also print the allow-listed imports still present
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * src/ folders, bottom to top, and what each may import (besides itself). A folder not in this table is a
 * violation: add it here and to the table in docs/architecture.md.
 */
export const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  // ground floor
  util: [],
  net: ['util'],
  log: ['util'],
  metrics: ['util', 'log'],
  config: ['util', 'net', 'log'],
  // a product of its own, fenced off: only the CLI starts it
  apiserver: ['util', 'log'],
  // adapters: the kernel door and the API door
  os: ['util', 'net', 'log', 'metrics'],
  k8s: ['util', 'net', 'log', 'metrics', 'config'],
  // shared services the roles use
  election: ['util', 'net', 'log', 'metrics', 'config', 'k8s'],
  health: ['util', 'net', 'log', 'metrics', 'config', 'os', 'k8s'],
  'cable-drivers': ['util', 'net', 'log', 'metrics', 'config', 'os', 'k8s', 'health'],
  // the three roles: never each other
  gateway: ['util', 'net', 'log', 'metrics', 'config', 'os', 'k8s', 'election', 'health', 'cable-drivers'],
  routeagent: ['util', 'net', 'log', 'metrics', 'config', 'os', 'k8s', 'health'],
  nat: ['util', 'net', 'log', 'metrics', 'config', 'os', 'k8s', 'election', 'health'],
  // tools: read-only views import no role; the installer knows what every role owns
  show: ['util', 'net', 'log', 'config', 'k8s'],
  diagnose: ['util', 'net', 'log', 'metrics', 'config', 'os', 'k8s', 'health'],
  lab: ['util', 'net', 'log', 'metrics', 'config', 'os', 'k8s'],
  install: ['util', 'net', 'log', 'metrics', 'config', 'os', 'k8s', 'cable-drivers', 'gateway', 'routeagent', 'nat'],
  // the composition roots
  cli: ['util', 'net', 'log', 'metrics', 'config', 'apiserver', 'os', 'k8s', 'election', 'health', 'cable-drivers', 'gateway', 'routeagent', 'nat', 'show', 'diagnose', 'lab', 'install'],
};

/** Folders inside src/cable-drivers that are one cable driver each: a driver never imports another. */
export const DRIVERS: readonly string[] = ['wireguard', 'ipsec', 'vxlan'];

/**
 * Imports today's tree has that the rules forbid, each with why it is still here and what removes it. An
 * entry excuses exactly one importer → imported file pair; the lead shrinks this list as branches land.
 */
export const ALLOWED: ReadonlyArray<{ from: string; to: string; reason: string }> = [
];

export interface Violation {
  file: string;
  line: number;
  imported: string;
  rule: string;
  allowed?: string;
}

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), '..'));

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (n.endsWith('.ts') && !n.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative imports of one file (static, `import type`, `export … from`, dynamic `import('…')`) with line numbers. */
export function importsOf(text: string): { spec: string; line: number }[] {
  const info = ts.preProcessFile(text, true, true);
  const lineAt = (pos: number): number => text.slice(0, pos).split('\n').length;
  return info.importedFiles.filter((f) => f.fileName.startsWith('.')).map((f) => ({ spec: f.fileName, line: lineAt(f.pos) }));
}

/** `src/gateway/role.ts` → ['src', 'gateway', 'role.ts']; the imported `.js` is the `.ts` beside it. */
function target(fromRel: string, spec: string): string {
  const joined = normalize(join(dirname(fromRel), spec)).split(sep).join('/');
  return joined.replace(/\.js$/, '.ts');
}

/** The rule an import breaks, or undefined. Paths are relative to the repository root, with `/`. */
export function ruleBroken(from: string, to: string): string | undefined {
  const [fTop, fDir, fSub] = from.split('/');
  const [tTop, tDir, tSub] = to.split('/');
  if (fTop === 'src') {
    if (tTop === 'test' || tTop === 'bench') return `src/ never imports ${tTop}/`;
    if (tTop !== 'src') return undefined;
    if (!fDir || !tDir || fDir === tDir) {
      if (fDir === 'cable-drivers' && tDir === 'cable-drivers' && fSub && tSub && fSub !== tSub && DRIVERS.includes(fSub) && DRIVERS.includes(tSub)) {
        return `cable drivers do not import each other (cable-drivers/${fSub} ↛ cable-drivers/${tSub})`;
      }
      if (fDir === 'cable-drivers' && tDir === 'cable-drivers' && fSub && fSub === 'natdiscovery' && tSub && DRIVERS.includes(tSub)) {
        return `the shared cable service natdiscovery does not import a driver (cable-drivers/${fSub} ↛ cable-drivers/${tSub})`;
      }
      return undefined;
    }
    if (fDir.endsWith('.ts') || tDir.endsWith('.ts')) return undefined;
    const allowed = MAY_IMPORT[fDir];
    if (!allowed) return `src/${fDir} is not in the layer table (scripts/check-imports.ts MAY_IMPORT, docs/architecture.md)`;
    if (!MAY_IMPORT[tDir]) return `src/${tDir} is not in the layer table (scripts/check-imports.ts MAY_IMPORT, docs/architecture.md)`;
    if (!allowed.includes(tDir)) return `src/${fDir} may import only ${allowed.length ? allowed.join(', ') : 'nothing outside itself'} (not ${tDir})`;
    return undefined;
  }
  if (fTop === 'test') {
    if (tTop === 'bench') return 'tests do not import bench/ (bench/ imports test support, not the other way round)';
    if (tTop === 'test' && fDir && tDir && fDir !== tDir && tDir !== 'support' && !fDir.endsWith('.ts')) {
      return `tests borrow helpers only from test/support (test/${fDir} ↛ test/${tDir})`;
    }
    return undefined;
  }
  if (fTop === 'bench' && tTop === 'test' && tDir !== 'support') return 'bench/ imports only test/support from test/';
  return undefined;
}

export function checkTree(root = ROOT): Violation[] {
  const out: Violation[] = [];
  for (const top of ['src', 'test', 'bench']) {
    for (const abs of tsFiles(join(root, top))) {
      const from = relative(root, abs).split(sep).join('/');
      for (const imp of importsOf(readFileSync(abs, 'utf8'))) {
        const to = target(from, imp.spec);
        const rule = ruleBroken(from, to);
        if (!rule) continue;
        const ok = ALLOWED.find((a) => a.from === from && a.to === to);
        out.push({ file: from, line: imp.line, imported: imp.spec, rule, ...(ok ? { allowed: ok.reason } : {}) });
      }
    }
  }
  return out;
}

function main(): void {
  const list = process.argv.includes('--list');
  const all = checkTree();
  const bad = all.filter((v) => !v.allowed);
  if (list) for (const v of all.filter((x) => x.allowed)) console.log(`allowed  ${v.file}:${v.line} imports ${v.imported}: ${v.rule} [${v.allowed}]`);
  for (const v of bad) console.log(`${v.file}:${v.line} imports ${v.imported}: ${v.rule}`);
  const stale = ALLOWED.filter((a) => !all.some((v) => v.file === a.from && target(v.file, v.imported) === a.to));
  for (const a of stale) console.log(`note: allow-list entry ${a.from} → ${a.to} no longer needed; remove it`);
  console.log(`import rules: ${bad.length} violation(s), ${all.length - bad.length} allow-listed`);
  if (bad.length) process.exit(1);
}

if (process.argv[1] && normalize(process.argv[1]) === fileURLToPath(import.meta.url)) main();
