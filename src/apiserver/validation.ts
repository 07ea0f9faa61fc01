// What the API server does to a custom resource against its structural schema, in Kubernetes'
// order: prune unknown fields, drop nulls where the schema does not allow them, apply defaults,
// then validate. Also the metadata checks every object gets.
import type { Schema } from './schema.js';
import { labelKeyError, labelValueError } from './selectors.js';
import { clone, isObject, jsonEqual, type Json, type JsonObject, type StatusCause } from './types.js';

const ROOT_KEEP = new Set(['apiVersion', 'kind', 'metadata']);

/**
 * Prunes fields the schema does not know, drops disallowed nulls and fills defaults, in place.
 * Returns the paths of the pruned fields (for fieldValidation=Strict/Warn).
 */
export function pruneAndDefault(obj: JsonObject, schema: Schema): string[] {
  const unknown: string[] = [];
  walkObject(obj, schema, '', unknown, true);
  return unknown;
}

function walk(value: Json, schema: Schema, path: string, unknown: string[]): void {
  if (Array.isArray(value)) {
    if (schema.items) value.forEach((v, i) => walk(v, schema.items!, `${path}[${i}]`, unknown));
    return;
  }
  if (isObject(value)) walkObject(value, schema, path, unknown, schema.embeddedResource === true);
}

function walkObject(obj: JsonObject, schema: Schema, path: string, unknown: string[], keepTypeMeta: boolean): void {
  if (schema.intOrString) return;
  const props = schema.properties;
  const addl = schema.additionalProperties;
  for (const key of Object.keys(obj)) {
    const childPath = path ? `${path}.${key}` : key;
    if (keepTypeMeta && ROOT_KEEP.has(key)) continue;
    const sub = props?.[key] ?? (typeof addl === 'object' ? addl : undefined);
    if (!sub) {
      if (schema.preserveUnknownFields || addl === true || schema.type === undefined) continue;
      unknown.push(childPath);
      delete obj[key];
      continue;
    }
    const v = obj[key]!;
    if (v === null) {
      if (!sub.nullable) delete obj[key];
      continue;
    }
    walk(v, sub, childPath, unknown);
  }
  if (props) {
    for (const [key, sub] of Object.entries(props)) {
      if (!(key in obj) && sub.default !== undefined) obj[key] = clone(sub.default);
    }
  }
}

function typeName(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function show(v: Json): string {
  return typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? 'null';
}

function typeMatches(v: Json, schema: Schema): boolean {
  if (schema.intOrString) return typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));
  switch (schema.type) {
    case undefined:
      return true;
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    default:
      return true;
  }
}

