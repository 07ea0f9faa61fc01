// A small JSON REST client over a client-node KubeConfig: any kind by path, typed errors, streaming watch.
// (client-node's generated APIs cover built-ins; this serves CRDs, Leases and status writes uniformly.)
import type * as Http from 'node:http';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { Duplex, Readable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { HawserError } from '../util/errors.js';
import { isRecord } from '../util/json.js';
import { kubeConfigAccess, type ClusterAccess } from './access.js';

// Not `import … from 'node:http'`: an ESM import of node:http builds its namespace object, which
// evaluates lazy exports and loads Node's bundled undici (+14 MiB RSS per process, measured on Node 24).
const http = process.getBuiltinModule('node:http');
const https = process.getBuiltinModule('node:https');
const net = process.getBuiltinModule('node:net');

/**
 * A write we gave up on (timeout, stop) must not reach the server later. Node's abort closes the socket
 * gracefully, and the kernel still delivers the request bytes it had queued once a partition heals: a Lease
 * renewal its holder had abandoned landed 15 s late and restarted a candidate's expiry clock (README, "Node loss
 * with Globalnet"). A reset discards them. A TLSSocket's own handle cannot be reset, so the HTTPS pool builds
 * each TLS session on a TCP socket it keeps here.
 */
const tcpUnder = new WeakMap<Duplex, Socket>();

class ResettableHttpsAgent extends https.Agent {
  override createConnection(options: Http.ClientRequestArgs): Duplex {
    const tcp = net.connect({ host: options.host ?? undefined, port: Number(options.port ?? 443), localAddress: options.localAddress, family: options.family });
    // https.Agent's own createConnection (session reuse and all) runs TLS over a socket it is given.
    const socket = super.createConnection({ ...options, socket: tcp } as Http.ClientRequestArgs) as Duplex;
    tcpUnder.set(socket, tcp);
    return socket;
  }
}

/** Resets (RST) the TCP connection under a request's socket, dropping whatever the kernel still has queued. */
function resetConnection(socket: Duplex): void {
  const tcp = tcpUnder.get(socket) ?? (socket instanceof net.Socket ? socket : undefined);
  try {
    tcp?.resetAndDestroy();
  } catch {
    // not a TCP handle (cannot happen with our pools): the destroy that follows closes it
  }
}

function abortError(signal: AbortSignal): Error {
  const timedOut = signal.reason instanceof Error && signal.reason.name === 'TimeoutError';
  return Object.assign(new Error(timedOut ? 'The operation was aborted due to timeout' : 'The operation was aborted', { cause: signal.reason }), { name: 'AbortError' });
}

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

/** One HTTP response, body read to the end. */
export interface RawResponse {
  status: number;
  statusText: string;
  headers: Http.IncomingHttpHeaders;
  text: string;
}

function isKubeConfig(v: ClusterAccess | KubeConfig): v is KubeConfig {
  return typeof (v as Partial<KubeConfig>).applyToHTTPSOptions === 'function';
}

/**
 * JSON REST over node:http(s) with one keep-alive pool per client. (A fresh agent per request, as
 * client-node does, meant a TLS handshake per Lease renewal, which under CPU load made renewals
 * miss their deadline.)
 */
export class RestClient {
  readonly access: ClusterAccess;

  constructor(
    access: ClusterAccess | KubeConfig,
    private readonly timeoutMs = 10_000,
  ) {
    this.access = isKubeConfig(access) ? kubeConfigAccess(access) : access;
  }

  private agent: Http.Agent | undefined;

  private async pool(): Promise<Http.Agent> {
    if (!this.agent) {
      if (this.server.startsWith('http://')) this.agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
      else {
        const tls = await this.access.tls();
        this.agent = new ResettableHttpsAgent({ ...tls, keepAlive: true, maxSockets: 32 });
      }
    }
    return this.agent;
  }

  /** Closes idle keep-alive connections (shutdown, tests). */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  get server(): string {
    return this.access.server;
  }

  private url(path: string, query?: Query): URL {
    const u = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u;
  }

  /** Sends one request; resolves with the response head (the body still streaming). */
  private async send(method: string, url: URL, headers: Record<string, string>, body: string | undefined, signal: AbortSignal): Promise<Http.IncomingMessage> {
    const agent = await this.pool();
    const auth = await this.access.headers();
    const mod = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { method, agent, headers: { ...auth, ...headers, ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}) } }, resolve);
      // Not http's own `signal` option: that closes the socket gracefully, and a write must be reset (tcpUnder).
      const onAbort = (): void => {
        const err = abortError(signal);
        reject(err);
        if (method !== 'GET' && req.socket) resetConnection(req.socket);
        req.destroy(err);
      };
      // The listener first: an abort destroys the request with an error, and an unheard 'error' crashes the process.
      req.on('error', reject);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      req.once('close', () => signal.removeEventListener('abort', onAbort));
      req.end(body);
    });
  }

  /** One request with the body read as text; transport failures become ApiError status 0. */
  async raw(method: string, path: string, opts: { query?: Query; body?: unknown; contentType?: string; signal?: AbortSignal } = {}): Promise<RawResponse> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['Content-Type'] = opts.contentType ?? 'application/json';
    }
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    try {
      const res = await this.send(method, this.url(path, opts.query), headers, body, signal);
      res.setEncoding('utf8');
      let text = '';
      for await (const chunk of res) text += chunk as string;
      return { status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers, text };
    } catch (err) {
      // Once we gave up, the socket's own complaint about its reset is noise: say why we gave up.
      const why = signal.aborted ? abortError(signal).message : (err as Error).message;
      throw new ApiError(0, 'Unreachable', `${method} ${this.server}${path}: ${why}`);
    }
  }

  async request(method: string, path: string, opts: { query?: Query; body?: unknown; contentType?: string; signal?: AbortSignal } = {}): Promise<unknown> {
    const res = await this.raw(method, path, opts);
    const text = res.text;
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
    let res: Http.IncomingMessage;
    try {
      res = await this.send('GET', this.url(path, { ...query, watch: 'true' }), { Accept: 'application/json' }, undefined, signal);
    } catch (err) {
      if (signal.aborted) return;
      throw new ApiError(0, 'Unreachable', `WATCH ${this.server}${path}: ${(err as Error).message}`);
    }
    if (res.statusCode !== 200) {
      let text = '';
      try {
        res.setEncoding('utf8');
        for await (const chunk of res) text += chunk as string;
      } catch {
        // the status line says enough
      }
      throw new ApiError(res.statusCode ?? 0, res.statusMessage ?? '', `WATCH ${path}: ${res.statusCode} ${text.slice(0, 200)}`);
    }
    const body: Readable = res;
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: body });
      const finish = (err?: Error): void => {
        lines.close();
        body.destroy();
        if (err) reject(err);
        else resolve();
      };
      lines.on('line', (line) => {
        if (!line.trim()) return;
        let ev: unknown;
        try {
          ev = JSON.parse(line);
        } catch {
          return finish(new ApiError(500, 'BadWatchEvent', `WATCH ${path}: undecodable event line`));
        }
        if (!isRecord(ev) || typeof ev.type !== 'string' || !isRecord(ev.object)) return;
        try {
          onEvent({ type: ev.type as WatchEvent['type'], object: ev.object });
        } catch (err) {
          // The consumer ends the stream (e.g. a 410 ERROR event): close it and surface the error.
          finish(err as Error);
        }
      });
      // An abort (our own stop) ends the watch cleanly; anything else is a stream error for the caller.
      const onError = (err: Error): void => finish(signal.aborted ? undefined : new ApiError(0, 'StreamError', `WATCH ${path}: ${err.message}`));
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
