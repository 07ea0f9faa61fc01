// The version has one source, package.json, found by walking up from this file: the checkout root is
// three levels above src/cli/commands/ and four above dist/src/cli/commands/.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { UsageError } from '../usage.js';

export const USAGE = `usage: hawser version [-o json]
       hawser --version
Prints hawser's version and the Node.js version it runs on.`;

let cached: string | undefined;

export function hawserVersion(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'hawser' && typeof pkg.version === 'string') return (cached = pkg.version);
    }
    const up = dirname(dir);
    if (up === dir) return (cached = 'unknown');
    dir = up;
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { output: { type: 'string', short: 'o' } } });
  if (values.output !== undefined && values.output !== 'json') throw new UsageError('-o must be json');
  const v = hawserVersion();
  if (values.output === 'json') process.stdout.write(JSON.stringify({ version: v, node: process.version }) + '\n');
  else process.stdout.write(`hawser ${v} (node ${process.version})\n`);
  return 0;
}
