// The kinds this server serves: the built-in ones and every version of every established CRD.
// Objects are stored per group/resource, whatever version they were written in.
import { parseSchema, type Schema } from './schema.js';
import { isObject, str, type Json, type JsonObject, type StatusCause } from './types.js';

export interface PrinterColumn {
  name: string;
  type: string;
  format?: string;
  description?: string;
  priority: number;
  jsonPath: string;
}

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories: string[];
  namespaced: boolean;
  /** A `/status` subresource: status is written only there, spec only on the main resource. */
  statusSubresource: boolean;
  /** metadata.generation is kept and bumped on spec changes. */
  generation: boolean;
  /** Structural schema (CRDs): pruning, defaulting, validation. */
  schema?: Schema;
  printerColumns: PrinterColumn[];
  /** Field labels usable in fieldSelector beyond metadata.name/metadata.namespace. */
  fieldLabels: string[];
  /** Accepts application/strategic-merge-patch+json (built-in kinds only, as Kubernetes). */
  strategicMerge: boolean;
  /** DELETE answers the deleted object rather than a Success Status. */
  deleteReturnsObject: boolean;
  /** Only `create` (reviews); nothing is stored. */
  virtual: boolean;
  /** The CRD that defines it, if any. */
  crdName?: string;
}

export function apiVersionOf(t: { group: string; version: string }): string {
  return t.group ? `${t.group}/${t.version}` : t.version;
}

export function storageKey(t: { group: string; plural: string }): string {
  return `${t.group}/${t.plural}`;
}

export const STANDARD_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

interface BuiltinSpec {
  group: string;
  version: string;
  kind: string;
  plural: string;
  shortNames?: string[];
  categories?: string[];
  namespaced: boolean;
  status?: boolean;
  generation?: boolean;
  fieldLabels?: string[];
  deleteReturnsObject?: boolean;
  virtual?: boolean;
}

