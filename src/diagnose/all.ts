// `hawser diagnose all`: every cluster's DaemonSets, pods, gateways and Globalnet pool from its API, each
// node's own checks (`hawser diagnose node` run on the node), active firewall probes between the active
// gateways of every pair of clusters (cable port and NAT-discovery port) and from every other node to its
// cluster's active gateway (4800, vx-submariner), and a path-MTU search through every cable.
//
// Where things run is the `DiagnoseWorld`'s business (the lab: each node's netns); this module plans the
// probes, arms the listeners before the senders start, and judges what came back.
import { isApiError, resourcePath, type KubeObject, type RestClient } from '../k8s/rest.js';
import { CLUSTER_ID_LABEL, parseClusterSpec, parseEndpointSpec, SUBMARINER_GROUP, SUBMARINER_VERSION, type EndpointSpec } from '../k8s/resources.js';
import { errorMessage } from '../util/errors.js';
import type { CheckResult } from './checks.js';
import { daemonSetChecks, firewallCheck, gatewayChecks, globalnetChecks, GATEWAY_STALE_SECONDS, pmtuCheck, podChecks, type FirewallProbeOutcome } from './cluster.js';
import { newProbeToken, type PmtuResult, type ProbeExpectation } from './probes.js';

export const VXLAN_PORT = 4800;
export const DEFAULT_CABLE_PORT = 4500;
export const DEFAULT_NATT_DISCOVERY_PORT = 4490;
export const PROBE_COUNT = 3;

export interface WorldNode { name: string; gateway: boolean }
export interface WorldCluster { id: string; client: RestClient; nodes: readonly WorldNode[] }

export interface DiagnoseWorld {
  clusters: readonly WorldCluster[];
  namespace: string;
  /** Runs `hawser diagnose node ARGS` on a node; absent when this world cannot reach nodes (API-only). */
  runNode?(cluster: string, node: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Arms the probe counters on a node (replacing earlier ones). */
  arm?(cluster: string, node: string, expect: readonly ProbeExpectation[]): Promise<void>;
  /** Reads the counters and removes the probe table. */
  collect?(cluster: string, node: string): Promise<Map<string, number>>;
}

/** What `hawser diagnose node -o json` prints. */
export interface NodeReport {
  checks: CheckResult[];
  sent: Array<{ ip: string; port: number; token: string; error?: string }>;
  pmtu: Array<{ ip: string; result: PmtuResult }>;
}

export interface DiagnoseReport { results: CheckResult[] }

export interface ClusterView {
  id: string;
  local?: EndpointSpec;
  /** The node of the live active gateway. */
  activeNode?: string;
  /** How this cluster's active gateway reaches each remote cluster (Gateway connection usingIP). */
  usingIP: Map<string, string>;
  clusterCidrs: string[];
  serviceCidrs: string[];
  globalCidr?: string;
  remoteCidrs: string[];
  driver?: string;
}

async function listOr(client: RestClient, path: string, unreadable: string[], what: string): Promise<KubeObject[]> {
  try {
    return (await client.list(path)).items;
  } catch (err) {
    if (isApiError(err, 404)) return [];
    unreadable.push(`${what}: ${isApiError(err, 403) ? 'forbidden (403)' : errorMessage(err)}`);
    return [];
  }
}

async function readCluster(c: WorldCluster, ns: string, nowSeconds: number): Promise<{ view: ClusterView; results: CheckResult[] }> {
  const unreadable: string[] = [];
  const sub = (plural: string) => resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, plural, ns);
  const [pods, dss, gateways, endpoints, clusters] = await Promise.all([
    listOr(c.client, resourcePath('', 'v1', 'pods', ns), unreadable, 'pods'),
    listOr(c.client, resourcePath('apps', 'v1', 'daemonsets', ns), unreadable, 'daemonsets'),
    listOr(c.client, sub('gateways'), unreadable, 'gateways'),
    listOr(c.client, sub('endpoints'), unreadable, 'endpoints'),
    listOr(c.client, sub('clusters'), unreadable, 'clusters'),
  ]);
  const view: ClusterView = { id: c.id, usingIP: new Map(), clusterCidrs: [], serviceCidrs: [], remoteCidrs: [] };
  for (const e of endpoints) {
    const p = parseEndpointSpec(e.spec);
    if (!p.ok) continue;
    if (e.metadata.labels?.[CLUSTER_ID_LABEL] || p.value.clusterId !== c.id) view.remoteCidrs.push(...p.value.subnets);
    else if (!view.local || e.metadata.name.includes(p.value.hostname)) view.local ??= p.value;
  }
  for (const o of clusters) {
    const p = parseClusterSpec(o.spec);
    if (p.ok && p.value.clusterId === c.id) {
      view.clusterCidrs = p.value.clusterCidrs;
      view.serviceCidrs = p.value.serviceCidrs;
      view.globalCidr = p.value.globalCidrs[0];
    }
  }
  for (const g of gateways) {
    const st = (g.status ?? {}) as Record<string, unknown>;
    const ts = Number(g.metadata.annotations?.['update-timestamp']);
    if (st.haStatus !== 'active' || !(nowSeconds - ts <= GATEWAY_STALE_SECONDS)) continue;
    view.activeNode = g.metadata.name;
    const le = parseEndpointSpec(st.localEndpoint);
    if (le.ok) {
      view.local = le.value;
      view.driver = le.value.backend;
    }
    for (const conn of Array.isArray(st.connections) ? st.connections : []) {
      const cr = (conn ?? {}) as Record<string, unknown>;
      const ep = parseEndpointSpec(cr.endpoint);
      if (ep.ok && typeof cr.usingIP === 'string' && cr.usingIP) view.usingIP.set(ep.value.clusterId, cr.usingIP);
    }
  }
  // a kubeconfig context may be named anything: name the cluster by its ID once its Endpoint says it
  const id = c.nodes.length ? c.id : view.local?.clusterId ?? c.id;
  view.id = id;
  const results: CheckResult[] = unreadable.map((u) => ({ name: `${id}: API`, verdict: 'warn', detail: `cannot read ${u}`, fix: 'use a kubeconfig allowed to list these in the namespace' }));
  results.push(...(dss.length ? daemonSetChecks(id, dss) : [{ name: `${id}: DaemonSets`, verdict: 'ok' as const, detail: `none in ${ns} (the lab, or installed without them): the pods are judged instead` }]));
  results.push(...podChecks(id, pods), ...gatewayChecks(id, gateways, nowSeconds));
  if (view.globalCidr) {
    const gn = (plural: string) => resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, plural);
    const objs = (await Promise.all(['clusterglobalegressips', 'globalegressips', 'globalingressips'].map((p) => listOr(c.client, gn(p), unreadable, p)))).flat();
    results.push(...globalnetChecks(id, view.globalCidr, objs));
  }
  return { view, results };
}

