// Invariants of a running lab (Globalnet on, WireGuard, several gateways per cluster), checked against what
// the current objects require. One `observe` reads the kernel and the API servers; `check` (pure) turns an
// observation into discrepancies, each with a stable key. A level-triggered system is allowed to be behind
// for a moment, so a discrepancy is a violation only once the same key has been seen continuously for
// `graceMs` (and any discrepancy left at the end, after the faults stop and the lab settles, is one).
// Shared by bench/soak/run.ts and test/soak/soak.real.test.ts.
import type { Lab } from '../../../src/lab/index.js';
import { SUBMARINER_NAMESPACE } from '../../../src/lab/index.js';
import { RestClient, resourcePath, type KubeObject } from '../../../src/k8s/rest.js';
import { UapiClient } from '../../../src/cable-drivers/wireguard/wgctrl/index.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { netnsPids } from '../../../src/os/netns.js';
import { errorMessage } from '../../../src/util/errors.js';
import { sampleProc } from '../measure.js';

/** Protocol numbers of the routes/rules hawser installs: WireGuard driver (table 150), route agent. */
export const WG_ROUTE_PROTO = 119;
export const RA_ROUTE_PROTO = 147;
const WG_TABLE = 150;
const BROKER_NS = 'submariner-k8s-broker';
const GLOBALNET_TABLE = 'hawser-globalnet';
/** Upper bounds for one role process (far above what a healthy role uses: a leak crosses them). */
export const MAX_FDS = 256;
export const MAX_ACTIVE_RESOURCES = 1000;
/** Three resync periods: longer than that without a clean reconcile pass is a route agent stuck on a failing write. */
export const ROUTE_AGENT_UNSYNCED_S = 90;
const ROLE_METRICS_PORTS: Record<string, number> = { gateway: 32780, globalnet: 32781, 'route-agent': 32782 };

export interface RoleMetrics {
  node: string;
  role: string;
  pid?: number;
  rssBytes?: number;
  heapUsedBytes?: number;
  /** Buffers and other memory V8 tracks outside its heap (prom-client's nodejs_external_memory_bytes). */
  externalBytes?: number;
  openFds?: number;
  /** Route agents: Unix seconds of the last reconcile pass without failures (0: none yet), and of the process start. */
  lastCleanSyncS?: number;
  startS?: number;
  activeResources?: number;
  activeHandles?: number;
}

export interface NodeObservation {
  node: string;
  cluster: string;
  gateway: boolean;
  /** WireGuard peers (base64 public keys); undefined when no device answers. */
  wgPeers?: string[];
  /** Destinations of routes with hawser's WireGuard protocol (table 150). */
  wgRoutes: string[];
  /** Rules per protocol (119, 147). */
  rules: Record<number, number>;
  /** Route agent routes (protocol 147), any table: `table dst`. */
  raRoutes: string[];
  /** Globalnet nft: ingress map keys, remote_global_cidrs elements; undefined when the table is absent. */
  nftIngress?: string[];
  nftRemoteCidrs?: string[];
  /** Processes in the node's netns by command name, and zombies. */
  procs: Record<string, number>;
  zombies: number;
  error?: string;
}

export interface ClusterObservation {
  cluster: string;
  leaseHolder: string;
  globalnetLeaseHolder: string;
  /** Gateway objects saying active. */
  activeGateways: string[];
  /** Allocated GlobalIngressIPs and node global IPs. */
  ingressIPs: string[];
  nodeGlobalIPs: string[];
  error?: string;
}

export interface Observation {
  at: number;
  /** Newest Endpoint per cluster on the broker: cluster → { publicKey, subnets }. */
  brokerEndpoints: Record<string, { publicKey: string; subnets: string[] }>;
  clusters: ClusterObservation[];
  nodes: NodeObservation[];
  roles: RoleMetrics[];
  error?: string;
}

async function sh(lab: Lab, target: string, argv: string[]): Promise<string> {
  const r = await lab.exec(target, argv, { allowFailure: true, timeoutMs: 10_000 });
  return r.code === 0 ? r.stdout : '';
}

function client(lab: Lab, cluster: string): RestClient {
  return new RestClient(lab.kubeConfig(cluster), 5000);
}

