// `hawser show`: a pure model built from the API objects, rendered as `subctl show`-style tables or JSON/YAML.
// Every submariner.io object is read through the wire model (k8s/submariner); Pods, a core kind, through util/json.
import { asRecord, str } from '../util/json.js';
import { CLUSTER_ID_LABEL, type Parsed, type WireMeta } from '../k8s/submariner/common.js';
import { parseCluster } from '../k8s/submariner/cluster.js';
import { parseEndpoint, type EndpointSpec } from '../k8s/submariner/endpoint.js';
import { gatewaySummary, parseGateway, STALE_GATEWAY_SECONDS, UPDATE_TIMESTAMP_ANNOTATION } from '../k8s/submariner/gateway.js';
import { parseRouteAgent } from '../k8s/submariner/routeagent.js';
import type { KubeObject } from '../k8s/rest.js';

/** RouteAgents are written every 60 s: two missed writes and some slack. */
export const ROUTE_AGENT_STALE_SECONDS = 150;

export interface ShowConnection { gateway: string; cluster: string; remoteIP: string; nat: boolean; cableDriver: string; subnets: string[]; status: string; statusMessage: string; rttAvg: string }
export interface ShowEndpoint { cluster: string; endpointIP: string; publicIP: string; cableDriver: string; type: 'local' | 'remote'; hostname: string }
export interface ShowGateway { node: string; haStatus: string; summary: string; /** Seconds since its update-timestamp (absent: none written). */ lastSeenSeconds?: number }
export interface ShowNetwork { clusterId: string; serviceCidrs: string[]; clusterCidrs: string[]; globalCidrs: string[] }
/**
 * `running`: a live signal is fresh (Gateway update-timestamp within 15 s, RouteAgent within 150 s, or its pod
 * Running and Ready); `stale`: the object is older than that (the process is stopped or stuck); `not running`: its
 * pod says so; `unknown`: no live signal to judge (e.g. Submariner's route agent writes no timestamp).
 */
export type Liveness = 'running' | 'stale' | 'not running' | 'unknown';
export interface ShowVersion { component: string; node: string; version: string; status: Liveness; lastSeenSeconds?: number; image?: string; detail?: string }

/** The submariner.io resources `show` reads. */
export type ShowResource = 'gateways' | 'endpoints' | 'clusters' | 'routeagents' | 'pods';

export interface ShowModel {
  cluster: string;
  /** The kubeconfig context it was read through (several clusters: --contexts). */
  context?: string;
  /** Resources that could not be read (e.g. 403 for this ServiceAccount), with why: their sections say so. */
  unreadable?: Partial<Record<ShowResource, string>>;
  connections: ShowConnection[];
  endpoints: ShowEndpoint[];
  gateways: ShowGateway[];
  network?: ShowNetwork;
  versions: ShowVersion[];
}

const s = (o: Record<string, unknown> | undefined, k: string): string => str(o, k) ?? '';

function parsedOnly<T>(raw: readonly unknown[], parse: (o: unknown) => Parsed<T>): T[] {
  return raw.flatMap((o) => {
    const p = parse(o);
    return p.ok ? [p.value] : [];
  });
}

/** Seconds since the object's update-timestamp annotation; undefined when it has none. */
function lastSeen(meta: WireMeta, nowSeconds: number): number | undefined {
  const ts = Number(meta.annotations[UPDATE_TIMESTAMP_ANNOTATION]);
  return Number.isFinite(ts) && ts > 0 ? Math.max(0, Math.round(nowSeconds - ts)) : undefined;
}

const POD_APP: Readonly<Record<string, string>> = { 'hawser-gateway': 'submariner-gateway', 'hawser-routeagent': 'submariner-routeagent' };

/** Liveness from the object's timestamp, overridden by its pod when the pod is readable and says it is not running. */
function liveness(component: string, node: string, seen: number | undefined, staleAfter: number, pods: readonly KubeObject[] | undefined): Pick<ShowVersion, 'status' | 'lastSeenSeconds' | 'image' | 'detail'> {
  const out: Pick<ShowVersion, 'status' | 'lastSeenSeconds' | 'image' | 'detail'> = { status: seen === undefined ? 'unknown' : seen <= staleAfter ? 'running' : 'stale' };
  if (seen !== undefined) out.lastSeenSeconds = seen;
  if (out.status === 'stale') out.detail = `not refreshed for ${seen} s (a live one refreshes within ${staleAfter} s): stopped or stuck`;
  const pod = pods?.find((p) => p.metadata.labels?.app === POD_APP[component] && s(asRecord(p.spec), 'nodeName') === node);
  if (pod) {
    const st = asRecord(pod.status);
    const containers = Array.isArray(asRecord(pod.spec).containers) ? (asRecord(pod.spec).containers as unknown[]).map(asRecord) : [];
    if (s(containers[0], 'image')) out.image = s(containers[0], 'image');
    const ready = (Array.isArray(st.conditions) ? st.conditions.map(asRecord) : []).find((c) => c.type === 'Ready');
    if (s(st, 'phase') !== 'Running' || (ready && ready.status !== 'True')) {
      out.status = 'not running';
      out.detail = `pod ${pod.metadata.name} is ${s(st, 'phase') || 'in an unknown phase'}${ready && ready.status !== 'True' ? ', not ready' : ''}`;
    } else if (out.status === 'unknown') out.status = 'running';
  }
  return out;
}