interface PlannedProbe { outcome: FirewallProbeOutcome; token: string; listener: { cluster: string; node: string }; sender: { cluster: string; node: string } }

/** Every firewall probe to run: pairs of active gateways both ways (cable + NAT discovery), nodes → their gateway. */
export function planProbes(views: readonly ClusterView[], nodes: ReadonlyMap<string, readonly WorldNode[]>): PlannedProbe[] {
  const out: PlannedProbe[] = [];
  const add = (kind: FirewallProbeOutcome['kind'], from: { cluster: string; node: string }, to: { cluster: string; node: string; ip: string }, port: number): void => {
    out.push({ outcome: { kind, from, to, port, received: 0, sent: PROBE_COUNT }, token: newProbeToken(), listener: { cluster: to.cluster, node: to.node }, sender: from });
  };
  for (const a of views) {
    if (!a.activeNode) continue;
    for (const b of views) {
      if (a === b || !b.activeNode || !b.local) continue;
      const ip = a.usingIP.get(b.id) || b.local.publicIP || b.local.privateIP;
      if (!ip) continue;
      const to = { cluster: b.id, node: b.activeNode, ip };
      add('inter-cluster', { cluster: a.id, node: a.activeNode }, to, Number(b.local.backendConfig['udp-port']) || DEFAULT_CABLE_PORT);
      add('nat-discovery', { cluster: a.id, node: a.activeNode }, to, Number(b.local.backendConfig['natt-discovery-port']) || DEFAULT_NATT_DISCOVERY_PORT);
    }
    if (!a.local?.privateIP) continue;
    for (const n of nodes.get(a.id) ?? []) {
      if (n.name === a.activeNode) continue;
      add('intra-cluster', { cluster: a.id, node: n.name }, { cluster: a.id, node: a.activeNode, ip: a.local.privateIP }, VXLAN_PORT);
    }
  }
  return out;
}

const probeId = (i: number): string => `p${i}`;