async function leaseHolderOf(c: RestClient, name: string): Promise<string> {
  const o = await c.getOrUndefined(resourcePath('coordination.k8s.io', 'v1', 'leases', SUBMARINER_NAMESPACE, name));
  const id = (o?.spec as { holderIdentity?: unknown } | undefined)?.holderIdentity;
  return typeof id === 'string' ? id.replace(/-submariner-(gateway|globalnet)$/, '') : '';
}

async function observeCluster(lab: Lab, cluster: string): Promise<ClusterObservation> {
  const c = client(lab, cluster);
  try {
    const [leaseHolder, globalnetLeaseHolder, gws, giips, nodes] = await Promise.all([
      leaseHolderOf(c, 'submariner-gateway-lock'),
      leaseHolderOf(c, 'submariner-globalnet-lock'),
      c.list(resourcePath('submariner.io', 'v1', 'gateways', SUBMARINER_NAMESPACE)),
      c.list(resourcePath('submariner.io', 'v1', 'globalingressips')),
      c.list(resourcePath('', 'v1', 'nodes')),
    ]);
    return {
      cluster, leaseHolder, globalnetLeaseHolder,
      activeGateways: gws.items.filter((o) => (o.status as { haStatus?: unknown } | undefined)?.haStatus === 'active').map((o) => o.metadata.name).sort(),
      ingressIPs: giips.items.map((o) => (o.status as { allocatedIP?: unknown } | undefined)?.allocatedIP).filter((x): x is string => typeof x === 'string' && x !== '').sort(),
      nodeGlobalIPs: nodes.items.map((o) => o.metadata.annotations?.['submariner.io/globalIp']).filter((x): x is string => typeof x === 'string' && x !== '').sort(),
    };
  } catch (err) {
    return { cluster, leaseHolder: '?', globalnetLeaseHolder: '?', activeGateways: [], ingressIPs: [], nodeGlobalIPs: [], error: errorMessage(err) };
  } finally {
    c.close();
  }
}

function newestPerCluster(items: readonly KubeObject[]): Observation['brokerEndpoints'] {
  const best = new Map<string, KubeObject>();
  for (const o of items) {
    const id = String((o.spec as { cluster_id?: unknown }).cluster_id ?? '');
    const cur = best.get(id);
    const ts = o.metadata.creationTimestamp ?? '';
    if (!cur || ts > (cur.metadata.creationTimestamp ?? '') || (ts === cur.metadata.creationTimestamp && o.metadata.name > cur.metadata.name)) best.set(id, o);
  }
  const out: Observation['brokerEndpoints'] = {};
  for (const [id, o] of best) {
    const spec = o.spec as { backend_config?: Record<string, string>; subnets?: string[] };
    out[id] = { publicKey: spec.backend_config?.publicKey ?? '', subnets: [...(spec.subnets ?? [])].sort() };
  }
  return out;
}

interface NftJson {
  nftables?: Array<{ set?: { name: string; elem?: unknown[] }; map?: { name: string; elem?: unknown[] } }>;
}

function nftElemText(e: unknown): string {
  if (typeof e === 'string') return e;
  const p = (e as { prefix?: { addr?: string; len?: number } }).prefix;
  if (p) return `${p.addr}/${p.len}`;
  return JSON.stringify(e);
}

/** Everything one node is asked, in one process (the machine is small and loaded): sections after `@@ <name>`. */
function nodeScript(metricsPorts: readonly number[]): string {
  return [
    'echo "@@ routes"; ip -j route show table all',
    'echo "@@ rules"; ip -j rule show',
    `echo "@@ nft"; nft -j list table ip ${GLOBALNET_TABLE} 2>/dev/null`,
    ...metricsPorts.map((p) => `echo "@@ metrics ${p}"; curl -s -m 3 http://127.0.0.1:${p}/metrics`),
    'true',
  ].join('; ');
}

function sections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let cur = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('@@ ')) {
      cur = line.slice(3).trim();
      out.set(cur, '');
    } else if (cur) out.set(cur, out.get(cur)! + line + '\n');
  }
  return out;
}

