// The object store: every object by group/resource, namespace and name; one resourceVersion
// counter for all writes; a ring of recent events that watches replay from; an optional journal.
// Stored objects are never mutated: writers build a new object and `put` it.
import type { Logger } from 'pino';
import { Journal, JournalWriteError, type JournalRecord } from './journal.js';
import { ApiError, errors, isObject, str, type KubeObject } from './types.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** A stored object and its serialized form, computed once and shared by lists and watches. */
export class Entry {
  private text: string | undefined;
  constructor(readonly obj: KubeObject) {}
  get json(): string {
    this.text ??= JSON.stringify(this.obj);
    return this.text;
  }
  get rv(): number {
    return Number(this.obj.metadata.resourceVersion);
  }
}

export interface StoreEvent {
  rv: number;
  type: EventType;
  key: string;
  ns: string;
  name: string;
  entry: Entry;
  /** The object before a MODIFIED event. */
  prev?: Entry;
}

export interface WatchFilter {
  key: string;
  /** Only this namespace (undefined: all). */
  ns?: string;
  match(obj: KubeObject): boolean;
}

export interface WatchSink {
  deliver(type: EventType, entry: Entry): void;
}

interface Watcher {
  filter: WatchFilter;
  sink: WatchSink;
}

interface Table {
  objects: Map<string, Entry>;
  sorted?: string[];
}

export interface StoreOptions {
  dataDir?: string;
  /** Events kept for watches that resume from a resourceVersion. */
  historySize?: number;
  /** Fold the journal into a snapshot once it grows past this many bytes (default 64 MiB). */
  compactBytes?: number;
  log?: Logger;
}

/** While the disk is full, one write a second is let through to find out whether space returned. */
const READ_ONLY_PROBE_MS = 1000;
/** After a failed compaction, the next attempt waits this long (the journal keeps working meanwhile). */
const COMPACT_RETRY_MS = 10_000;

function insufficientStorage(why: string): ApiError {
  return new ApiError(507, 'InsufficientStorage', `the server's data dir cannot take writes (${why}); it is read-only until space returns, retry later`, { retryAfterSeconds: 1 });
}

interface SyncWaiter {
  seq: number;
  resolve(): void;
  reject(err: Error): void;
}

function idOf(ns: string, name: string): string {
  return `${ns}/${name}`;
}

function nsName(obj: KubeObject): [string, string] {
  return [str(obj.metadata.namespace) ?? '', str(obj.metadata.name) ?? ''];
}

export class Store {
  private rvCounter = 0;
  private readonly tables = new Map<string, Table>();
  private readonly history: StoreEvent[] = [];
  private historyStart = 0;
  private readonly historySize: number;
  /** Events with a resourceVersion up to this one are no longer replayable. */
  private compactedRv = 0;
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly byUid = new Map<string, { key: string; ns: string; name: string }>();
  private readonly dependents = new Map<string, Set<string>>(); // owner uid -> `key|ns|name` of dependents
  private journal: Journal | undefined;
  private readonly log: Logger | undefined;
  /** Set while the disk refuses writes (507); cleared by the first write that gets through. */
  private readOnlySince: number | undefined;
  private lastProbe = 0;
  private compactRetryAt = 0;
  /** Journal appends so far, and how many of them a completed sync covers. */
  private appended = 0;
  private durable = 0;
  private syncRunning = false;
  private syncScheduled = false;
  private syncError: Error | undefined;
  private readonly waiters: SyncWaiter[] = [];
  /** Called after each committed event (garbage collection, controllers). */
  onEvent: ((ev: StoreEvent) => void) | undefined;

