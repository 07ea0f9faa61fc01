// HTTP front of the API server: authentication, routing of discovery/OpenAPI/resource paths,
// authorization, content negotiation (JSON, YAML, Table, PartialObjectMetadata), watch streams.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import YAML from 'yaml';
import type { AdmissionPolicies } from './admission.js';
import { userInfo, type Authenticator } from './auth.js';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, versionInfo } from './discovery.js';
import { checkInput, checkTextDepth } from './limits.js';
import { PATCH_CONTENT_TYPES, type Admission, type DeleteOptions, type FieldValidation, type ListQuery, type Objects, type WriteOptions } from './objects.js';
import type { OpenApiCache } from './openapi.js';
import { authorize, forbiddenMessage, MASTERS, parseRules, referencedRules, ruleText, rulesOf, uncovered, type RbacObjects, type RequestAttributes, type UserInfo } from './rbac.js';
import { apiVersionOf, type Registry, type ResourceType } from './registry.js';
import { decodeProtobufObject, isProtobuf } from './protobuf.js';
import { pinnedName } from './selectors.js';
import type { Entry, EventType, Store } from './store.js';
import { toTable, type IncludeObject } from './table.js';
import { ApiError, errors, isApiError, isObject, rfc3339, str, type Json, type JsonObject, type KubeObject } from './types.js';

export interface HttpDeps {
  objects: Objects;
  registry: Registry;
  store: Store;
  auth: Authenticator;
  openapi: OpenApiCache;
  log: Logger;
  /** host:port clients reach this server at (APIVersions.serverAddressByClientCIDRs). */
  serverAddress: string;
  maxBodyBytes: number;
  bookmarkIntervalMs: number;
  /** Upper bound of a watch without timeoutSeconds (jittered up to twice this). */
  watchTimeoutMs: number;
  policies: AdmissionPolicies;
  watchLimits: WatchLimits;
}

export interface WatchLimits {
  perUser: number;
  total: number;
  /** A watch whose client stops reading is ended once this much is queued for it. */
  backlogBytes: number;
  /** All watches together; past it, a watch with a backlog of its own is ended. */
  backlogTotalBytes: number;
}

const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version', '/version/']);
/** A watch with this much queued counts as slow: the total backlog is checked then. */
const SLOW_WATCH_BYTES = 1024 * 1024;
const RBAC_GROUP = 'rbac.authorization.k8s.io';
const ADMISSION_GROUP = 'admissionregistration.k8s.io';

/** Open watches, per user and in all. */
interface WatchRegistry {
  byUser: Map<string, number>;
  open: Set<ServerResponse>;
}

interface ResourceRequest {
  group: string;
  version: string;
  namespace?: string;
  resource: string;
  name?: string;
  subresource?: string;
  watchPath: boolean;
}

type Route =
  | { kind: 'health' }
  | { kind: 'version' }
  | { kind: 'api' }
  | { kind: 'apis' }
  | { kind: 'group'; group: string }
  | { kind: 'groupVersion'; group: string; version: string }
  | { kind: 'openapiIndex' }
  | { kind: 'openapiDoc'; path: string }
  | { kind: 'resource'; r: ResourceRequest }
  | { kind: 'notFound' };

export function route(pathname: string): Route {
  let segs: string[];
  try {
    segs = pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
  } catch {
    return { kind: 'notFound' };
  }
  const p = '/' + segs.join('/');
  if (p === '/healthz' || p === '/livez' || p === '/readyz' || /^\/(healthz|livez|readyz)\/[\w-]+$/.test(p)) return { kind: 'health' };
  if (p === '/version') return { kind: 'version' };
  if (p === '/openapi/v3') return { kind: 'openapiIndex' };
  if (segs[0] === 'openapi' && segs[1] === 'v3') return { kind: 'openapiDoc', path: segs.slice(2).join('/') };
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api') {
    if (segs.length === 1) return { kind: 'api' };
    group = '';
    version = segs[1]!;
    rest = segs.slice(2);
    if (rest.length === 0) return { kind: 'groupVersion', group, version };
  } else if (segs[0] === 'apis') {
    if (segs.length === 1) return { kind: 'apis' };
    if (segs.length === 2) return { kind: 'group', group: segs[1]! };
    group = segs[1]!;
    version = segs[2]!;
    rest = segs.slice(3);
    if (rest.length === 0) return { kind: 'groupVersion', group, version };
  } else return { kind: 'notFound' };
  let watchPath = false;
  if (rest[0] === 'watch') {
    watchPath = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length === 0 || rest.length > 3) return { kind: 'notFound' };
  return { kind: 'resource', r: { group, version, namespace, resource: rest[0]!, name: rest[1], subresource: rest[2], watchPath } };
}

