// Server-side apply bookkeeping: the fields an applier owns, as the FieldsV1 trie Kubernetes keeps
// in metadata.managedFields (`f:<field>`, `k:<item key json>`, `v:<set value json>`, `.` for the
// item itself), and the removal of fields an applier stopped applying.
import { isSetList, listKeys } from './patch.js';
import { childSchema, type Schema } from './schema.js';
import { hasOwn, own } from './limits.js';
import { isObject, jsonEqual, str, type Json, type JsonObject } from './types.js';

export type FieldsV1 = JsonObject;

/** The fields an applied configuration sets. */
export function fieldsOf(applied: JsonObject, schema: Schema | undefined): FieldsV1 {
  const out: FieldsV1 = {};
  for (const [k, v] of Object.entries(applied)) {
    if (k === 'apiVersion' || k === 'kind') continue;
    if (k === 'metadata') {
      if (!isObject(v)) continue;
      const m: FieldsV1 = {};
      for (const mk of ['labels', 'annotations'] as const) {
        const x = v[mk];
        if (isObject(x)) m[`f:${mk}`] = Object.fromEntries(Object.keys(x).map((lk) => [`f:${lk}`, {}]));
      }
      if (Object.keys(m).length) out['f:metadata'] = m;
      continue;
    }
    out[`f:${k}`] = valueFields(v, childSchema(schema, k), k, undefined);
  }
  return out;
}

function valueFields(v: Json, schema: Schema | undefined, field: string, parentField: string | undefined): FieldsV1 {
  if (isObject(v)) {
    const out: FieldsV1 = {};
    for (const [k, x] of Object.entries(v)) out[`f:${k}`] = valueFields(x, childSchema(schema, k), k, field);
    return out;
  }
  if (Array.isArray(v)) {
    if (isSetList(schema, field)) return Object.fromEntries(v.map((x) => [`v:${JSON.stringify(x)}`, {}]));
    const keys = listKeys(schema, field, parentField);
    if (!keys || !v.every(isObject)) return {};
    const out: FieldsV1 = {};
    for (const item of v as JsonObject[]) {
      const id = JSON.stringify(Object.fromEntries(keys.map((k) => [k, item[k] ?? null])));
      out[`k:${id}`] = { '.': {}, ...valueFields(item, schema?.items, field, parentField) };
    }
    return out;
  }
  return {};
}

/**
 * Removes from `live` what `before` owned and `after` no longer does, unless another applier
 * (`others`) owns it too.
 */
export function removeDisowned(live: JsonObject, before: FieldsV1, after: FieldsV1, others: FieldsV1[]): void {
  removeIn(live, before, after, others, true);
}

function removeIn(live: Json, before: FieldsV1, after: FieldsV1, others: FieldsV1[], root: boolean): void {
  for (const [k, sub] of Object.entries(before)) {
    if (k === '.' || !isObject(sub)) continue;
    const stillOwned = hasOwn(after, k) || others.some((o) => hasOwn(o, k));
    if (!stillOwned) {
      if (root && k === 'f:metadata') continue;
      removeChild(live, k);
      continue;
    }
    if (Object.keys(sub).length === 0) continue;
    const child = childOf(live, k);
    if (child === undefined) continue;
    const a = own(after, k);
    const nextAfter = isObject(a) ? a : {};
    const nextOthers = others.map((o) => own(o, k)).filter(isObject);
    removeIn(child, sub, nextAfter, nextOthers, false);
  }
}

function childOf(live: Json, k: string): Json | undefined {
  if (k.startsWith('f:')) return isObject(live) ? own(live, k.slice(2)) : undefined;
  if (k.startsWith('k:') && Array.isArray(live)) {
    const id = parseId(k.slice(2));
    return live.find((x) => isObject(x) && Object.entries(id).every(([ik, iv]) => jsonEqual(own(x, ik) ?? null, iv)));
  }
  return undefined;
}

function removeChild(live: Json, k: string): void {
  if (k.startsWith('f:') && isObject(live)) {
    // managedFields come from clients: only own fields are ever removed
    if (hasOwn(live, k.slice(2))) delete live[k.slice(2)];
  } else if (k.startsWith('k:') && Array.isArray(live)) {
    const id = parseId(k.slice(2));
    const i = live.findIndex((x) => isObject(x) && Object.entries(id).every(([ik, iv]) => jsonEqual(own(x, ik) ?? null, iv)));
    if (i >= 0) live.splice(i, 1);
  } else if (k.startsWith('v:') && Array.isArray(live)) {
    let val: Json;
    try {
      val = JSON.parse(k.slice(2)) as Json;
    } catch {
      return;
    }
    const i = live.findIndex((x) => jsonEqual(x, val));
    if (i >= 0) live.splice(i, 1);
  }
}

function parseId(s: string): JsonObject {
  try {
    const v = JSON.parse(s) as Json;
    return isObject(v) ? v : {};
  } catch {
    return {};
  }
}

export interface ManagedEntry {
  manager: string;
  operation: string;
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: FieldsV1;
  subresource?: string;
}

/** The managedFields entries of an object, read leniently. */
export function managedEntries(m: JsonObject): ManagedEntry[] {
  const mf = m.managedFields;
  if (!Array.isArray(mf)) return [];
  const out: ManagedEntry[] = [];
  for (const e of mf) {
    if (!isObject(e)) continue;
    const manager = str(e.manager);
    const operation = str(e.operation);
    if (!manager || !operation) continue;
    out.push({
      manager,
      operation,
      apiVersion: str(e.apiVersion),
      time: str(e.time),
      fieldsType: str(e.fieldsType),
      fieldsV1: isObject(e.fieldsV1) ? e.fieldsV1 : undefined,
      subresource: str(e.subresource),
    });
  }
  return out;
}

export function entryJson(e: ManagedEntry): JsonObject {
  const o: JsonObject = { manager: e.manager, operation: e.operation };
  if (e.apiVersion) o.apiVersion = e.apiVersion;
  if (e.time) o.time = e.time;
  o.fieldsType = e.fieldsType ?? 'FieldsV1';
  o.fieldsV1 = e.fieldsV1 ?? {};
  if (e.subresource) o.subresource = e.subresource;
  return o;
}
