// The active gateway publishes its Endpoint and its Cluster in the local namespace (broker sync copies them
// out) and removes its cluster's other local Endpoints (a previous active gateway's). `planPublish` is pure;
// `publish` reads what is there, plans and applies the ops one by one.
import type { Logger } from '../log/index.js';
import type { GatewayConfig } from '../config/roles.js';
import { canonical } from '../k8s/brokersync.js';
import { CLUSTER_ID_LABEL, metaToWire, SUBMARINER_API_VERSION, SUBMARINER_GROUP, SUBMARINER_VERSION, wireMeta, type Parsed, type WireMeta } from '../k8s/submariner/common.js';
import { clusterSpecToWire, parseCluster, type Cluster, type ClusterSpec } from '../k8s/submariner/cluster.js';
import { endpointObjectName, endpointSpecToWire, parseEndpoint, specClusterId, type Endpoint, type EndpointSpec } from '../k8s/submariner/endpoint.js';
import { isApiError, resourcePath, type KubeObject, type RestClient } from '../k8s/rest.js';

export type PublishOp =
  | { kind: 'create'; collection: string; object: KubeObject }
  | { kind: 'replace'; path: string; object: KubeObject }
  | { kind: 'delete'; path: string; why: string };

export function describePublishOp(op: PublishOp): string {
  switch (op.kind) {
    case 'create':
      return `create ${op.object.kind} ${op.object.metadata.name}`;
    case 'replace':
      return `update ${op.object.kind} ${op.object.metadata.name}`;
    case 'delete':
      return `delete ${op.path.split('/').slice(-2).join(' ')} (${op.why})`;
  }
}

/** An object found in the API: its metadata, and its spec in wire form when it parses (undefined: it does not). */
export interface ObservedObject {
  meta: WireMeta;
  wireSpec?: Record<string, unknown>;
}

/** An Endpoint found in the local namespace; `clusterId` is its spec's claim even when the rest does not parse. */
export interface ObservedEndpoint extends ObservedObject {
  clusterId?: string;
}

export interface PublishObserved {
  /** Every Endpoint in the local namespace. */
  endpoints: readonly ObservedEndpoint[];
  /** Our Cluster object, if it exists. */
  cluster: ObservedObject | undefined;
}

/** Reads a listed Endpoint through the wire model (its spec re-serialised, unknown fields kept, for comparison). */
export function observedEndpoint(raw: KubeObject): ObservedEndpoint {
  const p = parseEndpoint(raw);
  const clusterId = specClusterId(raw);
  return { ...observed(p, raw, (e: Endpoint) => endpointSpecToWire(e.spec, e.unknownSpec)), ...(clusterId !== undefined ? { clusterId } : {}) };
}

export function observedCluster(raw: KubeObject): ObservedObject {
  return observed(parseCluster(raw), raw, (c: Cluster) => clusterSpecToWire(c.spec, c.unknownSpec));
}

function observed<T extends { meta: WireMeta }>(p: Parsed<T>, raw: KubeObject, spec: (v: T) => Record<string, unknown>): ObservedObject {
  if (p.ok) return { meta: p.value.meta, wireSpec: spec(p.value) };
  // A spec that does not parse is replaced by ours: its metadata is enough for that (a listed object has a name).
  return { meta: wireMeta(raw) ?? wireMeta({ metadata: { name: raw.metadata.name } })! };
}

function upsert(collection: string, wanted: KubeObject, existing: ObservedObject | undefined): PublishOp[] {
  if (!existing) return [{ kind: 'create', collection, object: wanted }];
  if (existing.wireSpec && canonical(existing.wireSpec) === canonical(wanted.spec)) return [];
  return [{ kind: 'replace', path: `${collection}/${wanted.metadata.name}`, object: { ...wanted, metadata: { ...metaToWire(existing.meta), name: wanted.metadata.name } } }];
}

/** Pure: the writes that make the local namespace show our Endpoint and Cluster, and only ours for our cluster. */
export function planPublish(local: EndpointSpec, cluster: ClusterSpec, namespace: string, observed: PublishObserved): PublishOp[] {
  const apiVersion = SUBMARINER_API_VERSION;
  const epCollection = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'endpoints', namespace);
  const clCollection = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'clusters', namespace);
  const name = endpointObjectName(local.clusterId, local.cableName);
  const ops: PublishOp[] = [];
  const mine = observed.endpoints.find((o) => o.meta.name === name);
  ops.push(...upsert(epCollection, { apiVersion, kind: 'Endpoint', metadata: { name, namespace }, spec: endpointSpecToWire(local) }, mine));
  ops.push(...upsert(clCollection, { apiVersion, kind: 'Cluster', metadata: { name: cluster.clusterId, namespace }, spec: clusterSpecToWire(cluster) }, observed.cluster));
  for (const o of observed.endpoints) {
    // Copies from the broker carry the clusterID label; an unlabelled one of our cluster is a local leftover.
    if (o.meta.name !== name && o.clusterId === local.clusterId && !o.meta.labels[CLUSTER_ID_LABEL]) {
      ops.push({ kind: 'delete', path: `${epCollection}/${o.meta.name}`, why: 'a previous active gateway\'s Endpoint' });
    }
  }
  return ops;
}

/** Reads, plans and applies once; a 409 (someone wrote since the read) plans again from a fresh read. */
export async function publish(o: { client: RestClient; cfg: GatewayConfig; local: EndpointSpec; cluster: ClusterSpec; log: Logger }): Promise<PublishOp[]> {
  const ns = o.cfg.namespace;
  for (let attempt = 1; ; attempt++) {
    const [eps, cluster] = await Promise.all([
      o.client.list(resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'endpoints', ns)),
      o.client.getOrUndefined(resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'clusters', ns, o.cluster.clusterId)),
    ]);
    const ops = planPublish(o.local, o.cluster, ns, { endpoints: eps.items.map(observedEndpoint), cluster: cluster ? observedCluster(cluster) : undefined });
    try {
      for (const op of ops) await applyPublishOp(o.client, op);
    } catch (err) {
      if (isApiError(err, 409) && attempt < 3) continue;
      throw err;
    }
    for (const op of ops) o.log.info({ endpoint: o.local.cableName, op: describePublishOp(op) }, 'published');
    return ops;
  }
}

async function applyPublishOp(client: RestClient, op: PublishOp): Promise<void> {
  switch (op.kind) {
    case 'create':
      await client.create(op.collection, op.object);
      return;
    case 'replace':
      await client.replace(op.path, op.object);
      return;
    case 'delete':
      await client.delete(op.path).catch((err: unknown) => {
        if (!isApiError(err, 404)) throw err;
      });
  }
}
