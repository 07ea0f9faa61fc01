// `hawser join broker-info.subm`: enrol this cluster on the broker (its own ServiceAccount bound to the
// broker cluster role, a token for it, a global CIDR with Globalnet), find the CIDRs, and write a
// kustomize overlay over deploy/ with the ConfigMap and the two Secrets. `--apply` applies it.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { stringify } from 'yaml';
import { isApiError, type RestClient } from '../k8s/rest.js';
import { HawserError } from '../util/errors.js';
import { brokerApiServer, COMPONENT_GLOBALNET, pskText, type BrokerInfo } from './brokerinfo.js';
import { BROKER_CLUSTER_ROLE, DEFAULT_GLOBALNET_CIDR_RANGE, DEFAULT_GLOBALNET_CLUSTER_SIZE, GLOBALNET_INFO_CONFIGMAP } from './broker.js';
import { coveringCidr, isIPv4Cidr, type Discovery } from './discover.js';
import { core, rbac, serviceAccountToken } from './kube.js';

export type CableDriver = 'libreswan' | 'wireguard' | 'vxlan';

export interface JoinSettings {
  clusterId: string;
  cableDriver: CableDriver;
  natt: boolean;
  preferredServer: boolean;
  forceUdpEncaps: boolean;
  airGapped: boolean;
  healthCheck: boolean;
  clusterCidrs: string[];
  serviceCidrs: string[];
  globalCidr?: string;
  openshift: boolean;
}

/** Submariner's rule for cluster IDs: a DNS-1123 label. */
export function validateClusterId(id: string): void {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(id) || id.length > 63) {
    throw new HawserError('CONFIG', `--clusterid ${JSON.stringify(id)}: must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)`);
  }
}

/** The CIDRs to use: flags win, then discovery; missing ones are an error that says what to pass. */
export function chooseCidrs(flags: { clusterCidr?: string[]; serviceCidr?: string[] }, d: Discovery): { clusterCidrs: string[]; serviceCidrs: string[]; sources: string[] } {
  const sources: string[] = [];
  const pick = (flag: string[] | undefined, found: Discovery['clusterCidr'], name: string, opt: string): string[] => {
    if (flag?.length) {
      for (const c of flag) if (!isIPv4Cidr(c)) throw new HawserError('CONFIG', `${opt} ${JSON.stringify(c)}: expected an IPv4 CIDR such as 10.42.0.0/16`);
      sources.push(`${name} ${flag.join(',')}: from ${opt}`);
      return flag;
    }
    if (found) {
      sources.push(`${name} ${found.cidrs.join(',')}: ${found.source}`);
      return found.cidrs;
    }
    throw new HawserError('CONFIG', `${name} could not be discovered: pass ${opt} (${d.notes.filter((n) => n.startsWith(name)).join('; ') || 'no source found'})`);
  };
  return {
    clusterCidrs: pick(flags.clusterCidr, d.clusterCidr, 'pod CIDR', '--clustercidr'),
    serviceCidrs: pick(flags.serviceCidr, d.serviceCidr, 'service CIDR', '--servicecidr'),
    sources,
  };
}

/** Next free block of `size` addresses in `range`, given the blocks clusters already hold. */
export function allocateGlobalCidr(range: string, size: number, taken: readonly string[]): string | undefined {
  const [base, len] = range.split('/') as [string, string];
  const prefix = 32 - Math.log2(size);
  if (!Number.isInteger(prefix) || prefix < Number(len)) return undefined;
  const toInt = (ip: string): number => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const toIp = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
  const start = toInt(base);
  const count = 2 ** (prefix - Number(len));
  const takenRanges = taken.filter(isIPv4Cidr).map((c) => {
    const [ip, l] = c.split('/') as [string, string];
    return [toInt(ip), toInt(ip) + 2 ** (32 - Number(l)) - 1] as const;
  });
  for (let i = 0; i < count; i++) {
    const lo = start + i * size;
    const hi = lo + size - 1;
    if (!takenRanges.some(([a, b]) => a <= hi && lo <= b)) return `${toIp(lo)}/${prefix}`;
  }
  return undefined;
}

/** The cluster's ServiceAccount on the broker (subctl's `cluster-<id>`), bound to the broker cluster role; returns its token. */
export async function enrolOnBroker(broker: RestClient, info: BrokerInfo, clusterId: string): Promise<{ token: string; caPem?: string }> {
  const ns = info.clientToken.namespace;
  const sa = `cluster-${clusterId}`;
  const labels = { 'app.kubernetes.io/part-of': 'hawser', 'submariner-io/clusterID': clusterId };
  try {
    await broker.create(core('serviceaccounts', ns), { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: ns, labels } });
  } catch (err) {
    if (!isApiError(err, 409)) throw new HawserError('API', `creating ServiceAccount ${ns}/${sa} on the broker: ${(err as Error).message}`);
  }
  // a subctl broker has submariner-k8s-broker-cluster; a broker from `kubectl apply -k deploy/broker` has hawser-broker-cluster
  let role = BROKER_CLUSTER_ROLE;
  const roles = await broker.list(rbac('roles', ns)).catch(() => ({ items: [] }));
  if (!roles.items.some((r) => r.metadata.name === BROKER_CLUSTER_ROLE) && roles.items.some((r) => r.metadata.name === 'hawser-broker-cluster')) role = 'hawser-broker-cluster';
  try {
    await broker.create(rbac('rolebindings', ns), {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: sa, namespace: ns, labels },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
    });
  } catch (err) {
    if (!isApiError(err, 409)) throw new HawserError('API', `binding ${sa} to Role ${role} on the broker: ${(err as Error).message}`);
  }
  const t = await serviceAccountToken(broker, ns, sa);
  return { token: t.token, ...(t.caPem ? { caPem: t.caPem } : {}) };
}

