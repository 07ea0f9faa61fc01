// List+watch cache for one resource path, level-triggered: consumers get "something changed" and re-read
// the cache. Modelled on client-node's ListWatch with its sharp edges fixed: it restarts after every error
// (with backoff), relists on 410 as a diff, starts nothing in the constructor.
import { EventEmitter } from 'node:events';
import type { Logger } from '../log/index.js';
import { errorMessage } from '../util/errors.js';
import { trackInformer } from '../metrics/health.js';
import { Backoff, sleep } from '../util/wait.js';
import { asKubeObject, isApiError, type KubeObject, type Query, type RestClient } from './rest.js';

export interface InformerOptions {
  client: RestClient;
  /** Collection path, e.g. `/apis/submariner.io/v1/namespaces/x/endpoints` or `/api/v1/nodes`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  log: Logger;
  /** Server-side watch timeout; the watch is re-opened from the last resourceVersion. */
  watchTimeoutSeconds?: number;
  /** Injected delay for tests. */
  delay?: (ms: number, signal: AbortSignal) => Promise<void>;
}

function key(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

export class Informer extends EventEmitter {
  private readonly cache = new Map<string, KubeObject>();
  private resourceVersion = '';
  private abort: AbortController | undefined;
  private running: Promise<void> | undefined;
  private synced = false;
  /** Last error talking to the API, cleared on success (for status/diagnostics). */
  lastError: string | undefined;
  /** Wall-clock ms of the first failure since the last successful list (health checks: "stopped watching"). */
  failingSinceMs: number | undefined;
  /** Removes this informer from the process's health checks (/healthz, /readyz). */
  private untrackHealth: (() => void) | undefined;

  constructor(private readonly opts: InformerOptions) {
    super();
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  list(): KubeObject[] {
    return [...this.cache.values()];
  }

  get(namespace: string | undefined, name: string): KubeObject | undefined {
    return this.cache.get(`${namespace ?? ''}/${name}`);
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
        reject(new Error(`informer for ${this.opts.path} stopped before it synced`));
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

  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.opts.client.list(this.opts.path, this.query());
    const seen = new Set<string>();
    let changed = false;
    for (const o of items) {
      const k = key(o);
      seen.add(k);
      const old = this.cache.get(k);
      if (!old || old.metadata.resourceVersion !== o.metadata.resourceVersion) {
        this.cache.set(k, o);
        changed = true;
      }
    }
    // Objects that vanished while we were not watching.
    for (const k of [...this.cache.keys()]) {
      if (!seen.has(k)) {
        this.cache.delete(k);
        changed = true;
      }
    }
    this.resourceVersion = resourceVersion;
    if (!this.synced) {
      this.synced = true;
      this.emit('synced');
      this.emit('change');
    } else if (changed) this.emit('change');
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
      throw new Error(`watch error event: ${typeof raw.message === 'string' ? raw.message : JSON.stringify(raw)}`);
    }
    const o = asKubeObject(raw);
    if (!o) return;
    if (o.metadata.resourceVersion) this.resourceVersion = o.metadata.resourceVersion;
    if (type === 'BOOKMARK') return;
    const k = key(o);
    if (type === 'DELETED') {
      if (this.cache.delete(k)) this.emit('change');
      return;
    }
    const old = this.cache.get(k);
    if (old && old.metadata.resourceVersion === o.metadata.resourceVersion) return;
    this.cache.set(k, o);
    this.emit('change');
  }
}

class GoneError extends Error {}

/**
 * Coalesces bursts of changes into one run of `fn`; never runs two at once; a change during a run
 * schedules one more run (level-triggered). Errors are passed to `onError`, and the run is retried.
 */
export class Debouncer {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private pending = false;
  private closed = false;

  constructor(
    private readonly fn: () => Promise<void>,
    private readonly delayMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly retryMs = 1000,
  ) {}

  trigger(delayMs = this.delayMs): void {
    if (this.closed) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => void this.run(), delayMs);
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    this.running = true;
    this.pending = false;
    let failed = false;
    try {
      await this.fn();
    } catch (err) {
      failed = true;
      this.onError(err);
    } finally {
      this.running = false;
    }
    if (this.pending) this.trigger();
    else if (failed) this.trigger(this.retryMs);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
