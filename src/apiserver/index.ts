// The embedded Kubernetes API server: `startApiServer` wires store, registry, controllers and the
// HTTP(S) front together and returns once it is listening.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { isIPv6 } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { logger, type Logger } from '../log/index.js';
import { HawserError } from '../util/errors.js';
import { AdmissionPolicies } from './admission.js';
import { Authenticator, readTokenFile, validateTokenEntry, type TokenEntry } from './auth.js';
import { Controllers } from './controllers.js';
import { requestHandler } from './http.js';
import { parseServiceCidr } from './kinds.js';
import { Objects } from './objects.js';
import { OpenApiCache } from './openapi.js';
import { Registry } from './registry.js';
import { Store } from './store.js';
import { ensureTls } from './tls.js';
import { isApiError, isObject, type Json, type JsonObject } from './types.js';

export { writeKubeconfig, kubeconfigYaml, type KubeconfigOptions } from './kubeconfig.js';
export { parseTokenFile, readTokenFile, type TokenEntry } from './auth.js';
export type { Store } from './store.js';
export type { Registry } from './registry.js';
export type { Objects } from './objects.js';

export interface ApiServerOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Serve plain HTTP instead of HTTPS. */
  plainHttp?: boolean;
  /** Where the CA and serving certificate live; generated when absent (a temporary directory if unset). */
  tlsDir?: string;
  /** Extra names/addresses for the serving certificate (the listen host, 127.0.0.1 and localhost are always in). */
  tlsSans?: string[];
  tokens?: TokenEntry[];
  tokenFile?: string;
  /** Keeps objects and the resourceVersion counter across restarts. */
  dataDir?: string;
  /** Every CRD in the *.yaml/*.yml/*.json files of this directory is applied at start. */
  crdDir?: string;
  log?: Logger;
  /** ClusterIP range for Services (default 10.96.0.0/12). */
  serviceCidr?: string;
  /** Watch events kept for resuming watches (default 20,000). */
  historySize?: number;
  /** Request body limit (default 3 MiB). */
  maxBodyBytes?: number;
  /** Bookmark interval for watches that allow them (default 30 s). */
  bookmarkIntervalMs?: number;
  /** Longest watch without timeoutSeconds, jittered up to twice (default 1800 s). */
  watchTimeoutSeconds?: number;
  /** Open connections at most (default 4096): past it, the longest-idle connection is closed for a new one. */
  maxConnections?: number;
  /** Watches at most, per user (default 100) and in total (default 2000); more get 429. */
  maxWatchesPerUser?: number;
  maxWatches?: number;
  /** A watch whose client does not read is closed once this much is queued for it (default 16 MiB). */
  watchBacklogBytes?: number;
  /** All watches together may queue this much (default 256 MiB); past it, slow watches are closed. */
  watchBacklogTotalBytes?: number;
  /** Time for a client to send a whole request, and for idle connections (default 30 s). */
  requestTimeoutMs?: number;
  /** Fold the journal into a snapshot past this size (default 64 MiB; tests use less). */
  compactBytes?: number;
}

/**
 * TLS 1.2 suites offered: ECDHE with AEAD only (no CBC/SHA-1, no CCM8), as kube-apiserver's
 * secure defaults; TLS 1.3 suites without CCM8.
 */
const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Refuses a token file every local user can read; warns when its group can. */
function checkTokenFileMode(path: string, log: Logger): void {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return; // readTokenFile reports a missing file
  }
  if (mode & 0o004) {
    throw new HawserError('CONFIG', `token file ${path} is readable by every local user (mode ${mode.toString(8)}): it holds credentials; chmod 600 it`);
  }
  if (mode & 0o040) log.warn({ file: path, mode: mode.toString(8) }, 'token file is readable by its group: it holds credentials; chmod 600 it');
}

export interface RunningApiServer {
  url: string;
  /** PEM of the CA that signed the serving certificate (HTTPS only). */
  caPem?: string;
  host: string;
  port: number;
  store: Store;
  registry: Registry;
  objects: Objects;
  close(): Promise<void>;
}

const BOOTSTRAP_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return isIPv6(host) ? `[${host}]` : host;
}

/** Every document of every YAML/JSON file in `dir` (sorted by file name). */
function readManifests(dir: string): { file: string; doc: JsonObject }[] {
  let files: string[];
  try {
    // kustomization.yaml lists the CRDs for `kubectl apply -k`; it is no manifest itself
    files = readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f) && !/^kustomization\.ya?ml$/.test(f)).sort();
  } catch (err) {
    throw new HawserError('CONFIG', `cannot read CRD directory ${dir}: ${(err as Error).message}`);
  }
  const out: { file: string; doc: JsonObject }[] = [];
  for (const f of files) {
    const path = join(dir, f);
    if (!statSync(path).isFile()) continue;
    let docs: YAML.Document[];
    try {
      docs = YAML.parseAllDocuments(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new HawserError('CONFIG', `${path}: ${(err as Error).message}`);
    }
    for (const d of docs) {
      if (d.errors.length) throw new HawserError('CONFIG', `${path}: not valid YAML: ${d.errors[0]!.message}`);
      const v = d.toJSON() as Json;
      if (isObject(v)) out.push({ file: path, doc: v });
    }
  }
  return out;
}

