// Gateway failover on a running lab: fail the active gateway of one cluster (SIGTERM of hawser, SIGKILL of
// hawser, or the node's LAN link cut), measure what a 10/s cross-cluster ping lost, then bring the old
// gateway back while sampling Lease, Gateway objects and WireGuard peers to show it never serves again.
// Shared by bench/failover/run.ts and test/election/failover.real.test.ts.
import { join } from 'node:path';
import type { Lab } from '../../../src/lab/index.js';
import { SUBMARINER_NAMESPACE } from '../../../src/lab/index.js';
import { RestClient, resourcePath } from '../../../src/k8s/rest.js';
import { UapiClient } from '../../../src/cable-drivers/wireguard/wgctrl/index.js';
import { HawserError, errorMessage } from '../../../src/util/errors.js';
import { sleep, waitFor } from '../../../src/util/wait.js';
import { PingProbe, outageOf, type Outage } from './probe.js';

export type FailureKind = 'sigterm' | 'sigkill' | 'link';

export const FAILURE_TITLES: Record<FailureKind, string> = {
  sigterm: 'graceful (SIGTERM of hawser)',
  sigkill: 'process crash (SIGKILL of hawser, data path left up)',
  link: "node loss (node's LAN link cut)",
};

const LEASE = 'submariner-gateway-lock';
const IDENTITY_SUFFIX = '-submariner-gateway';
/** Every lab gateway's WireGuard device (a per-node /var/run/wireguard holds its UAPI socket). */
const WG_DEVICE = 'submariner';

function client(lab: Lab, cluster: string): RestClient {
  return new RestClient(lab.kubeConfig(cluster), 3000);
}

/** The node whose gateway holds the cluster's Lease ('' when released or missing). */
export async function leaseHolder(lab: Lab, cluster: string): Promise<string> {
  const o = await client(lab, cluster).getOrUndefined(resourcePath('coordination.k8s.io', 'v1', 'leases', SUBMARINER_NAMESPACE, LEASE));
  const spec = (o?.spec ?? {}) as { holderIdentity?: unknown };
  const id = typeof spec.holderIdentity === 'string' ? spec.holderIdentity : '';
  return id.endsWith(IDENTITY_SUFFIX) ? id.slice(0, -IDENTITY_SUFFIX.length) : id;
}

export interface GatewayView {
  haStatus: string;
  /** Unix seconds of its last status write (`update-timestamp`), 0 if none. */
  updatedAt: number;
  /** Remote hostnames this Gateway reports a connection to, with their status. */
  connections: Array<{ cluster: string; hostname: string; status: string; rtt: string }>;
}

/** Gateway objects of a cluster by node name. */
export async function gatewayViews(lab: Lab, cluster: string): Promise<Record<string, GatewayView>> {
  const { items } = await client(lab, cluster).list(resourcePath('submariner.io', 'v1', 'gateways', SUBMARINER_NAMESPACE));
  const out: Record<string, GatewayView> = {};
  for (const o of items) {
    const st = (o.status ?? {}) as { haStatus?: unknown; connections?: unknown };
    const conns = Array.isArray(st.connections) ? (st.connections as Array<Record<string, unknown>>) : [];
    out[o.metadata.name] = {
      haStatus: typeof st.haStatus === 'string' ? st.haStatus : '',
      updatedAt: Number(o.metadata.annotations?.['update-timestamp']) || 0,
      connections: conns.map((c) => {
        const ep = (c.endpoint ?? {}) as Record<string, unknown>;
        const rtt = (c.latencyRTT ?? {}) as Record<string, unknown>;
        return { cluster: String(ep.cluster_id ?? ''), hostname: String(ep.hostname ?? ''), status: String(c.status ?? ''), rtt: String(rtt.average ?? '') };
      }),
    };
  }
  return out;
}