  constructor(opts: StoreOptions = {}) {
    this.historySize = Math.max(100, opts.historySize ?? 20_000);
    this.log = opts.log;
    if (opts.dataDir) {
      const { journal, state, notes } = Journal.open(opts.dataDir);
      if (opts.compactBytes !== undefined) journal.compactBytes = opts.compactBytes;
      if (notes.tornBytes > 0) this.log?.warn({ dataDir: opts.dataDir, bytes: notes.tornBytes }, 'cut a torn journal tail (writes that were never acknowledged)');
      for (const t of notes.tightened) this.log?.warn({ dataDir: opts.dataDir, change: t }, 'data dir was readable by other users (it holds Secrets); permissions tightened');
      if (notes.compactionError) this.log?.error({ dataDir: opts.dataDir, err: notes.compactionError }, 'cannot write the start-up snapshot; appending to the existing journal');
      this.journal = journal;
      this.rvCounter = state.rv;
      for (const o of state.objects) this.insert(o.key, new Entry(o.obj));
      this.compactedRv = this.rvCounter;
    }
  }

  get resourceVersion(): number {
    return this.rvCounter;
  }

  private table(key: string): Table {
    let t = this.tables.get(key);
    if (!t) {
      t = { objects: new Map() };
      this.tables.set(key, t);
    }
    return t;
  }

  private insert(key: string, e: Entry): Entry | undefined {
    const [ns, name] = nsName(e.obj);
    const t = this.table(key);
    const id = idOf(ns, name);
    const prev = t.objects.get(id);
    if (!prev) t.sorted = undefined;
    t.objects.set(id, e);
    if (prev) this.unindex(key, prev);
    this.index(key, e);
    return prev;
  }

  private index(key: string, e: Entry): void {
    const [ns, name] = nsName(e.obj);
    const uid = str(e.obj.metadata.uid);
    if (uid) this.byUid.set(uid, { key, ns, name });
    const refs = e.obj.metadata.ownerReferences;
    if (Array.isArray(refs)) {
      for (const r of refs) {
        const ou = isObject(r) ? str(r.uid) : undefined;
        if (!ou) continue;
        let set = this.dependents.get(ou);
        if (!set) this.dependents.set(ou, (set = new Set()));
        set.add(`${key}|${ns}|${name}`);
      }
    }
  }

  private unindex(key: string, e: Entry): void {
    const [ns, name] = nsName(e.obj);
    const uid = str(e.obj.metadata.uid);
    if (uid && this.byUid.get(uid)?.name === name) this.byUid.delete(uid);
    const refs = e.obj.metadata.ownerReferences;
    if (Array.isArray(refs)) {
      for (const r of refs) {
        const ou = isObject(r) ? str(r.uid) : undefined;
        const set = ou ? this.dependents.get(ou) : undefined;
        set?.delete(`${key}|${ns}|${name}`);
        if (ou && set?.size === 0) this.dependents.delete(ou);
      }
    }
  }

  get(key: string, ns: string, name: string): KubeObject | undefined {
    return this.tables.get(key)?.objects.get(idOf(ns, name))?.obj;
  }

  /** Objects of one group/resource in key order, optionally one namespace only. */
  list(key: string, ns?: string): Entry[] {
    const t = this.tables.get(key);
    if (!t) return [];
    t.sorted ??= [...t.objects.keys()].sort();
    const out: Entry[] = [];
    for (const id of t.sorted) {
      if (ns !== undefined && !id.startsWith(`${ns}/`)) continue;
      out.push(t.objects.get(id)!);
    }
    return out;
  }

  keys(): string[] {
    return [...this.tables.keys()];
  }

  byUidLookup(uid: string): { key: string; ns: string; name: string } | undefined {
    return this.byUid.get(uid);
  }

  dependentsOf(uid: string): { key: string; ns: string; name: string }[] {
    return [...(this.dependents.get(uid) ?? [])].map((s) => {
      const [key, ns, name] = s.split('|') as [string, string, string];
      return { key, ns, name };
    });
  }