export async function startApiServer(opts: ApiServerOptions = {}): Promise<RunningApiServer> {
  const log = (opts.log ?? logger()).child({ component: 'apiserver' });
  const host = opts.host ?? '127.0.0.1';
  if (opts.tokenFile && !opts.tokens) checkTokenFileMode(opts.tokenFile, log);
  const tokens = (opts.tokens ?? (opts.tokenFile ? readTokenFile(opts.tokenFile) : [])).map((t, i) => validateTokenEntry(t, `tokens[${i}]`));
  if (tokens.length === 0) log.warn('no tokens configured: every request except /healthz, /readyz, /livez and /version gets 401');
  const cidrText = opts.serviceCidr ?? '10.96.0.0/12';
  const serviceCidr = parseServiceCidr(cidrText);
  if (!serviceCidr) throw new HawserError('CONFIG', `serviceCidr ${JSON.stringify(cidrText)}: expected an IPv4 CIDR with a prefix of /8 to /30`);

  let caPem: string | undefined;
  let tls: { certPem: string; keyPem: string } | undefined;
  if (!opts.plainHttp) {
    const dir = opts.tlsDir ?? mkdtempSync(join(tmpdir(), 'hawser-apiserver-tls-'));
    const m = await ensureTls(dir, [host, ...(opts.tlsSans ?? [])]);
    caPem = m.caPem;
    tls = m;
  }

  const store = new Store({ dataDir: opts.dataDir, historySize: opts.historySize, compactBytes: opts.compactBytes, log });
  const registry = new Registry();
  const objects = new Objects(store, registry, { serviceCidr });
  const auth = new Authenticator(tokens, {
    signingKey: opts.dataDir ? signingKey(opts.dataDir) : undefined,
    serviceAccountUid: (ns, name) => {
      const sa = store.get('/serviceaccounts', ns, name);
      return typeof sa?.metadata.uid === 'string' ? sa.metadata.uid : undefined;
    },
    secretToken: (ns, name) => {
      const secret = store.get('/secrets', ns, name);
      const data = secret && isObject(secret.data) ? secret.data : undefined;
      return data && typeof data.token === 'string' ? Buffer.from(data.token, 'base64').toString('utf8') : undefined;
    },
  });
  const controllers = new Controllers({ store, registry, objects, auth, log, caPem });
  controllers.start();
  try {
    bootstrap(objects, registry);
    if (opts.crdDir) applyCrdDir(objects, registry, opts.crdDir, log);
  } catch (err) {
    controllers.close();
    store.close();
    throw err;
  }

  const openapi = new OpenApiCache(registry);
  const policies = new AdmissionPolicies(store, log);
  const requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  let serverAddress = '';
  const handler = requestHandler({
    objects,
    registry,
    store,
    auth,
    openapi,
    log,
    get serverAddress() {
      return serverAddress;
    },
    maxBodyBytes: opts.maxBodyBytes ?? 3 * 1024 * 1024,
    bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 30_000,
    watchTimeoutMs: (opts.watchTimeoutSeconds ?? 1800) * 1000,
    policies,
    watchLimits: {
      perUser: opts.maxWatchesPerUser ?? 100,
      total: opts.maxWatches ?? 2000,
      backlogBytes: opts.watchBacklogBytes ?? 16 * 1024 * 1024,
      backlogTotalBytes: opts.watchBacklogTotalBytes ?? 256 * 1024 * 1024,
    },
  });
  const conns = new ConnectionLimiter(opts.maxConnections ?? 4096, log);
  const tracked = (req: IncomingMessage, res: ServerResponse): void => {
    conns.busy(req.socket, res);
    handler(req, res);
  };
  // how often Node checks requestTimeout/headersTimeout (its default, 30 s, would double the time a slow request holds on)
  const connectionsCheckingInterval = Math.max(100, Math.min(5000, Math.floor(requestTimeoutMs / 4)));
  const server: Server = tls
    ? createHttpsServer({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2', ciphers: TLS_CIPHERS, handshakeTimeout: 10_000, connectionsCheckingInterval }, tracked)
    : createHttpServer({ connectionsCheckingInterval }, tracked);
  // a client has this long to send a whole request (a slowly sent body is cut off); idle connections
  // are closed after it too. Watches turn the socket timeout off for themselves.
  server.requestTimeout = requestTimeoutMs;
  server.headersTimeout = Math.min(requestTimeoutMs, 10_000);
  server.keepAliveTimeout = requestTimeoutMs;
  server.timeout = requestTimeoutMs;
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    // with TLS the limiter sees connections once their handshake is done: raw connections far past
    // the limit (handshakes that never finish, within handshakeTimeout) are dropped at once
    if (tls && sockets.size > conns.max * 2) s.destroy();
  });
  server.on(tls ? 'secureConnection' : 'connection', (s: Socket) => conns.add(s));
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    log.debug({ err: err.message, code: err.code }, 'bad client request');
    if (!socket.writable) return;
    // a Status like every other answer (oversized headers, unknown methods, malformed requests)
    const [code, reason, message] =
      err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'RequestHeaderFieldsTooLarge', 'request headers are too large']
      : err.code === 'HPE_INVALID_METHOD' ? [405, 'MethodNotAllowed', 'the request method is not supported']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Timeout', 'the request was not received in time']
      : [400, 'BadRequest', `malformed request: ${err.code ?? err.message}`];
    const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
    const text = code === 431 ? 'Request Header Fields Too Large' : code === 405 ? 'Method Not Allowed' : code === 408 ? 'Request Timeout' : 'Bad Request';
    socket.end(`HTTP/1.1 ${code} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(new HawserError('CONFIG', `cannot listen on ${host}:${opts.port ?? 0}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', onError);
      resolve();
    });
  }).catch((err: unknown) => {
    controllers.close();
    store.close();
    throw err;
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 0);
  serverAddress = `${urlHost(host)}:${port}`;
  const url = `${tls ? 'https' : 'http'}://${serverAddress}`;
  let closed: Promise<void> | undefined;
  return {
    url,
    caPem,
    host,
    port,
    store,
    registry,
    objects,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }).then(() => {
        controllers.close();
        store.close();
      });
      return closed;
    },
  };
}

