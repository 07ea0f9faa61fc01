// `hawser rollback`: see migrate.ts.
import { runWith } from './migrate.js';

export { USAGE } from './migrate.js';

export function run(argv: string[]): Promise<number> {
  return runWith('rollback', argv);
}