/** Validates a value against its schema; paths are written as Kubernetes writes them (`spec.a[0].b`). */
export function validateValue(v: Json, schema: Schema, path: string, out: StatusCause[]): void {
  const at = path || '<root>';
  if (v === null) {
    if (!schema.nullable) out.push({ field: at, reason: 'FieldValueTypeInvalid', message: `Invalid value: "null": ${at} in body must be of type ${schema.type ?? 'object'}: "null"` });
    return;
  }
  if (!typeMatches(v, schema)) {
    out.push({ field: at, reason: 'FieldValueTypeInvalid', message: `Invalid value: "${typeName(v)}": ${at} in body must be of type ${schema.intOrString ? 'integer or string' : schema.type}: "${typeName(v)}"` });
    return;
  }
  if (schema.enum && !schema.enum.some((e) => jsonEqual(e, v))) {
    out.push({ field: at, reason: 'FieldValueNotSupported', message: `Unsupported value: ${show(v)}: supported values: ${schema.enum.map(show).join(', ')}` });
  }
  if (typeof v === 'number') {
    if (schema.maximum !== undefined && (schema.exclusiveMaximum ? v >= schema.maximum : v > schema.maximum)) {
      out.push({ field: at, reason: 'FieldValueInvalid', message: `Invalid value: ${v}: ${at} in body should be less than ${schema.exclusiveMaximum ? '' : 'or equal to '}${schema.maximum}` });
    }
    if (schema.minimum !== undefined && (schema.exclusiveMinimum ? v <= schema.minimum : v < schema.minimum)) {
      out.push({ field: at, reason: 'FieldValueInvalid', message: `Invalid value: ${v}: ${at} in body should be greater than ${schema.exclusiveMinimum ? '' : 'or equal to '}${schema.minimum}` });
    }
  }
  if (typeof v === 'string') {
    const len = [...v].length;
    if (schema.maxLength !== undefined && len > schema.maxLength) {
      out.push({ field: at, reason: 'FieldValueTooLong', message: `Too long: may not be more than ${schema.maxLength} bytes` });
    }
    if (schema.minLength !== undefined && len < schema.minLength) {
      out.push({ field: at, reason: 'FieldValueInvalid', message: `Invalid value: ${show(v)}: ${at} in body should be at least ${schema.minLength} chars long` });
    }
    if (schema.pattern !== undefined) {
      let re: RegExp | undefined;
      try {
        re = new RegExp(schema.pattern, 'u');
      } catch {
        re = undefined;
      }
      if (re && !re.test(v)) out.push({ field: at, reason: 'FieldValueInvalid', message: `Invalid value: ${show(v)}: ${at} in body should match '${schema.pattern}'` });
    }
    if (schema.format === 'date-time' && v !== '' && Number.isNaN(Date.parse(v))) {
      out.push({ field: at, reason: 'FieldValueInvalid', message: `Invalid value: ${show(v)}: ${at} in body must be of type date-time: ${show(v)}` });
    }
  }
  if (Array.isArray(v)) {
    if (schema.maxItems !== undefined && v.length > schema.maxItems) {
      out.push({ field: at, reason: 'FieldValueTooMany', message: `Too many: ${v.length}: must have at most ${schema.maxItems} items` });
    }
    if (schema.minItems !== undefined && v.length < schema.minItems) {
      out.push({ field: at, reason: 'FieldValueInvalid', message: `Invalid value: ${v.length}: ${at} in body should have at least ${schema.minItems} items` });
    }
    if (schema.items) v.forEach((x, i) => validateValue(x, schema.items!, `${path}[${i}]`, out));
    checkListUniqueness(v, schema, at, out);
  }
  if (isObject(v)) {
    for (const r of schema.required ?? []) {
      if (!(r in v)) out.push({ field: path ? `${path}.${r}` : r, reason: 'FieldValueRequired', message: 'Required value' });
    }
    const n = Object.keys(v).length;
    if (schema.maxProperties !== undefined && n > schema.maxProperties) {
      out.push({ field: at, reason: 'FieldValueTooMany', message: `Too many: ${n}: must have at most ${schema.maxProperties} items` });
    }
    if (schema.minProperties !== undefined && n < schema.minProperties) {
      out.push({ field: at, reason: 'FieldValueInvalid', message: `Invalid value: ${n}: ${at} in body should have at least ${schema.minProperties} properties` });
    }
    for (const [k, x] of Object.entries(v)) {
      if (path === '' && ROOT_KEEP.has(k)) continue;
      const sub = schema.properties?.[k] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
      if (sub) validateValue(x, sub, path ? `${path}.${k}` : k, out);
    }
  }
  for (const s of schema.allOf ?? []) validateValue(v, s, path, out);
  if (schema.anyOf && !schema.anyOf.some((s) => passes(v, s, path))) {
    out.push({ field: at, reason: 'FieldValueInvalid', message: `Invalid value: ${show(v)}: ${at} in body must match at least one schema (anyOf)` });
  }
  if (schema.oneOf && schema.oneOf.filter((s) => passes(v, s, path)).length !== 1) {
    out.push({ field: at, reason: 'FieldValueInvalid', message: `Invalid value: ${show(v)}: ${at} in body must match exactly one schema (oneOf)` });
  }
  if (schema.not && passes(v, schema.not, path)) {
    out.push({ field: at, reason: 'FieldValueInvalid', message: `Invalid value: ${show(v)}: ${at} in body should not match the schema (not)` });
  }
}

function passes(v: Json, s: Schema, path: string): boolean {
  const errs: StatusCause[] = [];
  validateValue(v, s, path, errs);
  return errs.length === 0;
}

