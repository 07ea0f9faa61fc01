// Running system commands (ip, nft, swanctl, wg, ping) with input, in a network namespace if asked.
import { spawn } from 'node:child_process';
import { HawserError } from './errors.js';

export interface ExecOptions {
  /** Network namespace to run in (`ip netns exec NAME ...`). */
  netns?: string;
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Do not throw on a non-zero exit. */
  allowFailure?: boolean;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function netnsArgv(cmd: string, args: readonly string[], netns?: string): [string, string[]] {
  if (!netns) return [cmd, [...args]];
  return ['ip', ['netns', 'exec', netns, cmd, ...args]];
}

export function exec(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [file, argv] = netnsArgv(cmd, args, opts.netns);
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new HawserError('EXEC', `cannot run ${cmd}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const rc = code ?? (signal ? 128 : 1);
      if (rc !== 0 && !opts.allowFailure) {
        const where = opts.netns ? ` (netns ${opts.netns})` : '';
        reject(new HawserError('EXEC', `${cmd} ${args.join(' ')}${where} exited ${rc}${signal ? ` (${signal})` : ''}: ${stderr.trim() || stdout.trim()}`));
        return;
      }
      resolve({ code: rc, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}
