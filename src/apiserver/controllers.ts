// The control loops a real control plane runs beside the API server, reduced to what clients
// observe: CRDs become servable, owner-less dependents are garbage collected (background and
// foreground), namespaces are emptied before they go, every namespace gets a `default`
// ServiceAccount, and ServiceAccount token Secrets get a token that authenticates.
import type { Logger } from 'pino';
import type { Authenticator } from './auth.js';
import type { Objects } from './objects.js';
import { storageKey, type Registry } from './registry.js';
import type { Store, StoreEvent } from './store.js';
import { ApiError, isObject, str, type KubeObject } from './types.js';

const CRDS = 'apiextensions.k8s.io/customresourcedefinitions';
const NAMESPACES = '/namespaces';
const SECRETS = '/secrets';
const SERVICE_ACCOUNTS = '/serviceaccounts';
const SA_TOKEN_TYPE = 'kubernetes.io/service-account-token';
const FOREGROUND = 'foregroundDeletion';

export interface ControllerDeps {
  store: Store;
  registry: Registry;
  objects: Objects;
  auth: Authenticator;
  log: Logger;
  caPem?: string;
}

export class Controllers {
  private readonly queue: (() => void)[] = [];
  private scheduled = false;
  private closed = false;

  constructor(private readonly d: ControllerDeps) {}

  /** Brings derived state in line with what was loaded from disk, then follows every event. */
  start(): void {
    for (const e of this.d.store.list(CRDS)) this.syncCrd(e.obj);
    for (const e of this.d.store.list(SECRETS)) this.syncSecret(e.obj);
    this.d.store.onEvent = (ev) => this.onEvent(ev);
    for (const e of this.d.store.list(NAMESPACES)) {
      const ns = e.obj;
      this.defer(() => (ns.metadata.deletionTimestamp ? this.cleanNamespace(str(ns.metadata.name) ?? '') : this.ensureDefaultServiceAccount(ns)));
    }
    this.defer(() => this.sweepOrphans());
  }

  close(): void {
    this.closed = true;
    this.d.store.onEvent = undefined;
  }