function checkListUniqueness(v: Json[], schema: Schema, at: string, out: StatusCause[]): void {
  if (schema.listType === 'set') {
    v.forEach((x, i) => {
      if (v.findIndex((y) => jsonEqual(x, y)) < i) out.push({ field: `${at}[${i}]`, reason: 'FieldValueDuplicate', message: `Duplicate value: ${show(x)}` });
    });
  } else if (schema.listType === 'map' && schema.listMapKeys?.length) {
    const keys = schema.listMapKeys;
    const seen = new Set<string>();
    v.forEach((x, i) => {
      if (!isObject(x)) return;
      const k = JSON.stringify(keys.map((key) => x[key] ?? null));
      if (seen.has(k)) out.push({ field: `${at}[${i}]`, reason: 'FieldValueDuplicate', message: `Duplicate value: ${JSON.stringify(Object.fromEntries(keys.map((key) => [key, x[key] ?? null])))}` });
      seen.add(k);
    });
  }
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Kinds whose names must be DNS labels (63 characters, no dots) rather than subdomains. */
const LABEL_NAMED = new Set(['Namespace', 'Service']);
/** Kinds whose names are path segments only (RBAC allows `system:` names). */
const PATH_NAMED = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']);

export function nameError(kind: string, name: string): string | undefined {
  if (PATH_NAMED.has(kind)) {
    if (name === '.' || name === '..' || name.includes('/') || name.includes('%')) return 'may not contain \'/\' or \'%\' and may not be \'.\' or \'..\'';
    return undefined;
  }
  if (LABEL_NAMED.has(kind)) {
    if (name.length > 63 || !DNS_LABEL.test(name)) {
      return 'a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \'-\', and must start and end with an alphanumeric character (e.g. \'my-name\',  or \'123-abc\', regex used for validation is \'[a-z0-9]([-a-z0-9]*[a-z0-9])?\')';
    }
    return undefined;
  }
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    return 'a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character (e.g. \'example.com\', regex used for validation is \'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\')';
  }
  return undefined;
}

/** Checks of ObjectMeta every kind gets: name shape, labels, annotations, finalizers, ownerReferences. */
export function validateMeta(kind: string, m: JsonObject): StatusCause[] {
  const out: StatusCause[] = [];
  const name = m.name;
  if (typeof name !== 'string' || name === '') {
    out.push({ field: 'metadata.name', reason: 'FieldValueRequired', message: 'Required value: name or generateName is required' });
  } else {
    const e = nameError(kind, name);
    if (e) out.push({ field: 'metadata.name', reason: 'FieldValueInvalid', message: `Invalid value: "${name}": ${e}` });
  }
  for (const field of ['labels', 'annotations'] as const) {
    const v = m[field];
    if (v === undefined || v === null) continue;
    if (!isObject(v)) {
      out.push({ field: `metadata.${field}`, reason: 'FieldValueTypeInvalid', message: 'Invalid value: must be a map of strings' });
      continue;
    }
    for (const [k, x] of Object.entries(v)) {
      const ke = labelKeyError(k);
      if (ke) out.push({ field: `metadata.${field}`, reason: 'FieldValueInvalid', message: `Invalid value: "${k}": ${ke}` });
      if (typeof x !== 'string') {
        out.push({ field: `metadata.${field}.${k}`, reason: 'FieldValueTypeInvalid', message: `Invalid value: must be a string` });
        continue;
      }
      if (field === 'labels') {
        const ve = labelValueError(x);
        if (ve) out.push({ field: `metadata.labels`, reason: 'FieldValueInvalid', message: `Invalid value: "${x}": ${ve}` });
      }
    }
  }
  if (isObject(m.annotations)) {
    const size = Object.entries(m.annotations).reduce((n, [k, x]) => n + k.length + (typeof x === 'string' ? x.length : 0), 0);
    if (size > 256 * 1024) out.push({ field: 'metadata.annotations', reason: 'FieldValueTooLong', message: 'Too long: must have at most 262144 bytes' });
  }
  if (m.finalizers !== undefined && m.finalizers !== null) {
    if (!Array.isArray(m.finalizers) || m.finalizers.some((f) => typeof f !== 'string')) {
      out.push({ field: 'metadata.finalizers', reason: 'FieldValueTypeInvalid', message: 'Invalid value: must be a list of strings' });
    }
  }
  if (m.ownerReferences !== undefined && m.ownerReferences !== null) {
    if (!Array.isArray(m.ownerReferences)) {
      out.push({ field: 'metadata.ownerReferences', reason: 'FieldValueTypeInvalid', message: 'Invalid value: must be a list' });
    } else {
      m.ownerReferences.forEach((r, i) => {
        const at = `metadata.ownerReferences[${i}]`;
        if (!isObject(r)) return void out.push({ field: at, reason: 'FieldValueTypeInvalid', message: 'Invalid value: must be an object' });
        for (const f of ['apiVersion', 'kind', 'name', 'uid']) {
          if (typeof r[f] !== 'string' || r[f] === '') out.push({ field: `${at}.${f}`, reason: 'FieldValueRequired', message: 'Required value' });
        }
      });
    }
  }
  return out;
}
