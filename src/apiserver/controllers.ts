// The control loops a real control plane runs beside the API server, reduced to what clients
// observe: CRDs become servable, owner-less dependents are garbage collected (background and
// foreground), namespaces are emptied before they go, every namespace gets a `default`
// ServiceAccount, and ServiceAccount token Secrets get a token that authenticates.
import { randomBytes } from 'node:crypto';
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

  private syncSecret(secret: KubeObject, deleted = false): void {
    const id = `${str(secret.metadata.namespace) ?? ''}/${str(secret.metadata.name) ?? ''}`;
    if (deleted || secret.type !== SA_TOKEN_TYPE) {
      this.d.auth.setServiceAccountToken(id, undefined);
      return;
    }
    const ann = isObject(secret.metadata.annotations) ? secret.metadata.annotations : {};
    const saName = str(ann['kubernetes.io/service-account.name']);
    const ns = str(secret.metadata.namespace) ?? '';
    if (!saName) return;
    const data = isObject(secret.data) ? secret.data : {};
    const token = str(data.token);
    if (token) {
      const sa = this.d.store.get(SERVICE_ACCOUNTS, ns, saName);
      this.d.auth.setServiceAccountToken(id, Buffer.from(token, 'base64').toString('utf8'), { namespace: ns, name: saName, uid: str(sa?.metadata.uid) });
      return;
    }
    this.defer(() => this.fillToken(ns, str(secret.metadata.name) ?? ''));
  }

  /** What Kubernetes' token controller writes into a ServiceAccount token Secret. */
  private fillToken(ns: string, name: string): void {
    const cur = this.d.store.get(SECRETS, ns, name);
    if (!cur || cur.type !== SA_TOKEN_TYPE) return;
    const data = isObject(cur.data) ? { ...cur.data } : {};
    if (str(data.token)) return;
    const ann = isObject(cur.metadata.annotations) ? cur.metadata.annotations : {};
    const saName = str(ann['kubernetes.io/service-account.name']) ?? '';
    const sa = this.d.store.get(SERVICE_ACCOUNTS, ns, saName);
    data.token = Buffer.from(randomBytes(32).toString('base64url')).toString('base64');
    data.namespace = Buffer.from(ns).toString('base64');
    if (this.d.caPem) data['ca.crt'] = Buffer.from(this.d.caPem).toString('base64');
    const annotations = { ...ann };
    if (sa?.metadata.uid) annotations['kubernetes.io/service-account.uid'] = sa.metadata.uid;
    this.d.store.put(SECRETS, { ...cur, data, metadata: { ...cur.metadata, annotations } });
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
