// An in-memory stand-in for the few RestClient calls Globalnet's controller makes (get, create, replace,
// delete), with resourceVersion conflicts, status subresources and finalizers. It records every write.
import { ApiError, type KubeObject, type RestClient } from '../../src/k8s/rest.js';
import type { SourceName, SourceObjects } from '../../src/nat/controller.js';

const PATH = /^\/api(?:s\/([^/]+))?\/([^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(\/status)?$/;

interface Parsed {
  kind: string;
  namespace: string;
  name?: string;
  status: boolean;
}

function parse(path: string): Parsed {
  const m = PATH.exec(path);
  if (!m) throw new Error(`fake API: unexpected path ${path}`);
  return { kind: `${m[1] ?? 'core'}/${m[2]}/${m[4]}`, namespace: m[3] ?? '', ...(m[5] ? { name: decodeURIComponent(m[5]) } : {}), status: Boolean(m[6]) };
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

export class FakeApi {
  private readonly objects = new Map<string, KubeObject>();
  private rv = 100;
  readonly writes: string[] = [];
  /** Set to make the next write of a path fail with this status. */
  failNext: { path: string; status: number } | undefined;

  private key(kind: string, ns: string, name: string): string {
    return `${kind}|${ns}|${name}`;
  }

  seed(path: string, obj: Record<string, unknown>, creationTimestamp = '2024-01-01T00:00:00Z'): KubeObject {
    const p = parse(path);
    const o = clone(obj) as KubeObject;
    o.metadata = { ...o.metadata, namespace: p.namespace || undefined, uid: `uid-${++this.rv}`, resourceVersion: String(++this.rv), creationTimestamp };
    if (!o.metadata.namespace) delete o.metadata.namespace;
    this.objects.set(this.key(p.kind, p.namespace, o.metadata.name), o);
    return clone(o);
  }

  list(kind: string, namespace?: string): KubeObject[] {
    const prefix = namespace === undefined ? `${kind}|` : `${kind}|${namespace}|`;
    return [...this.objects.entries()].filter(([k]) => k.startsWith(prefix)).map(([, o]) => clone(o));
  }

  find(kind: string, namespace: string, name: string): KubeObject | undefined {
    const o = this.objects.get(this.key(kind, namespace, name));
    return o ? clone(o) : undefined;
  }

  sources(namespace: string): SourceObjects {
    const kinds: Record<SourceName, [string, string?]> = {
      clusterEgressIPs: ['submariner.io/v1/clusterglobalegressips'],
      egressIPs: ['submariner.io/v1/globalegressips'],
      ingressIPs: ['submariner.io/v1/globalingressips'],
      serviceExports: ['multicluster.x-k8s.io/v1alpha1/serviceexports'],
      services: ['core/v1/services'],
      pods: ['core/v1/pods'],
      endpoints: ['core/v1/endpoints'],
      submarinerEndpoints: ['submariner.io/v1/endpoints', namespace],
      clusters: ['submariner.io/v1/clusters', namespace],
    };
    const out = {} as Record<SourceName, KubeObject[]>;
    for (const [s, [kind, ns]] of Object.entries(kinds) as [SourceName, [string, string?]][]) out[s] = this.list(kind, ns);
    return out;
  }

  private maybeFail(path: string): void {
    if (this.failNext && this.failNext.path === path) {
      const st = this.failNext.status;
      this.failNext = undefined;
      throw new ApiError(st, st === 409 ? 'Conflict' : 'InternalError', `fake ${st} on ${path}`);
    }
  }

  async get(path: string): Promise<KubeObject> {
    const p = parse(path);
    const o = this.objects.get(this.key(p.kind, p.namespace, p.name ?? ''));
    if (!o) throw new ApiError(404, 'NotFound', `${path} not found`);
    return clone(o);
  }

  async getOrUndefined(path: string): Promise<KubeObject | undefined> {
    return this.get(path).catch(() => undefined);
  }

  async create(path: string, obj: unknown): Promise<KubeObject> {
    this.maybeFail(path);
    const o = clone(obj) as KubeObject;
    const p = parse(`${path}/${o.metadata.name}`);
    const k = this.key(p.kind, p.namespace, o.metadata.name);
    if (this.objects.has(k)) throw new ApiError(409, 'AlreadyExists', `${o.metadata.name} exists`);
    this.writes.push(`create ${path}/${o.metadata.name}`);
    return this.seed(`${path}/${o.metadata.name}`, o as unknown as Record<string, unknown>, '2024-01-02T00:00:00Z');
  }

  async replace(path: string, obj: unknown): Promise<KubeObject> {
    this.maybeFail(path);
    const p = parse(path);
    const k = this.key(p.kind, p.namespace, p.name ?? '');
    const cur = this.objects.get(k);
    if (!cur) throw new ApiError(404, 'NotFound', `${path} not found`);
    const o = clone(obj) as KubeObject;
    if (o.metadata.resourceVersion !== cur.metadata.resourceVersion) throw new ApiError(409, 'Conflict', `${path}: the object has been modified`);
    const next: KubeObject = p.status ? { ...clone(cur), status: o.status } : { ...o, status: cur.status };
    next.metadata = { ...(p.status ? cur.metadata : o.metadata), resourceVersion: String(++this.rv) };
    if (next.status === undefined) delete next.status;
    this.objects.set(k, next);
    this.writes.push(`replace ${path}`);
    return clone(next);
  }

  async delete(path: string): Promise<boolean> {
    this.maybeFail(path);
    const p = parse(path);
    const k = this.key(p.kind, p.namespace, p.name ?? '');
    const cur = this.objects.get(k);
    if (!cur) return false;
    this.writes.push(`delete ${path}`);
    if (cur.metadata.finalizers?.length) throw new Error(`fake API: ${path} still has finalizers ${cur.metadata.finalizers.join(', ')} (a real server would leave it terminating)`);
    this.objects.delete(k);
    return true;
  }

  asClient(): RestClient {
    return this as unknown as RestClient;
  }
}
