// What the demo (and tests) look at: Gateway objects read into typed summaries, whether every cable is
// connected, and a cross-cluster ping matrix. Parsing and formatting are pure; reading goes through a lab.
import { k8s } from '../k8s/client.js';
import { HawserError, errorMessage } from '../util/errors.js';
import { waitFor } from '../util/wait.js';
import type { Lab } from './lab.js';
import { POD_NAMESPACE, SUBMARINER_NAMESPACE, type LabTopology, type PodPlan } from './topology.js';

export interface ConnectionSummary {
  cluster: string;
  hostname: string;
  status: string;
  message: string;
  usingIP: string;
  usingNAT: boolean;
  backend: string;
  subnets: string[];
  rttAvg: string;
}

export interface GatewaySummary {
  cluster: string;
  name: string;
  haStatus: string;
  failure: string;
  connections: ConnectionSummary[];
}

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function s(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** A Gateway object (any shape) into a summary; missing fields become empty strings. */
export function parseGateway(cluster: string, raw: unknown): GatewaySummary {
  const o = obj(raw);
  const status = obj(o.status);
  const conns = Array.isArray(status.connections) ? status.connections : [];
  return {
    cluster,
    name: s(obj(o.metadata).name),
    haStatus: s(status.haStatus),
    failure: s(status.statusFailure),
    connections: conns.map((c) => {
      const co = obj(c);
      const ep = obj(co.endpoint);
      return {
        cluster: s(ep.cluster_id), hostname: s(ep.hostname), status: s(co.status), message: s(co.statusMessage),
        usingIP: s(co.usingIP), usingNAT: co.usingNAT === true, backend: s(ep.backend),
        subnets: Array.isArray(ep.subnets) ? ep.subnets.map(s) : [], rttAvg: s(obj(co.latencyRTT).average),
      };
    }),
  };
}

export async function readGateways(kc: k8s.KubeConfig, cluster: string): Promise<GatewaySummary[]> {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const list = obj(await api.listNamespacedCustomObject({ group: 'submariner.io', version: 'v1', namespace: SUBMARINER_NAMESPACE, plural: 'gateways' }));
  const items = Array.isArray(list.items) ? list.items : [];
  return items.map((i) => parseGateway(cluster, i)).sort((a, b) => a.name.localeCompare(b.name));
}

export interface CableState {
  cluster: string;
  /** Clusters this cluster's active gateway is connected to. */
  connected: string[];
  /** One line on what is missing, empty when every cable is connected. */
  missing: string;
}

/** Per cluster: is there an active gateway connected to every other cluster? */
export function cableStates(clusters: readonly string[], gateways: Readonly<Record<string, GatewaySummary[] | string>>): CableState[] {
  return clusters.map((c) => {
    const gws = gateways[c];
    const others = clusters.filter((x) => x !== c);
    if (typeof gws === 'string') return { cluster: c, connected: [], missing: `cannot read Gateways: ${gws}` };
    if (!gws || gws.length === 0) return { cluster: c, connected: [], missing: 'no Gateway objects yet' };
    const active = gws.filter((g) => g.haStatus === 'active');
    if (active.length === 0) return { cluster: c, connected: [], missing: `no active gateway (${gws.map((g) => `${g.name}: ${g.haStatus || '?'}`).join(', ')})` };
    const connected = others.filter((o) => active.some((g) => g.connections.some((x) => x.cluster === o && x.status === 'connected')));
    const notYet = others.filter((o) => !connected.includes(o)).map((o) => {
      const conn = active.flatMap((g) => g.connections).find((x) => x.cluster === o);
      return conn ? `${o} ${conn.status}${conn.message ? ` (${conn.message})` : ''}` : `${o} no connection`;
    });
    return { cluster: c, connected, missing: notYet.join('; ') };
  });
}

/** Every cluster's Gateways, or the error reading them (first line), keyed by cluster id. */
export async function readAllGateways(lab: Lab): Promise<Record<string, GatewaySummary[] | string>> {
  const out: Record<string, GatewaySummary[] | string> = {};
  await Promise.all(lab.topology.clusters.map(async (c) => {
    try {
      out[c.id] = await readGateways(lab.kubeConfig(c.id), c.id);
    } catch (err) {
      out[c.id] = errorMessage(err).split('\n')[0]!.slice(0, 160);
    }
  }));
  return out;
}

/**
 * Resolves once every cluster has an active gateway connected to every other cluster (for end-to-end
 * tests); on timeout throws HawserError('TIMEOUT') saying per cluster what is missing.
 */
export async function waitForCables(lab: Lab, timeoutMs: number): Promise<CableState[]> {
  const ids = lab.topology.clusters.map((c) => c.id);
  let last: CableState[] = [];
  try {
    return await waitFor(async () => {
      last = cableStates(ids, await readAllGateways(lab));
      return last.every((s) => !s.missing) ? last : undefined;
    }, { timeoutMs, intervalMs: 500, what: 'every cable to be connected' });
  } catch (err) {
    throw new HawserError('TIMEOUT', `cables not connected within ${timeoutMs / 1000} s: ${last.filter((s) => s.missing).map((s) => `${s.cluster}: ${s.missing}`).join('; ')}`, { cause: err });
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length)));
  return rows.map((r) => r.map((cell, i) => cell + ' '.repeat(widths[i]! - [...cell].length)).join('  ').trimEnd()).join('\n') + '\n';
}

