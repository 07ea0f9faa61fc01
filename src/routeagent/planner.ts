// The route agent's pure planner: (this node, nodes, active gateway, CIDRs, cable driver) -> the
// links, addresses, FDB/ARP entries, routes, rules, sysctls and firewall this node should have.
import { isIPv4 } from 'node:net';
import { ipv4ToInt, type Ipv4Cidr } from '../net/cidr.js';
import { HawserError } from '../util/errors.js';
import { compareIP, compareIpv4Cidr, containsIP, overlapsIpv4, readIPv4Cidr } from './cidr.js';
import {
  CABLE_OVERHEAD, DEFAULT_HOST_MTU, NFT_TABLE, ROUTE_TABLE, RULE_PREF, VX_SUBMARINER, VXLAN_OVERHEAD, VXLAN_PORT, VXLAN_VNI,
  type MssPolicy, type NodeRef, type PlannedFdb, type PlannedNeighbor, type PlannedRoute, type PlannedSysctl, type RouteAgentInput, type UnderlayPath,
  type RouteAgentPlan,
} from './types.js';
import { vtepIP, vtepMac, ZERO_MAC } from './vtep.js';

/** Ranges a remote CIDR must never cover: routing them to another cluster would break this node. */
const RESERVED: readonly { cidr: string; what: string }[] = [
  { cidr: '0.0.0.0/8', what: 'this-network' },
  { cidr: '127.0.0.0/8', what: 'loopback' },
  { cidr: '169.254.0.0/16', what: 'link-local' },
  { cidr: '224.0.0.0/4', what: 'multicast' },
  { cidr: '240.0.0.0/8', what: 'the vx-submariner VTEP range' },
  { cidr: '241.0.0.0/8', what: 'the VXLAN cable VTEP range' },
  { cidr: '255.255.255.255/32', what: 'broadcast' },
];

const IFNAME_RE = /^[A-Za-z0-9_.:@+-]{1,15}$/;
const MIN_MTU = 576;
const MAX_MTU = 65535;

/** ARP retransmit interval on vx-submariner (see the sysctls below). */
export const VX_ARP_RETRANS_MS = 100;
export const MSS_MIN = 536;
export const MSS_MAX = 9000;

/** Validates the `submariner.io/tcp-clamp-mss` annotation; undefined when absent or empty. */
export function parseMssAnnotation(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value.trim());
  if (!Number.isInteger(n) || n < MSS_MIN || n > MSS_MAX) {
    throw new HawserError('INVALID', `node annotation submariner.io/tcp-clamp-mss=${JSON.stringify(value)}: expected an integer MSS between ${MSS_MIN} and ${MSS_MAX} (e.g. 1300)`);
  }
  return n;
}

/**
 * Sorted, duplicates dropped (the texts are canonical, so equal CIDRs are adjacent once sorted). A list
 * already in order without repeats (what the informers hand over, mostly) is returned as it is.
 */
function sortCidrs(list: Ipv4Cidr[]): Ipv4Cidr[] {
  let i = 1;
  while (i < list.length && compareIpv4Cidr(list[i - 1]!, list[i]!) < 0) i++;
  if (i >= list.length) return list;
  const sorted = [...list].sort(compareIpv4Cidr);
  return sorted.filter((c, k) => k === 0 || c.text !== sorted[k - 1]!.text);
}

/**
 * The route of each remote CIDR, for one way of routing them (`how`: device, next hop, source): kept
 * from plan to plan while that stays the same, so a plan with 1,000 CIDRs builds only the routes of
 * new CIDRs, and the dataplane finds unchanged routes by identity. Planned routes are read-only.
 */
const remoteRoutes: { how: string; byCidr: Map<Ipv4Cidr, PlannedRoute> } = { how: '', byCidr: new Map() };

function remoteRoute(how: string, c: Ipv4Cidr, make: (c: Ipv4Cidr) => PlannedRoute): PlannedRoute {
  if (remoteRoutes.how !== how || remoteRoutes.byCidr.size > VERDICTS_MAX) {
    remoteRoutes.how = how;
    remoteRoutes.byCidr = new Map();
  }
  let r = remoteRoutes.byCidr.get(c);
  if (!r) remoteRoutes.byCidr.set(c, (r = make(c)));
  return r;
}

/** Remote CIDR verdicts (the parsed CIDR, or the warning) by text, for one context; read-only values. */
const remoteVerdicts: { context: string; byText: Map<string, Ipv4Cidr | string> } = { context: '', byText: new Map() };
const VERDICTS_MAX = 100_000;