/** WireGuard peers configured on a gateway node right now (its cables); undefined when no daemon answers. */
export async function wgPeers(lab: Lab, node: string): Promise<string[] | undefined> {
  try {
    const dev = await new UapiClient({ socketDir: join(lab.node(node).dir, 'wireguard'), timeoutMs: 1000 }).device(WG_DEVICE);
    return dev.peers.map((p) => p.endpoint ?? p.publicKey);
  } catch {
    return undefined;
  }
}

function gatewayNodes(lab: Lab, cluster: string): string[] {
  return lab.cluster(cluster).nodes.filter((n) => n.gateway).map((n) => n.name);
}

/** The port on the router's LAN bridge that is the node's cable (named after the node, without the cluster letter). */
function routerPort(lab: Lab, node: string): { router: string; port: string } {
  const n = lab.node(node);
  const c = lab.cluster(n.cluster);
  return { router: `${c.letter}-rtr`, port: n.name.slice(c.letter.length + 1) };
}

/**
 * Cuts the node off the network: its port on the LAN bridge goes down, so the node loses carrier (no API,
 * no other node, no WAN) while its own routes stay as they are, as when a node dies or is partitioned.
 */
export async function cutLink(lab: Lab, node: string): Promise<void> {
  const { router, port } = routerPort(lab, node);
  await lab.exec(router, ['ip', 'link', 'set', port, 'down']);
}

export async function restoreLink(lab: Lab, node: string): Promise<void> {
  const { router, port } = routerPort(lab, node);
  await lab.exec(router, ['ip', 'link', 'set', port, 'up']);
}

/** Hostnames of `ofCluster`'s Endpoints in a namespace of `cluster` (local, broker or remote copy). */
export async function endpointHosts(lab: Lab, cluster: string, namespace: string, ofCluster: string): Promise<string[]> {
  const { items } = await client(lab, cluster).list(resourcePath('submariner.io', 'v1', 'endpoints', namespace));
  return items
    .map((o) => (o.spec ?? {}) as { cluster_id?: unknown; hostname?: unknown })
    .filter((sp) => sp.cluster_id === ofCluster)
    .map((sp) => String(sp.hostname ?? ''))
    .sort();
}

export interface ClusterSample {
  /** ms since the return started. */
  atMs: number;
  holder: string;
  /** Gateway objects saying haStatus active. */
  active: string[];
  /** haStatus of every Gateway object by node. */
  haStatus: Record<string, string>;
  /** Unix seconds of each Gateway object's last write. */
  updatedAt: Record<string, number>;
  /** WireGuard peers per gateway node (undefined: no daemon). */
  peers: Record<string, number | undefined>;
  error?: string;
}

export async function sampleCluster(lab: Lab, cluster: string, sinceMs: number): Promise<ClusterSample> {
  const nodes = gatewayNodes(lab, cluster);
  const [holder, views, peers] = await Promise.all([
    leaseHolder(lab, cluster).catch((err: unknown) => `? ${errorMessage(err)}`),
    gatewayViews(lab, cluster).catch((err: unknown) => errorMessage(err)),
    Promise.all(nodes.map(async (n) => [n, (await wgPeers(lab, n))?.length] as const)),
  ]);
  return {
    atMs: Date.now() - sinceMs,
    holder,
    active: typeof views === 'string' ? [] : Object.entries(views).filter(([, v]) => v.haStatus === 'active').map(([k]) => k).sort(),
    haStatus: typeof views === 'string' ? {} : Object.fromEntries(Object.entries(views).map(([k, v]) => [k, v.haStatus])),
    updatedAt: typeof views === 'string' ? {} : Object.fromEntries(Object.entries(views).map(([k, v]) => [k, v.updatedAt])),
    peers: Object.fromEntries(peers),
    error: typeof views === 'string' ? views : undefined,
  };
}

