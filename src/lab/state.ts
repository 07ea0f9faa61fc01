// The lab's state file: what a lab made (or is about to make), so `lab down` removes exactly that even
// after the lab process was killed. Every resource is recorded BEFORE it is created; writes are atomic
// (temp file + rename) so a crash never leaves a torn file.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { HawserError } from '../util/errors.js';
import type { LabTopology } from './topology.js';

export const STATE_VERSION = 1;

export interface ProcessRecord {
  /** Process plan id, e.g. `a-gw1/gateway`. */
  id: string;
  netns?: string;
  /** Absent until spawned (the record is written first). */
  pid?: number;
  /** Field 22 of /proc/PID/stat: tells a reused PID from ours. */
  startTime?: string;
  startedAt: string;
  /** Set when the lab stopped it on purpose (stopRole). */
  stoppedAt?: string;
}

export type LabPhase = 'building' | 'up' | 'failed' | 'tearing-down';

export interface LabState {
  version: number;
  name: string;
  phase: LabPhase;
  createdAt: string;
  /** The process that built the lab (not killed by `down` unless still building). */
  owner: { pid: number; startTime?: string };
  /** Every netns this lab may have created: listed before creation, all prefixed `hw-<name>-`. */
  netns: string[];
  processes: ProcessRecord[];
  /** Paths removed by `down` (the lab's state directory). */
  files: string[];
  /** What went wrong while building, for `status`. */
  error?: string;
  /** The full plan (with secrets: the file is 0600 in a root-only directory). */
  topology: LabTopology;
}

export function stateFilePath(stateRoot: string, name: string): string {
  return join(stateRoot, name, 'state.json');
}

export function writeState(file: string, s: LabState): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

export function readState(file: string): LabState {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new HawserError('NOT_FOUND', `no lab state at ${file}: is the lab name right? (hawser lab list)`, { cause: err });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new HawserError('INVALID', `lab state ${file} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  return validateState(v, file);
}

function validateState(v: unknown, file: string): LabState {
  const bad = (what: string): never => {
    throw new HawserError('INVALID', `lab state ${file}: ${what}`);
  };
  if (typeof v !== 'object' || v === null) return bad('not an object');
  const o = v as Record<string, unknown>;
  if (o.version !== STATE_VERSION) bad(`version ${String(o.version)} (this hawser reads ${STATE_VERSION})`);
  if (typeof o.name !== 'string') bad('name missing');
  if (!Array.isArray(o.netns) || !o.netns.every((n) => typeof n === 'string')) bad('netns is not a list of names');
  // Refuse to touch a namespace that is not this lab's: a hand-edited file must not become a weapon.
  const prefix = `hw-${String(o.name)}-`;
  for (const n of o.netns as string[]) if (!n.startsWith(prefix)) bad(`netns ${n} does not start with ${prefix}`);
  if (!Array.isArray(o.processes)) bad('processes missing');
  for (const p of o.processes as unknown[]) {
    const r = p as Record<string, unknown>;
    if (typeof r !== 'object' || r === null || typeof r.id !== 'string') bad('a process record has no id');
    if (r.pid !== undefined && (!Number.isInteger(r.pid) || (r.pid as number) <= 1)) bad(`process ${String(r.id)} has a bad pid`);
  }
  if (!Array.isArray(o.files) || !o.files.every((f) => typeof f === 'string')) bad('files is not a list of paths');
  if (typeof o.topology !== 'object' || o.topology === null) bad('topology missing');
  return v as LabState;
}

/**
 * Read-modify-write without awaiting in between, so callers in one process never interleave.
 * (Concurrent writers in several processes are not expected: one lab, one operator.)
 */
export function updateState(file: string, change: (s: LabState) => void): LabState {
  const s = readState(file);
  change(s);
  writeState(file, s);
  return s;
}

/** Names of labs with a state file under stateRoot. */
export function listLabs(stateRoot: string): string[] {
  if (!existsSync(stateRoot)) return [];
  return readdirSync(stateRoot, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(stateRoot, d.name, 'state.json')))
    .map((d) => d.name)
    .sort();
}
