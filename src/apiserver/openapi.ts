// OpenAPI v3 documents, one per group-version, as kubectl reads them: `kubectl apply` checks that
// PATCH takes `fieldValidation` (then the server validates), `kubectl explain` walks the schema
// of the kind (found by `x-kubernetes-group-version-kind`). Built-in kinds get loose schemas;
// their PATCH does not list strategic merge, so kubectl computes those patches from its own types.
import { createHash } from 'node:crypto';
import type { Registry, ResourceType } from './registry.js';
import { clone, isObject, type Json, type JsonObject } from './types.js';

const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';
const LIST_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta';
const STATUS = 'io.k8s.apimachinery.pkg.apis.meta.v1.Status';

const str = (description: string): JsonObject => ({ type: 'string', description });

function objectMetaSchema(): JsonObject {
  const stringMap = (d: string): JsonObject => ({ type: 'object', additionalProperties: { type: 'string', default: '' }, description: d });
  return {
    description: 'ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.',
    type: 'object',
    properties: {
      name: str('Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.'),
      generateName: str('GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.'),
      namespace: str('Namespace defines the space within which each name must be unique.'),
      uid: str('UID is the unique in time and space value for this object. Populated by the system. Read-only.'),
      resourceVersion: str('An opaque value that represents the internal version of this object. Populated by the system. Read-only.'),
      generation: { type: 'integer', format: 'int64', description: 'A sequence number representing a specific generation of the desired state. Populated by the system. Read-only.' },
      creationTimestamp: { type: 'string', format: 'date-time', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.' },
      deletionTimestamp: { type: 'string', format: 'date-time', description: 'DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted.' },
      deletionGracePeriodSeconds: { type: 'integer', format: 'int64', description: 'Number of seconds allowed for this object to gracefully terminate before it will be removed from the system.' },
      labels: stringMap('Map of string keys and values that can be used to organize and categorize (scope and select) objects.'),
      annotations: stringMap('Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata.'),
      finalizers: {
        type: 'array',
        items: { type: 'string', default: '' },
        description: 'Must be empty before the object is deleted from the registry.',
        'x-kubernetes-list-type': 'set',
        'x-kubernetes-patch-strategy': 'merge',
      },
      ownerReferences: {
        type: 'array',
        description: 'List of objects depended by this object. If ALL objects in the list have been deleted, this object will be garbage collected.',
        items: {
          type: 'object',
          required: ['apiVersion', 'kind', 'name', 'uid'],
          properties: {
            apiVersion: str('API version of the referent.'),
            kind: str('Kind of the referent.'),
            name: str('Name of the referent.'),
            uid: str('UID of the referent.'),
            controller: { type: 'boolean', description: 'If true, this reference points to the managing controller.' },
            blockOwnerDeletion: { type: 'boolean', description: 'If true, AND if the owner has the "foregroundDeletion" finalizer, then the owner cannot be deleted from the key-value store until this reference is removed.' },
          },
        },
        'x-kubernetes-list-map-keys': ['uid'],
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-patch-merge-key': 'uid',
        'x-kubernetes-patch-strategy': 'merge',
      },
      managedFields: {
        type: 'array',
        description: 'ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow.',
        items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      },
    },
  };
}

function gvk(t: ResourceType, kind = t.kind): JsonObject {
  return { group: t.group, version: t.version, kind };
}

/** Kubernetes' schema names: `io.k8s.api.core.v1.Pod`, custom groups reversed (`io.submariner.v1.Endpoint`). */
export function schemaName(t: ResourceType, kind = t.kind): string {
  if (t.group === 'apiextensions.k8s.io') return `io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.${t.version}.${kind}`;
  if (t.group === '' || t.group.endsWith('.k8s.io') || t.group === 'apps') {
    const pkg = t.group === '' ? 'core' : t.group.replace(/\.k8s\.io$/, '').replace(/^rbac\.authorization$/, 'rbac');
    return `io.k8s.api.${pkg}.${t.version}.${kind}`;
  }
  return `${t.group.split('.').reverse().join('.')}.${t.version}.${kind}`;
}

function ref(name: string): JsonObject {
  return { $ref: `#/components/schemas/${name}` };
}

function kindSchema(t: ResourceType): JsonObject {
  const base: JsonObject = t.schema ? clone(t.schema.raw) : { type: 'object', description: `${t.kind} (served by hawser; fields are not described here).`, 'x-kubernetes-preserve-unknown-fields': true };
  const props: JsonObject = isObject(base.properties) ? { ...base.properties } : {};
  props.apiVersion = str('APIVersion defines the versioned schema of this representation of an object.');
  props.kind = str('Kind is a string value representing the REST resource this object represents.');
  props.metadata = { allOf: [ref(OBJECT_META)], default: {}, description: "Standard object's metadata." };
  base.properties = props;
  base['x-kubernetes-group-version-kind'] = [gvk(t)];
  return base;
}

function listSchema(t: ResourceType): JsonObject {
  return {
    type: 'object',
    description: `${t.listKind} is a list of ${t.kind}`,
    required: ['items'],
    properties: {
      apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
      kind: str('Kind is a string value representing the REST resource this object represents.'),
      metadata: { allOf: [ref(LIST_META)], default: {}, description: 'Standard list metadata.' },
      items: { type: 'array', description: `List of ${t.plural}.`, items: ref(schemaName(t)) },
    },
    'x-kubernetes-group-version-kind': [gvk(t, t.listKind)],
  };
}

const QUERY = (name: string, description: string, type = 'string'): JsonObject => ({ name, in: 'query', description, schema: { type, uniqueItems: true } });
const WRITE_PARAMS = [
  QUERY('dryRun', 'When present, indicates that modifications should not be persisted.'),
  QUERY('fieldManager', 'fieldManager is a name associated with the actor or entity that is making these changes.'),
  QUERY('fieldValidation', 'fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn or Strict.'),
];

function jsonBody(schema: string): JsonObject {
  return { content: { 'application/json': { schema: ref(schema) } }, required: true };
}

function okResponse(schema: string, code = '200'): JsonObject {
  return { [code]: { description: 'OK', content: { 'application/json': { schema: ref(schema) } } } };
}

function paths(t: ResourceType): Record<string, JsonObject> {
  const prefix = t.group ? `/apis/${t.group}/${t.version}` : `/api/${t.version}`;
  const base = t.namespaced ? `${prefix}/namespaces/{namespace}/${t.plural}` : `${prefix}/${t.plural}`;
  const obj = schemaName(t);
  const list = schemaName(t, t.listKind);
  const ext = (action: string): JsonObject => ({ 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk(t) });
  const pathParams: JsonObject[] = [];
  if (t.namespaced) pathParams.push({ name: 'namespace', in: 'path', required: true, description: 'object name and auth scope', schema: { type: 'string', uniqueItems: true } });
  const nameParam = { name: 'name', in: 'path', required: true, description: `name of the ${t.kind}`, schema: { type: 'string', uniqueItems: true } };
  const patchBody: JsonObject = {
    content: {
      'application/json-patch+json': { schema: { type: 'object' } },
      'application/merge-patch+json': { schema: { type: 'object' } },
      'application/apply-patch+yaml': { schema: { type: 'object' } },
    },
    required: true,
  };
  const op = (id: string, action: string, extra: JsonObject): JsonObject => ({ operationId: id, tags: [t.group || 'core'], ...ext(action), ...extra });
  const out: Record<string, JsonObject> = {};
  if (t.virtual) {
    out[base] = { post: op(`create${t.kind}`, 'post', { parameters: WRITE_PARAMS, requestBody: jsonBody(obj), responses: okResponse(obj, '201') }), parameters: pathParams };
    return out;
  }
  out[base] = {
    get: op(`list${t.kind}`, 'list', { parameters: [QUERY('labelSelector', 'A selector to restrict the list of returned objects by their labels.'), QUERY('fieldSelector', 'A selector to restrict the list of returned objects by their fields.'), QUERY('limit', 'limit is a maximum number of responses to return for a list call.', 'integer'), QUERY('continue', 'The continue option should be set when retrieving more results from the server.'), QUERY('watch', 'Watch for changes to the described resources.', 'boolean'), QUERY('resourceVersion', 'resourceVersion sets a constraint on what resource versions a request may be served from.')], responses: okResponse(list) }),
    post: op(`create${t.kind}`, 'post', { parameters: WRITE_PARAMS, requestBody: jsonBody(obj), responses: okResponse(obj, '201') }),
    delete: op(`deletecollection${t.kind}`, 'deletecollection', { responses: okResponse(STATUS) }),
    parameters: pathParams,
  };
  const item = {
    get: op(`read${t.kind}`, 'get', { responses: okResponse(obj) }),
    put: op(`replace${t.kind}`, 'put', { parameters: WRITE_PARAMS, requestBody: jsonBody(obj), responses: okResponse(obj) }),
    patch: op(`patch${t.kind}`, 'patch', { parameters: [...WRITE_PARAMS, QUERY('force', 'Force is going to "force" Apply requests.', 'boolean')], requestBody: patchBody, responses: okResponse(obj) }),
    delete: op(`delete${t.kind}`, 'delete', { responses: okResponse(STATUS) }),
    parameters: [nameParam, ...pathParams],
  };
  out[`${base}/{name}`] = item;
  if (t.statusSubresource) {
    out[`${base}/{name}/status`] = {
      get: op(`read${t.kind}Status`, 'get', { responses: okResponse(obj) }),
      put: op(`replace${t.kind}Status`, 'put', { parameters: WRITE_PARAMS, requestBody: jsonBody(obj), responses: okResponse(obj) }),
      patch: op(`patch${t.kind}Status`, 'patch', { parameters: [...WRITE_PARAMS, QUERY('force', 'Force is going to "force" Apply requests.', 'boolean')], requestBody: patchBody, responses: okResponse(obj) }),
      parameters: [nameParam, ...pathParams],
    };
  }
  return out;
}

export function groupVersionDocument(reg: Registry, group: string, version: string): JsonObject | undefined {
  const types = reg.inGroupVersion(group, version);
  if (types.length === 0) return undefined;
  const schemas: JsonObject = {
    [OBJECT_META]: objectMetaSchema(),
    [LIST_META]: {
      type: 'object',
      description: 'ListMeta describes metadata that synthetic resources must have, including lists and various status objects.',
      properties: { resourceVersion: str('String that identifies the server\'s internal version of this object.'), continue: str('continue may be set if the user set a limit on the number of items returned.'), remainingItemCount: { type: 'integer', format: 'int64' } },
    },
    [STATUS]: { type: 'object', description: 'Status is a return value for calls that don\'t return other objects.', 'x-kubernetes-preserve-unknown-fields': true },
  };
  const allPaths: Record<string, Json> = {};
  for (const t of types) {
    schemas[schemaName(t)] = kindSchema(t);
    if (!t.virtual) schemas[schemaName(t, t.listKind)] = listSchema(t);
    Object.assign(allPaths, paths(t));
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.32.0' },
    paths: allPaths,
    components: { schemas },
  };
}

/** Documents serialized once per registry generation, with the hashes kubectl caches by. */
export class OpenApiCache {
  private generation = -1;
  private docs = new Map<string, { body: string; hash: string }>();

  constructor(private readonly reg: Registry) {}

  private refresh(): void {
    if (this.generation === this.reg.generation) return;
    this.docs = new Map();
    for (const g of this.reg.groups()) {
      for (const v of g.versions) {
        const doc = groupVersionDocument(this.reg, g.name, v);
        if (!doc) continue;
        const body = JSON.stringify(doc);
        const hash = createHash('sha512').update(body).digest('hex').slice(0, 128).toUpperCase();
        this.docs.set(g.name ? `apis/${g.name}/${v}` : `api/${v}`, { body, hash });
      }
    }
    this.generation = this.reg.generation;
  }

  index(): JsonObject {
    this.refresh();
    const paths: JsonObject = {};
    for (const [p, d] of [...this.docs.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${d.hash}` };
    }
    return { paths };
  }

  document(path: string): { body: string; hash: string } | undefined {
    this.refresh();
    return this.docs.get(path);
  }
}