async function observeNode(lab: Lab, node: string): Promise<{ node: NodeObservation; roles: RoleMetrics[] }> {
  const n = lab.node(node);
  const out: NodeObservation = { node, cluster: n.cluster, gateway: n.gateway, wgRoutes: [], rules: {}, raRoutes: [], procs: {}, zombies: 0 };
  const roles: RoleMetrics[] = [];
  try {
    const [wgPeers, text] = await Promise.all([
      n.gateway ? uapiPeers(lab, node) : Promise.resolve(undefined),
      sh(lab, node, ['sh', '-c', nodeScript(n.roles.map((r) => ROLE_METRICS_PORTS[r]!))]),
    ]);
    const sec = sections(text);
    out.wgPeers = wgPeers;
    for (const r of JSON.parse(sec.get('routes')?.trim() || '[]') as Array<{ dst: string; table?: string | number; protocol?: string | number }>) {
      const proto = Number(r.protocol);
      if (proto === WG_ROUTE_PROTO && String(r.table) === String(WG_TABLE)) out.wgRoutes.push(r.dst);
      if (proto === RA_ROUTE_PROTO) out.raRoutes.push(`${r.table ?? 'main'} ${r.dst}`);
    }
    for (const r of JSON.parse(sec.get('rules')?.trim() || '[]') as Array<{ protocol?: string | number }>) {
      const proto = Number(r.protocol);
      if (proto === WG_ROUTE_PROTO || proto === RA_ROUTE_PROTO) out.rules[proto] = (out.rules[proto] ?? 0) + 1;
    }
    const nft = sec.get('nft')?.trim();
    if (nft) {
      const j = JSON.parse(nft) as NftJson;
      out.nftIngress = [];
      out.nftRemoteCidrs = [];
      for (const x of j.nftables ?? []) {
        if (x.map?.name === 'ingress') out.nftIngress = (x.map.elem ?? []).map((e) => nftElemText((e as unknown[])[0])).sort();
        if (x.set?.name === 'remote_global_cidrs') out.nftRemoteCidrs = (x.set.elem ?? []).map(nftElemText).sort();
      }
    }
    for (const role of n.roles) roles.push(roleMetrics(lab, node, role, sec.get(`metrics ${ROLE_METRICS_PORTS[role]}`) ?? ''));
    for (const pid of await netnsPids(lab.netns(node))) {
      const p = sampleProc(pid);
      if (!p) continue;
      out.procs[p.comm] = (out.procs[p.comm] ?? 0) + 1;
    }
    out.zombies = await countZombies(lab, node);
  } catch (err) {
    out.error = errorMessage(err);
  }
  return { node: out, roles };
}

async function countZombies(lab: Lab, node: string): Promise<number> {
  let z = 0;
  for (const pid of await netnsPids(lab.netns(node))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') z++;
    } catch {
      // gone
    }
  }
  return z;
}

/** Peers from the node's wireguard-go UAPI socket: it lives in the role's private /var/run/wireguard, the lab's per-node directory. */
async function uapiPeers(lab: Lab, node: string): Promise<string[] | undefined> {
  try {
    const dev = await new UapiClient({ socketDir: join(lab.node(node).dir, 'wireguard'), timeoutMs: 2000 }).device('submariner');
    return dev.peers.map((p) => p.publicKey);
  } catch {
    return undefined;
  }
}

function metricValue(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const v = Number(line.split(' ').at(-1));
    if (Number.isFinite(v)) sum = (sum ?? 0) + v;
  }
  return sum;
}

/** A role's figures from its /metrics text (Globalnet exports no process metrics: /proc fills in RSS and fds). */
function roleMetrics(lab: Lab, node: string, role: string, text: string): RoleMetrics {
  const pid = lab.pid(`${node}/${role}`);
  const m: RoleMetrics = { node, role, pid };
  if (pid === undefined) return m;
  const p = sampleProc(pid);
  m.rssBytes = metricValue(text, 'process_resident_memory_bytes') ?? (p ? p.rssMiB * 1048576 : undefined);
  m.heapUsedBytes = metricValue(text, 'nodejs_heap_size_used_bytes');
  m.externalBytes = metricValue(text, 'nodejs_external_memory_bytes');
  m.openFds = metricValue(text, 'process_open_fds') ?? p?.fds;
  m.activeResources = metricValue(text, 'nodejs_active_resources_total');
  m.activeHandles = metricValue(text, 'nodejs_active_handles_total');
  m.lastCleanSyncS = metricValue(text, 'hawser_route_agent_last_sync_timestamp_seconds');
  m.startS = metricValue(text, 'process_start_time_seconds');
  return m;
}

