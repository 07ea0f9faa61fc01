// Shared shapes of the embedded API server: JSON values, stored objects, and API errors that
// render as Kubernetes `Status` objects.
import { HawserError } from '../util/errors.js';

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An API object as stored: `metadata` is always an object. */
export interface KubeObject extends JsonObject {
  metadata: JsonObject;
}

export function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** RFC 3339 with second precision, as Kubernetes writes metav1.Time. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function clone<T extends Json>(v: T): T {
  return structuredClone(v);
}

/** Deep equality of JSON values (key order ignored). */
export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Expired'
  | 'Invalid'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'Timeout'
  | 'TooManyRequests'
  | 'InsufficientStorage'
  | 'InternalError';

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** An error the server answers with a `Status` object of this HTTP code and reason. */
export class ApiError extends HawserError {
  constructor(
    readonly httpCode: number,
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super('API', message);
    this.name = 'ApiError';
  }

  toStatus(): JsonObject {
    const s: JsonObject = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.httpCode,
    };
    if (this.details) s.details = this.details as unknown as JsonObject;
    return s;
  }
}

/** `<plural>.<group>` as Kubernetes names a resource in messages (`pods` for the core group). */
export function qualifiedResource(plural: string, group: string): string {
  return group ? `${plural}.${group}` : plural;
}

export const errors = {
  badRequest: (msg: string): ApiError => new ApiError(400, 'BadRequest', msg),
  notFound: (plural: string, group: string, name: string): ApiError =>
    new ApiError(404, 'NotFound', `${qualifiedResource(plural, group)} "${name}" not found`, { name, group, kind: plural }),
  alreadyExists: (plural: string, group: string, name: string): ApiError =>
    new ApiError(409, 'AlreadyExists', `${qualifiedResource(plural, group)} "${name}" already exists`, { name, group, kind: plural }),
  conflict: (plural: string, group: string, name: string, why: string): ApiError =>
    new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(plural, group)} "${name}": ${why}`, {
      name,
      group,
      kind: plural,
    }),
  invalid: (kind: string, group: string, name: string, causes: StatusCause[]): ApiError => {
    const list = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
    const joined = list.length === 1 ? list[0] : `[${list.join(', ')}]`;
    return new ApiError(422, 'Invalid', `${group ? `${kind}.${group}` : kind} "${name}" is invalid: ${joined}`, {
      name,
      group,
      kind,
      causes,
    });
  },
  expired: (msg: string): ApiError => new ApiError(410, 'Expired', msg),
  methodNotAllowed: (msg: string): ApiError => new ApiError(405, 'MethodNotAllowed', msg),
  unsupportedMediaType: (msg: string): ApiError => new ApiError(415, 'UnsupportedMediaType', msg),
  forbidden: (msg: string): ApiError => new ApiError(403, 'Forbidden', msg),
  unauthorized: (): ApiError => new ApiError(401, 'Unauthorized', 'Unauthorized'),
  tooLarge: (limit: number): ApiError => new ApiError(413, 'RequestEntityTooLarge', `request entity too large: limit is ${limit}`),
  internal: (msg: string): ApiError => new ApiError(500, 'InternalError', `Internal error occurred: ${msg}`),
};

export function isApiError(err: unknown): err is ApiError {
  return err instanceof ApiError;
}
