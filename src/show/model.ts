// `hawser show`: a pure model built from the API objects, rendered as `subctl show`-style tables or JSON/YAML.
import { parseClusterSpec, parseEndpointSpec, CLUSTER_ID_LABEL, type EndpointSpec } from '../k8s/resources.js';
import type { KubeObject } from '../k8s/rest.js';
import { gatewaySummary } from '../gateway/status.js';

export interface ShowConnection { gateway: string; cluster: string; remoteIP: string; nat: boolean; cableDriver: string; subnets: string[]; status: string; statusMessage: string; rttAvg: string }
export interface ShowEndpoint { cluster: string; endpointIP: string; publicIP: string; cableDriver: string; type: 'local' | 'remote'; hostname: string }
export interface ShowGateway { node: string; haStatus: string; summary: string }
export interface ShowNetwork { clusterId: string; serviceCidrs: string[]; clusterCidrs: string[]; globalCidrs: string[] }
export interface ShowVersion { component: string; node: string; version: string }

/** The submariner.io resources `show` reads. */
export type ShowResource = 'gateways' | 'endpoints' | 'clusters' | 'routeagents';

export interface ShowModel {
  cluster: string;
  /** Resources that could not be read (e.g. 403 for this ServiceAccount), with why: their sections say so. */
  unreadable?: Partial<Record<ShowResource, string>>;
  connections: ShowConnection[];
  endpoints: ShowEndpoint[];
  gateways: ShowGateway[];
  network?: ShowNetwork;
  versions: ShowVersion[];
}

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : {});
const s = (v: unknown): string => (typeof v === 'string' ? v : '');

export function buildShowModel(input: { gateways: readonly KubeObject[]; endpoints: readonly KubeObject[]; clusters: readonly KubeObject[]; routeAgents?: readonly KubeObject[]; unreadable?: Partial<Record<ShowResource, string>> }): ShowModel {
  const localEps: EndpointSpec[] = [];
  const endpoints: ShowEndpoint[] = [];
  for (const o of input.endpoints) {
    const p = parseEndpointSpec(o.spec);
    if (!p.ok) continue;
    const type = o.metadata.labels?.[CLUSTER_ID_LABEL] ? 'remote' : 'local';
    if (type === 'local') localEps.push(p.value);
    endpoints.push({ cluster: p.value.clusterId, endpointIP: p.value.privateIP, publicIP: p.value.publicIP, cableDriver: p.value.backend, type, hostname: p.value.hostname });
  }
  endpoints.sort((a, b) => (a.type === b.type ? a.cluster.localeCompare(b.cluster) : a.type === 'local' ? -1 : 1));
  const connections: ShowConnection[] = [];
  const gateways: ShowGateway[] = [];
  const versions: ShowVersion[] = [];
  let localCluster = localEps[0]?.clusterId ?? '';
  for (const g of [...input.gateways].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const st = rec(g.status);
    const conns = Array.isArray(st.connections) ? st.connections.map(rec) : [];
    const ha = s(st.haStatus) || 'unknown';
    gateways.push({ node: g.metadata.name, haStatus: ha, summary: gatewaySummary(ha, conns.map((c) => ({ status: s(c.status) })), s(st.statusFailure)) });
    versions.push({ component: 'hawser-gateway', node: g.metadata.name, version: s(st.version) });
    const le = parseEndpointSpec(st.localEndpoint);
    if (le.ok && !localCluster) localCluster = le.value.clusterId;
    for (const c of conns) {
      const ep = parseEndpointSpec(c.endpoint);
      if (!ep.ok) continue;
      connections.push({
        gateway: g.metadata.name,
        cluster: ep.value.clusterId,
        remoteIP: s(c.usingIP) || ep.value.privateIP,
        nat: c.usingNAT === true,
        cableDriver: ep.value.backend,
        subnets: ep.value.subnets,
        status: s(c.status),
        statusMessage: s(c.statusMessage),
        rttAvg: s(rec(c.latencyRTT).average),
      });
    }
  }
  for (const ra of input.routeAgents ?? []) versions.push({ component: 'hawser-routeagent', node: ra.metadata.name, version: s(rec(ra.status).version) });
  let network: ShowNetwork | undefined;
  for (const c of input.clusters) {
    const p = parseClusterSpec(c.spec);
    if (p.ok && p.value.clusterId === localCluster && !c.metadata.labels?.[CLUSTER_ID_LABEL]) {
      network = { clusterId: p.value.clusterId, serviceCidrs: p.value.serviceCidrs, clusterCidrs: p.value.clusterCidrs, globalCidrs: p.value.globalCidrs };
    }
  }
  const unreadable = input.unreadable && Object.keys(input.unreadable).length ? { unreadable: { ...input.unreadable } } : {};
  return { cluster: localCluster, ...unreadable, connections, endpoints, gateways, network, versions };
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
      return ' ✓ Showing versions\n' + table(['COMPONENT', 'NODE', 'RUNNING'], m.versions.map((v) => [v.component, v.node, v.version]));
  }
}

export function renderShow(m: ShowModel, sections: readonly Section[]): string {
  return [`Cluster "${m.cluster}"`, ...sections.map((sec) => renderSection(m, sec))].join('\n') + '\n';
}
