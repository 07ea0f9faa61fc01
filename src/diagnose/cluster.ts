// Cluster-level checks of `hawser diagnose all`, judged from API objects and probe outcomes (pure).
import type { KubeObject } from '../k8s/rest.js';
import { UPDATE_TIMESTAMP_ANNOTATION } from '../k8s/submariner/gateway.js';
import { parseEndpointSpec } from '../k8s/resources.js';
import { parseIpv4Cidr } from '../net/cidr.js';
import type { CheckResult } from './checks.js';
import { PING_OVERHEAD, type PmtuResult } from './probes.js';

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** A Gateway not refreshed for longer than this is not being written by a live gateway (it refreshes every 5 s). */
export const GATEWAY_STALE_SECONDS = 15;
/** RouteAgents are written every 60 s: two missed writes and some slack. */
export const ROUTE_AGENT_STALE_SECONDS = 150;
export const RESTARTS_WARN = 5;

/** DaemonSets in the namespace: every desired pod scheduled, ready and up to date. */
export function daemonSetChecks(cluster: string, dss: readonly KubeObject[]): CheckResult[] {
  return dss.map((ds) => {
    const st = rec(ds.status);
    const desired = num(st.desiredNumberScheduled), ready = num(st.numberReady), updated = num(st.updatedNumberScheduled), unavailable = num(st.numberUnavailable);
    const name = `${cluster}: DaemonSet ${ds.metadata.name}`;
    if (ready >= desired && unavailable === 0) return { name, verdict: 'ok', detail: `${ready}/${desired} pods ready${updated < desired ? `, ${updated} updated` : ''}` };
    return { name, verdict: 'fail', detail: `${ready}/${desired} pods ready (${unavailable} unavailable)`, fix: `kubectl -n ${ds.metadata.namespace ?? 'submariner-operator'} describe ds/${ds.metadata.name} and the logs of its pods that are not ready (image pull, privileges, a crash loop)` };
  });
}

/** hawser's pods (labels app=submariner-gateway|routeagent|globalnet): running, ready, not restarting. */
export function podChecks(cluster: string, pods: readonly KubeObject[]): CheckResult[] {
  const ours = pods.filter((p) => /^submariner-(gateway|routeagent|globalnet)$/.test(p.metadata.labels?.app ?? ''));
  if (!ours.length) return [{ name: `${cluster}: pods`, verdict: 'fail', detail: 'no submariner-gateway/-routeagent/-globalnet pods in the namespace', fix: 'deploy hawser (kubectl apply -k deploy/, or hawser join) and check that nodes are labelled submariner.io/gateway=true' }];
  const out: CheckResult[] = [];
  for (const p of ours) {
    const st = rec(p.status);
    const phase = str(st.phase);
    const ready = arr(st.conditions).map(rec).find((c) => c.type === 'Ready');
    const restarts = arr(st.containerStatuses).map(rec).reduce((n, c) => n + num(c.restartCount), 0);
    const name = `${cluster}: pod ${p.metadata.name}`;
    const node = str(rec(p.spec).nodeName);
    if (phase !== 'Running') out.push({ name, verdict: 'fail', detail: `phase ${phase || 'unknown'}${node ? ` on ${node}` : ''}`, fix: `kubectl -n ${p.metadata.namespace ?? ''} describe pod ${p.metadata.name}` });
    else if (ready && ready.status !== 'True') out.push({ name, verdict: 'fail', detail: `running but not ready: ${str(ready.message) || str(ready.reason) || '/readyz fails'}`, fix: `kubectl -n ${p.metadata.namespace ?? ''} logs ${p.metadata.name}; the readiness probe (/readyz) names the failing check` });
    else if (restarts >= RESTARTS_WARN) out.push({ name, verdict: 'warn', detail: `${restarts} restarts`, fix: `kubectl -n ${p.metadata.namespace ?? ''} logs --previous ${p.metadata.name}` });
  }
  if (!out.length) out.push({ name: `${cluster}: pods`, verdict: 'ok', detail: `${ours.length} pods running and ready` });
  return out;
}