  /** Runs queued work after the current request is answered; a failing item is logged, not thrown. */
  private defer(work: () => void): void {
    this.queue.push(work);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const items = this.queue.splice(0);
      for (const w of items) {
        if (this.closed) return;
        try {
          w();
        } catch (err) {
          if (err instanceof ApiError && (err.httpCode === 404 || err.httpCode === 409)) continue;
          this.d.log.warn({ err }, 'apiserver background work failed');
        }
      }
    });
  }

  private onEvent(ev: StoreEvent): void {
    const obj = ev.entry.obj;
    // CRDs must be servable as soon as their create is answered: synchronous
    if (ev.key === CRDS) {
      if (ev.type === 'DELETED') this.dropCrd(obj);
      else this.syncCrd(obj);
    }
    if (ev.key === SECRETS) this.syncSecret(obj, ev.type === 'DELETED');
    if (ev.key === SERVICE_ACCOUNTS && ev.type !== 'MODIFIED') this.syncServiceAccountSecrets(ev.ns, ev.name);
    const uid = str(obj.metadata.uid) ?? '';
    if (ev.type === 'DELETED') {
      this.defer(() => this.collectDependents(uid));
      this.defer(() => this.finishForegroundOwners(obj));
    } else if (obj.metadata.deletionTimestamp && hasFinalizer(obj, FOREGROUND)) {
      this.defer(() => this.foreground(ev.key, obj));
    } else if (ev.type === 'ADDED' && Array.isArray(obj.metadata.ownerReferences) && obj.metadata.ownerReferences.length > 0) {
      // a dependent created for an owner that is already gone is collected as well
      this.defer(() => this.collectIfOrphaned(ev.key, ev.ns, ev.name));
    }
    if (ev.key === NAMESPACES && ev.type !== 'DELETED') {
      if (obj.metadata.deletionTimestamp) this.defer(() => this.cleanNamespace(ev.name));
      else if (ev.type === 'ADDED') this.defer(() => this.ensureDefaultServiceAccount(obj));
    } else if (ev.ns && ev.type === 'DELETED') {
      const nsObj = this.d.store.get(NAMESPACES, '', ev.ns);
      if (nsObj?.metadata.deletionTimestamp) this.defer(() => this.cleanNamespace(ev.ns));
    }
    if (ev.key === SERVICE_ACCOUNTS && ev.type === 'DELETED' && ev.name === 'default') {
      const nsObj = this.d.store.get(NAMESPACES, '', ev.ns);
      if (nsObj && !nsObj.metadata.deletionTimestamp) this.defer(() => this.ensureDefaultServiceAccount(nsObj));
    }
  }

  private syncCrd(crd: KubeObject): void {
    const causes = this.d.registry.applyCrd(crd);
    if (causes.length) this.d.log.warn({ crd: crd.metadata.name, causes }, 'stored CRD cannot be served');
  }

  /** A deleted CRD takes its objects with it. */
  private dropCrd(crd: KubeObject): void {
    const name = str(crd.metadata.name) ?? '';
    const t = this.d.registry.crdOf(name)[0];
    if (t) {
      const key = storageKey(t);
      for (const e of this.d.store.list(key)) this.d.store.remove(key, str(e.obj.metadata.namespace) ?? '', str(e.obj.metadata.name) ?? '');
    }
    this.d.registry.removeCrd(name);
  }

  /**
   * A ServiceAccount token Secret gets a token the server makes and signs (Kubernetes' token
   * controller): a token a client put there is replaced, and a Secret whose ServiceAccount does not
   * exist gets none. Authentication checks the ServiceAccount's uid and the Secret on every request.
   */
  private syncSecret(secret: KubeObject, deleted = false): void {
    if (deleted || secret.type !== SA_TOKEN_TYPE) return;
    if (this.tokenIsCurrent(secret)) return;
    const ns = str(secret.metadata.namespace) ?? '';
    this.defer(() => this.fillToken(ns, str(secret.metadata.name) ?? ''));
  }

  /** Whether the Secret holds a token this server made for it and for its ServiceAccount as it is now. */
  private tokenIsCurrent(secret: KubeObject): boolean {
    const ns = str(secret.metadata.namespace) ?? '';
    const ann = isObject(secret.metadata.annotations) ? secret.metadata.annotations : {};
    const saName = str(ann['kubernetes.io/service-account.name']) ?? '';
    const sa = this.d.store.get(SERVICE_ACCOUNTS, ns, saName);
    const data = isObject(secret.data) ? secret.data : {};
    const token = typeof data.token === 'string' ? Buffer.from(data.token, 'base64').toString('utf8') : undefined;
    if (!sa) return token === undefined;
    const c = token ? this.d.auth.secretTokenClaims(token) : undefined;
    return !!c && c.namespace === ns && c.serviceAccount === saName && c.secret === str(secret.metadata.name) && c.uid === str(sa.metadata.uid) &&
      ann['kubernetes.io/service-account.uid'] === c.uid;
  }

  /** What Kubernetes' token controller writes into a ServiceAccount token Secret. */
  private fillToken(ns: string, name: string): void {
    const cur = this.d.store.get(SECRETS, ns, name);
    if (!cur || cur.type !== SA_TOKEN_TYPE || this.tokenIsCurrent(cur)) return;
    const data = isObject(cur.data) ? { ...cur.data } : {};
    const ann = isObject(cur.metadata.annotations) ? { ...cur.metadata.annotations } : {};
    const saName = str(ann['kubernetes.io/service-account.name']) ?? '';
    const sa = this.d.store.get(SERVICE_ACCOUNTS, ns, saName);
    const saUid = str(sa?.metadata.uid);
    if (!sa || !saUid) {
      // no ServiceAccount: no token (one a client put there would never authenticate anyway)
      delete data.token;
      delete ann['kubernetes.io/service-account.uid'];
      this.d.log.warn({ namespace: ns, secret: name, serviceAccount: saName }, 'ServiceAccount token Secret names a ServiceAccount that does not exist: no token issued');
    } else {
      const token = this.d.auth.issueSecretToken({ namespace: ns, serviceAccount: saName, uid: saUid, secret: name });
      data.token = Buffer.from(token).toString('base64');
      data.namespace = Buffer.from(ns).toString('base64');
      if (this.d.caPem) data['ca.crt'] = Buffer.from(this.d.caPem).toString('base64');
      ann['kubernetes.io/service-account.uid'] = saUid;
    }
    this.d.store.put(SECRETS, { ...cur, data, metadata: { ...cur.metadata, annotations: ann } });
  }

  /** A ServiceAccount (re)created or deleted: its token Secrets follow (a deleted one's tokens are removed). */
  private syncServiceAccountSecrets(ns: string, saName: string): void {
    for (const e of this.d.store.list(SECRETS, ns)) {
      const ann = isObject(e.obj.metadata.annotations) ? e.obj.metadata.annotations : {};
      if (e.obj.type === SA_TOKEN_TYPE && ann['kubernetes.io/service-account.name'] === saName) this.syncSecret(e.obj);
    }
  }

  private ensureDefaultServiceAccount(ns: KubeObject): void {
    const name = str(ns.metadata.name) ?? '';
    const live = this.d.store.get(NAMESPACES, '', name);
    if (!live || live.metadata.deletionTimestamp || this.d.store.get(SERVICE_ACCOUNTS, name, 'default')) return;
    const t = this.d.registry.get('', 'v1', 'serviceaccounts')!;
    this.d.objects.create(t, name, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } });
  }

  /** Deletes everything in a terminating namespace, then the namespace once it is empty. */
  private cleanNamespace(ns: string): void {
    const nsObj = this.d.store.get(NAMESPACES, '', ns);
    if (!nsObj || !nsObj.metadata.deletionTimestamp) return;
    for (const key of this.d.store.keys()) {
      if (key === NAMESPACES) continue;
      const [group, plural] = key.split('/') as [string, string];
      const t = this.d.registry.anyVersion(group, plural);
      if (!t?.namespaced) continue;
      for (const e of this.d.store.list(key, ns)) {
        if (e.obj.metadata.deletionTimestamp) continue;
        this.d.objects.delete(t, ns, str(e.obj.metadata.name) ?? '', { propagationPolicy: 'Background' });
      }
    }
    if (this.anyLeft(ns)) return;
    const fins = Array.isArray(nsObj.metadata.finalizers) ? nsObj.metadata.finalizers : [];
    if (fins.length === 0) this.d.store.remove(NAMESPACES, '', ns);
  }

  private anyLeft(ns: string): boolean {
    for (const key of this.d.store.keys()) {
      if (key !== NAMESPACES && this.d.store.list(key, ns).length > 0) return true;
    }
    return false;
  }

  /** Background garbage collection: a dependent whose owners are all gone is deleted. */
  private collectDependents(ownerUid: string): void {
    for (const dep of this.d.store.dependentsOf(ownerUid)) this.collectIfOrphaned(dep.key, dep.ns, dep.name);
  }

  private ownersAlive(o: KubeObject): boolean {
    const refs = Array.isArray(o.metadata.ownerReferences) ? o.metadata.ownerReferences : [];
    return refs.some((r) => {
      if (!isObject(r)) return false;
      const owner = typeof r.uid === 'string' ? this.d.store.byUidLookup(r.uid) : undefined;
      if (!owner) return false;
      const live = this.d.store.get(owner.key, owner.ns, owner.name);
      // an owner in foreground deletion no longer protects its dependents
      return live !== undefined && !(live.metadata.deletionTimestamp && hasFinalizer(live, FOREGROUND));
    });
  }

  /** Foreground deletion: dependents go first, then the owner's finalizer is dropped. */
  private foreground(key: string, owner: KubeObject): void {
    const uid = str(owner.metadata.uid) ?? '';
    const deps = this.d.store.dependentsOf(uid);
    if (deps.length === 0) {
      this.d.objects.removeFinalizer(key, str(owner.metadata.namespace) ?? '', str(owner.metadata.name) ?? '', FOREGROUND);
      return;
    }
    this.collectDependents(uid);
  }

  private finishForegroundOwners(dependent: KubeObject): void {
    const refs = Array.isArray(dependent.metadata.ownerReferences) ? dependent.metadata.ownerReferences : [];
    for (const r of refs) {
      if (!isObject(r) || typeof r.uid !== 'string') continue;
      const owner = this.d.store.byUidLookup(r.uid);
      const live = owner ? this.d.store.get(owner.key, owner.ns, owner.name) : undefined;
      if (owner && live?.metadata.deletionTimestamp && hasFinalizer(live, FOREGROUND)) this.foreground(owner.key, live);
    }
  }

  private collectIfOrphaned(key: string, ns: string, name: string): void {
    const o = this.d.store.get(key, ns, name);
    const refs = o?.metadata.ownerReferences;
    if (!o || !Array.isArray(refs) || refs.length === 0 || o.metadata.deletionTimestamp || this.ownersAlive(o)) return;
    const [group, plural] = key.split('/') as [string, string];
    const t = this.d.registry.anyVersion(group, plural);
    if (t) this.d.objects.delete(t, ns, name, { propagationPolicy: 'Background' });
  }

  /** At start: dependents whose owners vanished while the server was down. */
  private sweepOrphans(): void {
    for (const key of this.d.store.keys()) {
      for (const e of this.d.store.list(key)) this.collectIfOrphaned(key, str(e.obj.metadata.namespace) ?? '', str(e.obj.metadata.name) ?? '');
    }
  }
}

function hasFinalizer(o: KubeObject, f: string): boolean {
  return Array.isArray(o.metadata.finalizers) && o.metadata.finalizers.includes(f);
}
