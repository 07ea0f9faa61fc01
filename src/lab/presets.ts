// The field's topologies as lab presets (issue 19): pure planning, like topology.ts. Each preset takes the
// plain lab's two clusters (names, nodes, pods, processes), re-addresses them and builds its own network:
//
//   underlay    Spiderpool-style: pods hold addresses of the node's underlay subnet on a macvlan of the
//               node's NIC (one /24 per node out of the cluster's /16: several pod subnets per cluster) plus
//               a veth to their node carrying the coordinator's "hijack" routes (remote pod and service
//               CIDRs, local service CIDR, via the node). No node address lies in a pod CIDR (no CNI
//               bridge). Gateways have a second NIC on the 10.6.0.0/16 interconnect, which also reaches the
//               broker through cluster a's router.
//   flannel     flannel's VXLAN backend (flannel.1, VNI 1, port 8472, static FDB/neighbour/route entries as
//               flanneld writes them), cni0, flannel's masquerade and forward iptables rules; each cluster in
//               its own VPC: the router masquerades the nodes and gives each gateway a 1:1 public IP.
//   calico-bgp  Calico in BGP mode without overlay: a veth per pod with a /32 route and proxy ARP, BIRD 2
//               on every node announcing its pod block to a route reflector (one more namespace), which
//               reflects it to the others; natOutgoing (ipsets + MASQUERADE) on every node and an iptables
//               FORWARD policy DROP (with Calico's accepts for its pod interfaces) on one worker.
//
// Every preset also exports one ClusterIP Service per cluster (backend: the last node's first pod) and
// stands in for kube-proxy with a DNAT of the ClusterIP on every node of its cluster.
import {
  API_PORT, PUBLIC_IP_ANNOTATION,
  type ClusterPlan, type LabPreset, type NetnsPlan, type NodePlan, type ProcessPlan, type VethPlan,
} from './topology.js';

export interface PresetPlan {
  namespaces: NetnsPlan[];
  veths: VethPlan[];
  /** Daemons of the topology (BIRD), started once the network exists, before the control plane. */
  processes: ProcessPlan[];
}

export interface PresetContext {
  /** `hw-<lab>-`. */
  prefix: string;
  stateDir: string;
  wanNetns: string;
}

/** The underlay preset's interconnect: gateways' second NICs, the routers, the way to the broker. */
export const UNDERLAY_DCI_CIDR = '10.6.0.0/16';
/** flannel's VXLAN device as flanneld makes it. */
export const FLANNEL_DEVICE = 'flannel.1';
export const FLANNEL_VNI = 1;
export const FLANNEL_PORT = 8472;
/** Calico's default AS number (iBGP between every node and the route reflector). */
export const CALICO_AS = 64512;
/** Calico pods' default gateway: a link-local address the node answers by proxy ARP. */
export const CALICO_POD_GATEWAY = '169.254.1.1';
/** The name of each cluster's exported Service. */
export const EXPORTED_SERVICE = 'web';
/** The nft table standing in for kube-proxy's ClusterIP DNAT. */
export const KUBE_PROXY_TABLE = 'lab-kube-proxy';

/** Re-addresses `clusters` (in place) for the preset and plans its network and daemons. */
export function planPreset(preset: LabPreset, clusters: ClusterPlan[], ctx: PresetContext): PresetPlan {
  for (const c of clusters) c.exportedService = exportedService(c);
  switch (preset) {
    case 'underlay':
      return planUnderlay(clusters, ctx);
    case 'flannel':
      return planFlannel(clusters, ctx);
    case 'calico-bgp':
      return planCalico(clusters, ctx);
  }
}

function exportedService(c: ClusterPlan): ClusterPlan['exportedService'] {
  const node = c.nodes.at(-1)!;
  const pod = node.pods[0]!;
  return { name: EXPORTED_SERVICE, clusterIp: `${c.serviceCidr.split('.').slice(0, 2).join('.')}.0.10`, backend: pod.name, backendIp: pod.ip, backendNode: node.name };
}

/** The planner sets pod IPs after re-addressing: refresh the Service's backend address. */
function refreshService(c: ClusterPlan): void {
  c.exportedService = exportedService(c);
}

