// A small JSON REST client over a client-node KubeConfig: any kind by path, typed errors, streaming watch.
// (client-node's generated APIs cover built-ins; this serves CRDs, Leases and status writes uniformly.)
import fetch, { type RequestInit } from 'node-fetch';
import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node';
import { HawserError } from '../util/errors.js';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: unknown[];
  finalizers?: string[];
  generateName?: string;
}

/** A Kubernetes object with validated metadata; spec/status stay unknown until a typed parser reads them. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
  [key: string]: unknown;
}

export class ApiError extends HawserError {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super('API', message);
    this.name = 'ApiError';
  }
}

export function isApiError(err: unknown, status?: number): err is ApiError {
  return err instanceof ApiError && (status === undefined || err.status === status);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates the parts of an object every consumer relies on. */
export function asKubeObject(v: unknown): KubeObject | undefined {
  if (!isRecord(v) || !isRecord(v.metadata) || typeof v.metadata.name !== 'string') return undefined;
  return v as KubeObject;
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, unknown>;
}

export type Query = Record<string, string | number | boolean | undefined>;

/** client-node returns headers as a Headers object or a plain record: flatten either into a record. */
function headerRecord(h: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  const maybe = h as { forEach?: (cb: (v: string, k: string) => void) => void };
  if (typeof maybe.forEach === 'function' && !Array.isArray(h)) {
    maybe.forEach((v, k) => (out[k] = v));
    return out;
  }
  for (const [k, v] of Object.entries(h as Record<string, unknown>)) {
    if (typeof v === 'string') out[k] = v;
    else if (Array.isArray(v)) out[k] = v.join(', ');
  }
  return out;
}

export class RestClient {
  constructor(
    readonly kc: KubeConfig,
    private readonly timeoutMs = 10_000,
  ) {}

  private agent: http.Agent | undefined;

  /**
   * Fetch options for one request: fresh auth headers each time (tokens rotate), but one keep-alive agent
   * per client. client-node builds a new agent per request, i.e. a TLS handshake per Lease renewal, which
   * under CPU load made renewals miss their deadline.
   */
  private async fetchInit(): Promise<RequestInit> {
    const init = await this.kc.applyToFetchOptions({});
    if (!this.agent) {
      if (this.server.startsWith('http://')) this.agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
      else {
        const tls: https.AgentOptions = {};
        await this.kc.applyToHTTPSOptions(tls);
        this.agent = new https.Agent({ ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized, servername: tls.servername, keepAlive: true, maxSockets: 32 });
      }
    }
    return { ...init, agent: this.agent };
  }

  /** Closes idle keep-alive connections (shutdown, tests). */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  get server(): string {
    const c = this.kc.getCurrentCluster();
    if (!c) throw new HawserError('CONFIG', 'kubeconfig has no current cluster');
    return c.server.replace(/\/$/, '');
  }