export function buildShowModel(input: { gateways: readonly KubeObject[]; endpoints: readonly KubeObject[]; clusters: readonly KubeObject[]; routeAgents?: readonly KubeObject[]; pods?: readonly KubeObject[]; unreadable?: Partial<Record<ShowResource, string>>; nowSeconds?: number; context?: string }): ShowModel {
  const now = input.nowSeconds ?? Date.now() / 1000;
  const localEps: EndpointSpec[] = [];
  const endpoints: ShowEndpoint[] = [];
  for (const o of parsedOnly(input.endpoints, parseEndpoint)) {
    const type = o.meta.labels[CLUSTER_ID_LABEL] ? 'remote' : 'local';
    if (type === 'local') localEps.push(o.spec);
    endpoints.push({ cluster: o.spec.clusterId, endpointIP: o.spec.privateIP, publicIP: o.spec.publicIP, cableDriver: o.spec.backend, type, hostname: o.spec.hostname });
  }
  endpoints.sort((a, b) => (a.type === b.type ? a.cluster.localeCompare(b.cluster) : a.type === 'local' ? -1 : 1));
  const connections: ShowConnection[] = [];
  const gateways: ShowGateway[] = [];
  const versions: ShowVersion[] = [];
  let localCluster = localEps[0]?.clusterId ?? '';
  for (const g of parsedOnly(input.gateways, parseGateway).sort((a, b) => a.meta.name.localeCompare(b.meta.name))) {
    const st = g.status;
    const ha = st.haStatus || st.haStatusOther || 'unknown';
    const seen = lastSeen(g.meta, now);
    gateways.push({ node: g.meta.name, haStatus: ha, summary: gatewaySummary(ha, st.connections, st.statusFailure), ...(seen !== undefined ? { lastSeenSeconds: seen } : {}) });
    versions.push({ component: 'hawser-gateway', node: g.meta.name, version: st.version, ...liveness('hawser-gateway', g.meta.name, seen, STALE_GATEWAY_SECONDS, input.pods) });
    if (st.localEndpoint && !localCluster) localCluster = st.localEndpoint.clusterId;
    for (const c of st.connections) {
      const ep = c.endpoint;
      if (!ep) continue;
      connections.push({
        gateway: g.meta.name,
        cluster: ep.clusterId,
        remoteIP: c.usingIP || ep.privateIP,
        nat: c.usingNAT,
        cableDriver: ep.backend,
        subnets: ep.subnets,
        status: c.status,
        statusMessage: c.statusMessage,
        rttAvg: c.latencyRTT?.average ?? '',
      });
    }
  }
  for (const ra of parsedOnly(input.routeAgents ?? [], parseRouteAgent)) versions.push({ component: 'hawser-routeagent', node: ra.meta.name, version: ra.status.version, ...liveness('hawser-routeagent', ra.meta.name, lastSeen(ra.meta, now), ROUTE_AGENT_STALE_SECONDS, input.pods) });
  let network: ShowNetwork | undefined;
  for (const c of parsedOnly(input.clusters, parseCluster)) {
    if (c.spec.clusterId === localCluster && !c.meta.labels[CLUSTER_ID_LABEL]) {
      network = { clusterId: c.spec.clusterId, serviceCidrs: c.spec.serviceCidrs, clusterCidrs: c.spec.clusterCidrs, globalCidrs: c.spec.globalCidrs };
    }
  }
  const unreadable = input.unreadable && Object.keys(input.unreadable).length ? { unreadable: { ...input.unreadable } } : {};
  return { cluster: localCluster, ...(input.context ? { context: input.context } : {}), ...unreadable, connections, endpoints, gateways, network, versions };
}

/** Left-aligned columns separated by two spaces, like subctl's tables. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - [...c].length))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export type Section = 'connections' | 'endpoints' | 'gateways' | 'networks' | 'versions';
export const ALL_SECTIONS: readonly Section[] = ['connections', 'endpoints', 'gateways', 'networks', 'versions'];

/** What each section is built from: a resource it cannot read makes the section ✗ with the reason. */
const SECTION_SOURCES: Readonly<Record<Section, readonly ShowResource[]>> = {
  connections: ['gateways'],
  endpoints: ['endpoints'],
  gateways: ['gateways'],
  networks: ['clusters'],
  versions: ['gateways', 'routeagents'],
};

const SECTION_TITLES: Readonly<Record<Section, string>> = {
  connections: 'Showing Connections', endpoints: 'Showing Endpoints', gateways: 'Showing Gateways', networks: 'Showing Network details', versions: 'Showing versions',
};

