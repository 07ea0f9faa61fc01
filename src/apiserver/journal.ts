// Durability for the store: an append-only journal of writes, fsynced before a write is answered,
// folded into a snapshot at every start (write temp, fsync, rename, fsync the directory).
import { closeSync, existsSync, fdatasyncSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { HawserError } from '../util/errors.js';
import { isObject, type JsonObject, type KubeObject } from './types.js';

export interface JournalRecord {
  rv: number;
  op: 'put' | 'del';
  /** Storage key `group/plural`. */
  key: string;
  ns: string;
  name: string;
  obj?: KubeObject;
}

export interface SnapshotObject {
  key: string;
  obj: KubeObject;
}

export interface LoadedState {
  rv: number;
  objects: SnapshotObject[];
}

const SNAPSHOT = 'snapshot.json';
const LOCK = 'lock';
const JOURNAL = 'journal.log';
/** Fold the journal into a new snapshot at run time once it grows past this. */
const COMPACT_BYTES = 64 * 1024 * 1024;

export class Journal {
  private fd: number | undefined;
  private bytes = 0;

  private constructor(readonly dir: string) {}

  /** Reads the snapshot and journal of `dir` (created if missing) and returns the state they hold. */
  static open(dir: string): { journal: Journal; state: LoadedState } {
    mkdirSync(dir, { recursive: true });
    lockDir(dir);
    const j = new Journal(dir);
    try {
      const state = j.load();
      return { journal: j, state };
    } catch (err) {
      j.close();
      throw err;
    }
  }

  private load(): LoadedState {
    const objects = new Map<string, SnapshotObject>();
    let rv = 0;
    const snapPath = join(this.dir, SNAPSHOT);
    if (existsSync(snapPath)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(snapPath, 'utf8'));
      } catch (err) {
        throw new HawserError('INVALID', `data dir ${this.dir}: ${SNAPSHOT} is not valid JSON (${(err as Error).message}); restore it or move the data dir away`);
      }
      if (!isObject(parsed) || typeof parsed.rv !== 'number' || !Array.isArray(parsed.objects)) {
        throw new HawserError('INVALID', `data dir ${this.dir}: ${SNAPSHOT} has no rv/objects; restore it or move the data dir away`);
      }
      rv = parsed.rv;
      for (const o of parsed.objects) {
        if (!isObject(o) || typeof o.key !== 'string' || !isObject(o.obj) || !isObject(o.obj.metadata)) continue;
        const obj = o.obj as KubeObject;
        objects.set(recordId(o.key, obj), { key: o.key, obj });
      }
    }
    const journalPath = join(this.dir, JOURNAL);
    if (existsSync(journalPath)) {
      const lines = readFileSync(journalPath, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (line.trim() === '') return;
        let rec: unknown;
        try {
          rec = JSON.parse(line);
        } catch {
          // a torn last line is a write that was never acknowledged; anything earlier is damage
          if (i >= lines.length - 2) return;
          throw new HawserError('INVALID', `data dir ${this.dir}: ${JOURNAL} line ${i + 1} is not valid JSON`);
        }
        if (!isObject(rec) || typeof rec.rv !== 'number' || typeof rec.key !== 'string') return;
        const r = rec as unknown as JournalRecord;
        rv = Math.max(rv, r.rv);
        const id = `${r.key}|${r.ns}|${r.name}`;
        if (r.op === 'put' && r.obj) objects.set(id, { key: r.key, obj: r.obj });
        else if (r.op === 'del') objects.delete(id);
      });
    }
    const state = { rv, objects: [...objects.values()] };
    this.writeSnapshot(state);
    return state;
  }

  /** Replaces the snapshot with `state` and starts an empty journal. */
  writeSnapshot(state: LoadedState): void {
    if (this.fd !== undefined) closeSync(this.fd);
    const tmp = join(this.dir, `${SNAPSHOT}.tmp`);
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, '{"rv":' + state.rv + ',"objects":[\n');
      state.objects.forEach((o, i) => writeSync(fd, (i ? ',\n' : '') + JSON.stringify({ key: o.key, obj: o.obj })));
      writeSync(fd, '\n]}\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, SNAPSHOT));
    this.fd = openSync(join(this.dir, JOURNAL), 'w');
    fsyncDir(this.dir);
    this.bytes = 0;
  }

  /** Appends and fsyncs one record; the caller answers only after this returns. */
  append(rec: JournalRecord): void {
    if (this.fd === undefined) throw new HawserError('INVALID', 'journal is closed');
    const line = JSON.stringify(rec) + '\n';
    writeSync(this.fd, line);
    fdatasyncSync(this.fd);
    this.bytes += Buffer.byteLength(line);
  }

  needsCompaction(): boolean {
    return this.bytes > COMPACT_BYTES;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(join(this.dir, LOCK), { force: true });
  }
}

/** One server per data dir: a lock file with our PID (a dead owner's lock is taken over). */
function lockDir(dir: string): void {
  const path = join(dir, LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
        throw new HawserError('CONFIG', `data dir ${dir} is in use by process ${owner} (another apiserver); stop it or use another --data-dir`);
      }
      rmSync(path, { force: true });
    }
  }
  throw new HawserError('CONFIG', `cannot lock data dir ${dir}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function recordId(key: string, obj: KubeObject): string {
  const m: JsonObject = obj.metadata;
  return `${key}|${typeof m.namespace === 'string' ? m.namespace : ''}|${typeof m.name === 'string' ? m.name : ''}`;
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // some filesystems cannot fsync a directory; the rename is still atomic
  }
}
