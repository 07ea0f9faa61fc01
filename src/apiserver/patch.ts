// Patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902), Kubernetes strategic merge
// patch (a subset: merge keys of the common core fields, `$patch`, `$retainKeys`,
// `$setElementOrder`, `$deleteFromPrimitiveList`) and the merge step of server-side apply.
import type { Schema } from './schema.js';
import { childSchema } from './schema.js';
import { hasOwn, jsonBytes, MAX_OBJECT_BYTES, MAX_PATCH_OPS, own } from './limits.js';
import { clone, isObject, jsonEqual, type Json, type JsonObject } from './types.js';

export class PatchError extends Error {
  constructor(
    message: string,
    /** 400 for a malformed patch, 422 when it does not apply to the object. */
    readonly httpCode: 400 | 422,
  ) {
    super(message);
  }
}

/** A key that would replace an object's prototype if assigned: never written. */
function refuseProto(k: string): void {
  if (k === '__proto__') throw new PatchError('a patch may not name the field "__proto__"', 400);
}

/** RFC 7386: objects merge recursively, null deletes, everything else replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    refuseProto(k);
    if (v === null) delete out[k];
    else out[k] = mergePatch(own(out, k) ?? null, v);
  }
  return out;
}

function decodePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new PatchError(`invalid JSON pointer "${path}"`, 400);
  const tokens = path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  // only own properties are ever followed; "__proto__" is refused outright
  if (tokens.includes('__proto__')) throw new PatchError(`invalid JSON pointer "${path}": "__proto__" is not allowed`, 422);
  return tokens;
}

function arrayIndex(arr: Json[], token: string, forAdd: boolean, path: string): number {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new PatchError(`invalid array index "${token}" in path "${path}"`, 422);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length)) throw new PatchError(`array index ${i} out of bounds in path "${path}"`, 422);
  return i;
}

function getAt(doc: Json, tokens: string[], path: string): Json {
  let cur: Json = doc;
  for (const t of tokens) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, false, path)]!;
    else if (isObject(cur) && hasOwn(cur, t)) cur = cur[t]!;
    else throw new PatchError(`doc is missing path: "${path}"`, 422);
  }
  return cur;
}

function parentOf(doc: Json, tokens: string[], path: string): { parent: Json; key: string } {
  if (tokens.length === 0) throw new PatchError(`path "${path}" must not be the document root`, 422);
  const parent = getAt(doc, tokens.slice(0, -1), path);
  return { parent, key: tokens[tokens.length - 1]! };
}

/** Thrown when a patch would grow the object past the storage limit (the caller answers 413). */
export class PatchTooLarge extends Error {
  constructor(readonly bytes: number) {
    super(`the patched object would be over ${bytes} bytes`);
  }
}

/**
 * RFC 6902 on a copy of `doc`. The work is bounded: at most MAX_PATCH_OPS operations, and a running
 * estimate of the result's size stops `copy`/`add` amplification as soon as it passes the object
 * limit (each step costs at most the size of what it adds, which is itself under the limit).
 */
