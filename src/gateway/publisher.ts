// The active gateway publishes its Endpoint and its Cluster in the local namespace (broker sync copies them
// out) and removes its cluster's other local Endpoints (a previous active gateway's). `planPublish` is pure;
// `publish` reads what is there, plans and applies the ops one by one.
import type { Logger } from '../log/index.js';
import type { GatewayConfig } from '../config/roles.js';
import { canonical } from '../k8s/brokersync.js';
import { clusterSpecToWire, endpointObjectName, endpointSpecToWire, SUBMARINER_GROUP, SUBMARINER_VERSION, type ClusterSpec, type EndpointSpec } from '../k8s/resources.js';
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

export interface PublishObserved {
  /** Every Endpoint in the local namespace. */
  endpoints: readonly KubeObject[];
  /** Our Cluster object, if it exists. */
  cluster: KubeObject | undefined;
}

function upsert(collection: string, wanted: KubeObject, existing: KubeObject | undefined): PublishOp[] {
  if (!existing) return [{ kind: 'create', collection, object: wanted }];
  if (canonical(existing.spec) === canonical(wanted.spec)) return [];
  return [{ kind: 'replace', path: `${collection}/${wanted.metadata.name}`, object: { ...wanted, metadata: { ...existing.metadata } } }];
}

/** Pure: the writes that make the local namespace show our Endpoint and Cluster, and only ours for our cluster. */
export function planPublish(local: EndpointSpec, cluster: ClusterSpec, namespace: string, observed: PublishObserved): PublishOp[] {
  const apiVersion = `${SUBMARINER_GROUP}/${SUBMARINER_VERSION}`;
  const epCollection = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'endpoints', namespace);
  const clCollection = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'clusters', namespace);
  const name = endpointObjectName(local.clusterId, local.cableName);
  const ops: PublishOp[] = [];
  const mine = observed.endpoints.find((o) => o.metadata.name === name);
  ops.push(...upsert(epCollection, { apiVersion, kind: 'Endpoint', metadata: { name, namespace }, spec: endpointSpecToWire(local) }, mine));
  ops.push(...upsert(clCollection, { apiVersion, kind: 'Cluster', metadata: { name: cluster.clusterId, namespace }, spec: clusterSpecToWire(cluster) }, observed.cluster));
  for (const o of observed.endpoints) {
    const spec = o.spec as { cluster_id?: unknown } | undefined;
    // Copies from the broker carry the clusterID label; an unlabelled one of our cluster is a local leftover.
    if (o.metadata.name !== name && spec?.cluster_id === local.clusterId && !o.metadata.labels?.['submariner-io/clusterID']) {
      ops.push({ kind: 'delete', path: `${epCollection}/${o.metadata.name}`, why: 'a previous active gateway\'s Endpoint' });
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
    const ops = planPublish(o.local, o.cluster, ns, { endpoints: eps.items, cluster });
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
