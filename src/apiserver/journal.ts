// Durability for the store: an append-only journal of writes folded into a snapshot at every start
// (write temp, fsync, rename, fsync the directory) and when it grows large.
//
// journal.log starts with an 8-byte magic, then one record per write: u32 payload length, u32 CRC-32
// of the payload (both little-endian), the JSON payload. A record is written at the end of the last
// whole record (positional writes), so a torn or failed write is overwritten by the next one and a
// torn tail is cut on load. The store answers a write only after `sync` has covered it; syncing runs
// on libuv's thread pool (fs.fdatasync), batching every write made since the last sync.
import {
  chmodSync, closeSync, existsSync, fdatasync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync,
  statSync, writeFileSync, writeSync,
} from 'node:fs';
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

/** What loading found that the operator should hear about. */
export interface LoadNotes {
  /** Bytes of a torn or damaged journal tail that were cut (writes never acknowledged). */
  tornBytes: number;
  /** Permissions of the data dir or its files that were tightened. */
  tightened: string[];
  /** Set when the start-up compaction could not be written (the old journal is kept and appended to). */
  compactionError?: string;
}

const SNAPSHOT = 'snapshot.json';
const LOCK = 'lock';
const JOURNAL = 'journal.log';
const MAGIC = Buffer.from('HWJRNL2\n');
const HEADER = 8;
/** Fold the journal into a new snapshot at run time once it grows past this. */
const COMPACT_BYTES = 64 * 1024 * 1024;
/** A record longer than this is damage, not a write (objects are limited to 1.5 MiB). */
const MAX_RECORD = 64 * 1024 * 1024;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One journal record as written: header (length, checksum) and payload. */
export function frame(rec: JournalRecord): Buffer {
  const payload = Buffer.from(JSON.stringify(rec));
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  payload.copy(out, HEADER);
  return out;
}

/** The whole records of a journal and the offset where they end (anything after is torn). */
export function parseFrames(buf: Buffer): { records: JournalRecord[]; end: number } {
  const records: JournalRecord[] = [];
  let off = MAGIC.length;
  while (off + HEADER <= buf.length) {
    const len = buf.readUInt32LE(off);
    const sum = buf.readUInt32LE(off + 4);
    if (len === 0 || len > MAX_RECORD || off + HEADER + len > buf.length) break;
    const payload = buf.subarray(off + HEADER, off + HEADER + len);
    if (crc32(payload) !== sum) break;
    let rec: unknown;
    try {
      rec = JSON.parse(payload.toString('utf8'));
    } catch {
      break;
    }
    if (!isObject(rec) || typeof rec.rv !== 'number' || typeof rec.key !== 'string' || (rec.op !== 'put' && rec.op !== 'del')) break;
    records.push(rec as unknown as JournalRecord);
    off += HEADER + len;
  }
  return { records, end: off };
}

/** The error of a failed append: the record was not written (or was cut off again). */
export class JournalWriteError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export class Journal {
  private fd: number | undefined;
  /** Where the next record goes: the end of the last whole record. */
  private end = 0;
  private bytes = 0;
  private syncing = false;
  /** Descriptors replaced by a compaction while a sync ran on them: closed when it returns. */
  private retired: number[] = [];
  private closed = false;
  compactBytes = COMPACT_BYTES;

  private constructor(readonly dir: string) {}

  /** Reads the snapshot and journal of `dir` (created 0700 if missing) and returns the state they hold. */
  static open(dir: string): { journal: Journal; state: LoadedState; notes: LoadNotes } {
    const notes: LoadNotes = { tornBytes: 0, tightened: [] };
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    tighten(dir, 0o700, notes);
    lockDir(dir);
    const j = new Journal(dir);
    try {
      const state = j.load(notes);
      return { journal: j, state, notes };
    } catch (err) {
      j.close();
      throw err;
    }
  }

