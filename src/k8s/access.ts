// How to reach one API server: its URL, TLS material and per-request auth headers. Read from a kubeconfig
// file, the pod's ServiceAccount, or the broker's BROKER_K8S_* values without loading @kubernetes/client-node
// (importing it costs tens of MiB and hundreds of ms per role). Kubeconfigs that need what only client-node
// implements (exec or auth-provider plugins, several files in KUBECONFIG) go through it, loaded lazily.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parseKubeconfigYaml, UnsupportedYaml } from './kubeconfig-yaml.js';
import type { BrokerConfig } from '../config/roles.js';
import { HawserError } from '../util/errors.js';
import { isRecord, str as jsonStr } from '../util/json.js';

export interface TlsSettings {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** false only when the kubeconfig says insecure-skip-tls-verify (or a plain http:// server). */
  rejectUnauthorized: boolean;
  servername?: string;
}

export interface ClusterAccess {
  /** API server URL without a trailing slash. */
  readonly server: string;
  /** Default namespace of the context (kubeconfig) or the pod (ServiceAccount), when known. */
  readonly namespace?: string;
  /** TLS settings for the connection pool; read once per client. */
  tls(): Promise<TlsSettings>;
  /** Headers for one request (Authorization etc.); called per request because tokens rotate. */
  headers(): Promise<Record<string, string>>;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

function trimServer(s: string): string {
  return s.replace(/\/+$/, '');
}

/** A non-empty string field (kubeconfig fields set to '' mean unset). */
function str(o: Record<string, unknown>, key: string): string | undefined {
  return jsonStr(o, key) || undefined;
}

/** Access from fixed values: the broker (BROKER_K8S_*) and tests. */
export function staticAccess(o: { server: string; token?: string; caPem?: string; insecure?: boolean; namespace?: string }): ClusterAccess {
  const server = trimServer(o.server);
  const tls: TlsSettings = { rejectUnauthorized: !(o.insecure || server.startsWith('http://')) };
  if (o.caPem) tls.ca = Buffer.from(o.caPem);
  const headers: Record<string, string> = o.token ? { Authorization: `Bearer ${o.token}` } : {};
  return { server, namespace: o.namespace, tls: async () => tls, headers: async () => ({ ...headers }) };
}

/** The pod's ServiceAccount; the token file is re-read per request (kubelet rotates it). */
export function inClusterAccess(dir = SA_DIR, env: NodeJS.ProcessEnv = process.env): ClusterAccess {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new HawserError('CONFIG', 'in-cluster access needs KUBERNETES_SERVICE_HOST (not running in a pod?)');
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const caPath = join(dir, 'ca.crt');
  const nsPath = join(dir, 'namespace');
  const namespace = existsSync(nsPath) ? readFileSync(nsPath, 'utf8').trim() : undefined;
  return {
    server,
    namespace,
    tls: async () => ({ rejectUnauthorized: true, ...(existsSync(caPath) ? { ca: readFileSync(caPath) } : {}) }),
    headers: async () => ({ Authorization: `Bearer ${readFileSync(join(dir, 'token'), 'utf8').trim()}` }),
  };
}

/** What a kubeconfig needs that this module does not implement (then client-node serves it). */
class NeedsClientNode extends Error {}

function named(list: unknown, name: string, field: string): Record<string, unknown> | undefined {
  if (!Array.isArray(list)) return undefined;
  for (const e of list) if (isRecord(e) && e.name === name && isRecord(e[field])) return e[field] as Record<string, unknown>;
  return undefined;
}

/**
 * Parses one kubeconfig file's current context into access. Supports what clusters hand out for
 * agents and admins: token / tokenFile, client certificates, basic auth, CA file or data,
 * insecure-skip-tls-verify, tls-server-name, impersonation. Throws NeedsClientNode for plugins.
 */
export async function kubeconfigFileAccess(path: string, context?: string): Promise<ClusterAccess> {
  let doc: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    try {
      doc = parseKubeconfigYaml(text);
    } catch (err) {
      if (!(err instanceof UnsupportedYaml)) throw err;
      // Rare in kubeconfigs; the full parser is loaded only then.
      const { parse } = await import('yaml');
      doc = parse(text) as unknown;
    }
  } catch (err) {
    throw new HawserError('CONFIG', `kubeconfig ${path}: ${(err as Error).message}`);
  }
  if (!isRecord(doc)) throw new HawserError('CONFIG', `kubeconfig ${path}: not a YAML mapping`);
  const ctxName = context ?? str(doc, 'current-context');
  if (!ctxName) throw new HawserError('CONFIG', `kubeconfig ${path}: no current-context`);
  const ctx = named(doc.contexts, ctxName, 'context');
  if (!ctx) throw new HawserError('CONFIG', `kubeconfig ${path}: context ${JSON.stringify(ctxName)} not found`);
  const clusterName = str(ctx, 'cluster');
  const cluster = clusterName ? named(doc.clusters, clusterName, 'cluster') : undefined;
  if (!cluster) throw new HawserError('CONFIG', `kubeconfig ${path}: cluster ${JSON.stringify(clusterName)} of context ${JSON.stringify(ctxName)} not found`);
  const userName = str(ctx, 'user');
  const user = (userName ? named(doc.users, userName, 'user') : undefined) ?? {};
  if (user.exec !== undefined || user['auth-provider'] !== undefined) throw new NeedsClientNode();
  if (cluster['proxy-url'] !== undefined) throw new NeedsClientNode();