/** The Gateways' connections as `subctl show connections` prints them. */
export function formatConnections(gateways: readonly GatewaySummary[]): string {
  const rows = [['GATEWAY', 'CLUSTER', 'REMOTE IP', 'NAT', 'CABLE DRIVER', 'SUBNETS', 'STATUS', 'RTT avg.']];
  for (const g of gateways) {
    for (const c of g.connections) {
      rows.push([g.name, c.cluster, c.usingIP, c.usingNAT ? 'yes' : 'no', c.backend, c.subnets.join(', '), c.status, c.rttAvg]);
    }
    if (g.connections.length === 0) rows.push([g.name, '-', '-', '-', '-', '-', g.haStatus || '?', '-']);
  }
  return table(rows);
}

export interface PingCell {
  from: string;
  to: string;
  /** Address pinged; empty when the target has no address reachable from `from` (no global IP). */
  ip: string;
  ok: boolean;
  rttMs?: number;
}

/** Where `from` can reach `to`: its pod IP, or with Globalnet its GlobalIngressIP (if any). */
export type TargetIps = (to: PodPlan) => string | undefined;

/** Pings every pod of every other cluster from every pod (in parallel, a few at a time). */
export async function pingMatrix(lab: Lab, targetIp: TargetIps = (p) => p.ip, concurrency = 8): Promise<PingCell[]> {
  const t = lab.topology;
  const pods = t.clusters.flatMap((c) => c.nodes.flatMap((n) => n.pods));
  const jobs: PingCell[] = [];
  for (const from of pods) for (const to of pods) if (from.cluster !== to.cluster) jobs.push({ from: from.name, to: to.name, ip: targetIp(to) ?? '', ok: false });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const j = jobs[next++]!;
      if (!j.ip) continue;
      const r = await lab.ping(j.from, j.ip).catch(() => ({ ok: false, rttMs: undefined }));
      j.ok = r.ok;
      j.rttMs = r.rttMs;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return jobs;
}

export function formatPingMatrix(t: LabTopology, cells: readonly PingCell[]): string {
  const pods = t.clusters.flatMap((c) => c.nodes.flatMap((n) => n.pods));
  const targets = pods.filter((p) => cells.some((c) => c.to === p.name));
  const ipOf = (p: PodPlan): string => cells.find((c) => c.to === p.name && c.ip)?.ip ?? p.ip;
  const rows = [['FROM \\ TO', ...targets.map((p) => `${p.name} ${ipOf(p)}`)]];
  for (const from of pods) {
    rows.push([`${from.name} ${from.ip}`, ...targets.map((to) => {
      const c = cells.find((x) => x.from === from.name && x.to === to.name);
      if (!c) return '·';
      if (!c.ip) return '– no IP';
      return c.ok ? `✓ ${c.rttMs !== undefined ? `${c.rttMs.toFixed(2)} ms` : ''}`.trimEnd() : '✗';
    })]);
  }
  return table(rows);
}

/** GlobalIngressIP allocations by pod name (Globalnet labs), read from each cluster. */
export async function globalIpsByPod(lab: Lab): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const c of lab.topology.clusters) {
    try {
      const api = lab.kubeConfig(c.id).makeApiClient(k8s.CustomObjectsApi);
      const list = obj(await api.listNamespacedCustomObject({ group: 'submariner.io', version: 'v1', namespace: POD_NAMESPACE, plural: 'globalingressips' }));
      for (const i of Array.isArray(list.items) ? list.items : []) {
        const o = obj(i);
        const pod = s(obj(obj(o.spec).podRef).name);
        const ip = s(obj(o.status).allocatedIP);
        if (pod && ip) out.set(pod, ip);
      }
    } catch {
      // No Globalnet CRDs or no API server: those pods simply have no global IP to show.
    }
  }
  return out;
}