const BUILTINS: BuiltinSpec[] = [
  { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', shortNames: ['ns'], namespaced: false, status: true, fieldLabels: ['status.phase'] },
  { group: '', version: 'v1', kind: 'Node', plural: 'nodes', shortNames: ['no'], namespaced: false, status: true, fieldLabels: ['spec.unschedulable'] },
  {
    group: '', version: 'v1', kind: 'Pod', plural: 'pods', shortNames: ['po'], categories: ['all'], namespaced: true, status: true,
    fieldLabels: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
    deleteReturnsObject: true,
  },
  { group: '', version: 'v1', kind: 'Service', plural: 'services', shortNames: ['svc'], categories: ['all'], namespaced: true, status: true },
  { group: '', version: 'v1', kind: 'Endpoints', plural: 'endpoints', shortNames: ['ep'], namespaced: true },
  { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, fieldLabels: ['type'] },
  { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', shortNames: ['cm'], namespaced: true },
  {
    group: '', version: 'v1', kind: 'Event', plural: 'events', shortNames: ['ev'], namespaced: true,
    fieldLabels: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'],
  },
  { group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', shortNames: ['sa'], namespaced: true },
  // stored apart from core/v1 Events (Kubernetes shows both views of one object; recorders use one or the other)
  { group: 'events.k8s.io', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, fieldLabels: ['regarding.kind', 'regarding.name', 'regarding.namespace', 'reason', 'type', 'reportingController'] },
  { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true, fieldLabels: ['addressType'] },
  { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true },
  {
    group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', shortNames: ['crd', 'crds'],
    namespaced: false, status: true, generation: true, deleteReturnsObject: true,
  },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', namespaced: true },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false },
  { group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets', shortNames: ['ds'], categories: ['all'], namespaced: true, status: true, generation: true },
  { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', shortNames: ['deploy'], categories: ['all'], namespaced: true, status: true, generation: true },
  { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'ValidatingAdmissionPolicy', plural: 'validatingadmissionpolicies', namespaced: false, status: true, generation: true },
  { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'ValidatingAdmissionPolicyBinding', plural: 'validatingadmissionpolicybindings', namespaced: false, generation: true },
  { group: 'authorization.k8s.io', version: 'v1', kind: 'SelfSubjectAccessReview', plural: 'selfsubjectaccessreviews', namespaced: false, virtual: true },
];

function builtinType(b: BuiltinSpec): ResourceType {
  return {
    group: b.group,
    version: b.version,
    kind: b.kind,
    listKind: `${b.kind}List`,
    plural: b.plural,
    singular: b.kind.toLowerCase(),
    shortNames: b.shortNames ?? [],
    categories: b.categories ?? [],
    namespaced: b.namespaced,
    statusSubresource: b.status ?? false,
    generation: b.generation ?? false,
    printerColumns: [],
    fieldLabels: b.fieldLabels ?? [],
    strategicMerge: true,
    deleteReturnsObject: b.deleteReturnsObject ?? false,
    virtual: b.virtual ?? false,
  };
}

export interface GroupInfo {
  name: string;
  versions: string[];
  preferred: string;
}

/** Reads a CRD into the resource types of its served versions, or the reasons it is invalid. */
export function crdToTypes(crd: JsonObject): { types: ResourceType[]; causes: StatusCause[] } {
  const causes: StatusCause[] = [];
  const bad = (field: string, reason: string, message: string): void => void causes.push({ field, reason, message });
  const metaName = isObject(crd.metadata) ? str(crd.metadata.name) : undefined;
  const spec = isObject(crd.spec) ? crd.spec : undefined;
  if (!spec) {
    bad('spec', 'FieldValueRequired', 'Required value');
    return { types: [], causes };
  }
  const group = str(spec.group) ?? '';
  const names = isObject(spec.names) ? spec.names : {};
  const plural = str(names.plural) ?? '';
  const kind = str(names.kind) ?? '';
  if (!group) bad('spec.group', 'FieldValueRequired', 'Required value');
  else if (!group.includes('.')) bad('spec.group', 'FieldValueInvalid', `Invalid value: "${group}": should be a domain with at least one dot`);
  if (!plural) bad('spec.names.plural', 'FieldValueRequired', 'Required value');
  else if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(plural)) bad('spec.names.plural', 'FieldValueInvalid', `Invalid value: "${plural}": a lowercase RFC 1123 label`);
  if (!kind) bad('spec.names.kind', 'FieldValueRequired', 'Required value');
  if (metaName !== `${plural}.${group}`) {
    bad('metadata.name', 'FieldValueInvalid', `Invalid value: "${metaName ?? ''}": must be spec.names.plural+"."+spec.group`);
  }
  const scope = str(spec.scope);
  if (scope !== 'Namespaced' && scope !== 'Cluster') bad('spec.scope', 'FieldValueNotSupported', `Unsupported value: "${scope ?? ''}": supported values: "Cluster", "Namespaced"`);
  const versions = Array.isArray(spec.versions) ? spec.versions.filter(isObject) : [];
  if (versions.length === 0) bad('spec.versions', 'FieldValueInvalid', 'Invalid value: must have exactly one version marked as storage version');
  else if (versions.filter((v) => v.storage === true).length !== 1) {
    bad('spec.versions', 'FieldValueInvalid', 'Invalid value: must have exactly one version marked as storage version');
  }
  const types: ResourceType[] = [];
  versions.forEach((v, i) => {
    const vname = str(v.name) ?? '';
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(vname)) bad(`spec.versions[${i}].name`, 'FieldValueInvalid', `Invalid value: "${vname}"`);
    const schemaJson = isObject(v.schema) && isObject(v.schema.openAPIV3Schema) ? v.schema.openAPIV3Schema : undefined;
    if (!schemaJson) bad(`spec.versions[${i}].schema.openAPIV3Schema`, 'FieldValueRequired', 'Required value: schemas are required');
    else if (schemaJson.type !== 'object') bad(`spec.versions[${i}].schema.openAPIV3Schema.type`, 'FieldValueRequired', 'Required value: must be object at the root');
    if (v.served !== true) return;
    const sub = isObject(v.subresources) ? v.subresources : {};
    const columns: PrinterColumn[] = [];
    const colsJson = Array.isArray(v.additionalPrinterColumns) ? v.additionalPrinterColumns.filter(isObject) : [];
    for (const c of colsJson) {
      const name = str(c.name);
      const jsonPath = str(c.jsonPath);
      if (!name || !jsonPath) continue;
      columns.push({
        name,
        jsonPath,
        type: str(c.type) ?? 'string',
        format: str(c.format),
        description: str(c.description),
        priority: typeof c.priority === 'number' ? c.priority : 0,
      });
    }
    if (colsJson.length === 0) {
      columns.push({ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', priority: 0, description: 'Age of the object' });
    }
    const selectable = Array.isArray(v.selectableFields) ? v.selectableFields.filter(isObject).map((f) => (str(f.jsonPath) ?? '').replace(/^\./, '')) : [];
    types.push({
      group,
      version: vname,
      kind,
      listKind: str(names.listKind) ?? `${kind}List`,
      plural,
      singular: str(names.singular) ?? kind.toLowerCase(),
      shortNames: stringList(names.shortNames),
      categories: stringList(names.categories),
      namespaced: scope !== 'Cluster',
      statusSubresource: isObject(sub.status),
      generation: true,
      schema: schemaJson ? parseSchema(schemaJson) : undefined,
      printerColumns: columns,
      fieldLabels: selectable.filter((s) => s !== ''),
      strategicMerge: false,
      deleteReturnsObject: true,
      virtual: false,
      crdName: metaName,
    });
  });
  return { types, causes };
}

function stringList(v: Json | undefined): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export class Registry {
  private readonly types = new Map<string, ResourceType>(); // group/version/plural
  private readonly crdTypes = new Map<string, ResourceType[]>(); // crd name -> its served versions
  private readonly storageVersions = new Map<string, string>(); // group/plural -> version objects are written in
  /** Bumped on every change, so discovery and OpenAPI caches know when to rebuild. */
  generation = 0;

  constructor() {
    for (const b of BUILTINS) this.add(builtinType(b));
    for (const b of BUILTINS) this.storageVersions.set(`${b.group}/${b.plural}`, b.version);
  }

  private add(t: ResourceType): void {
    this.types.set(`${t.group}/${t.version}/${t.plural}`, t);
  }

  get(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.get(`${group}/${version}/${plural}`);
  }

  /** The type of an object written with this apiVersion and kind. */
  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) : ['', apiVersion];
    for (const t of this.types.values()) if (t.group === group && t.version === version && t.kind === kind) return t;
    return undefined;
  }

  /** Any served version of group/plural (for garbage collection and namespace cleanup). */
  anyVersion(group: string, plural: string): ResourceType | undefined {
    const v = this.storageVersions.get(`${group}/${plural}`);
    return v ? this.get(group, v, plural) : [...this.types.values()].find((t) => t.group === group && t.plural === plural);
  }

  storageVersion(group: string, plural: string): string | undefined {
    return this.storageVersions.get(`${group}/${plural}`);
  }

  isBuiltin(group: string, plural: string): boolean {
    return BUILTINS.some((b) => b.group === group && b.plural === plural);
  }

  groups(): GroupInfo[] {
    const byGroup = new Map<string, Set<string>>();
    for (const t of this.types.values()) {
      if (!byGroup.has(t.group)) byGroup.set(t.group, new Set());
      byGroup.get(t.group)!.add(t.version);
    }
    const out: GroupInfo[] = [];
    for (const [name, vs] of byGroup) {
      const versions = [...vs].sort(compareVersions);
      const storage = [...this.storageVersions.entries()].find(([k]) => k.startsWith(`${name}/`))?.[1];
      out.push({ name, versions, preferred: versions[0] ?? storage ?? 'v1' });
    }
    return out;
  }

  /** Types served under one group-version. */
  inGroupVersion(group: string, version: string): ResourceType[] {
    return [...this.types.values()].filter((t) => t.group === group && t.version === version);
  }

  /** Why a CRD cannot be served (empty when it can). */
  checkCrd(crd: JsonObject): StatusCause[] {
    const { types, causes } = crdToTypes(crd);
    const first = types[0];
    if (first && this.isBuiltin(first.group, first.plural)) {
      causes.push({ field: 'metadata.name', reason: 'FieldValueInvalid', message: `Invalid value: "${first.crdName ?? ''}": conflicts with a built-in resource` });
    }
    return causes;
  }

  /** Registers (or re-registers) a CRD; returns validation causes instead when it is invalid. */
  applyCrd(crd: JsonObject): StatusCause[] {
    const causes = this.checkCrd(crd);
    if (causes.length > 0) return causes;
    const { types } = crdToTypes(crd);
    const first = types[0];
    const name = (isObject(crd.metadata) ? str(crd.metadata.name) : undefined) ?? '';
    this.removeCrd(name);
    for (const t of types) this.add(t);
    this.crdTypes.set(name, types);
    const spec = isObject(crd.spec) ? crd.spec : {};
    const versions = Array.isArray(spec.versions) ? spec.versions.filter(isObject) : [];
    const storage = str(versions.find((v) => v.storage === true)?.name);
    if (first && storage) this.storageVersions.set(`${first.group}/${first.plural}`, storage);
    this.generation++;
    return [];
  }

  removeCrd(name: string): void {
    const old = this.crdTypes.get(name);
    if (!old) return;
    for (const t of old) this.types.delete(`${t.group}/${t.version}/${t.plural}`);
    if (old[0]) this.storageVersions.delete(`${old[0].group}/${old[0].plural}`);
    this.crdTypes.delete(name);
    this.generation++;
  }

  crdOf(name: string): ResourceType[] {
    return this.crdTypes.get(name) ?? [];
  }
}

/** Kubernetes version priority: GA > beta > alpha, higher numbers first (v1 before v1beta1 before v1alpha1). */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string): [number, number, number, string] => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return [0, 0, 0, v];
    const stage = m[2] === 'alpha' ? 1 : m[2] === 'beta' ? 2 : 3;
    return [stage, Number(m[1]), Number(m[3] ?? 0), v];
  };
  const [sa, ma, na, ta] = parse(a);
  const [sb, mb, nb, tb] = parse(b);
  if (sa === 0 && sb === 0) return ta.localeCompare(tb);
  if (sa !== sb) return sb - sa;
  if (ma !== mb) return mb - ma;
  if (na !== nb) return nb - na;
  return 0;
}
