// In-place replacement of Submariner by hawser, and the way back.
//
// migrate: read the Submariner CR (its spec has everything join asks for), stop Submariner's operator
// (scale to 0, or it re-creates its DaemonSets), save and delete what would conflict with or outlive
// hawser (the operator's gateway/route agent/globalnet/metrics-proxy DaemonSets, the two metrics
// Services, the RBAC it bound to the same ServiceAccount names, the CR's cleanup finalizer), then apply
// hawser. Adopted as they are: the Lease, Endpoints, Clusters, Gateways, Secrets, ServiceAccounts, CRDs.
// Never touched: Lighthouse (its Deployments, the ServiceDiscovery CR), the broker.
// rollback: delete hawser's DaemonSets and Services, restore every saved object, the finalizer and the
// operator's replicas, from the backup ConfigMap migrate wrote.
import { isApiError, resourcePath, type KubeObject, type RestClient } from '../k8s/rest.js';
import { HawserError, errorMessage } from '../util/errors.js';
import type { JoinSettings, CableDriver } from './join.js';
import { apps, core, rbac } from './kube.js';

export const BACKUP_CONFIGMAP = 'hawser-migration-backup';
export const SUBMARINER_CR = { group: 'submariner.io', version: 'v1alpha1', plural: 'submariners' } as const;
export const OPERATOR_DEPLOYMENT = 'submariner-operator';
const COMPONENT_SAS = ['submariner-gateway', 'submariner-routeagent', 'submariner-globalnet'];

/** An object to save and delete, by API path. */
export interface Removal { path: string; what: string }
export interface MigrationPlan {
  settings: JoinSettings;
  broker: { server: string; token: string; namespace: string; ca?: string; insecure: boolean };
  psk: string;
  operatorReplicas?: number;
  removals: Removal[];
  /** Finalizers on the Submariner CR that only the (stopped) operator would remove. */
  crFinalizers: string[];
  crPath: string;
  leftAlone: string[];
}

const rec = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {});
const s = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' && v ? v.split(',') : []);

export interface SubmarinerFacts {
  cr: KubeObject;
  /** The Secret named by spec.brokerK8sSecret, if any (its token and ca.crt). */
  brokerSecret?: KubeObject;
  operator?: KubeObject;
  /** Objects that exist, by path. */
  existing: Set<string>;
  lighthouse: string[];
}

/** Pure: what to do, from what is in the cluster. */
export function planMigration(f: SubmarinerFacts, namespace: string): MigrationPlan {
  const spec = rec(f.cr.spec);
  const clusterId = s(spec.clusterID) ?? (() => { throw new HawserError('CONFIG', 'Submariner CR has no spec.clusterID'); })();
  const clusterCidrs = list(spec.clusterCIDR);
  const serviceCidrs = list(spec.serviceCIDR);
  if (!clusterCidrs.length || !serviceCidrs.length) throw new HawserError('CONFIG', 'Submariner CR has no spec.clusterCIDR/serviceCIDR (status.clusterCIDR is discovered ones): pass them to hawser join instead');
  const driver = (s(spec.cableDriver) ?? 'libreswan') as CableDriver;
  if (!['libreswan', 'wireguard', 'vxlan'].includes(driver)) throw new HawserError('CONFIG', `Submariner CR spec.cableDriver ${JSON.stringify(driver)}: hawser supports libreswan, wireguard and vxlan`);
  const secretData = rec(f.brokerSecret?.data);
  const fromSecret = (k: string): string | undefined => (typeof secretData[k] === 'string' ? Buffer.from(secretData[k], 'base64').toString('utf8') : undefined);
  const token = s(spec.brokerK8sApiServerToken) ?? fromSecret('token');
  if (!token) throw new HawserError('CONFIG', 'no broker token: neither spec.brokerK8sApiServerToken nor the Secret named by spec.brokerK8sSecret has one');
  const caB64 = s(spec.brokerK8sCA);
  const ca = caB64 ? Buffer.from(caB64, 'base64').toString('utf8') : fromSecret('ca.crt');
  const hc = rec(spec.healthCheck);
  const settings: JoinSettings = {
    clusterId, cableDriver: driver, natt: spec.natEnabled === true, preferredServer: spec.ceIPSecPreferredServer === true,
    forceUdpEncaps: spec.ceIPSecForceUDPEncaps === true, airGapped: spec.airGappedDeployment === true, healthCheck: hc.enabled !== false,
    clusterCidrs, serviceCidrs, ...(s(spec.globalCIDR) ? { globalCidr: s(spec.globalCIDR)! } : {}), openshift: false,
  };
  const removals: Removal[] = [];
  const maybe = (path: string, what: string): void => void (f.existing.has(path) && removals.push({ path, what }));
  for (const ds of [...COMPONENT_SAS, 'submariner-metrics-proxy']) maybe(apps('daemonsets', namespace, ds), `DaemonSet ${ds}`);
  for (const svc of ['submariner-gateway-metrics', 'submariner-globalnet-metrics']) maybe(core('services', namespace, svc), `Service ${svc}`);
  for (const sa of COMPONENT_SAS) {
    maybe(rbac('rolebindings', namespace, sa), `RoleBinding ${sa}`);
    maybe(rbac('roles', namespace, sa), `Role ${sa}`);
    maybe(rbac('clusterrolebindings', undefined, sa), `ClusterRoleBinding ${sa}`);
    maybe(rbac('clusterroles', undefined, sa), `ClusterRole ${sa}`);
    maybe(rbac('clusterrolebindings', undefined, `ocp-${sa}`), `ClusterRoleBinding ocp-${sa}`);
  }
  const replicas = rec(f.operator?.spec).replicas;
  return {
    settings,
    broker: { server: s(spec.brokerK8sApiServer) ?? '', token, namespace: s(spec.brokerK8sRemoteNamespace) ?? 'submariner-k8s-broker', ...(ca ? { ca } : {}), insecure: spec.brokerK8sInsecure === true },
    psk: s(spec.ceIPSecPSK) ?? '',
    ...(f.operator ? { operatorReplicas: typeof replicas === 'number' ? replicas : 1 } : {}),
    removals,
    crFinalizers: (f.cr.metadata.finalizers ?? []).filter((x) => x.startsWith('submariner.io/')),
    crPath: resourcePath(SUBMARINER_CR.group, SUBMARINER_CR.version, SUBMARINER_CR.plural, f.cr.metadata.namespace, f.cr.metadata.name),
    leftAlone: f.lighthouse,
  };
}