function age(o: KubeObject, nowSeconds: number): number | undefined {
  const ts = Number(o.metadata.annotations?.[UPDATE_TIMESTAMP_ANNOTATION]);
  return Number.isFinite(ts) && ts > 0 ? nowSeconds - ts : undefined;
}

/** Gateways: one active and live (update-timestamp fresh), every connection connected. */
export function gatewayChecks(cluster: string, gateways: readonly KubeObject[], nowSeconds: number): CheckResult[] {
  const out: CheckResult[] = [];
  let active = 0;
  for (const g of gateways) {
    const a = age(g, nowSeconds);
    const st = rec(g.status);
    if (a === undefined || a > GATEWAY_STALE_SECONDS) {
      out.push({ name: `${cluster}: gateway ${g.metadata.name}`, verdict: 'fail', detail: a === undefined ? 'its Gateway has no update-timestamp' : `its Gateway was last refreshed ${Math.round(a)} s ago (a live gateway refreshes it every 5 s): the gateway process is stopped or stuck`, fix: `check the submariner-gateway pod on ${g.metadata.name} (kubectl -n submariner-operator logs); /healthz names a stalled loop` });
      continue;
    }
    if (str(st.haStatus) === 'active') active++;
    for (const c of arr(st.connections).map(rec)) {
      const ep = parseEndpointSpec(c.endpoint);
      const remote = ep.ok ? ep.value.clusterId : '?';
      if (str(c.status) !== 'connected') out.push({ name: `${cluster}: connection ${g.metadata.name} -> ${remote}`, verdict: 'fail', detail: `${str(c.status) || 'no status'}${str(c.statusMessage) ? `: ${str(c.statusMessage)}` : ''}`, fix: 'see the firewall and MTU findings below; the gateway log (field remoteCluster) has the driver\'s error' });
    }
    if (str(st.statusFailure)) out.push({ name: `${cluster}: gateway ${g.metadata.name}`, verdict: 'fail', detail: str(st.statusFailure) });
  }
  if (!active) out.unshift({ name: `${cluster}: active gateway`, verdict: 'fail', detail: gateways.length ? 'no live Gateway is active' : 'no Gateway objects', fix: 'label a node submariner.io/gateway=true and check that its submariner-gateway pod runs and holds the leader Lease' });
  else out.unshift({ name: `${cluster}: active gateway`, verdict: 'ok', detail: `${active} active, ${gateways.length} in all` });
  return out;
}

/** Globalnet: an allocation refused for lack of global IPs, or a global CIDR nearly used up. */
export function globalnetChecks(cluster: string, globalCidr: string | undefined, objects: readonly KubeObject[]): CheckResult[] {
  if (!globalCidr) return [];
  const out: CheckResult[] = [];
  let allocated = 0;
  for (const o of objects) {
    const st = rec(o.status);
    allocated += arr(st.allocatedIPs).length + (str(st.allocatedIP) ? 1 : 0);
    const failed = arr(st.conditions).map(rec).find((c) => c.status === 'False' && /IPPoolAllocationFailed/.test(str(c.reason)));
    if (failed) out.push({ name: `${cluster}: Globalnet ${str(o.kind) || 'object'} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`, verdict: 'fail', detail: `no global IP allocated: ${str(failed.message) || 'IPPoolAllocationFailed'}`, fix: `the global CIDR ${globalCidr} is exhausted: give the cluster a larger one (SUBMARINER_GLOBALCIDR / hawser join --globalnet-cidr), lower numberOfIPs on ClusterGlobalEgressIP/GlobalEgressIPs, or delete unused exports` });
  }
  const c = parseIpv4Cidr(globalCidr);
  const size = c ? 2 ** (32 - c.prefix) : 0;
  if (size) {
    const pct = Math.round((allocated / size) * 100);
    if (pct >= 90) out.unshift({ name: `${cluster}: Globalnet pool`, verdict: pct >= 100 ? 'fail' : 'warn', detail: `${allocated} of ${size} global IPs in ${globalCidr} allocated (${pct} %)`, fix: 'give the cluster a larger global CIDR or free exports/egress IPs before new allocations fail' });
    else out.unshift({ name: `${cluster}: Globalnet pool`, verdict: 'ok', detail: `${allocated} of ${size} global IPs in ${globalCidr} allocated (${pct} %)` });
  }
  return out;
}

