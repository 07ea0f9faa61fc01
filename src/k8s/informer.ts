// List+watch cache for one resource path, level-triggered: consumers get "something changed" and re-read
// the cache. Modelled on client-node's ListWatch with its sharp edges fixed: it restarts after every error
// (with backoff), relists on 410 as a diff, starts nothing in the constructor.
//
// Typed: given `parse`, each object is parsed once per resourceVersion as it enters the cache, and `list()`/
// `get()` return the typed values. An object that does not parse is left out of the typed view, counted
// (`parseFailures`), listed by `invalid()`, and logged once per version; it is never thrown at a consumer.
// Without `parse` the values are the raw objects (the untyped API existing callers use).
import { EventEmitter } from 'node:events';
import type { Logger } from '../log/index.js';
import { errorMessage, HawserError } from '../util/errors.js';
import { trackInformer } from '../metrics/health.js';
import { Backoff, sleep } from '../util/wait.js';
import { asKubeObject, isApiError, type KubeObject, type Query, type RestClient } from './rest.js';
import type { Parsed } from './submariner/common.js';

export { Debouncer } from '../util/loop.js';

/** The two calls an informer makes (a RestClient, or a scripted transport in tests). */
export type InformerTransport = Pick<RestClient, 'list' | 'watch'>;

export interface InformerOptions<T = KubeObject> {
  client: InformerTransport;
  /** Collection path, e.g. `/apis/submariner.io/v1/namespaces/x/endpoints` or `/api/v1/nodes`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  log: Logger;
  /** Server-side watch timeout; the watch is re-opened from the last resourceVersion. */
  watchTimeoutSeconds?: number;
  /** Injected delay for tests. */
  delay?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Raw object → typed value. Required whenever T is not KubeObject (use `typedInformer`). */
  parse?: (o: KubeObject) => Parsed<T>;
}

/** What one list or watch event changed in the typed view: adds, updates and deletes only. */
export interface InformerDelta<T> {
  added: T[];
  updated: T[];
  deleted: T[];
}

interface InformerEvents<T> {
  /** Something in the cache changed (and once after the first list, even if empty). */
  change: [];
  /** The same change as a diff of the typed view. */
  delta: [InformerDelta<T>];
  synced: [];
  stopped: [];
}

interface Entry<T> {
  raw: KubeObject;
  value?: T;
  error?: string;
}