/** kube-proxy's ClusterIP step for the exported Service (nft, in every node of the cluster). */
function kubeProxyNft(c: ClusterPlan): string {
  const s = c.exportedService!;
  return [
    `table ip ${KUBE_PROXY_TABLE} {`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    `    ip daddr ${s.clusterIp} dnat to ${s.backendIp}`,
    '  }',
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    `    ip daddr ${s.clusterIp} dnat to ${s.backendIp}`,
    '  }',
    '}',
  ].join('\n') + '\n';
}

// ---- pieces every preset shares: the WAN bridge, routers, control planes ----

class Builder {
  readonly namespaces: NetnsPlan[] = [];
  readonly veths: VethPlan[] = [];
  readonly processes: ProcessPlan[] = [];
  readonly wan: NetnsPlan;
  private readonly routers = new Map<string, NetnsPlan>();

  constructor(readonly ctx: PresetContext) {
    this.wan = { name: ctx.wanNetns, kind: 'wan', sysctls: ['net.bridge.bridge-nf-call-iptables=0'], ip: ['link set lo up', 'link add name br-wan type bridge', 'link set br-wan up'] };
    this.namespaces.push(this.wan);
  }

  /** A port on the WAN bridge: `wan-<port>` there, `ifname` in `netns`. */
  wanPort(port: string, netns: string, ifname: string): void {
    this.veths.push({ a: { netns: this.ctx.wanNetns, name: `wan-${port}` }, b: { netns, name: ifname } });
    this.wan.ip.push(`link set wan-${port} master br-wan`, `link set wan-${port} up`);
  }

  /** The cluster's router (br-lan, `wan`) and control plane; `prefixLen` is the LAN's. */
  router(c: ClusterPlan, prefixLen: number, wanPrefixLen: number): NetnsPlan {
    const rtr: NetnsPlan = {
      name: c.routerNetns, kind: 'router', cluster: c.id,
      sysctls: ['net.ipv4.ip_forward=1', 'net.bridge.bridge-nf-call-iptables=0'],
      ip: ['link set lo up', 'link add name br-lan type bridge', 'link set br-lan up', `addr add ${c.routerLanIp}/${prefixLen} dev br-lan`, 'link set wan up', `addr add ${c.routerWanIp}/${wanPrefixLen} dev wan`],
    };
    this.namespaces.push(rtr);
    this.routers.set(c.id, rtr);
    this.wanPort(c.letter, c.routerNetns, 'wan');
    this.namespaces.push({
      name: c.controlPlaneNetns, kind: 'control-plane', cluster: c.id, sysctls: [],
      ip: ['link set lo up', 'link set eth0 up', `addr add ${c.controlPlaneIp}/${prefixLen} dev eth0`, `route add default via ${c.routerLanIp}`],
    });
    this.lanPort(c, c.controlPlaneNetns, 'cp');
    return rtr;
  }

  /** A veth from the router's br-lan (`port`) to `eth0` in `netns`. */
  lanPort(c: ClusterPlan, netns: string, port: string): void {
    this.veths.push({ a: { netns: c.routerNetns, name: port }, b: { netns, name: 'eth0' } });
    this.routers.get(c.id)!.ip.push(`link set ${port} master br-lan`, `link set ${port} up`);
  }

  /** Routers reach the other clusters' API servers (the broker, and what a user would reach), never their pods. */
  apiRoutes(clusters: readonly ClusterPlan[]): void {
    for (const c of clusters) {
      const rtr = this.routers.get(c.id)!;
      for (const other of clusters) if (other !== c) rtr.ip.push(`route add ${other.controlPlaneIp}/32 via ${other.routerWanIp}`);
    }
  }

  /** Routers route each other's LANs (node addresses only: pod CIDRs stay unrouted between clusters). */
  lanRoutes(clusters: readonly ClusterPlan[]): void {
    for (const c of clusters) {
      const rtr = this.routers.get(c.id)!;
      for (const other of clusters) if (other !== c) rtr.ip.push(`route add ${other.lanCidr} via ${other.routerWanIp}`);
    }
  }

  node(c: ClusterPlan, n: NodePlan, ns: Omit<NetnsPlan, 'name' | 'kind' | 'cluster'>): NetnsPlan {
    const plan: NetnsPlan = { name: n.netns, kind: 'node', cluster: c.id, ...ns };
    this.namespaces.push(plan);
    this.lanPort(c, n.netns, n.name.slice(c.letter.length + 1));
    return plan;
  }

