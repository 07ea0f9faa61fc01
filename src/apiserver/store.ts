// The object store: every object by group/resource, namespace and name; one resourceVersion
// counter for all writes; a ring of recent events that watches replay from; an optional journal.
// Stored objects are never mutated: writers build a new object and `put` it.
import { Journal, type JournalRecord } from './journal.js';
import { errors, isObject, str, type KubeObject } from './types.js';

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
  /** Called after each committed event (garbage collection, controllers). */
  onEvent: ((ev: StoreEvent) => void) | undefined;

  constructor(opts: StoreOptions = {}) {
    this.historySize = Math.max(100, opts.historySize ?? 20_000);
    if (opts.dataDir) {
      const { journal, state } = Journal.open(opts.dataDir);
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
    const last: KubeObject = { ...prev.obj, metadata: { ...prev.obj.metadata, resourceVersion: String(rv) } };
    this.emit({ rv, type: 'DELETED', key, ns, name, entry: new Entry(last) });
    return last;
  }

  private commit(rec: JournalRecord): void {
    if (this.journal) {
      this.journal.append(rec);
      if (this.journal.needsCompaction()) this.compactJournal(rec.rv);
    }
    this.rvCounter = rec.rv;
  }

  private compactJournal(rv: number): void {
    const objects: { key: string; obj: KubeObject }[] = [];
    for (const [key, t] of this.tables) for (const e of t.objects.values()) objects.push({ key, obj: e.obj });
    this.journal!.writeSnapshot({ rv, objects });
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
