// The structural OpenAPI v3 schema of a CRD version, as a typed tree read once from the CRD.
import { isObject, type Json, type JsonObject } from './types.js';

export interface Schema {
  type?: string;
  description?: string;
  format?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: Json[];
  default?: Json;
  nullable?: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  allOf?: Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  not?: Schema;
  preserveUnknownFields?: boolean;
  intOrString?: boolean;
  embeddedResource?: boolean;
  listType?: string;
  listMapKeys?: string[];
  mapType?: string;
  /** The schema exactly as written, for OpenAPI documents. */
  raw: JsonObject;
}

function num(v: Json | undefined): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function strings(v: Json | undefined): string[] | undefined {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
}

/** Reads a schema object; unknown keywords are kept in `raw` only. */
export function parseSchema(raw: JsonObject): Schema {
  const s: Schema = { raw };
  if (typeof raw.type === 'string') s.type = raw.type;
  if (typeof raw.description === 'string') s.description = raw.description;
  if (typeof raw.format === 'string') s.format = raw.format;
  if (isObject(raw.properties)) {
    // no prototype: a field named `constructor` or `toString` in an object is not "known" to the schema
    s.properties = Object.create(null) as Record<string, Schema>;
    for (const [k, v] of Object.entries(raw.properties)) if (isObject(v)) s.properties[k] = parseSchema(v);
  }
  if (typeof raw.additionalProperties === 'boolean') s.additionalProperties = raw.additionalProperties;
  else if (isObject(raw.additionalProperties)) s.additionalProperties = parseSchema(raw.additionalProperties);
  if (isObject(raw.items)) s.items = parseSchema(raw.items);
  s.required = strings(raw.required);
  if (Array.isArray(raw.enum)) s.enum = raw.enum;
  if ('default' in raw) s.default = raw.default;
  if (raw.nullable === true) s.nullable = true;
  s.minimum = num(raw.minimum);
  s.maximum = num(raw.maximum);
  if (raw.exclusiveMinimum === true) s.exclusiveMinimum = true;
  if (raw.exclusiveMaximum === true) s.exclusiveMaximum = true;
  s.minLength = num(raw.minLength);
  s.maxLength = num(raw.maxLength);
  if (typeof raw.pattern === 'string') s.pattern = raw.pattern;
  s.minItems = num(raw.minItems);
  s.maxItems = num(raw.maxItems);
  s.minProperties = num(raw.minProperties);
  s.maxProperties = num(raw.maxProperties);
  for (const k of ['allOf', 'anyOf', 'oneOf'] as const) {
    const v = raw[k];
    if (Array.isArray(v)) s[k] = v.filter(isObject).map(parseSchema);
  }
  if (isObject(raw.not)) s.not = parseSchema(raw.not);
  if (raw['x-kubernetes-preserve-unknown-fields'] === true) s.preserveUnknownFields = true;
  if (raw['x-kubernetes-int-or-string'] === true) s.intOrString = true;
  if (raw['x-kubernetes-embedded-resource'] === true) s.embeddedResource = true;
  if (typeof raw['x-kubernetes-list-type'] === 'string') s.listType = raw['x-kubernetes-list-type'];
  s.listMapKeys = strings(raw['x-kubernetes-list-map-keys']);
  if (typeof raw['x-kubernetes-map-type'] === 'string') s.mapType = raw['x-kubernetes-map-type'];
  return s;
}

/** The schema of a child field, or undefined where the schema says nothing (or allows anything). */
export function childSchema(s: Schema | undefined, key: string): Schema | undefined {
  if (!s) return undefined;
  if (s.properties?.[key]) return s.properties[key];
  if (typeof s.additionalProperties === 'object') return s.additionalProperties;
  return undefined;
}
