// Process and log measurements shared by bench/scale and bench/soak: /proc samples (RSS, CPU, fds),
// JSON log lines after an offset, API requests by verb from the embedded API server's debug log.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

export interface ProcSample {
  pid: number;
  comm: string;
  rssMiB: number;
  cpuSeconds: number;
  fds: number;
}

/** One process's RSS, CPU time and open fds; undefined when it is gone. */
export function sampleProc(pid: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command; utime and stime are the 14th and 15th of the line.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    return {
      pid, comm,
      rssMiB: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024,
      cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS,
      fds: readdirSync(`/proc/${pid}/fd`).length,
    };
  } catch {
    return undefined;
  }
}

/** Open fds of a process by kind (socket, pipe, anon_inode:[eventfd], file, …). */
export function fdKinds(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let target = '';
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const kind = target.startsWith('socket:') ? 'socket' : target.startsWith('pipe:') ? 'pipe' : target.startsWith('anon_inode:') ? target : target.startsWith('/dev/') ? target : 'file';
      out[kind] = (out[kind] ?? 0) + 1;
    }
  } catch {
    // gone
  }
  return out;
}

export interface LogLine {
  msg?: string;
  time?: string | number;
  [k: string]: unknown;
}

export function fileSize(file: string): number {
  return existsSync(file) ? statSync(file).size : 0;
}

/** The JSON lines of a log's text (pino: one object per line); a line still being written is skipped. */
export function parseLogLines<T = LogLine>(text: string): T[] {
  const out: T[] = [];
  for (const l of text.split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      out.push(JSON.parse(l) as T);
    } catch {
      // a line still being written
    }
  }
  return out;
}

/** JSON log lines appended to `file` after byte `offset`. */
export function linesSince(file: string, offset = 0): LogLine[] {
  if (!existsSync(file)) return [];
  return parseLogLines(readFileSync(file).subarray(offset).toString('utf8'));
}

export function lineTime(l: LogLine): number {
  return typeof l.time === 'number' ? l.time : Date.parse(String(l.time));
}

/** Kubernetes verb of a logged request (method + path as the API server saw it). */
export function requestVerb(method: string, url: string): string {
  const [path = '', query = ''] = url.split('?');
  if (method === 'GET' && /(^|&)watch=(true|1)/.test(query)) return 'watch';
  if (method === 'POST') return 'create';
  if (method === 'PUT') return 'update';
  if (method === 'PATCH') return 'patch';
  if (method === 'DELETE') return 'delete';
  if (method !== 'GET') return method.toLowerCase();
  const segs = path.split('/').filter(Boolean);
  let rest = segs[0] === 'apis' ? segs.slice(3) : segs[0] === 'api' ? segs.slice(2) : [];
  if (rest.length === 0) return 'discovery';
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  return rest.length === 1 ? 'list' : 'get';
}

/** API requests by verb in [fromMs, toMs] from an API server log (LOG_LEVEL=debug logs one line each). */
export function requestsByVerb(file: string, fromMs: number, toMs: number, offset = 0): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of linesSince(file, offset)) {
    if (l.msg !== 'request') continue;
    const t = lineTime(l);
    if (t < fromMs || t > toMs) continue;
    const verb = requestVerb(String(l.method ?? ''), String(l.path ?? ''));
    out[verb] = (out[verb] ?? 0) + 1;
  }
  return out;
}

export function fmt(n: number | undefined, digits = 1): string {
  return n !== undefined && Number.isFinite(n) ? n.toFixed(digits) : '?';
}

/** Least-squares slope of y over x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}
