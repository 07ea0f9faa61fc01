// Finding a cluster's pod and service CIDRs, as subctl's network discovery does for a generic cluster:
// kube-controller-manager / kube-apiserver / kube-proxy flags in their pods, the nodes' podCIDRs, and a
// Service probe (the API server names its service range when asked for an impossible clusterIP).
// Each finding says where it came from; what could not be found is said too.
import { isApiError, type KubeObject, type RestClient } from '../k8s/rest.js';
import { errorMessage } from '../util/errors.js';
import { core } from './kube.js';

export interface Finding { cidrs: string[]; source: string }
export interface Discovery { clusterCidr?: Finding; serviceCidr?: Finding; notes: string[] }

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

function toInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}
function toIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export function isIPv4Cidr(s: string): boolean {
  const m = CIDR.exec(s);
  return !!m && m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
}

/** The smallest CIDR holding all of `cidrs` (IPv4 only). */
export function coveringCidr(cidrs: readonly string[]): string | undefined {
  const v4 = cidrs.filter(isIPv4Cidr);
  if (!v4.length) return undefined;
  let lo = Infinity;
  let hi = -Infinity;
  for (const c of v4) {
    const [ip, len] = c.split('/') as [string, string];
    const size = 2 ** (32 - Number(len));
    const base = Math.floor(toInt(ip) / size) * size;
    lo = Math.min(lo, base);
    hi = Math.max(hi, base + size - 1);
  }
  let prefix = 32;
  while (prefix > 0) {
    const size = 2 ** (32 - prefix);
    if (Math.floor(lo / size) === Math.floor(hi / size)) break;
    prefix--;
  }
  const size = 2 ** (32 - prefix);
  return `${toIp(Math.floor(lo / size) * size)}/${prefix}`;
}

/** Values of `--flag=v` / `--flag v` in a pod's containers' command and args (comma-separated lists split). */
export function flagValues(pod: KubeObject, flag: string): string[] {
  const out: string[] = [];
  const containers = ((pod.spec as { containers?: { command?: string[]; args?: string[] }[] } | undefined)?.containers) ?? [];
  for (const c of containers) {
    const argv = [...(c.command ?? []), ...(c.args ?? [])];
    argv.forEach((a, i) => {
      if (a.startsWith(`${flag}=`)) out.push(...a.slice(flag.length + 1).split(','));
      else if (a === flag && argv[i + 1]) out.push(...argv[i + 1]!.split(','));
    });
  }
  return out.map((s) => s.trim()).filter(isIPv4Cidr);
}

/** The range in the API server's answer to a Service with clusterIP 0.0.0.0 ("… The range of valid IPs is 10.96.0.0/12"). */
export function rangeFromProbeError(message: string): string[] {
  const m = /range of valid IPs is ([0-9./,\s]+)/.exec(message);
  return m ? m[1]!.split(/[,\s]+/).filter(isIPv4Cidr) : [];
}

export interface ClusterFacts {
  controlPlanePods: KubeObject[];
  nodes: KubeObject[];
  probeError?: string;
}

/** Pure: the findings from what was read. */
export function discoverFrom(f: ClusterFacts): Discovery {
  const notes: string[] = [];
  const byFlag = (flag: string, match: RegExp): Finding | undefined => {
    for (const p of f.controlPlanePods) {
      if (!match.test(p.metadata.name)) continue;
      const v = flagValues(p, flag);
      if (v.length) return { cidrs: v, source: `${flag} of pod ${p.metadata.namespace}/${p.metadata.name}` };
    }
    return undefined;
  };
  let clusterCidr = byFlag('--cluster-cidr', /^kube-controller-manager/) ?? byFlag('--cluster-cidr', /^kube-proxy/);
  if (!clusterCidr) {
    const podCidrs = f.nodes.flatMap((n) => {
      const s = n.spec as { podCIDR?: string; podCIDRs?: string[] } | undefined;
      return s?.podCIDRs ?? (s?.podCIDR ? [s.podCIDR] : []);
    });
    const cover = coveringCidr(podCidrs);
    if (cover) {
      clusterCidr = { cidrs: [cover], source: `smallest CIDR covering the podCIDRs of ${f.nodes.length} node(s); if the CNI's pool is larger, pass --clustercidr` };
    } else {
      notes.push('pod CIDR: not found (no kube-controller-manager or kube-proxy --cluster-cidr flag readable, no node podCIDRs; CNIs such as Calico or Cilium in cluster-pool mode keep their own pools): pass --clustercidr');
    }
  }
  let serviceCidr = byFlag('--service-cluster-ip-range', /^kube-apiserver/) ?? byFlag('--service-cluster-ip-range', /^kube-controller-manager/);
  if (!serviceCidr && f.probeError) {
    const r = rangeFromProbeError(f.probeError);
    if (r.length) serviceCidr = { cidrs: r, source: 'the API server\'s answer to a Service probe with clusterIP 0.0.0.0' };
  }
  if (!serviceCidr) notes.push('service CIDR: not found (no kube-apiserver --service-cluster-ip-range readable, and the Service probe named no range): pass --servicecidr');
  return { ...(clusterCidr ? { clusterCidr } : {}), ...(serviceCidr ? { serviceCidr } : {}), notes };
}

/** Reads the facts (best effort: each read that fails becomes a note) and discovers. */
export async function discoverCluster(client: RestClient, probeNamespace: string): Promise<Discovery> {
  const notes: string[] = [];
  const facts: ClusterFacts = { controlPlanePods: [], nodes: [] };
  try {
    facts.controlPlanePods = (await client.list(core('pods', 'kube-system'))).items;
  } catch (err) {
    notes.push(`could not list pods in kube-system: ${errorMessage(err)}`);
  }
  try {
    facts.nodes = (await client.list(core('nodes'))).items;
  } catch (err) {
    notes.push(`could not list nodes: ${errorMessage(err)}`);
  }
  try {
    await client.request('POST', core('services', probeNamespace), {
      query: { dryRun: 'All' },
      body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'hawser-service-cidr-probe', namespace: probeNamespace }, spec: { clusterIP: '0.0.0.0', ports: [{ port: 80 }] } },
    });
  } catch (err) {
    facts.probeError = isApiError(err) ? err.message : errorMessage(err);
  }
  const d = discoverFrom(facts);
  return { ...d, notes: [...notes, ...d.notes] };
}
