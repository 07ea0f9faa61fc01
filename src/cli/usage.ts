// The CLI's conventions, shared by every command: `-h`/`--help` anywhere before `--` prints the command's
// usage and does nothing else; a usage error is one line on stderr and exit code 2.

/** Exit code of a usage error (bad flag, missing or unexpected argument), as in cobra/getopt tools. */
export const USAGE_EXIT = 2;

/** A mistake in how the command was called (not in the environment or the cluster). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** True when the arguments ask for help; arguments after `--` belong to another program. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '-h' || a === '--help') return true;
  }
  return false;
}

/** node:util parseArgs reports unknown options, missing values and stray positionals with these codes. */
export function isParseArgsError(err: unknown): err is Error {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

/** The one stderr line for a usage error: what is wrong and where the usage is. */
export function usageLine(command: string, message: string): string {
  const first = message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, '');
  return `hawser${command ? ' ' + command : ''}: ${first} (see: hawser${command ? ' ' + command : ''} --help)`;
}