export async function observe(lab: Lab): Promise<Observation> {
  const at = Date.now();
  const broker = client(lab, lab.topology.brokerCluster);
  let brokerEndpoints: Observation['brokerEndpoints'] = {};
  let error: string | undefined;
  try {
    brokerEndpoints = newestPerCluster((await broker.list(resourcePath('submariner.io', 'v1', 'endpoints', BROKER_NS))).items);
  } catch (err) {
    error = `broker: ${errorMessage(err)}`;
  } finally {
    broker.close();
  }
  const nodes = lab.topology.clusters.flatMap((c) => c.nodes.map((n) => n.name));
  const [clusters, perNode] = await Promise.all([
    Promise.all(lab.topology.clusters.map((c) => observeCluster(lab, c.id))),
    Promise.all(nodes.map((n) => observeNode(lab, n))),
  ]);
  return { at, brokerEndpoints, clusters, nodes: perNode.map((x) => x.node), roles: perNode.flatMap((x) => x.roles), error };
}

export interface Discrepancy {
  key: string;
  detail: string;
}

function diff(have: readonly string[], want: readonly string[]): { extra: string[]; missing: string[] } {
  const h = new Set(have);
  const w = new Set(want);
  return { extra: [...h].filter((x) => !w.has(x)), missing: [...w].filter((x) => !h.has(x)) };
}

/** Pure: what in the observation differs from what the objects in it require. */
export function check(o: Observation): Discrepancy[] {
  const out: Discrepancy[] = [];
  const add = (key: string, detail: string): void => void out.push({ key, detail });
  // Observations that could not be made are not discrepancies of the lab (the API server may be restarting).
  if (o.error) return out;
  for (const c of o.clusters) {
    if (c.error) continue;
    if (c.activeGateways.length > 1) add(`${c.cluster}: two active gateways`, `Gateways ${c.activeGateways.join(' and ')} both say active (lease: ${c.leaseHolder || 'none'})`);
    const nodes = o.nodes.filter((n) => n.cluster === c.cluster && n.gateway);
    const wanted = Object.entries(o.brokerEndpoints).filter(([id]) => id !== c.cluster);
    const wantKeys = wanted.map(([, e]) => e.publicKey).filter(Boolean);
    const wantSubnets = wanted.flatMap(([, e]) => e.subnets);
    let withCables = 0;
    for (const n of nodes) {
      if (n.error) continue;
      const holder = n.node === c.leaseHolder;
      const peers = n.wgPeers ?? [];
      if (peers.length > 0) withCables++;
      if (holder && n.wgPeers !== undefined) {
        const d = diff(peers, wantKeys);
        for (const k of d.extra) add(`${n.node}: stale WireGuard peer ${k}`, `active gateway ${n.node} has a peer no broker Endpoint asks for`);
        for (const k of d.missing) add(`${n.node}: missing WireGuard peer ${k}`, `active gateway ${n.node} lacks the peer of a remote Endpoint`);
        const r = diff(n.wgRoutes, wantSubnets);
        for (const x of r.extra) add(`${n.node}: stale route ${x}`, `table ${WG_TABLE} routes ${x}, which no remote Endpoint has`);
        for (const x of r.missing) add(`${n.node}: missing route ${x}`, `table ${WG_TABLE} lacks ${x}`);
      } else if (!holder) {
        if (peers.length) add(`${n.node}: passive with ${peers.length} peers`, `${n.node} does not hold the lease (${c.leaseHolder || 'none'} does) but has WireGuard peers`);
        if (n.wgRoutes.length) add(`${n.node}: passive with ${n.wgRoutes.length} cable routes`, `${n.node} does not hold the lease but has table-${WG_TABLE} routes`);
      }
      // Globalnet data plane (the node holding the Globalnet lease) against the IPAM statuses.
      if (n.node === c.globalnetLeaseHolder && n.nftIngress) {
        const allowed = new Set([...c.ingressIPs, ...c.nodeGlobalIPs]);
        for (const ip of n.nftIngress) if (!allowed.has(ip)) add(`${n.node}: nft ingress element ${ip} without allocation`, `ingress map holds ${ip}, which no GlobalIngressIP status or node annotation has`);
        const have = new Set(n.nftIngress);
        for (const ip of c.ingressIPs) if (!have.has(ip)) add(`${n.node}: GlobalIngressIP ${ip} not in nft`, `allocated ${ip} has no ingress map element`);
        const rc = diff(n.nftRemoteCidrs ?? [], wantSubnets);
        for (const x of rc.extra) add(`${n.node}: nft remote_global_cidrs has stale ${x}`, `no remote Endpoint has ${x}`);
        for (const x of rc.missing) add(`${n.node}: nft remote_global_cidrs lacks ${x}`, `remote Endpoint subnet ${x} missing`);
      }
    }
    if (withCables > 1) add(`${c.cluster}: cables on ${withCables} gateways`, `more than one gateway node of ${c.cluster} has WireGuard peers`);
  }
  const remoteSubnetsAll = new Set(Object.values(o.brokerEndpoints).flatMap((e) => e.subnets));
  for (const n of o.nodes) {
    if (n.error) continue;
    // Route agent routes to a /16 of 242/8 that no Endpoint has any more: leaked by churn.
    for (const r of n.raRoutes) {
      const dst = r.split(' ')[1]!;
      if (dst.startsWith('242.') && !remoteSubnetsAll.has(dst) && ![...remoteSubnetsAll].some((s) => sameNet16(s, dst))) add(`${n.node}: stale route-agent route ${r}`, `no Endpoint has ${dst}`);
    }
    for (const [proto, count] of Object.entries(n.rules)) if (count > 8) add(`${n.node}: ${count} rules of protocol ${proto}`, 'more policy rules than any plan makes');
    if ((n.procs['wireguard-go'] ?? 0) > 1) add(`${n.node}: ${n.procs['wireguard-go']} wireguard-go`, 'one device needs one daemon');
    if ((n.procs['fping'] ?? 0) > 2) add(`${n.node}: ${n.procs['fping']} fping`, 'one prober per role');
    if ((n.procs['charon'] ?? 0) + (n.procs['charon-systemd'] ?? 0) > 0) add(`${n.node}: charon running`, 'a WireGuard lab needs no charon');
    if (n.zombies > 0) add(`${n.node}: ${n.zombies} zombies`, 'unreaped child processes');
  }
  for (const r of o.roles) {
    if (r.pid === undefined) continue;
    if ((r.openFds ?? 0) > MAX_FDS) add(`${r.node}/${r.role}: ${r.openFds} fds`, `more than ${MAX_FDS} open fds`);
    // a route agent resyncs every 30 s; one whose passes keep failing (a write the kernel refuses every time)
    // has a data path nobody is keeping in shape, even while traffic still flows
    if (r.role === 'route-agent' && r.lastCleanSyncS !== undefined && r.startS !== undefined) {
      const behind = o.at / 1000 - Math.max(r.lastCleanSyncS, r.startS);
      if (behind > ROUTE_AGENT_UNSYNCED_S) add(`${r.node}/route-agent: no reconcile without failures`, `none for ${Math.round(behind)} s (its log says which write fails)`);
    }
    if ((r.activeResources ?? 0) > MAX_ACTIVE_RESOURCES) add(`${r.node}/${r.role}: ${r.activeResources} active resources`, `more than ${MAX_ACTIVE_RESOURCES} timers/handles/requests`);
  }
  return out;
}

