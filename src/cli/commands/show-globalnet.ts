// `hawser show plan`'s Globalnet section: what Globalnet's planner would do with the API objects as they are,
// and which nftables changes that means against the `hawser-globalnet` table this node has now. The pure
// part (`planGlobalnetSection`, `observedGlobalnetTable`) calls nat's exported planner functions only; the
// read part lists objects and the table, and writes nothing.
import type { Logger } from '../../log/index.js';
import { errorMessage } from '../../util/errors.js';
import { isApiError, resourcePath, type KubeObject, type RestClient } from '../../k8s/rest.js';
import { SUBMARINER_GROUP, SUBMARINER_VERSION } from '../../k8s/submariner/common.js';
import { parseCluster } from '../../k8s/submariner/cluster.js';
import { Nft, parseTableListing, type TableListing } from '../../os/nft.js';
import type { CommonConfig } from '../../config/roles.js';
import { inputsFromObjects, type InputsConfig, type SourceObjects } from '../../nat/controller.js';
import { planGlobalnet, type GlobalnetPlan } from '../../nat/desired.js';
import { emptyDataplane, NFT_TABLE, planChanges, renderChanges, type Dataplane } from '../../nat/nft.js';
import type { PlanSection } from '../../show/plan.js';

/** The table's sets and maps, by nft name → the Dataplane field that holds them (nat/nft.ts `renderRuleset`'s names). */
const MAPS: ReadonlyArray<[string, Exclude<keyof Dataplane, 'remoteGlobalCidrs'>]> = [
  ['egress_pods', 'egressPods'], ['egress_hdls_pods', 'egressHdlsPods'], ['egress_hdls_eps', 'egressHdlsEps'], ['egress_ns', 'egressNs'],
  ['egress_cluster', 'egressCluster'], ['ingress', 'ingress'],
];

/** Pure: the table as listed, read into Globalnet's Dataplane shape; undefined when there is no table. */
export function observedGlobalnetTable(listing: TableListing | undefined): Dataplane | undefined {
  if (!listing) return undefined;
  const d = emptyDataplane();
  d.remoteGlobalCidrs = [...(listing.sets.get('remote_global_cidrs') ?? [])];
  for (const [set, field] of MAPS) {
    for (const el of listing.sets.get(set) ?? []) {
      const i = el.indexOf(' : ');
      if (i > 0) d[field].set(el.slice(0, i).trim(), el.slice(i + 3).trim());
    }
  }
  return d;
}

const count = (d: Dataplane): number => d.remoteGlobalCidrs.length + MAPS.reduce((n, [, f]) => n + d[f].size, 0);

function planLines(p: GlobalnetPlan): string[] {
  const s = p.stats;
  const out = [`global CIDR ${s.cidr}: ${s.allocated} of ${s.size} addresses allocated (cluster egress ${s.clusterEgress}, egress ${s.egress}, ingress ${s.ingress}), ${s.available} free`];
  out.push(`nftables table ${NFT_TABLE}: ${count(p.dataplane)} element(s) (remote global CIDRs ${p.dataplane.remoteGlobalCidrs.length}, ingress ${p.dataplane.ingress.size}, pod egress ${p.dataplane.egressPods.size}, namespace egress ${p.dataplane.egressNs.size})`);
  for (const [owner, ips] of [...p.allocations].sort(([a], [b]) => a.localeCompare(b))) out.push(`allocate ${owner}: ${ips.join(', ') || 'none'}`);
  if (p.needsDefaultClusterEgress) out.push('create ClusterGlobalEgressIP cluster-egress.submariner.io (none exists)');
  for (const u of p.statusUpdates) out.push(`status ${u.kind} ${u.namespace ? `${u.namespace}/` : ''}${u.name}`);
  for (const o of p.ingressObjects) out.push(o.op === 'delete' ? `delete GlobalIngressIP ${o.namespace}/${o.name}` : `${o.op} GlobalIngressIP ${o.object.namespace}/${o.object.name} (${o.object.target} ${o.object.serviceRef}${o.object.podRef ? `/${o.object.podRef}` : ''})`);
  for (const o of p.internalServices) out.push(o.op === 'delete' ? `delete Service ${o.namespace}/${o.name}` : `upsert Service ${o.service.namespace}/${o.service.name} (external IP ${o.service.externalIP})`);
  if (p.nodeAnnotation) out.push(`annotate Node ${p.nodeAnnotation.node} submariner.io/globalIp=${p.nodeAnnotation.globalIP}`);
  return out;
}