/** Reads what planMigration needs. */
export async function readSubmariner(client: RestClient, namespace: string): Promise<SubmarinerFacts> {
  let crs: KubeObject[];
  try {
    crs = (await client.list(resourcePath(SUBMARINER_CR.group, SUBMARINER_CR.version, SUBMARINER_CR.plural, namespace))).items;
  } catch (err) {
    if (isApiError(err, 404)) throw new HawserError('CONFIG', `no Submariner CRD (submariners.submariner.io/v1alpha1): Submariner's operator is not installed here; use hawser join`);
    throw err;
  }
  const cr = crs[0];
  if (!cr) throw new HawserError('CONFIG', `no Submariner object in namespace ${namespace}: nothing to migrate; use hawser join`);
  const secretName = s(rec(cr.spec).brokerK8sSecret);
  const brokerSecret = secretName ? await client.getOrUndefined(core('secrets', namespace, secretName)) : undefined;
  const operator = await client.getOrUndefined(apps('deployments', namespace, OPERATOR_DEPLOYMENT));
  const existing = new Set<string>();
  const candidates = [
    ...[...COMPONENT_SAS, 'submariner-metrics-proxy'].map((n) => apps('daemonsets', namespace, n)),
    ...['submariner-gateway-metrics', 'submariner-globalnet-metrics'].map((n) => core('services', namespace, n)),
    ...COMPONENT_SAS.flatMap((n) => [rbac('rolebindings', namespace, n), rbac('roles', namespace, n), rbac('clusterrolebindings', undefined, n), rbac('clusterroles', undefined, n), rbac('clusterrolebindings', undefined, `ocp-${n}`)]),
  ];
  for (const p of candidates) {
    const o = await client.getOrUndefined(p);
    // ours from an earlier, interrupted migrate: not Submariner's to save
    if (o && o.metadata.labels?.['app.kubernetes.io/part-of'] !== 'hawser') existing.add(p);
  }
  const lighthouse = (await client.list(apps('deployments', namespace))).items.map((d) => d.metadata.name).filter((n) => n.includes('lighthouse')).map((n) => `Deployment ${n}`);
  return { cr, ...(brokerSecret ? { brokerSecret } : {}), ...(operator ? { operator } : {}), existing, lighthouse };
}

/** Strips what the server owns, so the object can be created again as it was. */
export function forRestore(o: KubeObject): KubeObject {
  const { uid: _u, resourceVersion: _r, creationTimestamp: _c, generation: _g, ...metadata } = o.metadata;
  const { status: _s, ...rest } = o;
  const out: KubeObject = { ...rest, metadata: { ...metadata } };
  delete (out.metadata as unknown as Record<string, unknown>).managedFields;
  return out;
}

export interface MigrationResult { saved: string[]; notes: string[]; gatewayGapStartedAt?: number }