/** The key that signs TokenRequest tokens, kept in the data dir so tokens outlive a restart. */
function signingKey(dataDir: string): Buffer {
  const path = join(dataDir, 'token-signing.key');
  if (existsSync(path)) return readFileSync(path);
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(path, key, { mode: 0o600 });
  return key;
}

/** What every cluster has: the standard namespaces and the cluster-admin ClusterRole. */
function bootstrap(objects: Objects, registry: Registry): void {
  const nsType = registry.get('', 'v1', 'namespaces')!;
  for (const name of BOOTSTRAP_NAMESPACES) {
    if (!objects.find(nsType, '', name)) objects.create(nsType, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
  const crType = registry.get('rbac.authorization.k8s.io', 'v1', 'clusterroles')!;
  if (!objects.find(crType, '', 'cluster-admin')) {
    objects.create(crType, '', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'cluster-admin', labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } },
      rules: [
        { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
        { nonResourceURLs: ['*'], verbs: ['*'] },
      ],
    });
  }
}

/** Creates or updates every CRD found in `dir`; anything else there is ignored with a warning. */
function applyCrdDir(objects: Objects, registry: Registry, dir: string, log: Logger): void {
  const crdType = registry.get('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
  for (const { file, doc } of readManifests(dir)) {
    if (doc.kind !== 'CustomResourceDefinition') {
      log.warn({ file, kind: doc.kind }, 'not a CustomResourceDefinition; ignored');
      continue;
    }
    const name = isObject(doc.metadata) && typeof doc.metadata.name === 'string' ? doc.metadata.name : '';
    try {
      const existing = objects.find(crdType, '', name);
      if (existing) objects.update(crdType, '', name, { ...doc, metadata: { ...(doc.metadata as JsonObject), resourceVersion: existing.metadata.resourceVersion ?? '' } });
      else objects.create(crdType, '', doc);
    } catch (err) {
      const why = isApiError(err) ? err.message : (err as Error).message;
      throw new HawserError('CONFIG', `${file}: CRD ${name || '(unnamed)'} cannot be applied: ${why}`, { cause: err });
    }
  }
}

/**
 * Keeps open connections under a limit without letting idle ones lock legitimate clients out: past
 * the limit, the connection idle the longest (no request in flight) is closed to make room; a new
 * connection is refused only when every connection is busy.
 */
class ConnectionLimiter {
  private readonly open = new Map<Socket, { busy: number; lastUsed: number }>();

  constructor(
    readonly max: number,
    private readonly log: Logger,
  ) {}

  add(s: Socket): void {
    this.open.set(s, { busy: 0, lastUsed: Date.now() });
    s.once('close', () => this.open.delete(s));
    if (this.open.size <= this.max) return;
    let victim: Socket | undefined;
    let oldest = Infinity;
    for (const [sock, st] of this.open) {
      if (st.busy === 0 && st.lastUsed < oldest && sock !== s) {
        oldest = st.lastUsed;
        victim = sock;
      }
    }
    if (!victim) {
      this.log.warn({ open: this.open.size, max: this.max }, 'connection limit reached and every connection is busy: refusing a new one');
      this.open.delete(s);
      s.destroy();
      return;
    }
    this.open.delete(victim);
    victim.destroy();
  }

  busy(s: Socket, res: ServerResponse): void {
    const st = this.open.get(s);
    if (!st) return;
    st.busy++;
    st.lastUsed = Date.now();
    res.once('close', () => {
      st.busy--;
      st.lastUsed = Date.now();
    });
  }
}
