// What a cluster's control plane and kubelets would have put into its API server: CRDs, namespaces,
// Node objects (labels, addresses, podCIDR), Pod objects (lab pods and the hawser role "DaemonSet" pods),
// and on the broker cluster the broker namespace with RBAC-limited ServiceAccounts.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { apiStatus, k8s } from '../k8s/client.js';
import { HawserError, errorMessage } from '../util/errors.js';
import { brokerServiceAccount } from './credentials.js';
import {
  BROKER_NAMESPACE, POD_NAMESPACE, SUBMARINER_NAMESPACE, rolePodName, type ClusterPlan, type ExportedService, type LabTopology, type NodePlan,
} from './topology.js';

export const BROKER_ROLE = 'submariner-k8s-broker-cluster';

async function createIfMissing(what: string, create: () => Promise<unknown>): Promise<boolean> {
  try {
    await create();
    return true;
  } catch (err) {
    if (apiStatus(err) === 409) return false;
    throw new HawserError('API', `creating ${what}: ${errorMessage(err)}`, { cause: err });
  }
}

/** CRDs from every YAML file in `dir` (multi-document files allowed). */
export function loadCrds(dir: string): k8s.V1CustomResourceDefinition[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch {
    return [];
  }
  const out: k8s.V1CustomResourceDefinition[] = [];
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
      const v: unknown = doc.toJS();
      if (typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'CustomResourceDefinition') out.push(v as k8s.V1CustomResourceDefinition);
    }
  }
  return out;
}

/** Creates the CRDs the server does not have yet (`hawser apiserver --crds` normally loaded them all). */
export async function applyCrds(kc: k8s.KubeConfig, crds: readonly k8s.V1CustomResourceDefinition[]): Promise<void> {
  const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const have = new Set((await api.listCustomResourceDefinition()).items.map((c) => c.metadata?.name));
  const missing = crds.filter((c) => !have.has(c.metadata?.name));
  await Promise.all(missing.map((body) => createIfMissing(`CRD ${body.metadata?.name}`, () => api.createCustomResourceDefinition({ body }))));
}

function nodeObject(n: NodePlan): k8s.V1Node {
  const now = new Date();
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: n.name, labels: { ...n.labels }, annotations: { ...n.annotations } },
    spec: { podCIDR: n.podCidr, podCIDRs: [n.podCidr] },
    status: {
      addresses: [{ type: 'InternalIP', address: n.ip }, { type: 'Hostname', address: n.name }],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'hawser lab node', lastHeartbeatTime: now, lastTransitionTime: now }],
    },
  };
}

function podObject(name: string, namespace: string, node: NodePlan, ip: string, labels: Record<string, string>, hostNetwork: boolean): k8s.V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: { nodeName: node.name, hostNetwork, containers: [{ name: 'main', image: 'hawser-lab/none' }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: node.ip, hostIPs: [{ ip: node.ip }], startTime: new Date() },
  };
}

// Servers without status handling on create (as kube-apiserver does for Nodes/Pods) get it via /status.
async function createNode(api: k8s.CoreV1Api, body: k8s.V1Node): Promise<void> {
  const name = body.metadata!.name!;
  let created: k8s.V1Node;
  try {
    created = await api.createNode({ body });
  } catch (err) {
    if (apiStatus(err) !== 409) throw new HawserError('API', `creating Node ${name}: ${errorMessage(err)}`, { cause: err });
    created = await api.readNode({ name });
  }
  if (!created.status?.addresses?.length) await api.replaceNodeStatus({ name, body: { ...created, status: body.status } });
}

async function createPod(api: k8s.CoreV1Api, body: k8s.V1Pod): Promise<void> {
  const name = body.metadata!.name!;
  const namespace = body.metadata!.namespace!;
  let created: k8s.V1Pod;
  try {
    created = await api.createNamespacedPod({ namespace, body });
  } catch (err) {
    if (apiStatus(err) !== 409) throw new HawserError('API', `creating Pod ${namespace}/${name}: ${errorMessage(err)}`, { cause: err });
    created = await api.readNamespacedPod({ name, namespace });
  }
  if (!created.status?.podIP) await api.replaceNamespacedPodStatus({ name, namespace, body: { ...created, status: body.status } });
}

async function ensureNamespace(api: k8s.CoreV1Api, name: string): Promise<void> {
  await createIfMissing(`namespace ${name}`, () => api.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } }));
}

/** The broker: namespace, one ServiceAccount per cluster, a Role limited to Endpoints/Clusters, a RoleBinding. */
export async function registerBroker(kc: k8s.KubeConfig, t: LabTopology): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const namespace = BROKER_NAMESPACE;
  await ensureNamespace(core, namespace);
  await Promise.all(t.clusters.map((c) => createIfMissing(`ServiceAccount ${brokerServiceAccount(c.id)}`, () =>
    core.createNamespacedServiceAccount({ namespace, body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: brokerServiceAccount(c.id), namespace } } }))));
  await createIfMissing(`Role ${BROKER_ROLE}`, () => rbac.createNamespacedRole({
    namespace,
    body: {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: BROKER_ROLE, namespace },
      rules: [{ apiGroups: ['submariner.io'], resources: ['endpoints', 'clusters'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'] }],
    },
  }));
  await createIfMissing(`RoleBinding ${BROKER_ROLE}`, () => rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: BROKER_ROLE, namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: BROKER_ROLE },
      subjects: t.clusters.map((c) => ({ kind: 'ServiceAccount', name: brokerServiceAccount(c.id), namespace })),
    },
  }));
  await applyBrokerPolicy(kc, join(t.options.repoRoot, 'deploy', 'broker', 'policy.yaml'));
}