  private load(notes: LoadNotes): LoadedState {
    const objects = new Map<string, SnapshotObject>();
    let rv = 0;
    const snapPath = join(this.dir, SNAPSHOT);
    if (existsSync(snapPath)) {
      tighten(snapPath, 0o600, notes);
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
    const snapshotRv = rv;
    const journalPath = join(this.dir, JOURNAL);
    let records: JournalRecord[] = [];
    let legacy = false;
    let validEnd = 0;
    if (existsSync(journalPath)) {
      tighten(journalPath, 0o600, notes);
      const buf = readFileSync(journalPath);
      if (buf.length >= MAGIC.length && buf.subarray(0, MAGIC.length).equals(MAGIC)) {
        const parsed = parseFrames(buf);
        records = parsed.records;
        validEnd = parsed.end;
        if (validEnd < buf.length) {
          // a torn tail: a write that was never acknowledged (the disk filled, or the process died)
          notes.tornBytes = buf.length - validEnd;
          const fd = openSync(journalPath, 'r+');
          try {
            ftruncateSync(fd, validEnd);
            fsyncSync(fd);
          } finally {
            closeSync(fd);
          }
        }
      } else if (buf.length > 0 && buf[0] === 0x7b) {
        legacy = true;
        records = legacyRecords(buf.toString('utf8'), this.dir);
      } else if (buf.length > 0) {
        // shorter than the magic: a journal whose creation was cut short
        notes.tornBytes = buf.length;
      }
    }
    for (const r of records) {
      // records the snapshot already holds (a crash between snapshot rename and journal reset) are skipped:
      // replaying them could bring back an object deleted later
      if (r.rv <= snapshotRv) continue;
      rv = Math.max(rv, r.rv);
      const id = `${r.key}|${r.ns}|${r.name}`;
      if (r.op === 'put' && r.obj) objects.set(id, { key: r.key, obj: r.obj });
      else if (r.op === 'del') objects.delete(id);
    }
    const state = { rv, objects: [...objects.values()] };
    try {
      this.writeSnapshot(state);
    } catch (err) {
      // a full disk must not keep the server from starting: keep appending to the journal we have
      if (legacy || validEnd < MAGIC.length) throw new HawserError('CONFIG', `data dir ${this.dir}: cannot write the snapshot (${(err as Error).message}); free some space`, { cause: err });
      notes.compactionError = (err as Error).message;
      this.fd = openSync(journalPath, 'r+');
      this.end = validEnd;
      this.bytes = validEnd;
    }
    return state;
  }

  /**
   * Replaces the snapshot with `state` and starts an empty journal. On failure (a full disk) nothing
   * changes: the current journal stays open and in use, and the error is thrown.
   */
  writeSnapshot(state: LoadedState): void {
    const tmp = join(this.dir, `${SNAPSHOT}.tmp`);
    let next: number | undefined;
    try {
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeAll(fd, Buffer.from('{"rv":' + state.rv + ',"objects":[\n'));
        state.objects.forEach((o, i) => writeAll(fd, Buffer.from((i ? ',\n' : '') + JSON.stringify({ key: o.key, obj: o.obj }))));
        writeAll(fd, Buffer.from('\n]}\n'));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      // the new journal is made before the snapshot takes over, so a failure here changes nothing
      const jtmp = join(this.dir, `${JOURNAL}.tmp`);
      next = openSync(jtmp, 'w', 0o600);
      writeAll(next, MAGIC, 0);
      fsyncSync(next);
      renameSync(tmp, join(this.dir, SNAPSHOT));
      renameSync(jtmp, join(this.dir, JOURNAL));
    } catch (err) {
      if (next !== undefined) closeSync(next);
      rmSync(tmp, { force: true });
      rmSync(join(this.dir, `${JOURNAL}.tmp`), { force: true });
      throw err;
    }
    fsyncDir(this.dir);
    const old = this.fd;
    this.fd = next;
    this.end = MAGIC.length;
    this.bytes = 0;
    if (old !== undefined) {
      if (this.syncing) this.retired.push(old);
      else closeSync(old);
    }
  }

  /**
   * Writes one record after the last whole one (not yet synced: see `sync`). On failure the record
   * is cut off again where possible (the next append overwrites it anyway) and JournalWriteError is thrown.
   */
  append(rec: JournalRecord): void {
    if (this.fd === undefined) throw new JournalWriteError('ECLOSED', 'journal is closed');
    const buf = frame(rec);
    try {
      writeAll(this.fd, buf, this.end);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      try {
        ftruncateSync(this.fd, this.end);
      } catch {
        // the torn bytes are overwritten by the next append, or cut on load
      }
      throw new JournalWriteError(code, `cannot append to ${join(this.dir, JOURNAL)}: ${(err as Error).message}`);
    }
    this.end += buf.length;
    this.bytes += buf.length;
  }

  /** Flushes every record appended so far to disk, off the event loop. */
  sync(done: (err: Error | null) => void): void {
    const fd = this.fd;
    if (fd === undefined) {
      done(this.closed ? null : new Error('journal is closed'));
      return;
    }
    this.syncing = true;
    fdatasync(fd, (err) => {
      this.syncing = false;
      for (const r of this.retired.splice(0)) closeSync(r);
      if (this.closed && this.fd !== undefined) {
        closeSync(this.fd);
        this.fd = undefined;
      }
      done(err);
    });
  }

  needsCompaction(): boolean {
    return this.bytes > this.compactBytes;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd !== undefined && !this.syncing) {
      // what was appended but not yet synced still reaches the page cache-backed file; make it durable
      try {
        fsyncSync(this.fd);
      } catch {
        // nothing acknowledged depends on it
      }
      closeSync(this.fd);
      this.fd = undefined;
    }
    rmSync(join(this.dir, LOCK), { force: true });
  }
}