/** Why a section is ✗ (none: ✓). */
export function sectionProblems(m: ShowModel, sec: Section): string[] {
  const problems = SECTION_SOURCES[sec].flatMap((r) => (m.unreadable?.[r] ? [`cannot read ${r}: ${m.unreadable[r]}`] : []));
  if (sec === 'connections' && !m.unreadable?.gateways) {
    if (!m.connections.length) problems.push('There are no connections');
    for (const c of m.connections) if (c.status !== 'connected') problems.push(`${c.gateway} -> ${c.cluster}: ${c.status || 'no status'}${c.statusMessage ? `: ${c.statusMessage}` : ''}`);
  }
  if (sec === 'networks' && !m.unreadable?.clusters && !m.network) problems.push('No local Cluster object found');
  if (sec === 'gateways') {
    for (const g of m.gateways) if (g.lastSeenSeconds !== undefined && g.lastSeenSeconds > STALE_GATEWAY_SECONDS) problems.push(`${g.node}: Gateway not refreshed for ${g.lastSeenSeconds} s: its gateway is stopped or stuck`);
  }
  if (sec === 'versions') {
    for (const v of m.versions) if (v.status === 'stale' || v.status === 'not running') problems.push(`${v.component} on ${v.node}: ${v.detail ?? v.status}`);
  }
  return problems;
}

/** True when any of the sections would print ✗: `hawser show` then exits 1. */
export function showFailed(m: ShowModel, sections: readonly Section[]): boolean {
  return sections.some((sec) => sectionProblems(m, sec).length > 0);
}

export function renderSection(m: ShowModel, sec: Section): string {
  const problems = sectionProblems(m, sec);
  const unreadable = SECTION_SOURCES[sec].filter((r) => m.unreadable?.[r]);
  // the section's own data could not be read at all: only why (the other sections still print)
  if (unreadable.length === SECTION_SOURCES[sec].length || (sec !== 'versions' && unreadable.length)) return ` ✗ ${SECTION_TITLES[sec]}
${problems.join('\n')}`;
  const body = renderSectionBody(m, sec);
  if (!problems.length) return body;
  const lines = body.split('\n');
  lines[0] = lines[0]!.replace(' ✓ ', ' ✗ ');
  // the connections table already shows status messages; other sections list their problems below
  const extra = sec === 'connections' || sec === 'networks' ? [] : problems.map((p) => `  ${p}`);
  return [...lines, ...extra].join('\n');
}

function renderSectionBody(m: ShowModel, sec: Section): string {
  switch (sec) {
    case 'connections':
      if (!m.connections.length) return ' ✗ Showing Connections\nThere are no connections';
      return ' ✓ Showing Connections\n' + table(['GATEWAY', 'CLUSTER', 'REMOTE IP', 'NAT', 'CABLE DRIVER', 'SUBNETS', 'STATUS', 'RTT avg.'],
        m.connections.map((c) => [c.gateway, c.cluster, c.remoteIP, c.nat ? 'yes' : 'no', c.cableDriver, c.subnets.join(', '), c.status, c.rttAvg]))
        + m.connections.filter((c) => c.status !== 'connected' && c.statusMessage).map((c) => `\n  ${c.cluster}: ${c.statusMessage}`).join('');
    case 'endpoints':
      return ' ✓ Showing Endpoints\n' + table(['CLUSTER', 'ENDPOINT IP', 'PUBLIC IP', 'CABLE DRIVER', 'TYPE'], m.endpoints.map((e) => [e.cluster, e.endpointIP, e.publicIP, e.cableDriver, e.type]));
    case 'gateways':
      return ' ✓ Showing Gateways\n' + table(['NODE', 'HA STATUS', 'SUMMARY'], m.gateways.map((g) => [g.node, g.haStatus, g.summary]));
    case 'networks':
      if (!m.network) return ' ✗ Showing Network details\nNo local Cluster object found';
      return [' ✓ Showing Network details', '    Discovered network details via hawser:', `        Service CIDRs:   [${m.network.serviceCidrs.join(', ')}]`, `        Cluster CIDRs:   [${m.network.clusterCidrs.join(', ')}]`, ...(m.network.globalCidrs.length ? [`        Global CIDRs:    [${m.network.globalCidrs.join(', ')}]`] : [])].join('\n');
    case 'versions':
      return ' ✓ Showing versions\n' + table(['COMPONENT', 'NODE', 'RUNNING', 'STATUS', 'LAST SEEN', 'IMAGE'], m.versions.map((v) => [v.component, v.node, v.version, v.status, v.lastSeenSeconds === undefined ? '' : `${v.lastSeenSeconds}s ago`, v.image ?? '']))
        + (m.unreadable?.pods ? `\n  pod status not shown: cannot read pods: ${m.unreadable.pods}` : '');
  }
}

export function renderShow(m: ShowModel, sections: readonly Section[]): string {
  const title = m.context && m.context !== m.cluster ? `Cluster "${m.cluster}" (context ${m.context})` : `Cluster "${m.cluster}"`;
  return [title, ...sections.map((sec) => renderSection(m, sec))].join('\n') + '\n';
}
