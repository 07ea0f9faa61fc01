// Server-side printing: `meta.k8s.io/v1 Table` answers for `kubectl get`, with a CRD's
// additionalPrinterColumns or the usual columns of the built-in kinds.
import type { ResourceType } from './registry.js';
import { isObject, str, type Json, type JsonObject, type KubeObject } from './types.js';

interface Column {
  name: string;
  type: string;
  format?: string;
  description: string;
  priority: number;
  cell(o: KubeObject, now: number): Json;
}

/** kubectl's human durations (`45s`, `5m30s`, `3h`, `2d4h`, `1y20d`). */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const days = Math.floor(hours / 24) % 365;
    return days === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${days}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

function age(ts: Json | undefined, now: number): string {
  if (typeof ts !== 'string') return '<unknown>';
  const t = Date.parse(ts);
  return Number.isNaN(t) ? '<invalid>' : humanDuration(now - t);
}

/** Evaluates the simple JSONPath of printer columns: `.a.b`, `.a[0].b`, `.a[*].b`. */
export function evalJsonPath(obj: Json, path: string): Json[] {
  const p = path.trim().replace(/^\{(.*)\}$/, '$1').replace(/^\$/, '');
  const tokens = p.match(/\.[^.[\]]+|\[[^\]]*\]/g) ?? [];
  let cur: Json[] = [obj];
  for (const t of tokens) {
    const next: Json[] = [];
    for (const v of cur) {
      if (t.startsWith('.')) {
        const k = t.slice(1);
        if (isObject(v) && k in v) next.push(v[k]!);
      } else {
        const inner = t.slice(1, -1).replace(/^['"]|['"]$/g, '');
        if (inner === '*') {
          if (Array.isArray(v)) next.push(...v);
          else if (isObject(v)) next.push(...Object.values(v));
        } else if (/^-?\d+$/.test(inner) && Array.isArray(v)) {
          const i = Number(inner);
          const x = v[i < 0 ? v.length + i : i];
          if (x !== undefined) next.push(x);
        } else if (isObject(v) && inner in v) next.push(v[inner]!);
      }
    }
    cur = next;
  }
  return cur;
}

function jsonPathCell(o: KubeObject, path: string, type: string, now: number): Json {
  const results = evalJsonPath(o, path);
  if (results.length === 0) return null;
  const v = results.length === 1 ? results[0]! : results;
  if (type === 'date') return age(v, now);
  if (type === 'string') return typeof v === 'string' ? v : JSON.stringify(v);
  if ((type === 'integer' || type === 'number') && typeof v === 'number') return v;
  if (type === 'boolean' && typeof v === 'boolean') return v;
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : JSON.stringify(v);
}

const NAME: Column = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.',
  priority: 0,
  cell: (o) => str(o.metadata.name) ?? '',
};
const AGE: Column = {
  name: 'Age',
  type: 'string',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
  priority: 0,
  cell: (o, now) => age(o.metadata.creationTimestamp, now),
};

function col(name: string, cell: (o: KubeObject, now: number) => Json, priority = 0, type = 'string'): Column {
  return { name, type, description: name, priority, cell };
}

function get(o: Json | undefined, ...path: string[]): Json | undefined {
  let cur = o;
  for (const p of path) cur = isObject(cur) ? cur[p] : undefined;
  return cur;
}

function arr(v: Json | undefined): Json[] {
  return Array.isArray(v) ? v : [];
}

function count(v: Json | undefined): number {
  return isObject(v) ? Object.keys(v).length : Array.isArray(v) ? v.length : 0;
}

function podStatus(o: KubeObject): string {
  if (o.metadata.deletionTimestamp) return 'Terminating';
  const reason = str(get(o, 'status', 'reason'));
  if (reason) return reason;
  for (const cs of arr(get(o, 'status', 'containerStatuses'))) {
    const waiting = str(get(cs, 'state', 'waiting', 'reason'));
    if (waiting) return waiting;
  }
  return str(get(o, 'status', 'phase')) ?? 'Pending';
}

function nodeReady(o: KubeObject): string {
  const ready = arr(get(o, 'status', 'conditions')).find((c) => isObject(c) && c.type === 'Ready');
  const s = isObject(ready) && ready.status === 'True' ? 'Ready' : 'NotReady';
  return get(o, 'spec', 'unschedulable') === true ? `${s},SchedulingDisabled` : s;
}