  private url(path: string, query?: Query): string {
    const u = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  async request(method: string, path: string, opts: { query?: Query; body?: unknown; contentType?: string; signal?: AbortSignal } = {}): Promise<unknown> {
    const init = await this.fetchInit();
    const headers: Record<string, string> = { ...headerRecord(init.headers), Accept: 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['Content-Type'] = opts.contentType ?? 'application/json';
    }
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    let res;
    try {
      // node-fetch's AbortSignal type predates the DOM one; they are compatible at runtime.
      res = await fetch(this.url(path, opts.query), { ...init, method, headers, body, signal: signal as never });
    } catch (err) {
      throw new ApiError(0, 'Unreachable', `${method} ${this.server}${path}: ${(err as Error).message}`);
    }
    const text = await res.text();
    let parsed: unknown = undefined;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (res.status >= 400) {
      const st = isRecord(parsed) ? parsed : {};
      const reason = typeof st.reason === 'string' ? st.reason : res.statusText;
      const msg = typeof st.message === 'string' ? st.message : text.slice(0, 200);
      throw new ApiError(res.status, reason, `${method} ${path}: ${res.status} ${reason}: ${msg}`);
    }
    return parsed;
  }

  async get(path: string): Promise<KubeObject> {
    const o = asKubeObject(await this.request('GET', path));
    if (!o) throw new ApiError(500, 'BadResponse', `GET ${path}: response is not an object`);
    return o;
  }

  /** GET, or undefined on 404. */
  async getOrUndefined(path: string): Promise<KubeObject | undefined> {
    try {
      return await this.get(path);
    } catch (err) {
      if (isApiError(err, 404)) return undefined;
      throw err;
    }
  }

  async list(path: string, query?: Query): Promise<{ items: KubeObject[]; resourceVersion: string }> {
    const r = await this.request('GET', path, { query });
    if (!isRecord(r) || !Array.isArray(r.items)) throw new ApiError(500, 'BadResponse', `GET ${path}: not a list`);
    const meta = isRecord(r.metadata) ? r.metadata : {};
    const items = r.items.map(asKubeObject).filter((o): o is KubeObject => o !== undefined);
    return { items, resourceVersion: typeof meta.resourceVersion === 'string' ? meta.resourceVersion : '' };
  }

  async create(path: string, obj: unknown): Promise<KubeObject> {
    const o = asKubeObject(await this.request('POST', path, { body: obj }));
    if (!o) throw new ApiError(500, 'BadResponse', `POST ${path}: response is not an object`);
    return o;
  }

  async replace(path: string, obj: unknown): Promise<KubeObject> {
    const o = asKubeObject(await this.request('PUT', path, { body: obj }));
    if (!o) throw new ApiError(500, 'BadResponse', `PUT ${path}: response is not an object`);
    return o;
  }

  async patch(path: string, patch: unknown, type: PatchType = 'merge', query?: Query): Promise<KubeObject> {
    const o = asKubeObject(await this.request('PATCH', path, { body: patch, contentType: PATCH_CONTENT_TYPE[type], query }));
    if (!o) throw new ApiError(500, 'BadResponse', `PATCH ${path}: response is not an object`);
    return o;
  }

  /** DELETE; absent is fine (returns false). */
  async delete(path: string): Promise<boolean> {
    try {
      await this.request('DELETE', path);
      return true;
    } catch (err) {
      if (isApiError(err, 404)) return false;
      throw err;
    }
  }

  /**
   * Streams watch events until the server closes the stream or `signal` aborts. Resolves on a clean end;
   * rejects with ApiError on HTTP errors (410 included).
   */
  async watch(path: string, query: Query, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    const init = await this.fetchInit();
    const headers: Record<string, string> = { ...headerRecord(init.headers), Accept: 'application/json' };
    let res;
    try {
      res = await fetch(this.url(path, { ...query, watch: 'true' }), { ...init, method: 'GET', headers, signal: signal as never });
    } catch (err) {
      if (signal.aborted) return;
      throw new ApiError(0, 'Unreachable', `WATCH ${this.server}${path}: ${(err as Error).message}`);
    }
    if (res.status !== 200) {
      const text = await res.text().catch(() => '');
      throw new ApiError(res.status, res.statusText, `WATCH ${path}: ${res.status} ${text.slice(0, 200)}`);
    }
    const body = res.body;
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: body });
      lines.on('line', (line) => {
        if (!line.trim()) return;
        let ev: unknown;
        try {
          ev = JSON.parse(line);
        } catch {
          return reject(new ApiError(500, 'BadWatchEvent', `WATCH ${path}: undecodable event line`));
        }
        if (!isRecord(ev) || typeof ev.type !== 'string' || !isRecord(ev.object)) return;
        try {
          onEvent({ type: ev.type as WatchEvent['type'], object: ev.object });
        } catch (err) {
          // The consumer ends the stream (e.g. a 410 ERROR event): close it and surface the error.
          lines.close();
          body.removeAllListeners('data');
          (body as unknown as { destroy?: () => void }).destroy?.();
          reject(err);
        }
      });
      const onError = (err: Error): void => (signal.aborted ? resolve() : reject(new ApiError(0, 'StreamError', `WATCH ${path}: ${err.message}`)));
      lines.on('close', () => resolve());
      lines.on('error', onError);
      body.on('error', onError);
    });
  }
}

/** API paths for namespaced or cluster-scoped resources. */
export function resourcePath(group: string, version: string, plural: string, namespace?: string, name?: string, sub?: string): string {
  const base = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
  let p = namespace ? `${base}/namespaces/${namespace}/${plural}` : `${base}/${plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (sub) p += `/${sub}`;
  return p;
}