/** Saves, stops the operator, removes the finalizer and the conflicting objects. Applying hawser is the caller's next step. */
export async function executeMigration(client: RestClient, plan: MigrationPlan, namespace: string): Promise<MigrationResult> {
  const saved: KubeObject[] = [];
  for (const r of plan.removals) {
    const o = await client.getOrUndefined(r.path);
    if (o) saved.push(forRestore(o));
  }
  const cr = await client.get(plan.crPath);
  const backup = {
    apiVersion: 'v1', kind: 'ConfigMap',
    // not part-of=hawser: `hawser uninstall` must leave the way back alone
    metadata: { name: BACKUP_CONFIGMAP, namespace, labels: { 'app.kubernetes.io/managed-by': 'hawser-migrate' } },
    data: {
      'objects.json': JSON.stringify(saved.map((o, i) => ({ path: plan.removals[i]!.path, object: o }))),
      'operator-replicas': String(plan.operatorReplicas ?? ''),
      'cr-path': plan.crPath,
      'cr-finalizers': JSON.stringify(plan.crFinalizers),
      'saved-at': new Date().toISOString(),
    },
  };
  try {
    await client.create(core('configmaps', namespace), backup);
  } catch (err) {
    if (isApiError(err, 409)) throw new HawserError('CONFIG', `ConfigMap ${namespace}/${BACKUP_CONFIGMAP} exists: a migration was already done (hawser rollback first, or delete it if that migration is final)`);
    throw err;
  }
  const notes: string[] = [];
  if (plan.operatorReplicas !== undefined) {
    await client.patch(apps('deployments', namespace, OPERATOR_DEPLOYMENT), { spec: { replicas: 0 } }, 'merge');
    notes.push(`scaled Deployment ${OPERATOR_DEPLOYMENT} from ${plan.operatorReplicas} to 0 replicas`);
  }
  if (plan.crFinalizers.length) {
    await client.patch(plan.crPath, { metadata: { finalizers: (cr.metadata.finalizers ?? []).filter((x) => !plan.crFinalizers.includes(x)), resourceVersion: cr.metadata.resourceVersion } }, 'merge');
    notes.push(`removed finalizer(s) ${plan.crFinalizers.join(', ')} from the Submariner CR (restored by rollback)`);
  }
  let gatewayGapStartedAt: number | undefined;
  for (const r of plan.removals) {
    if (r.what === 'DaemonSet submariner-gateway') gatewayGapStartedAt = Date.now();
    try {
      await client.delete(r.path);
    } catch (err) {
      if (!isApiError(err, 404)) throw new HawserError('API', `deleting ${r.what}: ${errorMessage(err)}`);
    }
  }
  return { saved: plan.removals.map((r) => r.what), notes, ...(gatewayGapStartedAt ? { gatewayGapStartedAt } : {}) };
}

/** Rollback from the backup: hawser's DaemonSets and Services go, Submariner's objects, finalizer and operator come back. */
export async function rollback(client: RestClient, namespace: string, o: { afterRemoval?: () => Promise<void> } = {}): Promise<{ restored: string[]; removed: string[] }> {
  const cm = await client.getOrUndefined(core('configmaps', namespace, BACKUP_CONFIGMAP));
  if (!cm) throw new HawserError('CONFIG', `no ConfigMap ${namespace}/${BACKUP_CONFIGMAP}: nothing to roll back (hawser migrate writes it)`);
  const data = (cm.data ?? {}) as Record<string, string>;
  const saved = JSON.parse(data['objects.json'] ?? '[]') as { path: string; object: KubeObject }[];
  const removed: string[] = [];
  const restored: string[] = [];
  const sel = { labelSelector: 'app.kubernetes.io/part-of=hawser' };
  for (const path of [apps('daemonsets', namespace), core('services', namespace)]) {
    for (const o of (await client.list(path, sel)).items) {
      if (await client.delete(`${path}/${o.metadata.name}`).catch(() => false)) removed.push(`${o.kind ?? path.split('/').pop()} ${o.metadata.name}`);
    }
  }
  // hawser's node state (vx-submariner, table 150, nft tables) goes before Submariner's agents return
  await o.afterRemoval?.();
  for (const { path, object } of saved) {
    const collection = path.slice(0, path.lastIndexOf('/'));
    try {
      await client.create(collection, object);
    } catch (err) {
      if (isApiError(err, 409)) {
        const cur = await client.get(path);
        await client.replace(path, { ...object, metadata: { ...object.metadata, resourceVersion: cur.metadata.resourceVersion } });
      } else if (isApiError(err, 422) && object.kind === 'Service') {
        // its old clusterIP was taken meanwhile: a new one
        const spec = { ...rec(object.spec) };
        delete spec.clusterIP;
        delete spec.clusterIPs;
        await client.create(collection, { ...object, spec });
      } else {
        throw new HawserError('API', `restoring ${object.kind} ${object.metadata.name}: ${errorMessage(err)}`);
      }
    }
    restored.push(`${object.kind} ${object.metadata.name}`);
  }
  const finalizers = JSON.parse(data['cr-finalizers'] ?? '[]') as string[];
  const crPath = data['cr-path'];
  if (crPath && finalizers.length) {
    const cr = await client.get(crPath);
    await client.patch(crPath, { metadata: { finalizers: [...new Set([...(cr.metadata.finalizers ?? []), ...finalizers])], resourceVersion: cr.metadata.resourceVersion } }, 'merge');
    restored.push(`finalizer(s) ${finalizers.join(', ')} on the Submariner CR`);
  }
  const replicas = data['operator-replicas'];
  if (replicas) {
    await client.patch(apps('deployments', namespace, OPERATOR_DEPLOYMENT), { spec: { replicas: Number(replicas) } }, 'merge');
    restored.push(`Deployment ${OPERATOR_DEPLOYMENT} at ${replicas} replica(s)`);
  }
  await client.delete(core('configmaps', namespace, BACKUP_CONFIGMAP));
  return { restored, removed };
}
