// Cluster side of uninstall: the objects the agents wrote at run time (OWNED_CLUSTER_OBJECTS), hawser's
// node annotations, the local cluster's Endpoint/Cluster on the broker, and the manifests' objects
// (label app.kubernetes.io/part-of=hawser). Never CRDs, never other people's objects.
import { isApiError, resourcePath, type KubeObject, type RestClient } from '../k8s/rest.js';
import { errorMessage } from '../util/errors.js';
import { apps, core, rbac } from './kube.js';
import { OWNED_CLUSTER_OBJECTS, OWNED_NODE_ANNOTATIONS, PART_OF_LABEL, PART_OF_VALUE, type OwnedObjects } from './owned.js';

export interface ClusterUninstallReport { deleted: string[]; failures: string[] }

async function listOrEmpty(client: RestClient, path: string, query?: Record<string, string>): Promise<KubeObject[]> {
  try {
    return (await client.list(path, query)).items;
  } catch (err) {
    if (isApiError(err, 404)) return []; // the CRD is not installed: nothing of that kind exists
    throw err;
  }
}

async function deleteOne(client: RestClient, path: string, what: string, r: ClusterUninstallReport, finalizers?: readonly string[], obj?: KubeObject): Promise<void> {
  try {
    if (finalizers?.length && obj?.metadata.finalizers?.some((f) => finalizers.includes(f))) {
      await client.patch(path, { metadata: { finalizers: obj.metadata.finalizers.filter((f) => !finalizers.includes(f)), resourceVersion: obj.metadata.resourceVersion } }, 'merge');
    }
    if (await client.delete(path)) r.deleted.push(what);
  } catch (err) {
    if (!isApiError(err, 404)) r.failures.push(`${what}: ${errorMessage(err)}`);
  }
}

async function deleteOwned(client: RestClient, o: OwnedObjects, namespace: string, r: ClusterUninstallReport): Promise<void> {
  const ns = o.scope === 'hawser' ? namespace : undefined;
  const query = o.labelKey ? { labelSelector: o.labelKey } : undefined;
  const items = await listOrEmpty(client, resourcePath(o.group, o.version, o.plural, ns), query);
  for (const it of items) {
    if (o.names && !o.names.includes(it.metadata.name)) continue;
    const path = resourcePath(o.group, o.version, o.plural, it.metadata.namespace, it.metadata.name);
    await deleteOne(client, path, `${o.plural}${o.group ? `.${o.group}` : ''} ${it.metadata.namespace ? `${it.metadata.namespace}/` : ''}${it.metadata.name}`, r, o.finalizers, it);
  }
}

/** Deletes what the agents wrote (run after their DaemonSets are gone, or they write it again). */
export async function uninstallClusterObjects(client: RestClient, o: { namespace: string; manifests: boolean }): Promise<ClusterUninstallReport> {
  const r: ClusterUninstallReport = { deleted: [], failures: [] };
  for (const owned of OWNED_CLUSTER_OBJECTS) {
    try {
      await deleteOwned(client, owned, o.namespace, r);
    } catch (err) {
      r.failures.push(`${owned.plural}: ${errorMessage(err)}`);
    }
  }
  for (const n of await listOrEmpty(client, core('nodes'))) {
    const ours = OWNED_NODE_ANNOTATIONS.filter((a) => n.metadata.annotations?.[a] !== undefined);
    if (!ours.length) continue;
    try {
      await client.patch(core('nodes', undefined, n.metadata.name), { metadata: { annotations: Object.fromEntries(ours.map((a) => [a, null])) } }, 'merge');
      r.deleted.push(`node ${n.metadata.name} annotations ${ours.join(', ')}`);
    } catch (err) {
      r.failures.push(`node ${n.metadata.name} annotations: ${errorMessage(err)}`);
    }
  }
  if (o.manifests) {
    const sel = { labelSelector: `${PART_OF_LABEL}=${PART_OF_VALUE}` };
    const kinds: [string, boolean][] = [
      [apps('daemonsets', o.namespace), true], [core('services', o.namespace), true], [core('configmaps', o.namespace), true],
      [core('secrets', o.namespace), true], [rbac('rolebindings', o.namespace), true], [rbac('roles', o.namespace), true],
      [core('serviceaccounts', o.namespace), true], [rbac('clusterrolebindings'), false], [rbac('clusterroles'), false],
    ];
    for (const [path] of kinds) {
      for (const it of await listOrEmpty(client, path, sel)) await deleteOne(client, `${path}/${it.metadata.name}`, `${path.split('/').pop()} ${it.metadata.name}`, r);
    }
    // the namespace only if nothing but ours was in it (Lighthouse, a Submariner operator, ... keep it)
    const nsObj = await client.getOrUndefined(core('namespaces', undefined, o.namespace));
    if (nsObj?.metadata.labels?.[PART_OF_LABEL] === PART_OF_VALUE) {
      const leftovers = [...await listOrEmpty(client, apps('deployments', o.namespace)), ...await listOrEmpty(client, apps('daemonsets', o.namespace))];
      if (!leftovers.length) await deleteOne(client, core('namespaces', undefined, o.namespace), `namespace ${o.namespace}`, r);
    }
  }
  return r;
}

/** This cluster's Endpoint(s) and Cluster on the broker (labelled with our cluster ID, as the gateway writes them). */
export async function uninstallFromBroker(broker: RestClient, o: { brokerNamespace: string; clusterId: string }): Promise<ClusterUninstallReport> {
  const r: ClusterUninstallReport = { deleted: [], failures: [] };
  for (const plural of ['endpoints', 'clusters']) {
    const items = await listOrEmpty(broker, resourcePath('submariner.io', 'v1', plural, o.brokerNamespace));
    for (const it of items) {
      const spec = it.spec as { cluster_id?: string } | undefined;
      const mine = it.metadata.labels?.['submariner-io/clusterID'] === o.clusterId || spec?.cluster_id === o.clusterId || (plural === 'clusters' && it.metadata.name === o.clusterId);
      if (mine) await deleteOne(broker, resourcePath('submariner.io', 'v1', plural, o.brokerNamespace, it.metadata.name), `broker ${plural} ${it.metadata.name}`, r);
    }
  }
  return r;
}
