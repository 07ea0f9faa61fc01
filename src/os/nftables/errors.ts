// nft's error buffer translated at the edge: a typed reason callers branch on, and a message that names
// the failing command line (long element lists cut short) instead of the whole script.
import { HawserError } from '../../util/errors.js';

/** Why a command failed, from the kernel errno or nft's parser as nft reports it. */
export type NftFailure = 'not-found' | 'exists' | 'busy' | 'syntax' | 'invalid' | 'no-buffer' | 'permission' | 'other';

export class NftError extends HawserError {
  constructor(readonly failure: NftFailure, message: string, readonly commandLine?: string) {
    super('NFT', message);
    this.name = 'NftError';
  }
}

export function isNftError(err: unknown, failure?: NftFailure): err is NftError {
  return err instanceof NftError && (failure === undefined || err.failure === failure);
}

export interface NftDiagnostic {
  message: string;
  /** The command line nft points at (elided past 160 characters). */
  line?: string;
}

const MAX_LINE = 160;

function elide(s: string): string {
  return s.length > MAX_LINE ? `${s.slice(0, MAX_LINE)}… (${s.length} chars)` : s;
}

/**
 * Splits nft's error output into diagnostics. libnftables prints `Error: <msg>`, then the offending
 * line, then a caret line; `nft -f -` prefixes the first with `/dev/stdin:3:1-5: `.
 */
export function parseNftErrors(text: string): NftDiagnostic[] {
  const lines = text.split('\n');
  const out: NftDiagnostic[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /(?:^|: )Error: (.*)$/.exec(lines[i]!);
    if (!m) continue;
    const next = lines[i + 1];
    const caret = lines[i + 2];
    const hasLine = next !== undefined && next.trim() !== '' && !/(?:^|: )Error: /.test(next) && (caret === undefined || /^[\s^~]*$/.test(caret));
    out.push({ message: m[1]!.trim(), ...(hasLine ? { line: elide(next.trim()) } : {}) });
    if (hasLine) i += 2;
  }
  if (out.length === 0 && text.trim()) out.push({ message: elide(text.trim().split('\n')[0]!) });
  return out;
}

export function classify(message: string): NftFailure {
  if (/No such file or directory|does not exist/i.test(message)) return 'not-found';
  if (/File exists/i.test(message)) return 'exists';
  if (/Device or resource busy/i.test(message)) return 'busy';
  if (/syntax error|unexpected|Could not parse|unknown identifier/i.test(message)) return 'syntax';
  if (/Invalid argument|conflicting|interval overlaps/i.test(message)) return 'invalid';
  if (/No buffer space/i.test(message)) return 'no-buffer';
  if (/Operation not permitted|Permission denied/i.test(message)) return 'permission';
  return 'other';
}

/** The error for a failed run: the first diagnostic decides the reason; `where` says which netns. */
export function nftFailure(errorText: string, commands: string, where: string): NftError {
  const diags = parseNftErrors(errorText);
  const first = diags[0] ?? { message: 'unknown error' };
  const line = first.line ?? elide(commands.split('\n').find((l) => l.trim()) ?? '');
  const more = diags.length > 1 ? ` (+${diags.length - 1} more)` : '';
  return new NftError(classify(first.message), `nft${where}: ${first.message} in \`${line}\`${more}`, line);
}