function rbacObjects(store: Store): RbacObjects {
  const G = 'rbac.authorization.k8s.io';
  const list = (p: string, ns?: string): JsonObject[] => store.list(`${G}/${p}`, ns).map((e) => e.obj);
  return {
    roles: (ns) => list('roles', ns),
    role: (ns, name) => store.get(`${G}/roles`, ns, name),
    clusterRoles: () => list('clusterroles'),
    clusterRole: (name) => store.get(`${G}/clusterroles`, '', name),
    roleBindings: (ns) => list('rolebindings', ns),
    clusterRoleBindings: () => list('clusterrolebindings'),
  };
}

function flag(v: string | null): boolean {
  return v === 'true' || v === '1';
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw errors.badRequest(`invalid value for ${name}: ${JSON.stringify(v)}: must be a non-negative integer`);
  return Number(v);
}

interface Negotiated {
  table: boolean;
  partial: boolean;
  yaml: boolean;
}

function negotiate(accept: string | undefined): Negotiated {
  const a = accept ?? '';
  const types = a.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const first = types.find((t) => /json|yaml|\*\/\*/.test(t));
  if (types.length > 0 && !first) {
    throw new ApiError(406, 'NotAcceptable', `only the following media types are accepted: application/json, application/yaml (asked for ${a})`);
  }
  return {
    table: /as=Table/.test(first ?? '') && /g=meta\.k8s\.io/.test(first ?? ''),
    partial: /as=PartialObjectMetadata/.test(first ?? ''),
    yaml: (first ?? '').startsWith('application/yaml'),
  };
}