const ADMISSION_PLURALS: Readonly<Record<string, string>> = {
  ValidatingAdmissionPolicy: 'validatingadmissionpolicies',
  ValidatingAdmissionPolicyBinding: 'validatingadmissionpolicybindings',
};

/**
 * The shipped broker isolation policy (deploy/broker/policy.yaml), so the lab's broker refuses one
 * cluster's writes to another cluster's Endpoints and Clusters exactly as a real broker with it would.
 */
async function applyBrokerPolicy(kc: k8s.KubeConfig, file: string): Promise<void> {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const body: unknown = doc.toJS();
    if (typeof body !== 'object' || body === null) continue;
    const { kind, metadata } = body as { kind?: unknown; metadata?: { name?: unknown } };
    const plural = typeof kind === 'string' ? ADMISSION_PLURALS[kind] : undefined;
    if (!plural) throw new HawserError('CONFIG', `${file}: unexpected kind ${String(kind)}`);
    await createIfMissing(`${kind as string} ${String(metadata?.name)}`, () => custom.createClusterCustomObject({ group: 'admissionregistration.k8s.io', version: 'v1', plural, body }));
  }
}

/** Everything one cluster's API server should hold before the hawser roles start. */
export async function registerCluster(kc: k8s.KubeConfig, t: LabTopology, c: ClusterPlan, crds: readonly k8s.V1CustomResourceDefinition[]): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await applyCrds(kc, crds);
  await Promise.all([POD_NAMESPACE, SUBMARINER_NAMESPACE].map((ns) => ensureNamespace(core, ns)));
  if (c.id === t.brokerCluster) await registerBroker(kc, t);
  const work: Promise<void>[] = [];
  for (const n of c.nodes) {
    work.push(createNode(core, nodeObject(n)));
    for (const p of n.pods) work.push(createPod(core, podObject(p.name, POD_NAMESPACE, n, p.ip, { app: 'lab-pod', 'lab.hawser.io/node': n.name }, false)));
    // The role pods the DaemonSets would have made (hostNetwork: their IP is the node's).
    for (const role of n.roles) {
      const app = `submariner-${role === 'route-agent' ? 'routeagent' : role}`;
      work.push(createPod(core, podObject(rolePodName(n.name, role), SUBMARINER_NAMESPACE, n, n.ip, { app, component: app }, true)));
    }
  }
  await Promise.all(work);
  if (t.options.globalnet) await exportLabPods(kc);
  if (c.exportedService) await exportService(kc, c.exportedService);
}

/** A preset's ClusterIP Service (selecting the backend pod's node) and its ServiceExport. */
async function exportService(kc: k8s.KubeConfig, s: ExportedService): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const namespace = POD_NAMESPACE;
  await createIfMissing(`Service ${s.name}`, () => core.createNamespacedService({
    namespace,
    body: {
      apiVersion: 'v1', kind: 'Service', metadata: { name: s.name, namespace },
      spec: { type: 'ClusterIP', clusterIP: s.clusterIp, selector: { 'lab.hawser.io/node': s.backendNode }, ports: [{ name: 'echo', port: 7, protocol: 'TCP' }] },
    },
  }));
  await createIfMissing(`ServiceExport ${s.name}`, () => custom.createNamespacedCustomObject({
    group: 'multicluster.x-k8s.io', version: 'v1alpha1', namespace, plural: 'serviceexports',
    body: { apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name: s.name, namespace } },
  }));
}

/** Name of the headless Service (and ServiceExport) selecting every lab pod of a cluster (Globalnet labs). */
export const LAB_PODS_SERVICE = 'lab-pods';

/**
 * With Globalnet, pods are reachable across clusters only through global IPs: export a headless Service
 * over the lab pods, so that globalnet gives each pod a GlobalIngressIP (as for any exported headless service).
 */
async function exportLabPods(kc: k8s.KubeConfig): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const namespace = POD_NAMESPACE;
  await createIfMissing(`Service ${LAB_PODS_SERVICE}`, () => core.createNamespacedService({
    namespace,
    body: {
      apiVersion: 'v1', kind: 'Service', metadata: { name: LAB_PODS_SERVICE, namespace },
      spec: { clusterIP: 'None', selector: { app: 'lab-pod' }, ports: [{ name: 'echo', port: 7, protocol: 'TCP' }] },
    },
  }));
  await createIfMissing(`ServiceExport ${LAB_PODS_SERVICE}`, () => custom.createNamespacedCustomObject({
    group: 'multicluster.x-k8s.io', version: 'v1alpha1', namespace, plural: 'serviceexports',
    body: { apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name: LAB_PODS_SERVICE, namespace } },
  }));
}

/** Resolves once the API server answers an authenticated request. */
export async function apiAnswers(kc: k8s.KubeConfig): Promise<boolean> {
  await kc.makeApiClient(k8s.CoreV1Api).listNamespace();
  return true;
}