/** Which samples break "never both active": two Gateways active, or a node other than the holder with cables. */
export function violations(samples: readonly ClusterSample[], oldActive: string): string[] {
  const out: string[] = [];
  for (const s of samples) {
    if (s.active.length > 1) out.push(`+${s.atMs} ms: Gateways ${s.active.join(' and ')} both active`);
    if (s.active.includes(oldActive)) out.push(`+${s.atMs} ms: old gateway ${oldActive} reported active`);
    if (s.holder === oldActive) out.push(`+${s.atMs} ms: old gateway ${oldActive} holds the Lease again`);
  }
  return out;
}

export interface FailoverOptions {
  kind: FailureKind;
  /** Cluster whose active gateway fails. */
  cluster: string;
  /** Pod that pings (a worker's pod of `cluster`) and the address it pings (a worker's pod elsewhere). */
  fromPod: string;
  toIp: string;
  intervalMs?: number;
  /** How long the path may stay down before this counts as a failure. */
  restoreTimeoutMs?: number;
  /** Bring the old gateway back and watch it (default true). */
  returnOld?: boolean;
  /** After the old one is passive without cables, keep sampling this long (default 2000 ms). */
  returnStableMs?: number;
  /** How long the returned gateway gets to report passive without cables (default 40 s). */
  returnTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface FailoverResult {
  kind: FailureKind;
  oldActive: string;
  newActive: string;
  outage: Outage;
  /** Event → the Lease names another holder. */
  takeoverMs: number;
  /** Event → the old node has no WireGuard peers (undefined: it kept them until it came back). */
  oldCablesGoneMs?: number;
  /** While the old gateway came back: samples, and what the ping lost meanwhile. */
  returnSamples: ClusterSample[];
  returnOutage?: Outage;
  /** ms from the return until the old node had no cables and its Gateway said passive. */
  oldFencedMs?: number;
}

/** Waits for one gateway to hold the Lease and its cables to answer the ping; returns its node. */
export async function settledActive(lab: Lab, cluster: string, timeoutMs: number): Promise<string> {
  return waitFor(async () => {
    const h = await leaseHolder(lab, cluster);
    if (!h) return undefined;
    const views = await gatewayViews(lab, cluster);
    return views[h]?.haStatus === 'active' ? h : undefined;
  }, { timeoutMs, intervalMs: 100, what: `an active gateway in ${cluster}` });
}

/**
 * Waits until every other gateway node of the cluster runs hawser and has written a passive status
 * since `sinceMs` (it is up and standing by), so a failover has somewhere to go.
 */
export async function standbysReady(lab: Lab, cluster: string, active: string, sinceMs: number, timeoutMs: number): Promise<string[]> {
  const others = gatewayNodes(lab, cluster).filter((n) => n !== active);
  return waitFor(async () => {
    const views = await gatewayViews(lab, cluster);
    const ready = others.filter((n) => lab.roleRunning(n, 'gateway') && views[n]?.haStatus === 'passive' && views[n]!.updatedAt * 1000 >= sinceMs - 1000);
    return ready.length === others.length ? ready : undefined;
  }, { timeoutMs, intervalMs: 200, what: `standby gateways of ${cluster} (${others.join(', ')}) to be up and passive` });
}

export async function runFailover(lab: Lab, o: FailoverOptions): Promise<FailoverResult> {
  const interval = o.intervalMs ?? 100;
  const log = o.log ?? (() => undefined);
  const oldActive = await settledActive(lab, o.cluster, 30_000);
  // Status is written every 5 s: a standby that wrote within the last 6 s is up.
  await standbysReady(lab, o.cluster, oldActive, Date.now() - 6000, 60_000);
  const probe = PingProbe.start(lab.netns(o.fromPod), o.toIp, interval);
  try {
    await probe.waitAnswering(10, 30_000, `${o.fromPod} → ${o.toIp}`);
    log(`${o.cluster}: active gateway ${oldActive}; ${FAILURE_TITLES[o.kind]}`);
    const event = Date.now();
    // The Lease is watched from the event on, so takeover time does not depend on the stop call's return.
    let takeoverAt: number | undefined;
    const watching = (async () => {
      while (takeoverAt === undefined && Date.now() - event < (o.restoreTimeoutMs ?? 30_000)) {
        const h = await leaseHolder(lab, o.cluster).catch(() => oldActive);
        if (h && h !== oldActive) takeoverAt = Date.now();
        else await sleep(50);
      }
    })();
    // The old node's cables, from its UAPI socket (a path, so reachable even while its link is cut).
    let cablesGoneAt: number | undefined;
    let restored = false;
    const watchingOld = (async () => {
      while (!restored && cablesGoneAt === undefined) {
        const peers = await wgPeers(lab, oldActive);
        if (peers !== undefined && peers.length === 0) cablesGoneAt = Date.now();
        else await sleep(50);
      }
    })();
    if (o.kind === 'link') await cutLink(lab, oldActive);
    else await lab.stopRole(oldActive, 'gateway', o.kind === 'sigterm' ? 'SIGTERM' : 'SIGKILL');
    const outage = await probe.waitRestored(event, 20, o.restoreTimeoutMs ?? 30_000).catch((err: unknown) => {
      const now = Date.now();
      const so = outageOf(probe.records(), event, interval, now);
      throw new HawserError('TIMEOUT', `${FAILURE_TITLES[o.kind]}: ping not restored (${so.lost} lost so far): ${errorMessage(err)}`, { cause: err });
    });
    await watching;
    restored = true;
    await watchingOld;
    const newActive = await settledActive(lab, o.cluster, 10_000);
    const gone = cablesGoneAt !== undefined ? `${cablesGoneAt - event} ms` : 'kept until it returns';
    log(`  new active ${newActive}: ${outage.lost} pings lost (${outage.outageMs} ms), first reply after ${Math.round(outage.firstReplyMs)} ms; lease taken after ${takeoverAt !== undefined ? takeoverAt - event : '?'} ms; old node's cables removed: ${gone}`);
    const result: FailoverResult = {
      kind: o.kind, oldActive, newActive, outage, takeoverMs: takeoverAt !== undefined ? takeoverAt - event : NaN, returnSamples: [],
      oldCablesGoneMs: cablesGoneAt !== undefined ? cablesGoneAt - event : undefined,
    };
    if (o.returnOld === false) return result;

    // The return: the old gateway comes back (restarted, or its link restored) and must stay passive.
    const back = Date.now();
    if (o.kind === 'link') await restoreLink(lab, oldActive);
    else await lab.startRole(oldActive, 'gateway');
    let fencedAt: number | undefined;
    let stableSince: number | undefined;
    while (Date.now() - back < (o.returnTimeoutMs ?? 40_000)) {
      const s = await sampleCluster(lab, o.cluster, back);
      result.returnSamples.push(s);
      const oldQuiet = s.peers[oldActive] === 0 || s.peers[oldActive] === undefined;
      // Passive as written by the returned gateway itself (not the status it or the new active left).
      const oldPassive = s.haStatus[oldActive] === 'passive' && (s.updatedAt[oldActive] ?? 0) * 1000 >= back - 1000;
      if (oldQuiet && oldPassive && fencedAt === undefined) fencedAt = Date.now();
      if (!(oldQuiet && oldPassive)) fencedAt = undefined;
      // Watch a little longer than the old one needs, then leave when nothing changed for 2 s.
      if (fencedAt !== undefined && Date.now() - back > 3000) {
        stableSince ??= Date.now();
        if (Date.now() - stableSince > (o.returnStableMs ?? 2000)) break;
      } else stableSince = undefined;
      await sleep(100);
    }
    result.oldFencedMs = fencedAt !== undefined ? fencedAt - back : undefined;
    await sleep(1200);
    result.returnOutage = outageOf(probe.records(), back, interval, Date.now());
    log(`  old ${oldActive} back: passive with no cables after ${result.oldFencedMs ?? '∞'} ms; ${result.returnOutage.lost} pings lost meanwhile`);
    return result;
  } finally {
    await probe.stop();
  }
}