  /** Writes an object (create or replace), giving it the next resourceVersion. */
  put(key: string, obj: KubeObject): KubeObject {
    const [ns, name] = nsName(obj);
    const rv = this.rvCounter + 1;
    const stored: KubeObject = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } };
    this.commit({ rv, op: 'put', key, ns, name, obj: stored });
    const e = new Entry(stored);
    const prev = this.insert(key, e);
    this.compactIfDue();
    this.emit({ rv, type: prev ? 'MODIFIED' : 'ADDED', key, ns, name, entry: e, prev });
    return stored;
  }

  /** Removes an object; the DELETED event carries the deletion's resourceVersion. */
  remove(key: string, ns: string, name: string): KubeObject | undefined {
    const t = this.tables.get(key);
    const prev = t?.objects.get(idOf(ns, name));
    if (!t || !prev) return undefined;
    const rv = this.rvCounter + 1;
    this.commit({ rv, op: 'del', key, ns, name });
    t.objects.delete(idOf(ns, name));
    t.sorted = undefined;
    this.unindex(key, prev);
    this.compactIfDue();
    const last: KubeObject = { ...prev.obj, metadata: { ...prev.obj.metadata, resourceVersion: String(rv) } };
    this.emit({ rv, type: 'DELETED', key, ns, name, entry: new Entry(last) });
    return last;
  }

  /** Whether writes are refused because the disk is full. */
  get readOnly(): boolean {
    return this.readOnlySince !== undefined;
  }

  /**
   * Journals a write before it is applied in memory: when the append fails nothing changes (no
   * resourceVersion is used up) and the caller gets 507. The write is durable once `synced()` resolves.
   */
  private commit(rec: JournalRecord): void {
    const j = this.journal;
    if (j) {
      const now = Date.now();
      if (this.readOnlySince !== undefined && now - this.lastProbe < READ_ONLY_PROBE_MS) throw insufficientStorage('disk full');
      this.lastProbe = now;
      try {
        j.append(rec);
      } catch (err) {
        const code = err instanceof JournalWriteError ? err.code : 'EIO';
        if (this.readOnlySince === undefined) {
          this.readOnlySince = now;
          this.log?.error({ err: (err as Error).message, code }, 'journal write failed: the API server is read-only (507) until the disk takes writes again');
        }
        throw insufficientStorage(code === 'ENOSPC' ? 'no space left on device' : code);
      }
      if (this.readOnlySince !== undefined) {
        this.log?.warn({ readOnlyMs: now - this.readOnlySince }, 'journal takes writes again: read-only mode ended');
        this.readOnlySince = undefined;
      }
      this.appended++;
      this.scheduleSync();
      // compaction runs once the write is applied in memory (put/remove), so the snapshot holds it
      if (j.needsCompaction() && now >= this.compactRetryAt) this.pendingCompaction = rec.rv;
    }
    this.rvCounter = rec.rv;
  }

  /** The resourceVersion to compact at, set by a commit that found the journal large. */
  private pendingCompaction: number | undefined;

  /** Folds the journal into a snapshot once the write that asked for it is applied in memory. */
  private compactIfDue(): void {
    if (this.pendingCompaction === undefined || !this.journal) return;
    const rv = this.pendingCompaction;
    this.pendingCompaction = undefined;
    const objects: { key: string; obj: KubeObject }[] = [];
    for (const [key, t] of this.tables) for (const e of t.objects.values()) objects.push({ key, obj: e.obj });
    try {
      this.journal.writeSnapshot({ rv, objects });
      // everything so far is in the fsynced snapshot
      this.durable = this.appended;
      this.settleWaiters();
    } catch (err) {
      this.compactRetryAt = Date.now() + COMPACT_RETRY_MS;
      this.log?.error({ err: (err as Error).message }, 'journal compaction failed; the journal stays in use and compaction is retried later');
    }
  }

  private scheduleSync(): void {
    if (this.syncScheduled) return;
    this.syncScheduled = true;
    // one fdatasync for every write of this tick (and of any tick while the previous sync runs)
    setImmediate(() => {
      this.syncScheduled = false;
      this.runSync();
    });
  }

  private runSync(): void {
    if (this.syncRunning || !this.journal || this.durable >= this.appended) return;
    this.syncRunning = true;
    const upTo = this.appended;
    this.journal.sync((err) => {
      this.syncRunning = false;
      if (err) {
        this.syncError = err;
        if (this.readOnlySince === undefined) this.readOnlySince = Date.now();
        this.log?.error({ err: err.message }, 'journal fsync failed: the API server is read-only (507)');
      } else {
        this.durable = Math.max(this.durable, upTo);
        this.syncError = undefined;
      }
      this.settleWaiters();
      if (this.durable < this.appended) this.scheduleSync();
    });
  }

  private settleWaiters(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.seq <= this.durable) {
        this.waiters.splice(i, 1);
        w.resolve();
      } else if (this.syncError && !this.syncRunning) {
        this.waiters.splice(i, 1);
        w.reject(insufficientStorage(`fsync failed: ${this.syncError.message}`));
      }
    }
  }

  /** Resolves once every write made so far is on disk (at once without a data dir). */
  synced(): Promise<void> {
    if (!this.journal || this.durable >= this.appended) return Promise.resolve();
    const seq = this.appended;
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ seq, resolve, reject });
      this.scheduleSync();
    });
  }

  private emit(ev: StoreEvent): void {
    this.history.push(ev);
    if (this.history.length - this.historyStart > this.historySize) {
      this.compactedRv = this.history[this.historyStart]!.rv;
      this.historyStart++;
      // drop the consumed head in chunks, not one element at a time
      if (this.historyStart > 4096) {
        this.history.splice(0, this.historyStart);
        this.historyStart = 0;
      }
    }
    const ws = this.watchers.get(ev.key);
    if (ws) {
      for (const w of [...ws]) {
        try {
          deliver(w, ev);
        } catch {
          // a broken watcher is dropped; the write it observed has already happened
          ws.delete(w);
        }
      }
    }
    this.onEvent?.(ev);
  }

  /**
   * Starts a watch. Without `fromRv` (or "0") the current matching objects come first as ADDED;
   * with one, the events after it are replayed. Throws 410 Expired when they are gone.
   */
  watch(filter: WatchFilter, sink: WatchSink, fromRv: number | undefined): () => void {
    const w: Watcher = { filter, sink };
    if (fromRv === undefined || fromRv === 0) {
      for (const e of this.list(filter.key, filter.ns)) if (filter.match(e.obj)) sink.deliver('ADDED', e);
    } else {
      if (fromRv < this.compactedRv) {
        throw errors.expired(`too old resource version: ${fromRv} (${this.compactedRv})`);
      }
      for (let i = this.historyStart; i < this.history.length; i++) {
        const ev = this.history[i]!;
        if (ev.rv > fromRv && ev.key === filter.key) deliver(w, ev);
      }
    }
    let set = this.watchers.get(filter.key);
    if (!set) this.watchers.set(filter.key, (set = new Set()));
    set.add(w);
    return () => {
      set.delete(w);
    };
  }

  close(): void {
    this.journal?.close();
    this.journal = undefined;
    this.watchers.clear();
    // close() fsyncs what is left: nobody waits for a sync that will not come
    this.durable = this.appended;
    for (const w of this.waiters.splice(0)) w.resolve();
  }
}

/** Applies the selector transitions Kubernetes applies: leaving the selection is a DELETED event. */
function deliver(w: Watcher, ev: StoreEvent): void {
  const f = w.filter;
  if (f.ns !== undefined && ev.ns !== f.ns) return;
  if (ev.type === 'MODIFIED') {
    const now = f.match(ev.entry.obj);
    const before = ev.prev ? f.match(ev.prev.obj) : false;
    if (now && before) w.sink.deliver('MODIFIED', ev.entry);
    else if (now) w.sink.deliver('ADDED', ev.entry);
    else if (before) w.sink.deliver('DELETED', ev.entry);
    return;
  }
  if (f.match(ev.entry.obj)) w.sink.deliver(ev.type, ev.entry);
}