function includeObject(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject');
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

export function requestHandler(d: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const rbac = rbacObjects(d.store);
  const watches: WatchRegistry = { byUser: new Map(), open: new Set() };
  return (req, res) => {
    const started = Date.now();
    let user: UserInfo | undefined;
    res.on('finish', () => {
      d.log.debug({ method: req.method, path: req.url, code: res.statusCode, ms: Date.now() - started, user: user?.name }, 'request');
    });
    handle(d, rbac, watches, req, res, (u) => (user = u)).catch((err: unknown) => {
      if (!isApiError(err)) d.log.error({ err, method: req.method, path: req.url }, 'request failed');
      const apiErr = isApiError(err) ? err : errors.internal(err instanceof Error ? err.message : String(err));
      if (res.headersSent) {
        res.end();
        return;
      }
      // an unauthenticated client or an oversized body gets no kept-alive connection to try again on
      const close = apiErr.httpCode === 401 || apiErr.httpCode === 413;
      if (apiErr.httpCode === 507 || apiErr.httpCode === 429) res.setHeader('Retry-After', '1');
      sendJson(res, apiErr.httpCode, apiErr.toStatus(), { close });
      if (close) req.resume();
    });
  };
}

/** Warning text a response carries at most, counted in characters, and the length each is cut to once over it. */
export const WARNING_TOTAL_CHARS = 4 * 1024;
export const WARNING_ITEM_CHARS = 256;

/**
 * The warnings one response carries, bounded as kube-apiserver bounds them: duplicates once; when all of
 * them exceed WARNING_TOTAL_CHARS, each is cut to WARNING_ITEM_CHARS and those that still do not fit are
 * dropped. Unbounded, an update pruning a field in each of 200 list items sent ~25 KB of Warning headers,
 * over Node's 16 KB response-header limit, so the client saw a parse error for a write that succeeded.
 */
export function limitWarnings(warnings: readonly string[]): string[] {
  const unique = [...new Set(warnings)];
  const chars = (w: string): number => [...w].length;
  if (unique.reduce((n, w) => n + chars(w), 0) <= WARNING_TOTAL_CHARS) return unique;
  const out: string[] = [];
  let written = 0;
  for (const w of unique) {
    const cut = [...w].slice(0, WARNING_ITEM_CHARS).join('');
    if (written + chars(cut) > WARNING_TOTAL_CHARS) break;
    out.push(cut);
    written += chars(cut);
  }
  return out;
}

function sendJson(res: ServerResponse, code: number, body: JsonObject | string, opts: { yaml?: boolean; warnings?: string[]; close?: boolean } = {}): void {
  const text = typeof body === 'string' ? body : opts.yaml ? YAML.stringify(body) : JSON.stringify(body);
  const headers: Record<string, string | string[]> = {
    'Content-Type': opts.yaml ? 'application/yaml' : 'application/json',
    'Cache-Control': 'no-cache, private',
    'Content-Length': String(Buffer.byteLength(text)),
  };
  const warnings = limitWarnings(opts.warnings ?? []);
  if (warnings.length) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  if (opts.close) headers.Connection = 'close';
  res.writeHead(code, headers);
  res.end(text);
}

/** The request body, up to `limit` bytes; beyond that a 413 (the rest is read and dropped). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) {
    req.resume();
    return Promise.reject(errors.tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let failed = false;
    req.on('data', (b: Buffer) => {
      if (failed) return;
      total += b.length;
      if (total > limit) {
        failed = true;
        chunks.length = 0;
        reject(errors.tooLarge(limit));
        return;
      }
      chunks.push(b);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!failed) reject(errors.badRequest(`reading the request body: ${err.message}`));
      failed = true;
    });
  });
}

/**
 * A request body as JSON: JSON, YAML or protobuf by Content-Type (anything else is 415), nested
 * at most MAX_DEPTH deep and without `__proto__` keys (400).
 */
function parseBody(body: Buffer, contentType: string | undefined): Json {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (isProtobuf(contentType)) {
    const v = decodeProtobufObject(body);
    checkInput(v);
    return v;
  }
  const yaml = mediaType === 'application/yaml' || mediaType === 'application/x-yaml' || mediaType === 'text/yaml';
  // no Content-Type is read as JSON (curl -d without -H); a declared type must be one we decode
  if (!yaml && mediaType !== '' && mediaType !== 'application/json' && mediaType !== '*/*' && !/^application\/[\w.+-]*\+json$/.test(mediaType)) {
    throw errors.unsupportedMediaType(`the body of the request was in an unknown format (${mediaType}) - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`);
  }
  const text = body.toString('utf8');
  if (text.trim() === '') throw errors.badRequest('the request body is empty');
  checkTextDepth(text);
  let v: Json;
  try {
    v = yaml ? (YAML.parse(text, { version: '1.2' }) as Json) : (JSON.parse(text) as Json);
  } catch (err) {
    throw errors.badRequest(`error decoding the request body: ${(err as Error).message}`);
  }
  checkInput(v);
  return v;
}

async function handle(d: HttpDeps, rbac: RbacObjects, watches: WatchRegistry, req: IncomingMessage, res: ServerResponse, setUser: (u: UserInfo) => void): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
  } catch {
    throw errors.badRequest(`malformed request URL ${JSON.stringify(req.url)}`);
  }
  const method = (req.method ?? 'GET').toUpperCase();
  const authenticated = d.auth.authenticate(req.headers.authorization);
  const user = authenticated ? impersonate(authenticated, req, rbac) : undefined;
  const pathname = url.pathname.replace(/\/+$/, '') || '/';
  if (!user) {
    const anonymousOk = method === 'GET' && !req.headers.authorization && (PUBLIC_PATHS.has(pathname) || /^\/(healthz|livez|readyz)\//.test(pathname));
    if (!anonymousOk) throw errors.unauthorized();
  } else setUser(user);
  const r = route(pathname);
  if (r.kind === 'health') {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache, private' });
    res.end('ok');
    return;
  }
  if (r.kind !== 'resource') {
    if (method !== 'GET' && method !== 'HEAD') throw errors.methodNotAllowed(`${method} is not supported on ${pathname}`);
    if (user) {
      const a: RequestAttributes = { verb: 'get', path: pathname };
      if (!authorize(user, a, rbac).allowed) throw errors.forbidden(forbiddenMessage(user, a));
    }
    serveNonResource(d, r, req, res);
    return;
  }
  await serveResource(d, rbac, watches, user!, r.r, method, url.searchParams, req, res);
}

function serveNonResource(d: HttpDeps, r: Route, req: IncomingMessage, res: ServerResponse): void {
  const notFound = (): never => {
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  };
  switch (r.kind) {
    case 'version':
      return sendJson(res, 200, versionInfo());
    case 'api':
      return sendJson(res, 200, apiVersions(d.serverAddress));
    case 'apis':
      return sendJson(res, 200, apiGroupList(d.registry));
    case 'group':
      return sendJson(res, 200, apiGroup(d.registry, r.group) ?? notFound());
    case 'groupVersion':
      return sendJson(res, 200, apiResourceList(d.registry, r.group, r.version) ?? notFound());
    case 'openapiIndex':
      return sendJson(res, 200, d.openapi.index());
    case 'openapiDoc': {
      const doc = d.openapi.document(r.path) ?? notFound();
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Cache-Control': new URL(req.url ?? '/', 'http://x').searchParams.get('hash') === doc.hash ? 'public, immutable' : 'no-cache, private',
        Etag: `"${doc.hash}"`,
        'Content-Length': String(Buffer.byteLength(doc.body)),
      });
      res.end(doc.body);
      return;
    }
    default:
      return notFound();
  }
}