  pod(c: ClusterPlan, netns: string, ip: string[], links?: string[]): void {
    this.namespaces.push({ name: netns, kind: 'pod', cluster: c.id, sysctls: [], ip, ...(links ? { links } : {}) });
  }

  plan(): PresetPlan {
    return { namespaces: this.namespaces, veths: this.veths, processes: this.processes };
  }
}

// ---- underlay (Spiderpool with macvlan) ----

function planUnderlay(clusters: ClusterPlan[], ctx: PresetContext): PresetPlan {
  const dci = (i: number, j: number): string => `10.6.${1 + i}.${11 + j}`;
  clusters.forEach((c, i) => {
    const lan = `172.${110 + i}`;
    Object.assign(c, {
      lanCidr: `${lan}.0.0/16`, routerLanIp: `${lan}.0.1`, routerWanIp: `10.6.0.${1 + i}`, controlPlaneIp: `${lan}.0.2`, apiServer: `${lan}.0.2:${API_PORT}`,
      // The pods' subnets are unreachable from the other data centre: remote gateways are reached on the interconnect.
      behindNat: true,
      podCidrs: c.nodes.map((_, j) => `${lan}.${1 + j}.0/24`),
    });
    c.podCidr = c.podCidrs![0]!;
    c.nodes.forEach((n, j) => {
      n.ip = `${lan}.0.${11 + j}`;
      n.podCidr = `${lan}.${1 + j}.0/24`;
      // No CNI bridge: nothing on the node holds a pod-subnet address.
      n.cniIp = '';
      n.pods.forEach((p, k) => (p.ip = `${lan}.${1 + j}.${2 + k}`));
      if (n.gateway) n.annotations[PUBLIC_IP_ANNOTATION] = `ipv4:${dci(i, j)}`;
    });
    refreshService(c);
  });
  const b = new Builder(ctx);
  for (const c of clusters) b.router(c, 16, 16);
  b.apiRoutes(clusters);
  const broker = clusters[0]!;
  clusters.forEach((c, i) => {
    // What pods send to their node: the hijack routes' destinations.
    const hijack = [c.serviceCidr, ...clusters.filter((x) => x !== c).flatMap((x) => [...(x.podCidrs ?? [x.podCidr]), x.serviceCidr])];
    c.nodes.forEach((n, j) => {
      const ip = ['link set lo up', 'link set eth0 up', `addr add ${n.ip}/16 dev eth0`, `route add default via ${c.routerLanIp}`];
      const links: string[] = [];
      if (n.gateway) {
        b.wanPort(n.name, n.netns, 'eth1');
        ip.push('link set eth1 up', `addr add ${dci(i, j)}/16 dev eth1`);
        if (c !== broker) ip.push(`route add ${broker.controlPlaneIp}/32 via ${broker.routerWanIp} dev eth1`);
      }
      n.pods.forEach((p, k) => {
        const hostEnd = `veth-pod${k + 1}`;
        b.veths.push({ a: { netns: n.netns, name: hostEnd }, b: { netns: p.netns, name: 'veth0' } });
        // The pod's underlay NIC: a macvlan of the node's NIC, made here and moved into the pod.
        links.push(`link add link eth0 name mv-pod${k + 1} netns ${p.netns} type macvlan mode bridge`);
        ip.push(`link set ${hostEnd} up`, `route add ${p.ip}/32 dev ${hostEnd}`);
        b.pod(c, p.netns, [
          'link set lo up', `link set mv-pod${k + 1} name eth0`, 'link set eth0 up', `addr add ${p.ip}/16 dev eth0`, `route add default via ${c.routerLanIp} dev eth0`,
          'link set veth0 up', `route add ${n.ip}/32 dev veth0`, ...hijack.map((d) => `route add ${d} via ${n.ip} dev veth0`),
        ]);
      });
      b.node(c, n, { sysctls: ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0'], ip, links, nft: kubeProxyNft(c) });
    });
  });
  return b.plan();
}

// ---- flannel (VXLAN) in per-cluster VPCs ----

/** flannel.1's MAC on node j of cluster i (flanneld picks one and publishes it in the node's annotations). */
export function flannelMac(i: number, j: number): string {
  return `0e:f1:00:00:${i.toString(16).padStart(2, '0')}:${j.toString(16).padStart(2, '0')}`;
}

/** flannel's masquerade and forward rules (iptables-restore --noflush), shaped as flanneld writes them. */
export function flannelIptables(clusterCidr: string, nodeCidr: string): string {
  const c = '-m comment --comment "flanneld masq"';
  const f = '-m comment --comment "flanneld forward"';
  return [
    '*nat',
    ':FLANNEL-POSTRTG - [0:0]',
    `-A POSTROUTING ${c} -j FLANNEL-POSTRTG`,
    `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${nodeCidr} -d ${clusterCidr} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${clusterCidr} -d ${nodeCidr} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG ! -s ${clusterCidr} -d ${nodeCidr} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${clusterCidr} ! -d 224.0.0.0/4 ${c} -j MASQUERADE --random-fully`,
    `-A FLANNEL-POSTRTG ! -s ${clusterCidr} -d ${clusterCidr} ${c} -j MASQUERADE --random-fully`,
    'COMMIT',
    '*filter',
    ':FLANNEL-FWD - [0:0]',
    `-A FORWARD ${f} -j FLANNEL-FWD`,
    `-A FLANNEL-FWD -s ${clusterCidr} ${f} -j ACCEPT`,
    `-A FLANNEL-FWD -d ${clusterCidr} ${f} -j ACCEPT`,
    'COMMIT',
  ].join('\n') + '\n';
}

function planFlannel(clusters: ClusterPlan[], ctx: PresetContext): PresetPlan {
  // A gateway's 1:1 public IP (a cloud's elastic IP) on its VPC router.
  const eip = (i: number, j: number): string => `198.18.0.${10 * (i + 1) + 1 + j}`;
  clusters.forEach((c, i) => {
    c.behindNat = true;
    c.nodes.forEach((n, j) => {
      if (n.gateway) n.annotations[PUBLIC_IP_ANNOTATION] = `ipv4:${eip(i, j)}`;
    });
  });
  const b = new Builder(ctx);
  clusters.forEach((c, i) => {
    const rtr = b.router(c, 24, 24);
    const gws = c.nodes.map((n, j) => ({ n, j })).filter(({ n }) => n.gateway);
    for (const { j } of gws) rtr.ip.push(`addr add ${eip(i, j)}/32 dev wan`);
    rtr.nft = [
      'table ip hawser-lab {',
      '  chain prerouting {',
      '    type nat hook prerouting priority dstnat; policy accept;',
      ...gws.map(({ n, j }) => `    iifname "wan" ip daddr ${eip(i, j)} dnat to ${n.ip}`),
      '  }',
      '  chain postrouting {',
      '    type nat hook postrouting priority srcnat; policy accept;',
      ...gws.map(({ n, j }) => `    oifname "wan" ip saddr ${n.ip} snat to ${eip(i, j)}`),
      `    oifname "wan" ip saddr ${c.lanCidr} masquerade`,
      '  }',
      '}',
    ].join('\n') + '\n';
  });
  b.apiRoutes(clusters);
  clusters.forEach((c, i) => {
    c.nodes.forEach((n, j) => {
      const vtep = `${n.podCidr.split('.').slice(0, 3).join('.')}.0`;
      const ip = [
        'link set lo up', 'link set eth0 up', `addr add ${n.ip}/24 dev eth0`, 'link add name cni0 type bridge', 'link set cni0 up', `addr add ${n.cniIp}/24 dev cni0`,
        `link add ${FLANNEL_DEVICE} address ${flannelMac(i, j)} type vxlan id ${FLANNEL_VNI} local ${n.ip} dev eth0 dstport ${FLANNEL_PORT} nolearning`,
        `link set ${FLANNEL_DEVICE} mtu 1450`, `link set ${FLANNEL_DEVICE} up`, `addr add ${vtep}/32 dev ${FLANNEL_DEVICE}`,
      ];
      n.pods.forEach((p, k) => {
        const hostEnd = `veth-pod${k + 1}`;
        b.veths.push({ a: { netns: n.netns, name: hostEnd }, b: { netns: p.netns, name: 'eth0' } });
        ip.push(`link set ${hostEnd} master cni0`, `link set ${hostEnd} up`);
        b.pod(c, p.netns, ['link set lo up', 'link set eth0 up', `addr add ${p.ip}/24 dev eth0`, `route add default via ${n.cniIp}`]);
      });
      ip.push(`route add default via ${c.routerLanIp}`);
      const fdb: string[] = [];
      c.nodes.forEach((other, k) => {
        if (other === n) return;
        const otherVtep = `${other.podCidr.split('.').slice(0, 3).join('.')}.0`;
        // flanneld: the route via the peer's VTEP address (onlink), its ARP entry and its FDB entry.
        ip.push(`neigh add ${otherVtep} lladdr ${flannelMac(i, k)} dev ${FLANNEL_DEVICE} nud permanent`, `route add ${other.podCidr} via ${otherVtep} dev ${FLANNEL_DEVICE} onlink`);
        fdb.push(`fdb append ${flannelMac(i, k)} dev ${FLANNEL_DEVICE} dst ${other.ip} self permanent`);
      });
      b.node(c, n, {
        sysctls: ['net.ipv4.ip_forward=1'], ip, nft: kubeProxyNft(c),
        commands: [
          { argv: ['bridge', '-batch', '-'], input: fdb.join('\n') + '\n' },
          { argv: ['iptables-restore', '--noflush'], input: flannelIptables(c.podCidr, n.podCidr) },
          // The node's NIC computes checksums, as a real one does before the VPC's NAT sees the packet. A veth
          // hands its packets on with checksums still to be filled in, and the kernel's NAT on the router then
          // corrupts the outer UDP checksum of tunnelled TCP (UdpInCsumErrors at the remote gateway).
          ...(n.gateway ? [{ argv: ['ethtool', '-K', 'eth0', 'tx', 'off'], input: '' }] : []),
        ],
      });
    });
  });
  return b.plan();
}

// ---- Calico in BGP mode (BIRD 2, route reflector) ----

/** Where a cluster's route reflector sits on its LAN. */
export function routeReflectorIp(c: ClusterPlan): string {
  return `${c.lanCidr.split('.').slice(0, 3).join('.')}.3`;
}

export function birdFiles(stateDir: string, id: string): { conf: string; ctl: string; pid: string } {
  return { conf: `${stateDir}/bird/${id}.conf`, ctl: `${stateDir}/bird/${id}.ctl`, pid: `${stateDir}/bird/${id}.pid` };
}

/**
 * A node's BIRD: announces the node's pod block (a blackhole, as Calico does) to the route reflector and
 * installs what it learns with `proto bird`. The kernel protocol neither learns nor touches routes of other
 * protocols (learn off): hawser's routes and rules are none of its business.
 */
export function birdNodeConfig(n: NodePlan, rr: string): string {
  return [
    `router id ${n.ip};`,
    'log stderr all;',
    'protocol device { scan time 2; }',
    'protocol direct { ipv4; interface "eth0"; }',
    `protocol static { ipv4; route ${n.podCidr} blackhole; }`,
    'protocol kernel {',
    '  learn off;',
    '  scan time 2;',
    '  ipv4 { import none; export where source ~ [ RTS_STATIC, RTS_BGP ]; };',
    '}',
    'protocol bgp reflector {',
    `  local ${n.ip} as ${CALICO_AS};`,
    `  neighbor ${rr} as ${CALICO_AS};`,
    '  ipv4 { import all; export where source = RTS_STATIC; next hop self; };',
    '}',
  ].join('\n') + '\n';
}

/** The route reflector: iBGP with every node as a client, installs nothing. */
export function birdReflectorConfig(c: ClusterPlan): string {
  return [
    `router id ${routeReflectorIp(c)};`,
    'log stderr all;',
    'protocol device { scan time 10; }',
    'protocol direct { ipv4; interface "eth0"; }',
    'template bgp node {',
    `  local ${routeReflectorIp(c)} as ${CALICO_AS};`,
    '  rr client;',
    '  ipv4 { import all; export where source = RTS_BGP; };',
    '}',
    ...c.nodes.map((n) => `protocol bgp ${n.name.replace(/-/g, '_')} from node { neighbor ${n.ip} as ${CALICO_AS}; }`),
  ].join('\n') + '\n';
}

/** Calico's natOutgoing: ipsets of the IP pools, masquerade pool → anything outside every pool. */
export function calicoIpsets(poolCidr: string): string {
  return [
    'create cali40masq-ipam-pools hash:net family inet',
    `add cali40masq-ipam-pools ${poolCidr}`,
    'create cali40all-ipam-pools hash:net family inet',
    `add cali40all-ipam-pools ${poolCidr}`,
  ].join('\n') + '\n';
}

export function calicoIptables(forwardDrop: boolean): string {
  return [
    '*nat',
    ':cali-POSTROUTING - [0:0]',
    ':cali-nat-outgoing - [0:0]',
    '-A POSTROUTING -m comment --comment "cali:postrouting" -j cali-POSTROUTING',
    '-A cali-POSTROUTING -m comment --comment "cali:nat-outgoing" -j cali-nat-outgoing',
    '-A cali-nat-outgoing -m comment --comment "cali:natOutgoing" -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully',
    'COMMIT',
    '*filter',
    ...(forwardDrop ? [':FORWARD DROP [0:0]'] : []),
    ':cali-FORWARD - [0:0]',
    '-A FORWARD -m comment --comment "cali:forward" -j cali-FORWARD',
    '-A cali-FORWARD -i cali+ -m comment --comment "cali:from-workload" -j ACCEPT',
    '-A cali-FORWARD -o cali+ -m comment --comment "cali:to-workload" -j ACCEPT',
    'COMMIT',
  ].join('\n') + '\n';
}

/** The node with the FORWARD policy DROP: the first worker (else the last node). */
export function forwardDropNode(c: ClusterPlan): NodePlan {
  return c.nodes.find((n) => !n.gateway) ?? c.nodes.at(-1)!;
}

function planCalico(clusters: ClusterPlan[], ctx: PresetContext): PresetPlan {
  for (const c of clusters) {
    // No overlay and no bridge: nothing on a node holds a pod address.
    for (const n of c.nodes) n.cniIp = '';
  }
  const b = new Builder(ctx);
  for (const c of clusters) b.router(c, 24, 24);
  b.lanRoutes(clusters);
  for (const c of clusters) {
    const rr = routeReflectorIp(c);
    const rrNetns = `${ctx.prefix}${c.letter}-rr`;
    b.namespaces.push({ name: rrNetns, kind: 'route-reflector', cluster: c.id, sysctls: [], ip: ['link set lo up', 'link set eth0 up', `addr add ${rr}/24 dev eth0`, `route add default via ${c.routerLanIp}`] });
    b.lanPort(c, rrNetns, 'rr');
    b.processes.push(birdProcess(ctx, c, `${c.letter}-rr`, rrNetns, birdReflectorConfig(c)));
    const dropOn = forwardDropNode(c);
    for (const n of c.nodes) {
      const ip = ['link set lo up', 'link set eth0 up', `addr add ${n.ip}/24 dev eth0`, `route add default via ${c.routerLanIp}`];
      const sysctls = ['net.ipv4.ip_forward=1'];
      n.pods.forEach((p, k) => {
        const hostEnd = `calipod${k + 1}`;
        b.veths.push({ a: { netns: n.netns, name: hostEnd }, b: { netns: p.netns, name: 'eth0' } });
        sysctls.push(`net.ipv4.conf.${hostEnd}.proxy_arp=1`);
        ip.push(`link set ${hostEnd} up`, `route add ${p.ip}/32 dev ${hostEnd} scope link`);
        b.pod(c, p.netns, ['link set lo up', 'link set eth0 up', `addr add ${p.ip}/32 dev eth0`, `route add ${CALICO_POD_GATEWAY} dev eth0 scope link`, `route add default via ${CALICO_POD_GATEWAY} dev eth0`]);
      });
      b.node(c, n, {
        sysctls, ip, nft: kubeProxyNft(c),
        commands: [{ argv: ['ipset', 'restore'], input: calicoIpsets(c.podCidr) }, { argv: ['iptables-restore', '--noflush'], input: calicoIptables(n === dropOn) }],
      });
      b.processes.push(birdProcess(ctx, c, n.name, n.netns, birdNodeConfig(n, rr), n.name));
    }
  }
  return b.plan();
}

function birdProcess(ctx: PresetContext, c: ClusterPlan, id: string, netns: string, config: string, node?: string): ProcessPlan {
  const f = birdFiles(ctx.stateDir, id);
  return {
    id: `${id}/bird`, kind: 'bird', cluster: c.id, netns,
    ...(node ? { node } : {}),
    argv: ['bird', '-f', '-c', f.conf, '-s', f.ctl, '-P', f.pid],
    env: {},
    log: `${ctx.stateDir}/logs/${id}.bird.log`,
    files: { [f.conf]: config },
  };
}
