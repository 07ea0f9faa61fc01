import { readFileSync } from 'node:fs';

export function hawserVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

export async function run(argv: string[]): Promise<number> {
  const v = hawserVersion();
  if (argv.includes('-o') && argv.includes('json')) process.stdout.write(JSON.stringify({ version: v, node: process.version }) + '\n');
  else process.stdout.write(`hawser ${v} (node ${process.version})\n`);
  return 0;
}