function sameNet16(a: string, b: string): boolean {
  return a.split('.').slice(0, 2).join('.') === b.split('.').slice(0, 2).join('.');
}

/** Tracks discrepancies over time: violations are those seen continuously for graceMs. */
export class InvariantTracker {
  private readonly since = new Map<string, { first: number; detail: string }>();
  readonly violations = new Map<string, string>();
  checks = 0;

  constructor(private readonly graceMs: number) {}

  /** Observations may finish out of order (two in flight): an older one than the newest seen is counted, not tracked. */
  private newest = 0;

  record(at: number, ds: readonly Discrepancy[]): Discrepancy[] {
    this.checks++;
    if (at < this.newest) return [];
    this.newest = at;
    const now = new Set(ds.map((d) => d.key));
    for (const k of [...this.since.keys()]) if (!now.has(k)) this.since.delete(k);
    const fresh: Discrepancy[] = [];
    for (const d of ds) {
      const s = this.since.get(d.key) ?? { first: at, detail: d.detail };
      this.since.set(d.key, s);
      if (at - s.first >= this.graceMs && !this.violations.has(d.key)) {
        const v = `${d.key}: ${d.detail} (for ${Math.round((at - s.first) / 1000)} s)`;
        this.violations.set(d.key, v);
        fresh.push({ key: d.key, detail: v });
      }
    }
    return fresh;
  }

  /** At the end, after settling: every discrepancy left is a violation. */
  final(ds: readonly Discrepancy[]): void {
    for (const d of ds) if (!this.violations.has(d.key)) this.violations.set(d.key, `${d.key}: ${d.detail} (still at the end)`);
  }
}