export function jsonPatch(doc: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new PatchError('json patch must be a list of operations', 400);
  if (ops.length > MAX_PATCH_OPS) throw new PatchError(`json patch has ${ops.length} operations, more than the limit of ${MAX_PATCH_OPS}`, 400);
  let out = clone(doc);
  let size = jsonBytes(doc);
  const grow = (added: Json, removed?: Json): void => {
    size += jsonBytes(added) - (removed === undefined ? 0 : jsonBytes(removed));
    if (size > MAX_OBJECT_BYTES) throw new PatchTooLarge(size);
  };
  for (const opv of ops) {
    if (!isObject(opv) || typeof opv.op !== 'string' || typeof opv.path !== 'string') {
      throw new PatchError('each json patch operation needs "op" and "path"', 400);
    }
    const { op, path } = opv;
    const tokens = decodePointer(path);
    const value = opv.value;
    const add = (target: Json, toks: string[], v: Json): Json => {
      if (toks.length === 0) {
        grow(v, target);
        return clone(v);
      }
      const { parent, key } = parentOf(target, toks, path);
      if (Array.isArray(parent)) {
        grow(v);
        parent.splice(arrayIndex(parent, key, true, path), 0, clone(v));
      } else if (isObject(parent)) {
        grow(v, own(parent, key));
        parent[key] = clone(v);
      }
      else throw new PatchError(`cannot add to a scalar at "${path}"`, 422);
      return target;
    };
    const remove = (target: Json, toks: string[], p: string): Json => {
      const { parent, key } = parentOf(target, toks, p);
      if (Array.isArray(parent)) size -= jsonBytes(parent.splice(arrayIndex(parent, key, false, p), 1)[0]!);
      else if (isObject(parent) && hasOwn(parent, key)) {
        size -= jsonBytes(parent[key]!);
        delete parent[key];
      }
      else throw new PatchError(`unable to remove nonexistent key: ${key}: missing value`, 422);
      return target;
    };
    switch (op) {
      case 'add':
        if (value === undefined) throw new PatchError('"add" needs a value', 400);
        out = add(out, tokens, value);
        break;
      case 'remove':
        out = remove(out, tokens, path);
        break;
      case 'replace':
        if (value === undefined) throw new PatchError('"replace" needs a value', 400);
        if (tokens.length === 0) {
          grow(value, out);
          out = clone(value);
        } else {
          grow(value, getAt(out, tokens, path));
          const { parent, key } = parentOf(out, tokens, path);
          if (Array.isArray(parent)) parent[arrayIndex(parent, key, false, path)] = clone(value);
          else if (isObject(parent)) parent[key] = clone(value);
        }
        break;
      case 'move':
      case 'copy': {
        if (typeof opv.from !== 'string') throw new PatchError(`"${op}" needs "from"`, 400);
        const fromTokens = decodePointer(opv.from);
        const v = clone(getAt(out, fromTokens, opv.from));
        if (op === 'move') out = remove(out, fromTokens, opv.from);
        out = add(out, tokens, v);
        break;
      }
      case 'test':
        if (!jsonEqual(getAt(out, tokens, path), value ?? null)) throw new PatchError(`testing value ${path} failed`, 422);
        break;
      default:
        throw new PatchError(`unknown json patch operation "${op}"`, 400);
    }
  }
  return out;
}

/**
 * Merge keys of list fields in built-in kinds (the `patchMergeKey` tags of the Go types), by field
 * name; lists not listed here are replaced whole, as atomic lists are.
 */
const MERGE_KEYS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  imagePullSecrets: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  conditions: 'type',
  ownerReferences: 'uid',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  secrets: 'name',
  resourceClaims: 'name',
  addresses: 'type',
  taints: 'key',
};
/** List fields whose items are containers, where `ports` merge by containerPort. */
const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers']);
/** Primitive lists merged as sets. */
const MERGED_PRIMITIVE_LISTS = new Set(['finalizers']);

/** The merge key of list `field` inside parent field `parent`, or undefined for an atomic list. */
export function strategicMergeKey(field: string, parent: string | undefined): string | undefined {
  if (field === 'ports') return parent !== undefined && CONTAINER_LISTS.has(parent) ? 'containerPort' : parent === 'spec' ? 'port' : undefined;
  return MERGE_KEYS[field];
}

/** Kubernetes strategic merge patch (core kinds), on a copy of `original`. */
export function strategicMergePatch(original: Json, patch: Json): Json {
  if (!isObject(patch)) throw new PatchError('strategic merge patch must be an object', 400);
  return smpObject(isObject(original) ? original : {}, patch, undefined, undefined);
}

function smpObject(orig: JsonObject, patch: JsonObject, _field: string | undefined, parentField: string | undefined): JsonObject {
  const directive = patch.$patch;
  if (directive === 'replace') {
    const rest = { ...patch };
    delete rest.$patch;
    return clone(rest);
  }
  if (directive === 'delete') return {};
  const out: JsonObject = { ...orig };
  const retain = Array.isArray(patch.$retainKeys) ? patch.$retainKeys.filter((k): k is string => typeof k === 'string') : undefined;
  for (const [k, v] of Object.entries(patch)) {
    refuseProto(k);
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/')) {
      refuseProto(k.slice('$setElementOrder/'.length));
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      refuseProto(field);
      const cur = own(out, field);
      if (Array.isArray(cur) && Array.isArray(v)) out[field] = cur.filter((x) => !v.some((d) => jsonEqual(d, x)));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const cur = own(out, k);
    if (isObject(v)) {
      if (v.$patch === 'delete') {
        delete out[k];
        continue;
      }
      out[k] = smpObject(isObject(cur) ? cur : {}, v, k, parentField);
    } else if (Array.isArray(v)) {
      out[k] = smpList(Array.isArray(cur) ? cur : [], v, k, _field);
    } else {
      out[k] = v;
    }
  }
  if (retain) for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  // order lists as the patch's $setElementOrder asks, where given
  for (const [k, order] of Object.entries(patch)) {
    if (!k.startsWith('$setElementOrder/') || !Array.isArray(order)) continue;
    const field = k.slice('$setElementOrder/'.length);
    const list = own(out, field);
    if (Array.isArray(list)) out[field] = applyOrder(list, order, strategicMergeKey(field, _field));
  }
  return out;
}