  const server = str(cluster, 'server');
  if (!server) throw new HawserError('CONFIG', `kubeconfig ${path}: cluster ${JSON.stringify(clusterName)} has no server`);
  const base = dirname(resolve(path));
  const file = (p: string): Buffer => readFileSync(isAbsolute(p) ? p : join(base, p));
  const fileOrData = (o: Record<string, unknown>, fileKey: string, dataKey: string): Buffer | undefined => {
    const data = str(o, dataKey);
    if (data) return Buffer.from(data, 'base64');
    const f = str(o, fileKey);
    return f ? file(f) : undefined;
  };

  const insecure = cluster['insecure-skip-tls-verify'] === true || server.startsWith('http://');
  const tls: TlsSettings = { rejectUnauthorized: !insecure };
  const ca = fileOrData(cluster, 'certificate-authority', 'certificate-authority-data');
  if (ca) tls.ca = ca;
  const cert = fileOrData(user, 'client-certificate', 'client-certificate-data');
  const key = fileOrData(user, 'client-key', 'client-key-data');
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  const servername = str(cluster, 'tls-server-name');
  if (servername) tls.servername = servername;

  const token = str(user, 'token');
  const tokenFile = str(user, 'tokenFile');
  const username = str(user, 'username');
  const password = str(user, 'password') ?? '';
  const impersonate = str(user, 'as');
  return {
    server: trimServer(server),
    namespace: str(ctx, 'namespace'),
    tls: async () => tls,
    headers: async () => {
      const h: Record<string, string> = {};
      if (token) h.Authorization = `Bearer ${token}`;
      else if (tokenFile) h.Authorization = `Bearer ${file(tokenFile).toString('utf8').trim()}`;
      else if (username) h.Authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
      if (impersonate) h['Impersonate-User'] = impersonate;
      return h;
    },
  };
}

/** Access through a client-node KubeConfig (tests, the lab, and kubeconfigs with auth plugins). */
export function kubeConfigAccess(kc: KubeConfig): ClusterAccess {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new HawserError('CONFIG', 'kubeconfig has no current cluster');
  const server = trimServer(cluster.server);
  const applied = async (): Promise<{ headers: Record<string, string>; tls: TlsSettings }> => {
    const opts: { headers?: Record<string, unknown>; ca?: unknown; cert?: unknown; key?: unknown; rejectUnauthorized?: boolean; servername?: string; auth?: string } = {};
    await kc.applyToHTTPSOptions(opts);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') headers[k] = v;
    if (opts.auth && !headers.Authorization) headers.Authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    const buf = (v: unknown): Buffer | undefined => (Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v) : undefined);
    const tls: TlsSettings = { rejectUnauthorized: opts.rejectUnauthorized !== false && !server.startsWith('http://') };
    const ca = buf(opts.ca), cert = buf(opts.cert), key = buf(opts.key);
    if (ca) tls.ca = ca;
    if (cert) tls.cert = cert;
    if (key) tls.key = key;
    if (opts.servername) tls.servername = opts.servername;
    return { headers, tls };
  };
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return { server, namespace: ctx?.namespace, tls: async () => (await applied()).tls, headers: async () => (await applied()).headers };
}

async function clientNodeAccess(load: (kc: KubeConfig) => void): Promise<ClusterAccess> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  load(kc);
  return kubeConfigAccess(kc);
}

/**
 * The local cluster: `--kubeconfig`/KUBECONFIG if given, else in-cluster (ServiceAccount), else
 * ~/.kube/config — the order client-go's agents use.
 */
export async function localAccess(kubeconfigPath?: string, env: NodeJS.ProcessEnv = process.env): Promise<ClusterAccess> {
  const path = kubeconfigPath ?? env.KUBECONFIG;
  if (path && path.includes(delimiter)) return clientNodeAccess((kc) => kc.loadFromDefault());
  if (!path && env.KUBERNETES_SERVICE_HOST && existsSync(join(SA_DIR, 'token'))) return inClusterAccess(SA_DIR, env);
  const file = path ?? join(homedir(), '.kube', 'config');
  if (!existsSync(file)) throw new HawserError('CONFIG', `kubeconfig ${file} does not exist (set KUBECONFIG or --kubeconfig, or run in a pod)`);
  try {
    return await kubeconfigFileAccess(file);
  } catch (err) {
    if (err instanceof NeedsClientNode) return clientNodeAccess((kc) => kc.loadFromFile(file));
    throw err;
  }
}

/** The broker's API server URL from BROKER_K8S_APISERVER (host:port, or a full URL). */
export function brokerServerUrl(apiServer: string): string {
  return /^https?:\/\//.test(apiServer) ? apiServer : `https://${apiServer}`;
}

/** The broker from BROKER_K8S_APISERVER / _APISERVERTOKEN / _CA / _INSECURE / _REMOTENAMESPACE. */
export function brokerAccess(b: BrokerConfig): ClusterAccess {
  return staticAccess({ server: brokerServerUrl(b.apiServer), token: b.token, caPem: b.ca, insecure: b.insecure, namespace: b.remoteNamespace });
}
