// Placeholder until its issue lands.
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('hawser route-agent: not implemented yet\n');
  return 1;
}