/** With Globalnet on the broker: this cluster's global CIDR (given, or the next free block), recorded in subctl's ConfigMap. */
export async function globalCidrFor(broker: RestClient, info: BrokerInfo, clusterId: string, requested?: string): Promise<string | undefined> {
  const ns = info.clientToken.namespace;
  let cm;
  try {
    cm = await broker.get(core('configmaps', ns, GLOBALNET_INFO_CONFIGMAP));
  } catch (err) {
    if (isApiError(err, 404)) return requested;
    throw err;
  }
  const data = (cm.data ?? {}) as Record<string, string>;
  if (data.globalnetEnabled !== 'true' && !info.components.includes(COMPONENT_GLOBALNET)) return requested;
  const clusters = JSON.parse(data.clusterinfo ?? '[]') as { cluster_id: string; global_cidr: string[] }[];
  const mine = clusters.find((c) => c.cluster_id === clusterId);
  if (mine && !requested) return mine.global_cidr[0];
  const range = data.globalnetCidrRange ? JSON.parse(data.globalnetCidrRange) as string : DEFAULT_GLOBALNET_CIDR_RANGE;
  const size = Number(data.globalnetClusterSize ?? DEFAULT_GLOBALNET_CLUSTER_SIZE);
  const others = clusters.filter((c) => c.cluster_id !== clusterId).flatMap((c) => c.global_cidr);
  const cidr = requested ?? allocateGlobalCidr(range, size, others);
  if (!cidr) throw new HawserError('CONFIG', `no free global CIDR of ${size} addresses left in ${range}: pass --globalnet-cidr`);
  if (requested && others.some((o) => coveringCidr([o, requested]) === o || coveringCidr([o, requested]) === requested)) {
    throw new HawserError('CONFIG', `--globalnet-cidr ${requested} overlaps another cluster's global CIDR (${others.join(', ')})`);
  }
  const next = [...clusters.filter((c) => c.cluster_id !== clusterId), { cluster_id: clusterId, global_cidr: [cidr] }];
  await broker.replace(core('configmaps', ns, GLOBALNET_INFO_CONFIGMAP), { ...cm, data: { ...data, clusterinfo: JSON.stringify(next) } });
  return cidr;
}

export interface OverlayFiles { [file: string]: string }

/** The overlay's files: kustomization.yaml (deploy/ + components + the ConfigMap patch) and secrets.yaml. */
export function renderOverlay(o: { outDir: string; deployDir: string; settings: JoinSettings; info: BrokerInfo; clusterToken: string; caPem?: string }): OverlayFiles {
  const s = o.settings;
  const rel = (p: string): string => relative(resolve(o.outDir), resolve(o.deployDir, p)) || '.';
  const data: Record<string, string> = {
    SUBMARINER_CLUSTERID: s.clusterId,
    SUBMARINER_CLUSTERCIDR: s.clusterCidrs.join(','),
    SUBMARINER_SERVICECIDR: s.serviceCidrs.join(','),
    SUBMARINER_CABLEDRIVER: s.cableDriver,
    SUBMARINER_NATENABLED: String(s.natt),
    SUBMARINER_HEALTHCHECKENABLED: String(s.healthCheck),
  };
  if (s.globalCidr) data.SUBMARINER_GLOBALCIDR = s.globalCidr;
  if (s.preferredServer) data.CE_IPSEC_PREFERREDSERVER = 'true';
  if (s.forceUdpEncaps) data.CE_IPSEC_FORCEENCAPS = 'true';
  const components = [...(s.globalCidr ? ['components/globalnet'] : []), ...(s.openshift ? ['components/openshift'] : [])];
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [rel('.'), 'secrets.yaml'],
    ...(components.length ? { components: components.map(rel) } : {}),
    patches: [{ target: { kind: 'ConfigMap', name: 'hawser-config' }, patch: stringify([{ op: 'replace', path: '/data', value: data }]) }],
  };
  const secrets = [
    {
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
      metadata: { name: 'hawser-broker', namespace: 'submariner-operator', labels: { 'app.kubernetes.io/part-of': 'hawser' } },
      stringData: { server: brokerApiServer(o.info), token: o.clusterToken, namespace: o.info.clientToken.namespace, ...(o.caPem ? { 'ca.crt': o.caPem } : {}) },
    },
    {
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
      metadata: { name: 'hawser-ipsec-psk', namespace: 'submariner-operator', labels: { 'app.kubernetes.io/part-of': 'hawser' } },
      stringData: { psk: pskText(o.info) ?? '' },
    },
  ];
  const header = `# Written by \`hawser join\` for cluster ${s.clusterId}. Apply the CRDs first, once:\n#   kubectl apply --server-side -k ${rel('crds')}\n# then: kubectl apply -k ${o.outDir}\n`;
  return {
    'kustomization.yaml': header + stringify(kustomization),
    'secrets.yaml': '# Credentials: keep this file private (mode 0600), do not commit it.\n' + secrets.map((x) => stringify(x)).join('---\n'),
  };
}

export function writeOverlay(outDir: string, files: OverlayFiles): void {
  mkdirSync(outDir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    const p = join(outDir, name);
    writeFileSync(p, text, { mode: 0o600 });
    chmodSync(p, 0o600);
  }
}