function writeAll(fd: number, buf: Buffer, position?: number): void {
  let off = 0;
  while (off < buf.length) {
    const n = writeSync(fd, buf, off, buf.length - off, position === undefined ? null : position + off);
    if (n <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
    off += n;
  }
}

/** The JSON-lines journal of earlier versions (read once, then replaced by the start-up snapshot). */
function legacyRecords(text: string, dir: string): JournalRecord[] {
  const out: JournalRecord[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      if (i >= lines.length - 2) return;
      throw new HawserError('INVALID', `data dir ${dir}: ${JOURNAL} line ${i + 1} is not valid JSON`);
    }
    if (isObject(rec) && typeof rec.rv === 'number' && typeof rec.key === 'string') out.push(rec as unknown as JournalRecord);
  });
  return out;
}

/** Takes group/other access away from a data dir or file that has it (it holds Secrets). */
function tighten(path: string, mode: number, notes: LoadNotes): void {
  const st = statSync(path);
  if ((st.mode & 0o077) !== 0) {
    chmodSync(path, mode);
    notes.tightened.push(`${path} ${(st.mode & 0o777).toString(8)} -> ${mode.toString(8)}`);
  }
}

/** The start time of a process (field 22 of /proc/<pid>/stat), undefined if it is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count from the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * One server per data dir: a lock file with our PID and its start time. A lock whose process is
 * gone, or whose PID now belongs to a process started at another time (PID reuse), is taken over.
 */
function lockDir(dir: string): void {
  const path = join(dir, LOCK);
  const mine = `${process.pid} ${startTime(process.pid) ?? ''}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, mine, { flag: 'wx', mode: 0o600 });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let text = '';
      try {
        text = readFileSync(path, 'utf8').trim();
      } catch {
        // removed meanwhile: try again
      }
      const [pidText, started] = text.split(/\s+/);
      const owner = Number(pidText);
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && lockHeld(owner, started)) {
        throw new HawserError('CONFIG', `data dir ${dir} is in use by process ${owner} (another apiserver); stop it or use another --data-dir`);
      }
      rmSync(path, { force: true });
    }
  }
  throw new HawserError('CONFIG', `cannot lock data dir ${dir}`);
}

function lockHeld(pid: number, started: string | undefined): boolean {
  const now = startTime(pid);
  if (now === undefined) return false;
  if (started) return now === started;
  // a lock written by an earlier version (PID only): held if that PID runs an API server
  try {
    return /apiserver/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return false;
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