function nodeAddress(o: KubeObject, type: string): string {
  const a = arr(get(o, 'status', 'addresses')).find((x) => isObject(x) && x.type === type);
  return (isObject(a) ? str(a.address) : undefined) ?? '<none>';
}

function servicePorts(o: KubeObject): string {
  const ports = arr(get(o, 'spec', 'ports')).filter(isObject);
  if (ports.length === 0) return '<none>';
  return ports.map((p) => `${String(p.port)}${p.nodePort ? `:${String(p.nodePort)}` : ''}/${str(p.protocol) ?? 'TCP'}`).join(',');
}

function selectorText(v: Json | undefined): string {
  return isObject(v) && Object.keys(v).length ? Object.entries(v).map(([k, x]) => `${k}=${String(x)}`).join(',') : '<none>';
}

const BUILTIN_COLUMNS: Readonly<Record<string, Column[]>> = {
  '/namespaces': [NAME, col('Status', (o) => str(get(o, 'status', 'phase')) ?? ''), AGE],
  '/nodes': [
    NAME,
    col('Status', nodeReady),
    col('Roles', (o) => Object.keys(isObject(o.metadata.labels) ? o.metadata.labels : {}).filter((k) => k.startsWith('node-role.kubernetes.io/')).map((k) => k.slice(24)).join(',') || '<none>'),
    AGE,
    col('Version', (o) => str(get(o, 'status', 'nodeInfo', 'kubeletVersion')) ?? ''),
    col('Internal-IP', (o) => nodeAddress(o, 'InternalIP'), 1),
    col('External-IP', (o) => nodeAddress(o, 'ExternalIP'), 1),
  ],
  '/pods': [
    NAME,
    col('Ready', (o) => `${arr(get(o, 'status', 'containerStatuses')).filter((c) => isObject(c) && c.ready === true).length}/${arr(get(o, 'spec', 'containers')).length}`),
    col('Status', podStatus),
    col('Restarts', (o) => arr(get(o, 'status', 'containerStatuses')).reduce<number>((n, c) => n + (typeof get(c, 'restartCount') === 'number' ? (get(c, 'restartCount') as number) : 0), 0), 0, 'integer'),
    AGE,
    col('IP', (o) => str(get(o, 'status', 'podIP')) ?? '<none>', 1),
    col('Node', (o) => str(get(o, 'spec', 'nodeName')) ?? '<none>', 1),
  ],
  '/services': [
    NAME,
    col('Type', (o) => str(get(o, 'spec', 'type')) ?? 'ClusterIP'),
    col('Cluster-IP', (o) => str(get(o, 'spec', 'clusterIP')) ?? '<none>'),
    col('External-IP', (o) => arr(get(o, 'spec', 'externalIPs')).map(String).join(',') || '<none>'),
    col('Port(s)', servicePorts),
    AGE,
    col('Selector', (o) => selectorText(get(o, 'spec', 'selector')), 1),
  ],
  '/endpoints': [
    NAME,
    col('Endpoints', (o) => {
      const eps: string[] = [];
      for (const s of arr(get(o, 'subsets'))) {
        const ports = arr(get(s, 'ports')).map((p) => get(p, 'port'));
        for (const a of arr(get(s, 'addresses'))) {
          const ip = str(get(a, 'ip')) ?? '';
          if (ports.length === 0) eps.push(ip);
          else for (const p of ports) eps.push(`${ip}:${String(p)}`);
        }
      }
      return eps.length ? eps.slice(0, 3).join(',') + (eps.length > 3 ? ` + ${eps.length - 3} more...` : '') : '<none>';
    }),
    AGE,
  ],
  '/events': [
    col('Last Seen', (o, now) => age(o.lastTimestamp ?? get(o, 'series', 'lastObservedTime') ?? o.eventTime ?? o.metadata.creationTimestamp, now)),
    col('Type', (o) => str(o.type) ?? ''),
    col('Reason', (o) => str(o.reason) ?? ''),
    col('Object', (o) => `${(str(get(o, 'involvedObject', 'kind')) ?? '').toLowerCase()}/${str(get(o, 'involvedObject', 'name')) ?? ''}`),
    col('Message', (o) => str(o.message) ?? ''),
  ],
  '/secrets': [NAME, col('Type', (o) => str(o.type) ?? ''), col('Data', (o) => count(o.data), 0, 'integer'), AGE],
  '/configmaps': [NAME, col('Data', (o) => count(o.data) + count(o.binaryData), 0, 'integer'), AGE],
  '/serviceaccounts': [NAME, col('Secrets', (o) => count(o.secrets), 0, 'integer'), AGE],
  'coordination.k8s.io/leases': [NAME, col('Holder', (o) => str(get(o, 'spec', 'holderIdentity')) ?? ''), AGE],
  'discovery.k8s.io/endpointslices': [
    NAME,
    col('AddressType', (o) => str(o.addressType) ?? ''),
    col('Ports', (o) => arr(o.ports).map((p) => String(get(p, 'port') ?? '')).join(',') || '<unset>'),
    col('Endpoints', (o) => arr(o.endpoints).flatMap((e) => arr(get(e, 'addresses')).map(String)).join(',') || '<unset>'),
    AGE,
  ],
  'apps/deployments': [
    NAME,
    col('Ready', (o) => `${Number(get(o, 'status', 'readyReplicas') ?? 0)}/${Number(get(o, 'spec', 'replicas') ?? 1)}`),
    col('Up-to-date', (o) => Number(get(o, 'status', 'updatedReplicas') ?? 0), 0, 'integer'),
    col('Available', (o) => Number(get(o, 'status', 'availableReplicas') ?? 0), 0, 'integer'),
    AGE,
  ],
  'apps/daemonsets': [
    NAME,
    col('Desired', (o) => Number(get(o, 'status', 'desiredNumberScheduled') ?? 0), 0, 'integer'),
    col('Current', (o) => Number(get(o, 'status', 'currentNumberScheduled') ?? 0), 0, 'integer'),
    col('Ready', (o) => Number(get(o, 'status', 'numberReady') ?? 0), 0, 'integer'),
    col('Up-to-date', (o) => Number(get(o, 'status', 'updatedNumberScheduled') ?? 0), 0, 'integer'),
    col('Available', (o) => Number(get(o, 'status', 'numberAvailable') ?? 0), 0, 'integer'),
    col('Node Selector', (o) => selectorText(get(o, 'spec', 'template', 'spec', 'nodeSelector'))),
    AGE,
  ],
  'rbac.authorization.k8s.io/rolebindings': [NAME, col('Role', (o) => `${str(get(o, 'roleRef', 'kind')) ?? ''}/${str(get(o, 'roleRef', 'name')) ?? ''}`), AGE],
  'rbac.authorization.k8s.io/clusterrolebindings': [NAME, col('Role', (o) => `${str(get(o, 'roleRef', 'kind')) ?? ''}/${str(get(o, 'roleRef', 'name')) ?? ''}`), AGE],
  'apiextensions.k8s.io/customresourcedefinitions': [NAME, { ...AGE, name: 'Created At', type: 'date', cell: (o) => str(o.metadata.creationTimestamp) ?? '' }],
};