/**
 * Pure: Globalnet's plan from the objects, and the nft changes against the observed table (none observed:
 * the whole table would be created). A missing global CIDR is a configuration error of the section.
 */
export function planGlobalnetSection(o: { objects: SourceObjects; cfg: InputsConfig; now: Date; observed: Dataplane | undefined }): PlanSection {
  const section: PlanSection = { title: `globalnet (cluster ${o.cfg.clusterId}, as the active gateway would plan it on node ${o.cfg.nodeName ?? '?'})`, plan: [], warnings: [] };
  let plan: GlobalnetPlan;
  try {
    plan = planGlobalnet(inputsFromObjects(o.objects, o.cfg, o.now));
  } catch (err) {
    section.error = errorMessage(err);
    return section;
  }
  section.plan = planLines(plan);
  section.warnings = plan.notes.filter((n) => n.level === 'warn').map((n) => `${n.owner}: ${n.message}`);
  section.pending = o.observed
    ? renderChanges(planChanges(o.observed, plan.dataplane)).trimEnd().split('\n').filter(Boolean)
    : [`create table ip ${NFT_TABLE} with ${count(plan.dataplane)} element(s)`];
  return section;
}

/** The sources Globalnet reads, as its controller lists them. */
function sourcePaths(namespace: string): Record<keyof SourceObjects, string> {
  const sm = (plural: string, ns?: string): string => resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, plural, ns);
  return {
    clusterEgressIPs: sm('clusterglobalegressips'), egressIPs: sm('globalegressips'), ingressIPs: sm('globalingressips'),
    serviceExports: resourcePath('multicluster.x-k8s.io', 'v1alpha1', 'serviceexports'),
    services: resourcePath('', 'v1', 'services'), pods: resourcePath('', 'v1', 'pods'), endpoints: resourcePath('', 'v1', 'endpoints'),
    submarinerEndpoints: sm('endpoints', namespace), clusters: sm('clusters', namespace), nodes: resourcePath('', 'v1', 'nodes'),
  };
}

/**
 * Read-only: lists Globalnet's objects and this node's `hawser-globalnet` table, then plans. Undefined when
 * Globalnet is off (no SUBMARINER_GLOBALCIDR and no global_cidr in any Cluster object).
 */
export async function globalnetSection(o: { client: RestClient; cfg: CommonConfig; log: Logger; netns?: string; cniIP?: string; now?: Date }): Promise<PlanSection | undefined> {
  const paths = sourcePaths(o.cfg.namespace);
  const entries = await Promise.all(Object.entries(paths).map(async ([k, path]): Promise<[string, KubeObject[]]> => {
    try {
      return [k, (await o.client.list(path)).items];
    } catch (err) {
      // e.g. no ServiceExport CRD: Globalnet then sees none either
      if (isApiError(err, 404)) return [k, []];
      throw err;
    }
  }));
  const objects = Object.fromEntries(entries) as unknown as SourceObjects;
  const anyGlobal = o.cfg.globalCidrs.length > 0 || objects.clusters.some((c) => {
    const p = parseCluster(c);
    return p.ok && p.value.spec.clusterId === o.cfg.clusterId && p.value.spec.globalCidrs.length > 0;
  });
  if (!anyGlobal) return undefined;
  let observed: Dataplane | undefined;
  const nft = new Nft({ netns: o.netns });
  try {
    const text = await nft.listTable('ip', NFT_TABLE);
    observed = observedGlobalnetTable(text === undefined ? undefined : parseTableListing(text));
  } catch (err) {
    const s = planGlobalnetSection({ objects, cfg: inputsConfig(o.cfg, o.cniIP), now: o.now ?? new Date(), observed: undefined });
    return { ...s, pending: undefined, warnings: [...s.warnings, `cannot read this node's nftables table ${NFT_TABLE}: ${errorMessage(err)}`] };
  } finally {
    nft.close();
  }
  return planGlobalnetSection({ objects, cfg: inputsConfig(o.cfg, o.cniIP), now: o.now ?? new Date(), observed });
}

function inputsConfig(cfg: CommonConfig, cniIP: string | undefined): InputsConfig {
  const localCidrs = [...cfg.clusterCidrs, ...cfg.serviceCidrs].map((c) => c.text);
  return {
    clusterId: cfg.clusterId,
    ...(cfg.globalCidrs[0] ? { globalCidr: cfg.globalCidrs[0].text } : {}),
    ...(localCidrs.length ? { localCidrs } : {}),
    nodeName: cfg.nodeName,
    ...(cniIP ? { cniIP } : {}),
  };
}
