// `hawser deploy-broker`: the broker namespace, its RBAC (a broker admin that `join` uses to enrol
// clusters, and the role each cluster's gateways get), the Globalnet info ConfigMap, and broker-info.subm.
// The names are subctl's, so subctl join accepts a hawser broker and hawser join a subctl broker.
import { randomBytes } from 'node:crypto';
import type { RestClient } from '../k8s/rest.js';
import { BROKER_ADMIN_SA, COMPONENT_CONNECTIVITY, COMPONENT_GLOBALNET, type BrokerInfo } from './brokerinfo.js';
import { core, ensure, ensureCrds, rbac, serviceAccountToken } from './kube.js';

export const DEFAULT_BROKER_NAMESPACE = 'submariner-k8s-broker';
/** The Role every joining cluster's ServiceAccount is bound to (subctl's name). */
export const BROKER_CLUSTER_ROLE = 'submariner-k8s-broker-cluster';
export const GLOBALNET_INFO_CONFIGMAP = 'submariner-globalnet-info';
export const DEFAULT_GLOBALNET_CIDR_RANGE = '242.0.0.0/8';
export const DEFAULT_GLOBALNET_CLUSTER_SIZE = 65536;
/** subctl's PSK length. */
const PSK_BYTES = 48;

const LABELS = { 'app.kubernetes.io/part-of': 'hawser', 'app.kubernetes.io/component': 'broker' };

export interface DeployBrokerOptions {
  namespace?: string;
  /** Directory with the CRD files (deploy/crds). */
  crdDir: string;
  globalnet?: { cidrRange: string; clusterSize: number };
  /** Reuse the PSK of an existing broker-info (subctl's --ipsec-psk-from). */
  psk?: Buffer;
  /** The URL clusters reach the broker at (default: the kubeconfig's server). */
  brokerURL: string;
}

export async function deployBroker(client: RestClient, o: DeployBrokerOptions): Promise<{ info: BrokerInfo; created: string[] }> {
  const ns = o.namespace ?? DEFAULT_BROKER_NAMESPACE;
  const created: string[] = [];
  const note = (ok: boolean, what: string): void => void (ok && created.push(what));
  for (const c of await ensureCrds(client, o.crdDir)) created.push(`CustomResourceDefinition ${c}`);
  note(await ensure(client, core('namespaces'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: LABELS } }), `Namespace ${ns}`);
  // The admin enrols clusters: their ServiceAccounts, RoleBindings, token Secrets, the Globalnet ConfigMap.
  note(await ensure(client, core('serviceaccounts', ns), { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: BROKER_ADMIN_SA, namespace: ns, labels: LABELS } }), `ServiceAccount ${BROKER_ADMIN_SA}`);
  note(await ensure(client, rbac('roles', ns), {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: BROKER_ADMIN_SA, namespace: ns, labels: LABELS },
    rules: [
      { apiGroups: [''], resources: ['serviceaccounts', 'secrets', 'configmaps'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], verbs: ['get', 'list', 'create', 'update', 'delete'] },
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['bind'], resourceNames: [BROKER_CLUSTER_ROLE] },
      { apiGroups: ['submariner.io'], resources: ['endpoints', 'clusters'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
    ],
  }), `Role ${BROKER_ADMIN_SA}`);
  note(await ensure(client, rbac('rolebindings', ns), {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: BROKER_ADMIN_SA, namespace: ns, labels: LABELS },
    subjects: [{ kind: 'ServiceAccount', name: BROKER_ADMIN_SA, namespace: ns }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: BROKER_ADMIN_SA },
  }), `RoleBinding ${BROKER_ADMIN_SA}`);
  // What a joined cluster's gateways may do: exchange Endpoints and Clusters, nothing else.
  note(await ensure(client, rbac('roles', ns), {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: BROKER_CLUSTER_ROLE, namespace: ns, labels: LABELS },
    rules: [{ apiGroups: ['submariner.io'], resources: ['endpoints', 'clusters'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] }],
  }), `Role ${BROKER_CLUSTER_ROLE}`);
  const gn = o.globalnet;
  note(await ensure(client, core('configmaps', ns), {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: GLOBALNET_INFO_CONFIGMAP, namespace: ns, labels: { component: 'submariner-globalnet' } },
    // subctl's keys; the range is JSON-encoded (a quoted string), as subctl writes it
    data: gn ? { globalnetEnabled: 'true', globalnetCidrRange: JSON.stringify(gn.cidrRange), globalnetClusterSize: String(gn.clusterSize) } : { globalnetEnabled: 'false' },
  }), `ConfigMap ${GLOBALNET_INFO_CONFIGMAP}`);
  const tok = await serviceAccountToken(client, ns, BROKER_ADMIN_SA);
  return {
    created,
    info: {
      brokerURL: o.brokerURL,
      clientToken: { token: tok.token, namespace: ns, secretName: tok.secretName, ...(tok.caPem ? { caPem: tok.caPem } : {}) },
      ipsecPsk: o.psk ?? randomBytes(PSK_BYTES),
      serviceDiscovery: false,
      components: gn ? [COMPONENT_GLOBALNET, COMPONENT_CONNECTIVITY] : [COMPONENT_CONNECTIVITY],
    },
  };
}
