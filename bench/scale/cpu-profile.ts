// A role's V8 CPU profile (node --cpu-prof) cut to a time window: where its CPU went while idle. The
// profile's timestamps are CLOCK_MONOTONIC microseconds, the same clock as process.hrtime in this
// process, so the bench marks the window with monotonicUs() and this keeps only the samples inside it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** The NODE_OPTIONS that make a Node process write its profile into `dir` when it exits. */
export function cpuProfileNodeOptions(dir: string, intervalUs = 1000): string {
  return `--cpu-prof --cpu-prof-dir=${dir} --cpu-prof-interval=${intervalUs}`;
}

function isProfile(v: unknown): v is CpuProfile {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Partial<CpuProfile>;
  return Array.isArray(p.nodes) && Array.isArray(p.samples) && Array.isArray(p.timeDeltas) && typeof p.startTime === 'number';
}

export interface WindowCost {
  /** Sampled time in the window that was not idle, ms. */
  busyMs: number;
  windowMs: number;
  /** Self time by function (`name file:line`), ms, largest first; GC is "(garbage collector)". */
  top: Array<{ fn: string; ms: number }>;
  /** Self time by source file (or pseudo-frame), ms, largest first. */
  byFile: Array<{ file: string; ms: number }>;
}

/** Self time per function within [fromUs, toUs] of the profile. */
export function profileWindow(raw: unknown, fromUs: number, toUs: number, topN = 25): WindowCost {
  if (!isProfile(raw)) throw new Error('not a V8 CPU profile (.cpuprofile)');
  const byId = new Map(raw.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let t = raw.startTime;
  for (let i = 0; i < raw.samples.length; i++) {
    const delta = raw.timeDeltas[i] ?? 0;
    t += delta;
    // A sample stands for the time since the previous one.
    if (t < fromUs || t > toUs) continue;
    const id = raw.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)?.callFrame;
    const name = cf?.functionName || '(anonymous)';
    if (name === '(idle)') continue;
    busy += us;
    const file = cf?.url ? cf.url.replace(/^file:\/\//, '').replace(/^.*\/(src|node_modules)\//, '$1/') : name.startsWith('(') ? name : '(native)';
    const fn = cf?.url ? `${name} ${file}:${cf.lineNumber + 1}` : name;
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
    byFile.set(file, (byFile.get(file) ?? 0) + us);
  }
  const sorted = <K extends string>(m: Map<string, number>, key: K): Array<Record<K, string> & { ms: number }> =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, topN).map(([k, us]) => ({ [key]: k, ms: us / 1000 }) as Record<K, string> & { ms: number });
  return { busyMs: busy / 1000, windowMs: (toUs - fromUs) / 1000, top: sorted(byFn, 'fn'), byFile: sorted(byFile, 'file') };
}

/**
 * The newest main-thread .cpuprofile in `dir` (Node writes one per thread that ran with --cpu-prof, named
 * CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; the main thread is 0, tsx's loader thread is not).
 */
export function readNewestProfile(dir: string): unknown {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && f.split('.')[4] === '0').sort();
  const last = files.at(-1);
  if (!last) throw new Error(`no .cpuprofile in ${dir} (did the process exit normally?)`);
  return JSON.parse(readFileSync(join(dir, last), 'utf8')) as unknown;
}

export function windowReport(label: string, w: WindowCost): string {
  const pct = (ms: number): string => `${((ms / w.windowMs) * 100).toFixed(2)} %`;
  const out = [`  ${label}: CPU profile of the idle window, ${(w.busyMs / 1000).toFixed(2)} s busy in ${(w.windowMs / 1000).toFixed(1)} s (${pct(w.busyMs)} of a core, sampled; profiling adds its own cost)`];
  out.push('    self time by file:');
  for (const f of w.byFile.slice(0, 15)) out.push(`      ${f.ms.toFixed(0).padStart(6)} ms ${pct(f.ms).padStart(7)}  ${f.file}`);
  out.push('    self time by function:');
  for (const f of w.top) out.push(`      ${f.ms.toFixed(0).padStart(6)} ms ${pct(f.ms).padStart(7)}  ${f.fn}`);
  return out.join('\n');
}
