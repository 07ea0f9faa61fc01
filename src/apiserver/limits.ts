// Limits a hostile client must not get past: keys that reach an object's prototype, nesting depth,
// object and data sizes. Every user-supplied value passes `checkInput` at the edge; every object
// about to be stored passes `checkStoredSize`.
import { ApiError, errors, isObject, type Json, type JsonObject } from './types.js';

/** Deeper bodies are refused with 400 (our recursive merge, patch and YAML code stays far from the stack limit). */
export const MAX_DEPTH = 100;
/** Kubernetes' storage limit for one object (etcd's request limit, 1.5 MiB). */
export const MAX_OBJECT_BYTES = 1_572_864;
/** ConfigMap data+binaryData and Secret data: at most 1 MiB in total, as Kubernetes validates. */
export const MAX_DATA_BYTES = 1_048_576;
/** Kubernetes refuses JSON patches with more operations than this. */
export const MAX_PATCH_OPS = 10_000;

/** Keys that would reach or replace an object's prototype when used as a property name. */
const PROTO_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export function isProtoKey(k: string): boolean {
  return PROTO_KEYS.has(k);
}

/** Own property lookup: never follows the prototype chain (`constructor`, `toString`, ...). */
export function own(o: JsonObject, k: string): Json | undefined {
  return Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
}

export function hasOwn(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

/**
 * Walks a parsed request value without recursion: a `__proto__` key anywhere is refused (JSON.parse
 * makes it an own property; any later `out[k] = v` would replace a prototype), and so is nesting
 * deeper than MAX_DEPTH. `constructor`/`prototype` are ordinary data keys (a label may be named so):
 * they are harmless as own properties, and every lookup here is own-only.
 */
export function checkInput(v: Json, what = 'the request body'): void {
  const stack: [Json, number][] = [[v, 1]];
  while (stack.length > 0) {
    const [cur, depth] = stack.pop()!;
    if (cur === null || typeof cur !== 'object') continue;
    if (depth > MAX_DEPTH) throw errors.badRequest(`${what} is nested more than ${MAX_DEPTH} levels deep`);
    if (Array.isArray(cur)) {
      for (const x of cur) if (x !== null && typeof x === 'object') stack.push([x, depth + 1]);
      continue;
    }
    for (const k of Object.keys(cur)) {
      if (k === '__proto__') throw errors.badRequest(`${what} has a field named "__proto__", which is not allowed`);
      const x = cur[k]!;
      if (x !== null && typeof x === 'object') stack.push([x, depth + 1]);
    }
  }
}

/**
 * The nesting depth of JSON text, without parsing it (brackets outside strings): lets a body nested
 * 10,000 deep be refused before any parser or recursive walk sees it.
 */
export function jsonTextDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

export function checkTextDepth(text: string, what = 'the request body'): void {
  if (jsonTextDepth(text) > MAX_DEPTH) throw errors.badRequest(`${what} is nested more than ${MAX_DEPTH} levels deep`);
}

/** Serialized size in bytes (UTF-8) of a JSON value. */
export function jsonBytes(v: Json): number {
  return Buffer.byteLength(JSON.stringify(v));
}

function tooLargeObject(bytes: number): ApiError {
  return new ApiError(413, 'RequestEntityTooLarge', `Request entity too large: the object is ${bytes} bytes, limit is ${MAX_OBJECT_BYTES}`);
}

/** Refuses an object that Kubernetes could not store (413), or whose data is over 1 MiB (422). */
export function checkStoredSize(kind: string, group: string, name: string, o: JsonObject): void {
  if (group === '' && (kind === 'ConfigMap' || kind === 'Secret')) {
    let data = 0;
    for (const field of ['data', 'binaryData', 'stringData']) {
      const m = own(o, field);
      if (!isObject(m)) continue;
      // Secret data and ConfigMap binaryData are base64 in JSON: Kubernetes counts the decoded bytes
      const encoded = field === 'binaryData' || (kind === 'Secret' && field === 'data');
      for (const [k, v] of Object.entries(m)) {
        data += Buffer.byteLength(k);
        if (typeof v !== 'string') data += jsonBytes(v);
        else data += encoded ? Math.floor((v.length * 3) / 4) : Buffer.byteLength(v);
      }
    }
    if (data > MAX_DATA_BYTES) {
      throw errors.invalid(kind, group, name, [{ field: kind === 'Secret' ? 'data' : '[]', reason: 'FieldValueTooLong', message: `Too long: must have at most ${MAX_DATA_BYTES} bytes` }]);
    }
  }
  const bytes = jsonBytes(o);
  if (bytes > MAX_OBJECT_BYTES) throw tooLargeObject(bytes);
  checkInput(o, `${kind} "${name}"`);
}

/** Raised by a patch whose result would outgrow the object limit: the work stops there. */
export function patchTooLarge(bytes: number): ApiError {
  return new ApiError(413, 'RequestEntityTooLarge', `Request entity too large: the patched object would be over ${bytes} bytes, limit is ${MAX_OBJECT_BYTES}`);
}