function applyOrder(list: Json[], order: Json[], key: string | undefined): Json[] {
  const idOf = (x: Json): Json => (key && isObject(x) ? (own(x, key) ?? null) : x);
  const rank = (x: Json): number => {
    const i = order.findIndex((o) => jsonEqual(key && isObject(o) ? (own(o, key) ?? null) : o, idOf(x)));
    return i < 0 ? order.length : i;
  };
  return list
    .map((x, i) => ({ x, i, r: rank(x) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((e) => e.x);
}

function smpList(orig: Json[], patch: Json[], field: string, parentField: string | undefined): Json[] {
  const key = strategicMergeKey(field, parentField);
  const replaceDirective = patch.find((p) => isObject(p) && p.$patch === 'replace');
  if (replaceDirective) return patch.filter((p) => !(isObject(p) && p.$patch === 'replace')).map((p) => clone(p));
  if (MERGED_PRIMITIVE_LISTS.has(field)) {
    const out = [...orig];
    for (const p of patch) if (!out.some((x) => jsonEqual(x, p))) out.push(p);
    return out;
  }
  if (!key) return patch.map((p) => clone(p));
  const out = [...orig];
  for (const p of patch) {
    if (!isObject(p) || !hasOwn(p, key)) {
      out.push(clone(p));
      continue;
    }
    const idx = out.findIndex((x) => isObject(x) && jsonEqual(own(x, key), own(p, key)));
    if (p.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = smpObject(out[idx] as JsonObject, p, field, parentField);
    else {
      const fresh = smpObject({}, p, field, parentField);
      out.push(fresh);
    }
  }
  return out;
}

/**
 * Server-side apply's merge of an applied configuration into the live object: maps merge,
 * lists with keys (`x-kubernetes-list-type: map`, or the strategic merge keys of built-in kinds)
 * merge by key, sets merge as sets, other lists are replaced.
 */
export function applyMerge(live: Json, applied: Json, schema: Schema | undefined, field?: string, parentField?: string): Json {
  if (isObject(applied)) {
    const out: JsonObject = isObject(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(applied)) {
      refuseProto(k);
      if (v === null) {
        delete out[k];
        continue;
      }
      out[k] = applyMerge(own(out, k) ?? null, v, childSchema(schema, k), k, field);
    }
    return out;
  }
  if (Array.isArray(applied)) {
    const cur = Array.isArray(live) ? live : [];
    const itemSchema = schema?.items;
    if (isSetList(schema, field)) {
      const out = [...cur];
      for (const a of applied) if (!out.some((x) => jsonEqual(x, a))) out.push(clone(a));
      return out;
    }
    const keys = listKeys(schema, field, parentField);
    if (!keys) return clone(applied);
    const out = [...cur];
    for (const a of applied) {
      if (!isObject(a)) {
        out.push(clone(a));
        continue;
      }
      const idx = out.findIndex((x) => isObject(x) && keys.every((k) => jsonEqual(own(x, k), own(a, k))));
      if (idx >= 0) out[idx] = applyMerge(out[idx]!, a, itemSchema, field, parentField);
      else out.push(clone(a));
    }
    return out;
  }
  return clone(applied);
}

/** Whether a list merges as a set of values (`x-kubernetes-list-type: set`, or finalizers). */
export function isSetList(schema: Schema | undefined, field: string | undefined): boolean {
  return schema?.listType === 'set' || (!schema && field !== undefined && MERGED_PRIMITIVE_LISTS.has(field));
}

/** The keys of a list whose items merge by key, from the schema (CRDs) or the built-in merge keys. */
export function listKeys(schema: Schema | undefined, field: string | undefined, parentField: string | undefined): string[] | undefined {
  if (schema) return schema.listType === 'map' && schema.listMapKeys?.length ? schema.listMapKeys : undefined;
  const k = field ? strategicMergeKey(field, parentField) : undefined;
  return k ? [k] : undefined;
}