export async function diagnoseAll(world: DiagnoseWorld, opts: { now?: () => number; probes?: boolean; verbose?: boolean } = {}): Promise<DiagnoseReport> {
  const nowSeconds = (opts.now ?? Date.now)() / 1000;
  const read = await Promise.all(world.clusters.map((c) => readCluster(c, world.namespace, nowSeconds)));
  const results = read.flatMap((r) => r.results);
  const views = read.map((r) => r.view);
  const { runNode, arm, collect } = world;
  if (!runNode || !arm || !collect) {
    results.push({ name: 'node checks and probes', verdict: 'warn', detail: 'not run: this world cannot run commands on the nodes', fix: 'run `hawser diagnose node` in each hawser pod, and `hawser diagnose probe listen|send` between gateways (docs/operations.md)' });
    return { results };
  }
  const nodesOf = new Map(world.clusters.map((c) => [c.id, c.nodes] as const));
  const probes = opts.probes === false ? [] : planProbes(views, nodesOf);
  // listeners first, so no probe is sent before its counter exists
  const byListener = new Map<string, { cluster: string; node: string; expect: ProbeExpectation[] }>();
  probes.forEach((p, i) => {
    const key = `${p.listener.cluster}/${p.listener.node}`;
    const l = byListener.get(key) ?? { ...p.listener, expect: [] };
    l.expect.push({ id: probeId(i), port: p.outcome.port, token: p.token });
    byListener.set(key, l);
  });
  const armErrors = new Map<string, string>();
  await Promise.all([...byListener.entries()].map(async ([key, l]) => {
    try {
      await arm(l.cluster, l.node, l.expect);
    } catch (err) {
      armErrors.set(key, errorMessage(err));
    }
  }));
  try {
    const runs = world.clusters.flatMap((c) => c.nodes.map((n) => ({ c, n })));
    const nodeReports = await Promise.all(runs.map(async ({ c, n }) => {
      const view = views.find((v) => v.id === c.id)!;
      const args = ['-o', 'json'];
      if (view.driver) args.push('--driver', view.driver);
      if (view.clusterCidrs.length) args.push('--cluster-cidr', view.clusterCidrs.join(','));
      if (view.remoteCidrs.length) args.push('--remote-cidr', [...new Set(view.remoteCidrs)].join(','));
      probes.forEach((p) => {
        if (p.sender.cluster === c.id && p.sender.node === n.name) args.push('--probe', `${p.outcome.to.ip}:${p.outcome.port}:${p.token}`);
      });
      const pmtuTargets: Array<{ cluster: string; ip: string }> = [];
      if (view.activeNode === n.name) {
        for (const r of views) {
          const ip = r.id !== c.id ? r.local?.healthCheckIP : undefined;
          if (ip) {
            pmtuTargets.push({ cluster: r.id, ip });
            args.push('--pmtu-to', ip);
          }
        }
      }
      try {
        const r = await runNode(c.id, n.name, args);
        const report = nodeReportFrom(r.stdout);
        return { c, n, report, pmtuTargets };
      } catch (err) {
        return { c, n, error: errorMessage(err), pmtuTargets };
      }
    }));
    for (const nr of nodeReports) {
      if (!nr.report) {
        results.push({ name: `${nr.c.id}/${nr.n.name}: node checks`, verdict: 'warn', detail: `could not run hawser diagnose node there: ${nr.error ?? ''}` });
        continue;
      }
      const passed = nr.report.checks.filter((r) => r.verdict === 'ok');
      const shown = opts.verbose ? nr.report.checks : nr.report.checks.filter((r) => r.verdict !== 'ok');
      if (!opts.verbose && passed.length) results.push({ name: `${nr.c.id}/${nr.n.name}`, verdict: 'ok', detail: `${passed.length} node checks passed (${passed.map((r) => r.name).join(', ')})` });
      results.push(...shown.map((r) => ({ ...r, name: `${nr.c.id}/${nr.n.name}: ${r.name}` })));
      for (const s of nr.report.sent) {
        const p = probes.find((x) => x.token === s.token);
        if (p && s.error) p.outcome.error = `sending from ${nr.n.name}: ${s.error}`;
      }
      for (const m of nr.report.pmtu) {
        const t = nr.pmtuTargets.find((x) => x.ip === m.ip);
        results.push(pmtuCheck({ cluster: nr.c.id, node: nr.n.name }, { cluster: t?.cluster ?? '?', ip: m.ip }, m.result));
      }
    }
  } finally {
    await Promise.all([...byListener.entries()].map(async ([key, l]) => {
      try {
        const counts = await collect(l.cluster, l.node);
        probes.forEach((p, i) => {
          if (p.listener.cluster === l.cluster && p.listener.node === l.node) p.outcome.received = counts.get(probeId(i)) ?? 0;
        });
      } catch (err) {
        if (!armErrors.has(key)) armErrors.set(key, errorMessage(err));
      }
    }));
  }
  for (const p of probes) {
    const armError = armErrors.get(`${p.listener.cluster}/${p.listener.node}`);
    results.push(firewallCheck(armError ? { ...p.outcome, error: `listener on ${p.listener.node}: ${armError}` } : p.outcome));
  }
  return { results };
}

/**
 * The report of `hawser diagnose node -o json` from its stdout: the line that holds it. A log line the node's
 * process wrote before it (the logger writes to stdout, e.g. the libnftables fallback warning) is skipped.
 */
export function nodeReportFrom(stdout: string): NodeReport {
  const line = stdout.split('\n').find((l) => l.startsWith('{"checks"'));
  if (!line) throw new Error(`no report in the output: ${stdout.slice(0, 300)}`);
  return JSON.parse(line) as NodeReport;
}