function verbOf(method: string, r: ResourceRequest, q: URLSearchParams): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (r.name) return 'get';
      return r.watchPath || flag(q.get('watch')) ? 'watch' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return r.name ? 'delete' : 'deletecollection';
    default:
      throw errors.methodNotAllowed(`the server does not allow this method on the requested resource (${method})`);
  }
}

function writeOptions(q: URLSearchParams, admission: Admission, warnings: string[]): WriteOptions {
  const dry = q.getAll('dryRun');
  if (dry.some((v) => v !== 'All')) throw errors.badRequest(`Invalid value: ${JSON.stringify(dry)}: supported values: "All"`);
  const fv = q.get('fieldValidation');
  if (fv !== null && fv !== 'Strict' && fv !== 'Warn' && fv !== 'Ignore') {
    throw errors.badRequest(`fieldValidation: Unsupported value: "${fv}": supported values: "Ignore", "Strict", "Warn"`);
  }
  const fm = q.get('fieldManager') ?? undefined;
  if (fm !== undefined && fm.length > 128) throw errors.badRequest('fieldManager: Too long: may not be more than 128 bytes');
  return { dryRun: dry.length > 0, fieldValidation: (fv ?? undefined) as FieldValidation | undefined, fieldManager: fm, force: flag(q.get('force')), warnings, admission };
}

function listQuery(q: URLSearchParams): ListQuery {
  return {
    labelSelector: q.get('labelSelector') ?? undefined,
    fieldSelector: q.get('fieldSelector') ?? undefined,
    limit: intParam(q, 'limit'),
    continue: q.get('continue') || undefined,
    resourceVersion: q.get('resourceVersion') ?? undefined,
    resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined,
  };
}

function deleteOptions(body: Buffer, contentType: string | undefined, q: URLSearchParams): DeleteOptions {
  const o: DeleteOptions = {};
  if (body.length > 0) {
    const v = parseBody(body, contentType);
    if (isObject(v)) {
      const pp = v.propagationPolicy;
      if (pp === 'Background' || pp === 'Foreground' || pp === 'Orphan') o.propagationPolicy = pp;
      if (v.orphanDependents === true) o.propagationPolicy = 'Orphan';
      if (isObject(v.preconditions)) o.preconditions = { uid: str(v.preconditions.uid), resourceVersion: str(v.preconditions.resourceVersion) };
      if (Array.isArray(v.dryRun) && v.dryRun.includes('All')) o.dryRun = true;
    }
  }
  const pp = q.get('propagationPolicy');
  if (pp !== null) {
    if (pp !== 'Background' && pp !== 'Foreground' && pp !== 'Orphan') throw errors.badRequest(`propagationPolicy: Unsupported value: "${pp}"`);
    o.propagationPolicy = pp;
  }
  if (q.getAll('dryRun').includes('All')) o.dryRun = true;
  return o;
}

function successStatus(t: ResourceType, o: KubeObject): JsonObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: str(o.metadata.name) ?? '', group: t.group, kind: t.plural, uid: str(o.metadata.uid) ?? '' } };
}

