// The REST semantics of every kind on top of the store: create/update/patch/delete with
// Kubernetes' metadata rules (uid, generateName, generation, resourceVersion preconditions,
// finalizers, status subresource), schema pruning/defaulting/validation, list and watch.
import { randomUUID, randomInt } from 'node:crypto';
import YAML from 'yaml';
import { hooksFor, type HookContext } from './kinds.js';
import { entryJson, fieldsOf, managedEntries, removeDisowned, type ManagedEntry } from './managed.js';
import { checkInput, checkStoredSize, checkTextDepth, patchTooLarge } from './limits.js';
import { applyMerge, jsonPatch, mergePatch, PatchError, PatchTooLarge, strategicMergePatch } from './patch.js';
import { apiVersionOf, storageKey, type Registry, type ResourceType } from './registry.js';
import { matchFields, matchLabels, parseFieldSelector, parseLabelSelector, SelectorError, type FieldRequirement, type LabelRequirement } from './selectors.js';
import type { Entry, Store, WatchSink } from './store.js';
import { ApiError, clone, errors, isObject, jsonEqual, rfc3339, str, type Json, type JsonObject, type KubeObject, type StatusCause } from './types.js';
import { pruneAndDefault, validateMeta, validateValue } from './validation.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteOptions {
  dryRun?: boolean;
  fieldManager?: string;
  fieldValidation?: FieldValidation;
  force?: boolean;
  /** Filled with warnings for the Warning header. */
  warnings?: string[];
  /**
   * Validating admission (RBAC escalation checks, ValidatingAdmissionPolicies): sees the object as
   * it would be stored, after defaulting and validation, and throws to refuse it. Runs for dry runs too.
   */
  admission?: Admission;
}

export type AdmissionOperation = 'CREATE' | 'UPDATE' | 'DELETE';
export type Admission = (op: AdmissionOperation, obj: KubeObject | undefined, old: KubeObject | undefined, sub?: string) => void;

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
  admission?: Admission;
}

export interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface ListResult {
  items: Entry[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

export const PATCH_CONTENT_TYPES: Readonly<Record<string, PatchType>> = {
  'application/merge-patch+json': 'merge',
  'application/json-patch+json': 'json',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
  'application/apply-patch+json': 'apply',
};

const META_FIELDS = new Set([
  'name', 'generateName', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp',
  'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields', 'selfLink',
]);

const NAMESPACES = '/namespaces';

export function nowRfc3339(): string {
  return rfc3339(new Date());
}

function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let s = '';
  for (let i = 0; i < 5; i++) s += alphabet[randomInt(alphabet.length)];
  return s;
}

function cleanMeta(m: Json | undefined): JsonObject {
  const out: JsonObject = {};
  if (!isObject(m)) return out;
  for (const [k, v] of Object.entries(m)) if (META_FIELDS.has(k) && v !== null) out[k] = v;
  return out;
}

export interface ObjectsOptions {
  serviceCidr: { base: number; size: number };
}

export class Objects {
  constructor(
    readonly store: Store,
    readonly registry: Registry,
    private readonly opts: ObjectsOptions,
  ) {}

  private hookContext(): HookContext {
    return { store: this.store, registry: this.registry, serviceCidr: this.opts.serviceCidr, now: nowRfc3339() };
  }

  /** The object as the client asked for it: same stored data, apiVersion of the requested version. */
  present(t: ResourceType, obj: KubeObject): KubeObject {
    const av = apiVersionOf(t);
    return obj.apiVersion === av ? obj : { ...obj, apiVersion: av };
  }

  private storageApiVersion(t: ResourceType): string {
    const v = this.registry.storageVersion(t.group, t.plural) ?? t.version;
    return t.group ? `${t.group}/${v}` : v;
  }

  get(t: ResourceType, ns: string, name: string): KubeObject {
    const o = this.store.get(storageKey(t), t.namespaced ? ns : '', name);
    if (!o) throw errors.notFound(t.plural, t.group, name);
    return this.present(t, o);
  }

  find(t: ResourceType, ns: string, name: string): KubeObject | undefined {
    return this.store.get(storageKey(t), t.namespaced ? ns : '', name);
  }

  // ---- reading -------------------------------------------------------------------------------

  selectors(t: ResourceType, q: { labelSelector?: string; fieldSelector?: string }): { labels: LabelRequirement[]; fields: FieldRequirement[] } {
    try {
      return {
        labels: q.labelSelector ? parseLabelSelector(q.labelSelector) : [],
        fields: q.fieldSelector ? parseFieldSelector(q.fieldSelector, ['metadata.name', 'metadata.namespace', ...t.fieldLabels]) : [],
      };
    } catch (err) {
      if (err instanceof SelectorError) throw errors.badRequest(err.message);
      throw err;
    }
  }

  matcher(t: ResourceType, q: { labelSelector?: string; fieldSelector?: string }): (o: KubeObject) => boolean {
    const { labels, fields } = this.selectors(t, q);
    if (labels.length === 0 && fields.length === 0) return () => true;
    return (o) => matchLabels(labels, isObject(o.metadata.labels) ? (o.metadata.labels as Record<string, string>) : {}) && matchFields(fields, o);
  }

  list(t: ResourceType, ns: string | undefined, q: ListQuery): ListResult {
    const match = this.matcher(t, q);
    const currentRv = this.store.resourceVersion;
    if (q.resourceVersion !== undefined && q.resourceVersion !== '' && !/^\d+$/.test(q.resourceVersion)) {
      throw errors.badRequest(`invalid resource version "${q.resourceVersion}": must be a non-negative integer`);
    }
    if (q.resourceVersionMatch === 'Exact' && q.resourceVersion !== undefined && Number(q.resourceVersion) !== currentRv) {
      throw errors.expired(`too old resource version: ${q.resourceVersion} (${currentRv})`);
    }
    let startAfter: string | undefined;
    let listRv = String(currentRv);
    if (q.continue) {
      const tok = decodeContinue(q.continue, currentRv);
      startAfter = tok.start;
      listRv = String(tok.rv);
    }
    const all = this.store.list(storageKey(t), t.namespaced ? ns : undefined);
    const items: Entry[] = [];
    const limit = q.limit && q.limit > 0 ? q.limit : undefined;
    let i = 0;
    if (startAfter !== undefined) {
      const sa = startAfter;
      i = lowerBound(all, (e) => idKey(e.obj) > sa);
    }
    let cont: string | undefined;
    let remaining: number | undefined;
    for (; i < all.length; i++) {
      const e = all[i]!;
      if (!match(e.obj)) continue;
      if (limit !== undefined && items.length >= limit) {
        const last = items[items.length - 1]!;
        cont = encodeContinue({ rv: Number(listRv), start: idKey(last.obj) });
        let n = 0;
        for (let j = i; j < all.length; j++) if (match(all[j]!.obj)) n++;
        remaining = n;
        break;
      }
      items.push(e);
    }
    return { items, resourceVersion: listRv, continue: cont, remainingItemCount: remaining };
  }

  /** Starts a watch; returns the function that stops it. */
  watch(t: ResourceType, ns: string | undefined, q: ListQuery, sink: WatchSink): () => void {
    const match = this.matcher(t, q);
    const rvText = q.resourceVersion;
    let fromRv: number | undefined;
    if (rvText !== undefined && rvText !== '') {
      if (!/^\d+$/.test(rvText)) throw errors.badRequest(`invalid resource version "${rvText}"`);
      fromRv = Number(rvText);
    }
    return this.store.watch({ key: storageKey(t), ns: t.namespaced ? ns : undefined, match }, sink, fromRv);
  }

  // ---- writing -------------------------------------------------------------------------------

  private checkNamespace(t: ResourceType, ns: string, name: string): void {
    if (!t.namespaced) return;
    const nsObj = this.store.get(NAMESPACES, '', ns);
    if (!nsObj) throw errors.notFound('namespaces', '', ns);
    if (nsObj.metadata.deletionTimestamp) {
      throw new ApiError(403, 'Forbidden', `${t.plural} "${name}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`, {
        name,
        kind: t.plural,
        causes: [{ reason: 'NamespaceTerminating', message: `namespace ${ns} is being terminated`, field: 'metadata.namespace' }],
      });
    }
  }

  private typeMeta(t: ResourceType, body: Json): KubeObject {
    if (!isObject(body)) throw errors.badRequest(`the body of the request is not a ${t.kind} object`);
    const kind = body.kind;
    if (kind !== undefined && kind !== t.kind && kind !== '') {
      throw errors.badRequest(`the object provided is unrecognized (must be of type ${t.kind}): kind "${String(kind)}"`);
    }
    const av = body.apiVersion;
    if (typeof av === 'string' && av !== '' && av !== apiVersionOf(t) && this.registry.byKind(av, t.kind)?.plural !== t.plural) {
      throw errors.badRequest(`the API version in the data (${av}) does not match the expected API version (${apiVersionOf(t)})`);
    }
    const o: KubeObject = { ...clone(body), metadata: cleanMeta(body.metadata) };
    o.apiVersion = this.storageApiVersion(t);
    o.kind = t.kind;
    return o;
  }

  /** Prunes, defaults and validates `o` in place; throws 422 (or 400 for strict unknown fields). */
  private admit(t: ResourceType, o: KubeObject, old: KubeObject | undefined, w: WriteOptions): void {
    const ctx = this.hookContext();
    const hooks = hooksFor(t);
    hooks?.prepare?.(ctx, o, old);
    const name = str(o.metadata.name) ?? '';
    const causes: StatusCause[] = [...validateMeta(t.kind, o.metadata)];
    if (t.schema) {
      const unknown = pruneAndDefault(o, t.schema);
      if (unknown.length > 0) {
        const mode = w.fieldValidation ?? 'Warn';
        if (mode === 'Strict') {
          const list = unknown.map((u) => `unknown field "${u}"`).join(', ');
          throw errors.badRequest(`${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: strict decoding error: ${list}`);
        }
        if (mode === 'Warn') for (const u of unknown) w.warnings?.push(`unknown field "${u}"`);
      }
      validateValue(o, t.schema, '', causes);
    }
    if (hooks?.validate) causes.push(...hooks.validate(ctx, o, old));
    if (causes.length > 0) throw errors.invalid(t.kind, t.group, name, causes);
    checkStoredSize(t.kind, t.group, name, o);
  }

  create(t: ResourceType, ns: string, body: Json, w: WriteOptions = {}, applied?: JsonObject): KubeObject {
    if (t.virtual) throw errors.methodNotAllowed(`${t.plural} cannot be stored`);
    const o = this.typeMeta(t, body);
    const m = o.metadata;
    if (t.namespaced) {
      if (typeof m.namespace === 'string' && m.namespace !== '' && m.namespace !== ns) {
        throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      m.namespace = ns;
    } else delete m.namespace;
    const key = storageKey(t);
    const storeNs = t.namespaced ? ns : '';
    if ((typeof m.name !== 'string' || m.name === '') && typeof m.generateName === 'string' && m.generateName !== '') {
      for (let i = 0; i < 10; i++) {
        const candidate = `${m.generateName}${randomSuffix()}`;
        if (!this.store.get(key, storeNs, candidate)) {
          m.name = candidate;
          break;
        }
      }
    }
    const name = str(m.name) ?? '';
    if (name && t.namespaced) this.checkNamespace(t, ns, name);
    if (name && this.store.get(key, storeNs, name)) throw errors.alreadyExists(t.plural, t.group, name);
    delete m.resourceVersion;
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    delete m.selfLink;
    m.uid = randomUUID();
    m.creationTimestamp = nowRfc3339();
    if (t.generation) m.generation = 1;
    else delete m.generation;
    // custom resources with a status subresource start without status
    if (t.statusSubresource && !this.registry.isBuiltin(t.group, t.plural)) delete o.status;
    this.admit(t, o, undefined, w);
    this.recordManager(t, o, undefined, w, applied);
    w.admission?.('CREATE', this.present(t, o), undefined);
    if (w.dryRun) return this.present(t, o);
    return this.present(t, this.store.put(key, o));
  }

  /** PUT: replace the whole object (or its status with `sub = 'status'`). */
  update(t: ResourceType, ns: string, name: string, body: Json, w: WriteOptions = {}, sub?: string): KubeObject {
    const old = this.find(t, ns, name);
    if (!old) throw errors.notFound(t.plural, t.group, name);
    const next = this.typeMeta(t, body);
    const bodyName = str(next.metadata.name);
    if (bodyName !== undefined && bodyName !== name) {
      throw errors.badRequest(`the name of the object (${bodyName}) does not match the name on the URL (${name})`);
    }
    if (next.metadata.resourceVersion === undefined && !this.registry.isBuiltin(t.group, t.plural)) {
      throw errors.invalid(t.kind, t.group, name, [{ field: 'metadata.resourceVersion', reason: 'FieldValueInvalid', message: 'Invalid value: 0x0: must be specified for an update' }]);
    }
    return this.replace(t, old, next, w, sub);
  }

  /** The common path of PUT and PATCH: `next` is the full desired object. */
  private replace(t: ResourceType, old: KubeObject, next: KubeObject, w: WriteOptions, sub?: string, applied?: JsonObject): KubeObject {
    const key = storageKey(t);
    const name = str(old.metadata.name) ?? '';
    const rv = next.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && String(rv) !== old.metadata.resourceVersion) {
      throw errors.conflict(t.plural, t.group, name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    let o: KubeObject;
    if (sub === 'status') {
      o = { ...clone(old), status: next.status ?? null };
      if (o.status === null) delete o.status;
    } else {
      o = next;
      const m = o.metadata;
      for (const f of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation'] as const) {
        if (old.metadata[f] !== undefined) m[f] = old.metadata[f]!;
        else delete m[f];
      }
      if (m.managedFields === undefined && old.metadata.managedFields !== undefined) m.managedFields = old.metadata.managedFields;
      m.name = name;
      if (t.namespaced) m.namespace = old.metadata.namespace ?? '';
      else delete m.namespace;
      delete m.generateName;
      if (old.metadata.generateName !== undefined) m.generateName = old.metadata.generateName;
      if (t.statusSubresource) {
        if (old.status !== undefined) o.status = old.status;
        else delete o.status;
      }
      if (old.metadata.deletionTimestamp) {
        const before = new Set((Array.isArray(old.metadata.finalizers) ? old.metadata.finalizers : []).map(String));
        const added = (Array.isArray(m.finalizers) ? m.finalizers : []).map(String).filter((f) => !before.has(f));
        if (added.length > 0) {
          throw errors.invalid(t.kind, t.group, name, [{ field: 'metadata.finalizers', reason: 'FieldValueForbidden', message: 'Forbidden: no new finalizers can be added if the object is being deleted' }]);
        }
      }
    }
    o.metadata.resourceVersion = old.metadata.resourceVersion ?? '';
    this.admit(t, o, old, w);
    if (t.generation && typeof old.metadata.generation === 'number' && specChanged(t, old, o)) {
      o.metadata.generation = old.metadata.generation + 1;
    }
    this.recordManager(t, o, old, w, applied, sub);
    w.admission?.('UPDATE', this.present(t, o), this.present(t, old), sub);
    if (sameObject(old, o)) return this.present(t, old);
    if (w.dryRun) return this.present(t, o);
    const finalizers = o.metadata.finalizers;
    // the last finalizer gone ends the deletion (a namespace ends when the controller has emptied it)
    if (o.metadata.deletionTimestamp && (!Array.isArray(finalizers) || finalizers.length === 0) && key !== NAMESPACES) {
      const last = this.store.remove(key, t.namespaced ? (str(o.metadata.namespace) ?? '') : '', name);
      return this.present(t, last ?? o);
    }
    return this.present(t, this.store.put(key, o));
  }

  /** PATCH in any of the four formats; server-side apply creates a missing object. */
  patch(t: ResourceType, ns: string, name: string, type: PatchType, raw: string, w: WriteOptions = {}, sub?: string): { obj: KubeObject; created: boolean } {
    const old = this.find(t, ns, name);
    if (type === 'apply') return this.apply(t, ns, name, old, raw, w, sub);
    if (!old) throw errors.notFound(t.plural, t.group, name);
    let patch: Json;
    checkTextDepth(raw, 'the patch');
    try {
      patch = JSON.parse(raw) as Json;
    } catch (err) {
      throw errors.badRequest(`error decoding patch: ${(err as Error).message}`);
    }
    checkInput(patch, 'the patch');
    const current = this.present(t, old);
    let result: Json;
    try {
      if (type === 'merge') result = mergePatch(current, patch);
      else if (type === 'json') result = jsonPatch(current, patch);
      else {
        if (!t.strategicMerge) {
          throw errors.unsupportedMediaType('the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml');
        }
        result = strategicMergePatch(current, patch);
      }
    } catch (err) {
      if (err instanceof PatchError) throw new ApiError(err.httpCode, err.httpCode === 400 ? 'BadRequest' : 'Invalid', err.message);
      if (err instanceof PatchTooLarge) throw patchTooLarge(err.bytes);
      throw err;
    }
    if (!isObject(result)) throw errors.badRequest('the patch does not produce an object');
    const next = this.typeMeta(t, result);
    const patchedName = str(next.metadata.name);
    if (patchedName !== name) throw errors.badRequest(`the name of the object (${patchedName ?? ''}) does not match the name on the URL (${name})`);
    return { obj: this.replace(t, old, next, w, sub), created: false };
  }

  private apply(t: ResourceType, ns: string, name: string, old: KubeObject | undefined, raw: string, w: WriteOptions, sub?: string): { obj: KubeObject; created: boolean } {
    if (!w.fieldManager) throw errors.badRequest('PATCH with application/apply-patch+yaml requires the fieldManager parameter');
    let applied: Json;
    checkTextDepth(raw, 'the applied configuration');
    try {
      applied = YAML.parse(raw, { version: '1.2' }) as Json;
    } catch (err) {
      throw errors.badRequest(`error decoding YAML: ${(err as Error).message}`);
    }
    checkInput(applied, 'the applied configuration');
    if (!isObject(applied)) throw errors.badRequest('the applied configuration is not an object');
    if (typeof applied.apiVersion !== 'string' || typeof applied.kind !== 'string') {
      throw errors.badRequest('invalid object type: apiVersion and kind must be set in an applied configuration');
    }
    const am = isObject(applied.metadata) ? applied.metadata : {};
    if (am.name !== undefined && am.name !== name) throw errors.badRequest(`the name of the object (${String(am.name)}) does not match the name on the URL (${name})`);
    if (!old) {
      if (sub === 'status') throw errors.notFound(t.plural, t.group, name);
      const body = { ...applied, metadata: { ...am, name } };
      return { obj: this.create(t, ns, body, w, applied), created: true };
    }
    const merged = this.typeMeta(t, applyMerge(clone(old), { ...applied, metadata: { ...am, name } }, t.schema));
    const entries = managedEntries(old.metadata);
    const before = entries.find((e) => e.manager === w.fieldManager && e.operation === 'Apply' && (e.subresource ?? '') === (sub ?? ''));
    const others = entries.filter((e) => e.operation === 'Apply' && e !== before && e.fieldsV1).map((e) => e.fieldsV1!);
    if (before?.fieldsV1) removeDisowned(merged, before.fieldsV1, fieldsOf(applied, t.schema), others);
    // resourceVersion in an applied configuration is a precondition, as for any write
    merged.metadata.resourceVersion = am.resourceVersion ?? old.metadata.resourceVersion ?? '';
    return { obj: this.replace(t, old, merged, w, sub, applied), created: false };
  }

  /** Keeps managedFields: one Apply entry per applier with the fields it applied; Update entries per manager. */
  private recordManager(t: ResourceType, o: KubeObject, old: KubeObject | undefined, w: WriteOptions, applied: JsonObject | undefined, sub?: string): void {
    const entries = managedEntries(old ? old.metadata : o.metadata);
    const manager = w.fieldManager;
    if (!manager) {
      if (old) o.metadata.managedFields = old.metadata.managedFields ?? null;
      if (o.metadata.managedFields === null) delete o.metadata.managedFields;
      return;
    }
    const operation = applied ? 'Apply' : 'Update';
    const subresource = sub ?? '';
    const fresh: ManagedEntry = {
      manager,
      operation,
      apiVersion: apiVersionOf(t),
      time: nowRfc3339(),
      fieldsType: 'FieldsV1',
      fieldsV1: applied ? fieldsOf(applied, t.schema) : {},
      subresource: sub,
    };
    const rest = entries.filter((e) => !(e.manager === manager && e.operation === operation && (e.subresource ?? '') === subresource));
    const prev = entries.find((e) => e.manager === manager && e.operation === operation && (e.subresource ?? '') === subresource);
    if (prev && jsonEqual(prev.fieldsV1 ?? {}, fresh.fieldsV1 ?? {})) fresh.time = prev.time;
    o.metadata.managedFields = [...rest, fresh].map(entryJson);
  }

  /**
   * DELETE: with finalizers the object only gets a deletionTimestamp; otherwise it is removed and
   * its dependents are left to the garbage collector (or orphaned).
   */
  delete(t: ResourceType, ns: string, name: string, d: DeleteOptions = {}): { obj: KubeObject; gone: boolean } {
    const key = storageKey(t);
    const storeNs = t.namespaced ? ns : '';
    const old = this.find(t, ns, name);
    if (!old) throw errors.notFound(t.plural, t.group, name);
    const pre = d.preconditions;
    if (pre?.uid && pre.uid !== old.metadata.uid) {
      throw errors.conflict(t.plural, t.group, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${String(old.metadata.uid)}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw errors.conflict(t.plural, t.group, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${String(old.metadata.resourceVersion)}`);
    }
    d.admission?.('DELETE', undefined, this.present(t, old));
    if (d.dryRun) return { obj: this.present(t, old), gone: true };
    const uid = str(old.metadata.uid) ?? '';
    if (d.propagationPolicy === 'Orphan') this.orphanDependents(uid);
    const finalizers = (Array.isArray(old.metadata.finalizers) ? old.metadata.finalizers : []).map(String);
    const isNamespace = key === NAMESPACES;
    const foreground = d.propagationPolicy === 'Foreground' && this.store.dependentsOf(uid).length > 0;
    if (finalizers.length > 0 || isNamespace || foreground) {
      if (old.metadata.deletionTimestamp) return { obj: this.present(t, old), gone: false };
      const o = clone(old);
      o.metadata.deletionTimestamp = nowRfc3339();
      o.metadata.deletionGracePeriodSeconds = 0;
      if (foreground && !finalizers.includes('foregroundDeletion')) o.metadata.finalizers = [...finalizers, 'foregroundDeletion'];
      if (isNamespace) o.status = { ...(isObject(o.status) ? o.status : {}), phase: 'Terminating' };
      return { obj: this.present(t, this.store.put(key, o)), gone: false };
    }
    const last = this.store.remove(key, storeNs, name);
    return { obj: this.present(t, last ?? old), gone: true };
  }

  /** Removes the owner reference to `uid` from every dependent (propagationPolicy=Orphan). */
  private orphanDependents(uid: string): void {
    for (const d of this.store.dependentsOf(uid)) {
      const o = this.store.get(d.key, d.ns, d.name);
      if (!o) continue;
      const refs = Array.isArray(o.metadata.ownerReferences) ? o.metadata.ownerReferences : [];
      const kept = refs.filter((r) => !(isObject(r) && r.uid === uid));
      const next = clone(o);
      if (kept.length) next.metadata.ownerReferences = kept;
      else delete next.metadata.ownerReferences;
      this.store.put(d.key, next);
    }
  }

  /** Drops one finalizer (used by the server's own controllers). */
  removeFinalizer(key: string, ns: string, name: string, finalizer: string): void {
    const o = this.store.get(key, ns, name);
    if (!o) return;
    const fins = (Array.isArray(o.metadata.finalizers) ? o.metadata.finalizers : []).map(String);
    if (!fins.includes(finalizer)) return;
    const rest = fins.filter((f) => f !== finalizer);
    if (rest.length === 0 && o.metadata.deletionTimestamp) {
      this.store.remove(key, ns, name);
      return;
    }
    const next = clone(o);
    if (rest.length) next.metadata.finalizers = rest;
    else delete next.metadata.finalizers;
    this.store.put(key, next);
  }

  deleteCollection(t: ResourceType, ns: string | undefined, q: ListQuery, d: DeleteOptions = {}): KubeObject[] {
    const { items } = this.list(t, ns, { labelSelector: q.labelSelector, fieldSelector: q.fieldSelector });
    const out: KubeObject[] = [];
    for (const e of items) {
      try {
        out.push(this.delete(t, str(e.obj.metadata.namespace) ?? '', str(e.obj.metadata.name) ?? '', d).obj);
      } catch (err) {
        if (!(err instanceof ApiError && err.httpCode === 404)) throw err;
      }
    }
    return out;
  }
}

function idKey(o: KubeObject): string {
  return `${str(o.metadata.namespace) ?? ''}/${str(o.metadata.name) ?? ''}`;
}

function lowerBound<T>(arr: T[], pred: (x: T) => boolean): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pred(arr[mid]!)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function encodeContinue(t: { rv: number; start: string }): string {
  return Buffer.from(JSON.stringify({ v: 'hawser.v1', rv: t.rv, start: t.start })).toString('base64url');
}

function decodeContinue(s: string, currentRv: number): { rv: number; start: string } {
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Json;
    // a forged token must not make us answer with a resourceVersion we never had
    if (isObject(v) && typeof v.rv === 'number' && Number.isSafeInteger(v.rv) && v.rv > 0 && v.rv <= currentRv && typeof v.start === 'string') {
      return { rv: v.rv, start: v.start };
    }
  } catch {
    // fall through
  }
  throw errors.badRequest('continue key is not valid: malformed continue token');
}

/** Whether anything but metadata (and status, where it is a subresource) changed. */
function specChanged(t: ResourceType, a: KubeObject, b: KubeObject): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    if (k === 'metadata' || k === 'apiVersion' || k === 'kind') continue;
    if (k === 'status' && t.statusSubresource) continue;
    if (!jsonEqual(a[k], b[k])) return true;
  }
  return false;
}

/** An update that changes nothing is not written (no new resourceVersion, no event). */
function sameObject(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject): JsonObject => {
    const m = { ...o.metadata };
    delete m.resourceVersion;
    delete m.managedFields;
    return { ...o, metadata: m };
  };
  return jsonEqual(strip(a), strip(b)) && jsonEqual(a.metadata.managedFields ?? null, b.metadata.managedFields ?? null);
}