export interface FirewallProbeOutcome {
  /** `inter-cluster` (gateway to gateway), `nat-discovery`, `intra-cluster` (node to its gateway over vx-submariner). */
  kind: 'inter-cluster' | 'nat-discovery' | 'intra-cluster';
  from: { cluster: string; node: string };
  to: { cluster: string; node: string; ip: string };
  port: number;
  received: number;
  sent: number;
  /** Why the probe could not run at all (listener could not be armed, sender failed). */
  error?: string;
}

const WHAT: Record<FirewallProbeOutcome['kind'], string> = {
  'inter-cluster': 'the cable',
  'nat-discovery': 'NAT discovery',
  'intra-cluster': 'vx-submariner (VXLAN from nodes to the active gateway)',
};

export function firewallCheck(o: FirewallProbeOutcome): CheckResult {
  const name = `firewall ${o.kind} ${o.from.cluster}/${o.from.node} -> ${o.to.cluster}/${o.to.node} UDP ${o.port}`;
  if (o.error) return { name, verdict: 'warn', detail: `probe could not run: ${o.error}` };
  if (o.received > 0) return { name, verdict: 'ok', detail: `${o.received}/${o.sent} probes arrived at ${o.to.ip}:${o.port}` };
  const where = o.kind === 'intra-cluster'
    ? `between the nodes of ${o.to.cluster} (host firewall on ${o.to.node} or ${o.from.node}, security group of the node network)`
    : `between the gateways of ${o.from.cluster} and ${o.to.cluster} (cloud security group / network firewall, or the host firewall of ${o.to.node})`;
  return {
    name,
    verdict: 'fail',
    detail: `0/${o.sent} UDP probes from ${o.from.node} reached ${o.to.ip}:${o.port} on ${o.to.node}: ${WHAT[o.kind]} is blocked`,
    fix: `open UDP ${o.port} ${where}, inbound to ${o.to.ip}${o.kind === 'intra-cluster' ? ' from every node' : ' from the remote gateways\' public IPs'}`,
  };
}

export function pmtuCheck(from: { cluster: string; node: string }, to: { cluster: string; ip: string }, r: PmtuResult): CheckResult {
  const name = `path MTU ${from.cluster}/${from.node} -> ${to.cluster} (${to.ip})`;
  if (!r.reachable) return { name, verdict: 'warn', detail: `no answer to a small ping through the cable to ${to.ip} (${r.probes} probes): the MTU could not be measured`, fix: 'look at the connection and firewall findings first' };
  if (!r.blackHole) return { name, verdict: 'ok', detail: `${r.pathMtu} bytes cross the cable without fragmentation (the local route allows ${r.localMtu})` };
  const mss = (r.pathMtu ?? 0) - 40;
  return {
    name,
    verdict: 'fail',
    detail: `MTU black hole: DF packets up to ${r.pathMtu} bytes cross, larger ones up to the local ${r.localMtu} are dropped on the path without an ICMP "fragmentation needed" (${r.probes} probes)`,
    fix: `set the node annotation submariner.io/tcp-clamp-mss=${mss} on the nodes of ${from.cluster} (TCP then fits), lower the pod network MTU to ${r.pathMtu}, or let ICMP type 3 code 4 through the firewalls and routers between the clusters; large UDP still needs the MTU fixed (largest ping payload ${(r.pathMtu ?? 0) - PING_OVERHEAD})`,
  };
}