export function planRouteAgent(input: RouteAgentInput): RouteAgentPlan {
  const warnings: string[] = [];
  if (!isIPv4(input.nodeIP)) {
    throw new HawserError('INVALID', `route agent: this node's IP ${JSON.stringify(input.nodeIP)} is not an IPv4 address; check the node's InternalIP`);
  }

  // local CIDRs
  const local: Ipv4Cidr[] = [];
  for (const [what, list] of [['cluster', input.localClusterCidrs], ['service', input.localServiceCidrs]] as const) {
    for (const text of list) {
      const r = readIPv4Cidr(text);
      if (r.ok) local.push(r.cidr);
      else warnings.push(`local ${what} CIDR ${JSON.stringify(text)} ignored: ${r.why}`);
    }
  }
  const localCidrs = sortCidrs(local);

  // nodes (peers exclude this node)
  const peers: NodeRef[] = [];
  const seenNames = new Set<string>();
  for (const n of input.nodes) {
    if (n.name === input.nodeName || n.ip === input.nodeIP) continue;
    if (!isIPv4(n.ip)) {
      warnings.push(`node ${n.name} ignored: ${JSON.stringify(n.ip)} is not an IPv4 address`);
      continue;
    }
    if (seenNames.has(n.name)) continue;
    seenNames.add(n.name);
    peers.push({ name: n.name, ip: n.ip });
  }
  peers.sort((a, b) => compareIP(a.ip, b.ip) || a.name.localeCompare(b.name));

  // the gateway
  let gateway: NodeRef | undefined;
  if (input.activeGateway) {
    const g = input.activeGateway;
    if (isIPv4(g.nodeIP)) gateway = { name: g.nodeName, ip: g.nodeIP };
    else warnings.push(`active gateway ${g.nodeName} ignored: ${JSON.stringify(g.nodeIP)} is not an IPv4 address`);
  }
  const isGateway = gateway !== undefined && (gateway.name === input.nodeName || gateway.ip === input.nodeIP);
  const role = gateway === undefined ? 'no-gateway' : isGateway ? 'gateway' : 'non-gateway';

  // remote CIDRs
  const nodeIPs = [input.nodeIP, ...peers.map((p) => p.ip), ...(gateway ? [gateway.ip] : [])];
  // numbers parsed once: with 1,000 remote CIDRs these checks are the planner's inner loop
  const reserved = RESERVED.flatMap((r) => {
    const c = readIPv4Cidr(r.cidr);
    return c.ok ? [{ ...r, c: c.cidr }] : [];
  });
  const nodeNums = nodeIPs.map((ip) => ({ ip, n: ipv4ToInt(ip) }));
  const remote: Ipv4Cidr[] = [];
  // a CIDR's verdict depends only on its text, the local CIDRs and the node IPs: kept from the last plan
  // while those stay the same, so a plan with one CIDR more looks at that one only
  const context = `${localCidrs.map((c) => c.text).join(',')} ${nodeIPs.join(',')}`;
  if (remoteVerdicts.context !== context || remoteVerdicts.byText.size > VERDICTS_MAX) {
    remoteVerdicts.context = context;
    remoteVerdicts.byText.clear();
  }
  for (const text of input.remoteCidrs) {
    const known = typeof text === 'string' ? remoteVerdicts.byText.get(text) : undefined;
    if (known !== undefined) {
      if (typeof known === 'string') warnings.push(known);
      else remote.push(known);
      continue;
    }
    const verdict = remoteVerdict(text);
    if (typeof text === 'string') remoteVerdicts.byText.set(text, verdict);
    if (typeof verdict === 'string') warnings.push(verdict);
    else remote.push(verdict);
  }
  function remoteVerdict(text: string): Ipv4Cidr | string {
    const r = readIPv4Cidr(text);
    if (!r.ok) return `remote CIDR ${JSON.stringify(text)} ignored: ${r.why}`;
    const c = r.cidr;
    const clash = localCidrs.find((l) => overlapsIpv4(l, c));
    if (clash) return `remote CIDR ${c.text} ignored: it overlaps local CIDR ${clash.text} (overlapping clusters need Globalnet)`;
    const res = reserved.find((x) => overlapsIpv4(x.c, c));
    if (res) return `remote CIDR ${c.text} ignored: it overlaps ${res.what} (${res.cidr})`;
    const nodeIn = nodeNums.find((x) => x.n >= c.base && x.n < c.base + c.size);
    if (nodeIn) return `remote CIDR ${c.text} ignored: it contains node address ${nodeIn.ip}`;
    return c;
  }
  const remoteCidrs = sortCidrs(remote);

  // MTU and MSS
  let hostMtu = DEFAULT_HOST_MTU;
  if (input.mtu !== undefined) {
    if (Number.isInteger(input.mtu) && input.mtu >= MIN_MTU && input.mtu <= MAX_MTU) hostMtu = input.mtu;
    else warnings.push(`mtu ${input.mtu} ignored: expected an integer between ${MIN_MTU} and ${MAX_MTU}; using ${DEFAULT_HOST_MTU}`);
  }
  let mss: MssPolicy = { kind: 'pmtu' };
  const computedOk = input.mtu !== undefined && hostMtu === input.mtu;
  if (computedOk) mss = { kind: 'fixed', value: hostMtu - CABLE_OVERHEAD[input.cableDriver] - 40 };
  if (input.mssOverride !== undefined) {
    if (Number.isInteger(input.mssOverride) && input.mssOverride >= MSS_MIN && input.mssOverride <= MSS_MAX) mss = { kind: 'fixed', value: input.mssOverride };
    else warnings.push(`MSS override ${input.mssOverride} ignored: expected an integer between ${MSS_MIN} and ${MSS_MAX}`);
  }

  // the CNI interface (host traffic source, loose rp_filter)
  let cni: { name: string; ip: string } | undefined;
  if (input.cniInterface) {
    const { name, ip } = input.cniInterface;
    if (!IFNAME_RE.test(name) || !isIPv4(ip)) warnings.push(`CNI interface ${JSON.stringify(name)} ${JSON.stringify(ip)} ignored: expected an interface name and an IPv4 address`);
    else if (!localCidrs.some((c) => containsIP(c, ip))) warnings.push(`CNI interface ${name} ignored: ${ip} is in no local cluster CIDR`);
    else cni = { name, ip };
  }

  // VTEPs: one per node; two node IPs differing only in the first octet would share one
  const ownVtep = vtepIP(input.nodeIP);
  const vtepOwner = new Map<string, string>([[ownVtep, input.nodeName]]);
  const reachable = (n: NodeRef): boolean => {
    const v = vtepIP(n.ip);
    const owner = vtepOwner.get(v);
    if (owner !== undefined && owner !== n.name) {
      warnings.push(`node ${n.name} (${n.ip}) left out of vx-submariner: its VTEP ${v} is also ${owner}'s (node IPs differ only in the first octet)`);
      return false;
    }
    vtepOwner.set(v, n.name);
    return true;
  };

  const fdb: PlannedFdb[] = [];
  const neighbors: PlannedNeighbor[] = [];
  const routes: PlannedRoute[] = [];
  // Peers get permanent FDB entries (flood/default to the peer's IP, plus hawser's derived MAC so frames
  // between hawser nodes are never flooded) but no static ARP. A Submariner route agent on a peer owns a
  // kernel-random MAC (its vx-submariner is created without an address, nolearning, `remote <gwIP>` on
  // workers: kubeproxy/vxlan.go), so a derived-MAC ARP entry would send every frame to a MAC nobody has,
  // which broke mixed clusters during a rolling migration. ARP over the flood entries resolves the real
  // MAC of hawser and Submariner peers alike; our own link keeps the derived MAC so it stays stable across
  // restarts. Failover stays fast: the new gateway's FDB entry is written in the same reconcile before the
  // routes move, so the first packet after the switch waits one in-cluster ARP round trip (< 1 ms on a
  // LAN), not a timeout. `neighbors` stays in the plan (empty) so permanent entries left by earlier hawser
  // versions are removed by the diff.
  const addPeer = (n: NodeRef): void => {
    fdb.push({ dev: VX_SUBMARINER, mac: ZERO_MAC, dst: n.ip });
    fdb.push({ dev: VX_SUBMARINER, mac: vtepMac(n.ip), dst: n.ip });
  };

  // Remote gateways inside a remote CIDR (Submariner #1106): their address must keep its underlay path.
  const gatewaysIn = new Map<string, UnderlayPath[]>();
  const seenGw = new Set<string>();
  for (const g of input.remoteGateways ?? []) {
    if (!isIPv4(g.ip) || seenGw.has(g.ip)) continue;
    seenGw.add(g.ip);
    const c = remoteCidrs.find((x) => containsIP(x, g.ip));
    if (!c) continue;
    if (g.dev === undefined || !IFNAME_RE.test(g.dev) || (g.via !== undefined && !isIPv4(g.via))) {
      warnings.push(`remote CIDR ${c.text} contains the remote gateway ${g.ip}, but this node's main table has no route to ${g.ip}; the cable to it cannot work until one exists`);
      continue;
    }
    gatewaysIn.set(c.text, [...(gatewaysIn.get(c.text) ?? []), g]);
  }
  const underlayRoute = (g: UnderlayPath, dst: string): PlannedRoute => {
    const r: PlannedRoute = { table: ROUTE_TABLE, dst, dev: g.dev!, onlink: false };
    if (g.via) r.via = g.via;
    return r;
  };
  /** The host route that keeps a remote gateway's own address out of the route for its CIDR. */
  const exemptGateways = (c: Ipv4Cidr): void => {
    for (const g of gatewaysIn.get(c.text) ?? []) if (c.prefix < 32) routes.push(underlayRoute(g, `${g.ip}/32`));
  };

  if (role === 'gateway') {
    for (const p of peers) if (reachable(p)) addPeer(p);
    if (input.cableInterface !== undefined) {
      if (!IFNAME_RE.test(input.cableInterface)) warnings.push(`cable interface ${JSON.stringify(input.cableInterface)} ignored: not an interface name`);
      else {
        const dev = input.cableInterface;
        const how = `dev ${dev} src ${cni?.ip ?? ''}`;
        const make = (c: Ipv4Cidr): PlannedRoute => {
          const r: PlannedRoute = { table: ROUTE_TABLE, dst: c.text, dev, onlink: false };
          if (cni) r.src = cni.ip;
          return r;
        };
        for (const c of remoteCidrs) {
          // As Submariner's routes_iface.go: a CIDR holding its gateway goes via the next hop toward that
          // gateway (the cable's policies still catch its traffic), not on-link where nobody would answer.
          const g = gatewaysIn.size ? gatewaysIn.get(c.text)?.[0] : undefined;
          if (g?.via) {
            const r: PlannedRoute = { ...underlayRoute(g, c.text) };
            if (cni) r.src = cni.ip;
            routes.push(r);
          } else routes.push(remoteRoute(how, c, make));
          if (gatewaysIn.size) exemptGateways(c);
        }
      }
    }
  } else if (role === 'non-gateway' && gateway) {
    if (reachable(gateway)) {
      addPeer(gateway);
      const via = vtepIP(gateway.ip);
      const how = `dev ${VX_SUBMARINER} via ${via} src ${cni?.ip ?? ''}`;
      const make = (c: Ipv4Cidr): PlannedRoute => {
        const r: PlannedRoute = { table: ROUTE_TABLE, dst: c.text, dev: VX_SUBMARINER, via, onlink: true };
        if (cni) r.src = cni.ip;
        return r;
      };
      for (const c of remoteCidrs) {
        routes.push(remoteRoute(how, c, make));
        // a passive gateway here still talks to the remote gateway directly (NAT discovery, a warm standby)
        if (gatewaysIn.size) exemptGateways(c);
      }
    }
  }
  // one route per (table, dst): a gateway address may sit in two overlapping remote CIDRs
  // (only gateway host routes can repeat: the remote CIDRs are unique once sorted)
  const routeKeys = new Set<string>();
  const uniqueRoutes = gatewaysIn.size === 0 ? routes : routes.filter((r) => !routeKeys.has(`${r.table} ${r.dst}`) && Boolean(routeKeys.add(`${r.table} ${r.dst}`)));
  fdb.sort((a, b) => compareIP(a.dst, b.dst) || a.mac.localeCompare(b.mac));
  neighbors.sort((a, b) => compareIP(a.ip, b.ip));

  const sysctls: PlannedSysctl[] = [
    { path: 'net/ipv4/ip_forward', value: '1' },
    { path: `net/ipv4/conf/${VX_SUBMARINER}/rp_filter`, value: '2' },
    // After a failover a worker may ask for the new gateway's MAC a moment before that gateway's own route
    // agent has the worker's FDB entry (it had only the old gateway's while it was a standby): the answer is
    // dropped and the kernel asks again after retrans_time, 1 s by default, holding the packets meanwhile
    // (seen once in 30 graceful failovers of the soak: 1.14 s). 100 ms bounds what that race costs.
    { path: `net/ipv4/neigh/${VX_SUBMARINER}/retrans_time_ms`, value: String(VX_ARP_RETRANS_MS), optional: true },
  ];
  if (cni) sysctls.push({ path: `net/ipv4/conf/${cni.name}/rp_filter`, value: '2' });

  const plan: RouteAgentPlan = {
    node: input.nodeName,
    role,
    links: [{ name: VX_SUBMARINER, kind: 'vxlan', vni: VXLAN_VNI, port: VXLAN_PORT, local: input.nodeIP, mac: vtepMac(input.nodeIP), mtu: hostMtu - VXLAN_OVERHEAD, learning: false }],
    addresses: [{ dev: VX_SUBMARINER, address: ownVtep, prefix: 8 }],
    fdb,
    neighbors,
    routes: uniqueRoutes,
    rules: [{ pref: RULE_PREF, table: ROUTE_TABLE }],
    sysctls,
    firewall: {
      family: 'ip',
      table: NFT_TABLE,
      nodeIP: input.nodeIP,
      localCidrs: localCidrs.map((c) => c.text),
      remoteCidrs: remoteCidrs.map((c) => c.text),
      vxlanPort: VXLAN_PORT,
      mss,
    },
    warnings,
  };
  if (gateway) plan.gateway = gateway;
  return plan;
}