async function serveResource(d: HttpDeps, rbac: RbacObjects, watches: WatchRegistry, user: UserInfo, r: ResourceRequest, method: string, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const t = d.registry.get(r.group, r.version, r.resource);
  const verb = verbOf(method, r, q);
  const isNamespaceObj = r.group === '' && r.resource === 'namespaces';
  const attrs: RequestAttributes = {
    verb,
    apiGroup: r.group,
    resource: r.resource,
    subresource: r.subresource,
    namespace: isNamespaceObj ? r.name : r.namespace,
    name: r.name,
  };
  if ((verb === 'list' || verb === 'watch') && t && q.get('fieldSelector')) {
    // RBAC resourceNames apply to a list or watch pinned to one name, as in Kubernetes
    try {
      attrs.name = pinnedName(d.objects.selectors(t, { fieldSelector: q.get('fieldSelector') ?? undefined }).fields);
    } catch {
      // the request itself reports the bad selector below
    }
  }
  if (!authorize(user, attrs, rbac).allowed) {
    throw new ApiError(403, 'Forbidden', forbiddenMessage(user, attrs), { name: r.name, group: r.group, kind: r.resource });
  }
  if (!t) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  if (t.namespaced && r.name === undefined && method === 'POST' && r.namespace === undefined) {
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  }
  if (!t.namespaced && r.namespace !== undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  const tokenRequest = r.subresource === 'token' && t.group === '' && t.plural === 'serviceaccounts' && method === 'POST';
  if (r.subresource !== undefined && !(r.subresource === 'status' && t.statusSubresource) && !tokenRequest) {
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  }
  if (t.namespaced && r.name !== undefined && r.namespace === undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  const ns = r.namespace ?? '';
  const neg = negotiate(req.headers.accept);

  if (tokenRequest) {
    const body = parseBody(await readBody(req, d.maxBodyBytes), req.headers['content-type']);
    return sendJson(res, 201, issueToken(d, t, ns, r.name!, body));
  }
  const warnings: string[] = [];
  const admission: Admission = (op, obj, old, sub) => {
    if (t.group === RBAC_GROUP && obj) preventEscalation(user, t, ns, obj, rbac);
    if (t.group === ADMISSION_GROUP && t.plural === 'validatingadmissionpolicies' && obj) {
      const causes = d.policies.causes(obj);
      if (causes.length) throw errors.invalid(t.kind, t.group, str(obj.metadata.name) ?? '', causes);
    }
    warnings.push(...d.policies.admit({
      operation: op, type: t, namespace: ns, name: str((obj ?? old)?.metadata.name) ?? r.name ?? '', subresource: sub, object: obj, oldObject: old, user, dryRun: q.getAll('dryRun').includes('All'),
    }));
  };
  if (t.virtual) {
    if (verb !== 'create') throw errors.methodNotAllowed(`the server does not allow this method on the requested resource`);
    const body = parseBody(await readBody(req, d.maxBodyBytes), req.headers['content-type']);
    return sendJson(res, 201, selfSubjectAccessReview(user, body, rbac));
  }

  switch (verb) {
    case 'get': {
      const o = d.objects.get(t, ns, r.name!);
      return sendObject(res, 200, t, o, neg, q);
    }
    case 'list':
      return sendList(d, res, t, r.namespace, listQuery(q), neg, q);
    case 'watch':
      return serveWatch(d, watches, user, req, res, t, r.namespace, q, neg);
    case 'create': {
      const w = writeOptions(q, admission, warnings);
      const body = parseBody(await readBody(req, d.maxBodyBytes), req.headers['content-type']);
      const o = d.objects.create(t, ns, body, w);
      // answered only once the write is on disk
      await d.store.synced();
      return sendObject(res, 201, t, o, neg, q, w.warnings);
    }
    case 'update': {
      const w = writeOptions(q, admission, warnings);
      const body = parseBody(await readBody(req, d.maxBodyBytes), req.headers['content-type']);
      const o = d.objects.update(t, ns, r.name!, body, w, r.subresource);
      await d.store.synced();
      return sendObject(res, 200, t, o, neg, q, w.warnings);
    }
    case 'patch': {
      const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      const type = PATCH_CONTENT_TYPES[ct];
      if (!type) {
        throw errors.unsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: ${Object.keys(PATCH_CONTENT_TYPES).join(', ')}`);
      }
      const w = writeOptions(q, admission, warnings);
      const raw = (await readBody(req, d.maxBodyBytes)).toString('utf8');
      const { obj, created } = d.objects.patch(t, ns, r.name!, type, raw, w, r.subresource);
      await d.store.synced();
      return sendObject(res, created ? 201 : 200, t, obj, neg, q, w.warnings);
    }
    case 'delete': {
      const opts = deleteOptions(await readBody(req, d.maxBodyBytes), req.headers['content-type'], q);
      opts.admission = admission;
      const { obj, gone } = d.objects.delete(t, ns, r.name!, opts);
      await d.store.synced();
      if (gone && !t.deleteReturnsObject) return sendJson(res, 200, successStatus(t, obj), { warnings });
      return sendObject(res, gone ? 200 : 202, t, obj, neg, q, warnings);
    }
    case 'deletecollection': {
      const opts = deleteOptions(await readBody(req, d.maxBodyBytes), req.headers['content-type'], q);
      opts.admission = admission;
      d.objects.deleteCollection(t, r.namespace, listQuery(q), opts);
      await d.store.synced();
      return sendJson(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' }, { warnings });
    }
  }
}

function sendObject(res: ServerResponse, code: number, t: ResourceType, o: KubeObject, neg: Negotiated, q: URLSearchParams, warnings?: string[]): void {
  if (neg.table) return sendJson(res, code, toTable(t, [o], { include: includeObject(q), headers: true }), { warnings });
  if (neg.partial) return sendJson(res, code, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata }, { warnings });
  sendJson(res, code, o, { yaml: neg.yaml, warnings });
}

function entryJson(d: HttpDeps, t: ResourceType, e: Entry): string {
  return e.obj.apiVersion === apiVersionOf(t) ? e.json : JSON.stringify(d.objects.present(t, e.obj));
}

function sendList(d: HttpDeps, res: ServerResponse, t: ResourceType, ns: string | undefined, lq: ListQuery, neg: Negotiated, q: URLSearchParams): void {
  const result = d.objects.list(t, ns, lq);
  const listMeta: JsonObject = { resourceVersion: result.resourceVersion };
  if (result.continue) listMeta.continue = result.continue;
  if (result.remainingItemCount !== undefined) listMeta.remainingItemCount = result.remainingItemCount;
  if (neg.table) {
    return sendJson(res, 200, toTable(t, result.items.map((e) => d.objects.present(t, e.obj)), { include: includeObject(q), headers: true, listMeta }));
  }
  if (neg.partial) {
    const items = result.items.map((e) => ({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: e.obj.metadata }));
    return sendJson(res, 200, { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: listMeta, items });
  }
  if (neg.yaml) {
    const items = result.items.map((e) => d.objects.present(t, e.obj));
    return sendJson(res, 200, { kind: t.listKind, apiVersion: apiVersionOf(t), metadata: listMeta, items }, { yaml: true });
  }
  // assembled from each object's cached JSON: lists of thousands stay cheap
  const head = `{"kind":${JSON.stringify(t.listKind)},"apiVersion":${JSON.stringify(apiVersionOf(t))},"metadata":${JSON.stringify(listMeta)},"items":[`;
  const body = head + result.items.map((e) => entryJson(d, t, e)).join(',') + ']}';
  sendJson(res, 200, body);
}

function serveWatch(d: HttpDeps, watches: WatchRegistry, user: UserInfo, req: IncomingMessage, res: ServerResponse, t: ResourceType, ns: string | undefined, q: URLSearchParams, neg: Negotiated): void {
  const lq = listQuery(q);
  const limits = d.watchLimits;
  const mine = watches.byUser.get(user.name) ?? 0;
  if (mine >= limits.perUser || watches.open.size >= limits.total) {
    d.log.warn({ user: user.name, userWatches: mine, watches: watches.open.size }, 'watch limit reached: refusing a watch (429)');
    throw new ApiError(429, 'TooManyRequests', mine >= limits.perUser
      ? `too many watches: user "${user.name}" already has ${mine} (limit ${limits.perUser})`
      : `too many watches: the server has ${watches.open.size} (limit ${limits.total})`, { retryAfterSeconds: 1 });
  }
  const timeoutSeconds = intParam(q, 'timeoutSeconds');
  const bookmarks = flag(q.get('allowWatchBookmarks'));
  const sendInitial = flag(q.get('sendInitialEvents'));
  if (sendInitial) lq.resourceVersion = undefined;
  d.objects.matcher(t, lq); // a bad selector is a 400, before the stream starts
  const av = apiVersionOf(t);
  const include = includeObject(q);
  let headers = true;
  let stopped = false;
  const timers: NodeJS.Timeout[] = [];
  let unsubscribe: (() => void) | undefined;
  let counted = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    for (const tm of timers) clearTimeout(tm);
    unsubscribe?.();
    if (counted) {
      counted = false;
      watches.open.delete(res);
      const n = (watches.byUser.get(user.name) ?? 1) - 1;
      if (n <= 0) watches.byUser.delete(user.name);
      else watches.byUser.set(user.name, n);
    }
    if (!res.writableEnded) res.end();
  };
  /** Ends a watch whose client does not read: its queued events would otherwise grow without bound. */
  const slowWatcher = (): void => {
    d.log.warn({ user: user.name, resource: t.plural, backlog: res.writableLength }, 'watch client is not reading; closing its watch');
    stop();
    // the queued bytes go with the connection, not when (if ever) the client reads them
    res.destroy();
  };
  let corked = false;
  const write = (line: string): void => {
    if (stopped) return;
    // events of one tick (a burst of writes, a replay) leave in one syscall
    if (!corked) {
      corked = true;
      res.cork();
      process.nextTick(() => {
        corked = false;
        res.uncork();
      });
    }
    res.write(line);
    const backlog = res.writableLength;
    if (backlog > limits.backlogBytes) slowWatcher();
    else if (backlog > SLOW_WATCH_BYTES) {
      let total = 0;
      for (const w of watches.open) total += w.writableLength;
      if (total > limits.backlogTotalBytes) slowWatcher();
    }
  };
  const eventLine = (type: EventType, e: Entry): string => {
    if (neg.table) {
      const table = toTable(t, [d.objects.present(t, e.obj)], { include, headers });
      headers = false;
      return JSON.stringify({ type, object: table }) + '\n';
    }
    return `{"type":"${type}","object":${entryJson(d, t, e)}}\n`;
  };
  const bookmark = (annotations?: JsonObject): string => {
    const metadata: JsonObject = { resourceVersion: String(d.store.resourceVersion) };
    if (annotations) metadata.annotations = annotations;
    return JSON.stringify({ type: 'BOOKMARK', object: { kind: t.kind, apiVersion: av, metadata } }) + '\n';
  };
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'no-cache, private');
  req.socket.setKeepAlive(true, 30_000);
  req.socket.setTimeout(0);
  res.on('close', stop);
  counted = true;
  watches.open.add(res);
  watches.byUser.set(user.name, mine + 1);
  try {
    unsubscribe = d.objects.watch(t, ns, lq, { deliver: (type, e) => write(eventLine(type, e)) });
  } catch (err) {
    if (isApiError(err) && err.httpCode === 410) {
      res.end(JSON.stringify({ type: 'ERROR', object: err.toStatus() }) + '\n');
      return;
    }
    throw err;
  }
  if (!res.headersSent) res.flushHeaders();
  if (sendInitial && bookmarks) write(bookmark({ 'k8s.io/initial-events-end': 'true' }));
  const limitMs = timeoutSeconds !== undefined ? timeoutSeconds * 1000 : d.watchTimeoutMs * (1 + Math.random());
  if (timeoutSeconds !== 0 || limitMs > 0) timers.push(setTimeout(stop, limitMs));
  if (bookmarks && d.bookmarkIntervalMs > 0) {
    const tick = (): void => {
      write(bookmark());
      if (!stopped) timers.push(setTimeout(tick, d.bookmarkIntervalMs));
    };
    timers.push(setTimeout(tick, d.bookmarkIntervalMs));
  }
}

function selfSubjectAccessReview(user: UserInfo, body: Json, rbac: RbacObjects): JsonObject {
  const spec = isObject(body) && isObject(body.spec) ? body.spec : {};
  let attrs: RequestAttributes;
  if (isObject(spec.resourceAttributes)) {
    const ra = spec.resourceAttributes;
    attrs = {
      verb: str(ra.verb) ?? '',
      apiGroup: str(ra.group) ?? '',
      resource: str(ra.resource) ?? '',
      subresource: str(ra.subresource) || undefined,
      namespace: str(ra.namespace) || undefined,
      name: str(ra.name) || undefined,
    };
  } else if (isObject(spec.nonResourceAttributes)) {
    attrs = { verb: str(spec.nonResourceAttributes.verb) ?? '', path: str(spec.nonResourceAttributes.path) ?? '' };
  } else {
    throw errors.invalid('SelfSubjectAccessReview', 'authorization.k8s.io', '', [{ field: 'spec.resourceAttributes', reason: 'FieldValueRequired', message: 'Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified' }]);
  }
  const decision = authorize(user, attrs, rbac);
  const status: JsonObject = { allowed: decision.allowed };
  if (decision.reason) status.reason = decision.reason;
  return { kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status };
}

/** TokenRequest (`serviceaccounts/<name>/token`): a signed token for the ServiceAccount. */
function issueToken(d: HttpDeps, t: ResourceType, ns: string, name: string, body: Json): JsonObject {
  const sa = d.objects.get(t, ns, name);
  const spec = isObject(body) && isObject(body.spec) ? body.spec : {};
  const requested = typeof spec.expirationSeconds === 'number' ? spec.expirationSeconds : 3600;
  if (requested < 600) {
    throw errors.invalid('TokenRequest', 'authentication.k8s.io', name, [{ field: 'spec.expirationSeconds', reason: 'FieldValueInvalid', message: `Invalid value: ${requested}: may not specify a duration less than 10 minutes` }]);
  }
  const seconds = Math.min(requested, 48 * 3600);
  const expires = new Date(Date.now() + seconds * 1000);
  const token = d.auth.issueToken({ namespace: ns, name, uid: str(sa.metadata.uid) }, expires);
  return {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name, namespace: ns, creationTimestamp: null },
    spec: { audiences: Array.isArray(spec.audiences) ? spec.audiences : ['https://kubernetes.default.svc'], expirationSeconds: seconds, boundObjectRef: null },
    status: { token, expirationTimestamp: rfc3339(expires) },
  };
}

function headerValues(req: IncomingMessage, name: string): string[] {
  const v = req.headers[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : v.split(',')).map((x) => x.trim()).filter((x) => x !== '');
}

/** Impersonate-User/-Group/-Uid (kubectl --as/--as-group), allowed by the `impersonate` verb as in Kubernetes. */
function impersonate(user: UserInfo, req: IncomingMessage, rbac: RbacObjects): UserInfo {
  const [asUser] = headerValues(req, 'impersonate-user');
  const asGroups = headerValues(req, 'impersonate-group');
  const [asUid] = headerValues(req, 'impersonate-uid');
  if (asUser === undefined) {
    if (asGroups.length || asUid) throw errors.badRequest('impersonating groups or a uid requires Impersonate-User');
    return user;
  }
  const checks: RequestAttributes[] = [];
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(asUser);
  checks.push(sa ? { verb: 'impersonate', apiGroup: '', resource: 'serviceaccounts', namespace: sa[1], name: sa[2] } : { verb: 'impersonate', apiGroup: '', resource: 'users', name: asUser });
  for (const g of asGroups) checks.push({ verb: 'impersonate', apiGroup: '', resource: 'groups', name: g });
  if (asUid) checks.push({ verb: 'impersonate', apiGroup: 'authentication.k8s.io', resource: 'uids', name: asUid });
  for (const a of checks) {
    if (!authorize(user, a, rbac).allowed) throw errors.forbidden(forbiddenMessage(user, a));
  }
  return userInfo(asUser, asGroups, asUid);
}

/**
 * Kubernetes' RBAC escalation prevention: a Role/ClusterRole may hold only rights the requester
 * holds (where it applies), unless the requester may `escalate` it; a binding may grant only a role
 * whose rights the requester holds, unless the requester may `bind` that role.
 */
function preventEscalation(user: UserInfo, t: ResourceType, ns: string, obj: KubeObject, rbac: RbacObjects): void {
  if (user.groups.includes(MASTERS)) return;
  const name = str(obj.metadata.name) ?? '';
  const scopeNs = t.namespaced ? ns : undefined;
  const refuse = (what: string): never => {
    throw new ApiError(403, 'Forbidden', `${t.plural}.${RBAC_GROUP} "${name}" is forbidden: user "${user.name}" (groups=${JSON.stringify(user.groups)}) ${what}`, { name, group: RBAC_GROUP, kind: t.plural });
  };
  if (t.plural === 'roles' || t.plural === 'clusterroles') {
    if (authorize(user, { verb: 'escalate', apiGroup: RBAC_GROUP, resource: t.plural, namespace: scopeNs, name }, rbac).allowed) return;
    const missing = uncovered(rulesOf(user, scopeNs, rbac), parseRules(obj));
    if (missing.length) refuse(`is attempting to grant RBAC permissions not currently held:\n${missing.map(ruleText).join('\n')}`);
    return;
  }
  if (t.plural === 'rolebindings' || t.plural === 'clusterrolebindings') {
    const ref = isObject(obj.roleRef) ? obj.roleRef : {};
    const refName = str(ref.name) ?? '';
    const refKind = str(ref.kind) ?? '';
    const refResource = refKind === 'ClusterRole' ? 'clusterroles' : 'roles';
    if (authorize(user, { verb: 'bind', apiGroup: RBAC_GROUP, resource: refResource, namespace: scopeNs, name: refName }, rbac).allowed) return;
    const rules = referencedRules(obj.roleRef, scopeNs, rbac);
    if (!rules) refuse(`cannot bind ${refKind} "${refName}": it does not exist, and binding it needs the "bind" verb on it`);
    const missing = uncovered(rulesOf(user, scopeNs, rbac), rules!);
    if (missing.length) refuse(`is attempting to grant RBAC permissions not currently held:\n${missing.map(ruleText).join('\n')}`);
  }
}