function columnsFor(t: ResourceType): Column[] {
  const builtin = BUILTIN_COLUMNS[`${t.group}/${t.plural}`];
  if (builtin) return builtin;
  if (t.printerColumns.length === 0) return [NAME, AGE];
  return [
    NAME,
    ...t.printerColumns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format,
      description: c.description ?? c.name,
      priority: c.priority,
      cell: (o: KubeObject, now: number) => jsonPathCell(o, c.jsonPath, c.type, now),
    })),
  ];
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

function rowObject(o: KubeObject, include: IncludeObject): Json {
  if (include === 'None') return null;
  if (include === 'Object') return o;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
}

/** A Table of `objects`; `headers` false leaves out the column definitions (watch events after the first). */
export function toTable(t: ResourceType, objects: KubeObject[], opts: { include: IncludeObject; headers: boolean; listMeta?: JsonObject }): JsonObject {
  const cols = columnsFor(t);
  const now = Date.now();
  const table: JsonObject = { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: opts.listMeta ?? {} };
  table.columnDefinitions = opts.headers
    ? cols.map((c) => {
        const d: JsonObject = { name: c.name, type: c.type, format: c.format ?? '', description: c.description, priority: c.priority };
        return d;
      })
    : [];
  table.rows = objects.map((o) => {
    const row: JsonObject = { cells: cols.map((c) => c.cell(o, now)) };
    const ro = rowObject(o, opts.include);
    if (ro !== null) row.object = ro;
    return row;
  });
  return table;
}
