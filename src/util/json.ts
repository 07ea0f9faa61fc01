// The one reader for raw JSON (API objects, state files, `ip -j` output): narrow `unknown` into typed values.
// Lenient readers return undefined for a missing or wrongly typed field; `need*` readers throw a JsonFieldError
// that names the object and the field path, for validation at the edge.
import { HawserError } from './errors.js';

export type JsonObject = Record<string, unknown>;

/** A field that is missing or has the wrong type: `where` names the object, `path` the field. */
export class JsonFieldError extends HawserError {
  constructor(
    readonly where: string,
    readonly path: string,
    readonly problem: string,
  ) {
    super('INVALID', `${where ? `${where}: ` : ''}${path} ${problem}`);
    this.name = 'JsonFieldError';
  }
}

export function isRecord(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value as an object, or an empty one (for optional sub-objects). */
export function asRecord(v: unknown): JsonObject {
  return isRecord(v) ? v : {};
}

export function str(o: JsonObject | undefined, k: string): string | undefined {
  const v = o?.[k];
  return typeof v === 'string' ? v : undefined;
}

/** A finite number (not NaN/Infinity, not a numeric string). */
export function num(o: JsonObject | undefined, k: string): number | undefined {
  const v = o?.[k];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function bool(o: JsonObject | undefined, k: string): boolean | undefined {
  const v = o?.[k];
  return typeof v === 'boolean' ? v : undefined;
}

export function arr(o: JsonObject | undefined, k: string): unknown[] | undefined {
  const v = o?.[k];
  return Array.isArray(v) ? v : undefined;
}

/** A list of strings; undefined if absent, null, or any element is not a string. */
export function strList(o: JsonObject | undefined, k: string): string[] | undefined {
  const v = o?.[k];
  if (!Array.isArray(v) || !v.every((x): x is string => typeof x === 'string')) return undefined;
  return v;
}

/** The string elements of a list (others dropped); empty if not a list. */
export function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** The string-valued entries of an object (others dropped), in a prototype-free map. */
export function strMap(v: unknown): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  if (!isRecord(v)) return out;
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

/** The object at a path of keys, or undefined where any step is not an object. */
export function recordAt(v: unknown, ...path: string[]): JsonObject | undefined {
  let cur: unknown = v;
  for (const k of path) {
    if (!isRecord(cur)) return undefined;
    cur = cur[k];
  }
  return isRecord(cur) ? cur : undefined;
}

function join(prefix: string, k: string): string {
  return prefix ? `${prefix}.${k}` : k;
}

/** A required non-empty string at `prefix.k`. */
export function needStr(o: JsonObject, k: string, where: string, prefix = ''): string {
  const v = o[k];
  if (v === undefined || v === null || v === '') throw new JsonFieldError(where, join(prefix, k), 'is missing');
  if (typeof v !== 'string') throw new JsonFieldError(where, join(prefix, k), `is not a string (got ${JSON.stringify(v)})`);
  return v;
}

/** A required object at `prefix.k`. */
export function needRecord(o: unknown, k: string, where: string, prefix = ''): JsonObject {
  const v = isRecord(o) ? o[k] : undefined;
  if (v === undefined || v === null) throw new JsonFieldError(where, join(prefix, k), 'is missing');
  if (!isRecord(v)) throw new JsonFieldError(where, join(prefix, k), 'is not an object');
  return v;
}

/** An optional list of strings at `prefix.k`: absent/null → undefined; present but not all strings → error. */
export function optStrList(o: JsonObject, k: string, where: string, prefix = ''): string[] | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x): x is string => typeof x === 'string')) throw new JsonFieldError(where, join(prefix, k), 'is not a list of strings');
  return v;
}

/** `o` without the given keys: the unknown fields a typed value carries so a write-back preserves them. */
export function omitKeys(o: JsonObject, keys: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(o)) if (!keys.includes(k)) out[k] = v;
  return out;
}