function key(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

function emptyDelta<T>(): InformerDelta<T> {
  return { added: [], updated: [], deleted: [] };
}

export class Informer<T = KubeObject> extends EventEmitter<InformerEvents<T>> {
  private readonly cache = new Map<string, Entry<T>>();
  private readonly parse: (o: KubeObject) => Parsed<T>;
  private resourceVersion = '';
  private abort: AbortController | undefined;
  private running: Promise<void> | undefined;
  private synced = false;
  /** Last error talking to the API, cleared on success (for status/diagnostics). */
  lastError: string | undefined;
  /** Wall-clock ms of the first failure since the last successful list (health checks: "stopped watching"). */
  failingSinceMs: number | undefined;
  /** Objects (counted per version) that did not parse since the start. */
  parseFailures = 0;
  /** Removes this informer from the process's health checks (/healthz, /readyz). */
  private untrackHealth: (() => void) | undefined;

  constructor(private readonly opts: InformerOptions<T>) {
    super();
    // Without a parser the typed view is the raw view (T defaults to KubeObject).
    this.parse = opts.parse ?? ((o: KubeObject): Parsed<T> => ({ ok: true, value: o as T }));
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** The typed values of every object that parsed. */
  list(): T[] {
    const out: T[] = [];
    for (const e of this.cache.values()) if (e.value !== undefined) out.push(e.value);
    return out;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(`${namespace ?? ''}/${name}`)?.value;
  }

  /** Every cached object as received, parsed or not. */
  listRaw(): KubeObject[] {
    return [...this.cache.values()].map((e) => e.raw);
  }

  getRaw(namespace: string | undefined, name: string): KubeObject | undefined {
    return this.cache.get(`${namespace ?? ''}/${name}`)?.raw;
  }

  /** Objects in the cache now that did not parse, with why (for status and diagnose). */
  invalid(): { namespace: string; name: string; error: string }[] {
    const out: { namespace: string; name: string; error: string }[] = [];
    for (const e of this.cache.values()) if (e.error !== undefined) out.push({ namespace: e.raw.metadata.namespace ?? '', name: e.raw.metadata.name, error: e.error });
    return out;
  }

  /** Starts the loop; resolves after the first successful list (or rejects if stopped before). */
  start(): Promise<void> {
    if (this.running) return this.waitSynced();
    this.abort = new AbortController();
    this.untrackHealth ??= trackInformer(this.opts.path, this);
    this.running = this.loop(this.abort.signal);
    return this.waitSynced();
  }

  private waitSynced(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onSync = (): void => {
        this.off('stopped', onStop);
        resolve();
      };
      const onStop = (): void => {
        this.off('synced', onSync);
        reject(new HawserError('API', `informer for ${this.opts.path} stopped before it synced`));
      };
      this.once('synced', onSync);
      this.once('stopped', onStop);
    });
  }

  async stop(): Promise<void> {
    this.abort?.abort();
    await this.running?.catch(() => undefined);
    this.running = undefined;
    this.untrackHealth?.();
    this.untrackHealth = undefined;
    this.emit('stopped');
  }

  private query(): Query {
    return { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector };
  }

  /** Parses a new object version; logs a failure once (the version is parsed once, when it arrives). */
  private entry(o: KubeObject): Entry<T> {
    let p: Parsed<T>;
    try {
      p = this.parse(o);
    } catch (err) {
      p = { ok: false, error: `parser threw: ${errorMessage(err)}` };
    }
    if (p.ok) return { raw: o, value: p.value };
    this.parseFailures++;
    this.opts.log.warn({ path: this.opts.path, name: o.metadata.name, namespace: o.metadata.namespace, resourceVersion: o.metadata.resourceVersion, err: p.error }, 'ignoring an object that does not parse');
    return { raw: o, error: p.error };
  }

  /** Stores a new version of an object and records what that did to the typed view. */
  private put(k: string, o: KubeObject, d: InformerDelta<T>): void {
    const old = this.cache.get(k);
    const e = this.entry(o);
    this.cache.set(k, e);
    if (e.value !== undefined) (old?.value !== undefined ? d.updated : d.added).push(e.value);
    else if (old?.value !== undefined) d.deleted.push(old.value);
  }

  private remove(k: string, d: InformerDelta<T>): boolean {
    const old = this.cache.get(k);
    if (!old) return false;
    this.cache.delete(k);
    if (old.value !== undefined) d.deleted.push(old.value);
    return true;
  }

  private publish(d: InformerDelta<T>, rawChanged: boolean): void {
    if (!rawChanged) return;
    if (d.added.length || d.updated.length || d.deleted.length) this.emit('delta', d);
    this.emit('change');
  }

  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.opts.client.list(this.opts.path, this.query());
    const seen = new Set<string>();
    const d = emptyDelta<T>();
    let changed = false;
    for (const o of items) {
      const k = key(o);
      seen.add(k);
      const old = this.cache.get(k);
      if (!old || old.raw.metadata.resourceVersion !== o.metadata.resourceVersion) {
        this.put(k, o, d);
        changed = true;
      }
    }
    // Objects that vanished while we were not watching.
    for (const k of [...this.cache.keys()]) if (!seen.has(k)) changed = this.remove(k, d) || changed;
    this.resourceVersion = resourceVersion;
    if (!this.synced) {
      this.synced = true;
      this.emit('synced');
      this.publish(d, true);
    } else this.publish(d, changed);
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(500, 15_000);
    const delay = this.opts.delay ?? sleep;
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.relist();
          this.failingSinceMs = undefined;
          needList = false;
        }
        await this.opts.client.watch(
          this.opts.path,
          { ...this.query(), resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: this.opts.watchTimeoutSeconds ?? 240 },
          (ev) => this.onEvent(ev.type, ev.object),
          signal,
        );
        if (this.lastError) {
          this.opts.log.info({ path: this.opts.path }, 'API watch restored');
          this.lastError = undefined;
        }
        backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        if (isApiError(err, 410) || err instanceof GoneError) {
          this.opts.log.debug({ path: this.opts.path }, 'watch history expired (410); relisting');
          needList = true;
          continue;
        }
        const msg = errorMessage(err);
        this.failingSinceMs ??= Date.now();
        if (msg !== this.lastError) this.opts.log.warn({ path: this.opts.path, err: msg }, 'API list/watch failed; retrying with backoff');
        this.lastError = msg;
        needList = true;
        try {
          await delay(backoff.next(), signal);
        } catch {
          break;
        }
      }
    }
  }

  private onEvent(type: string, raw: Record<string, unknown>): void {
    if (type === 'ERROR') {
      const code = typeof raw.code === 'number' ? raw.code : 0;
      if (code === 410) throw new GoneError();
      throw new HawserError('API', `watch error event: ${typeof raw.message === 'string' ? raw.message : JSON.stringify(raw)}`);
    }
    const o = asKubeObject(raw);
    if (!o) return;
    if (o.metadata.resourceVersion) this.resourceVersion = o.metadata.resourceVersion;
    if (type === 'BOOKMARK') return;
    const k = key(o);
    const d = emptyDelta<T>();
    if (type === 'DELETED') {
      this.publish(d, this.remove(k, d));
      return;
    }
    const old = this.cache.get(k);
    if (old && old.raw.metadata.resourceVersion === o.metadata.resourceVersion) return;
    this.put(k, o, d);
    this.publish(d, true);
  }
}

class GoneError extends Error {}

/** An informer whose values are `parse`'s typed results. */
export function typedInformer<T>(opts: InformerOptions<T> & { parse: (o: KubeObject) => Parsed<T> }): Informer<T> {
  return new Informer<T>(opts);
}
