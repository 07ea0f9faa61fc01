// `hawser diagnose`: collect facts about this node (and the API if reachable), then judge them with pure
// checks that each say what is wrong and what to do.
import { contains as cidrContains, overlaps as cidrsOverlap, parseIpv4Cidr, type Ipv4Cidr } from '../net/cidr.js';

export type Verdict = 'ok' | 'warn' | 'fail';
export interface CheckResult { name: string; verdict: Verdict; detail: string; fix?: string }

export interface NodeFactsForDiagnose {
  binaries: Record<string, boolean>;
  kernel: { wireguard: boolean; esp: boolean; vxlan: boolean; tun: boolean };
  ipForward: boolean;
  defaultRouteMtu?: number;
  addresses: Array<{ ifname: string; ip: string; prefix: number }>;
  /** `nft list ruleset` text, if readable. */
  nftRuleset?: string;
  clusterCidrs: string[];
  globalnet: boolean;
  cableDriver?: string;
  remoteClusters?: Array<{ clusterId: string; cidrs: string[] }>;
  apiClockSkewMs?: number;
  apiError?: string;
}

export function runChecks(f: NodeFactsForDiagnose): CheckResult[] {
  const out: CheckResult[] = [];
  const driver = f.cableDriver ?? 'libreswan';
  for (const b of ['ip', 'nft', 'fping']) {
    out.push(f.binaries[b] ? { name: `binary ${b}`, verdict: 'ok', detail: 'found' } : { name: `binary ${b}`, verdict: 'fail', detail: `${b} is not on PATH`, fix: 'install iproute2, nftables and fping (the health check probes every remote with one fping; make setup does it on Debian)' });
  }
  if (driver === 'wireguard') {
    if (f.kernel.wireguard) out.push({ name: 'WireGuard', verdict: 'ok', detail: 'kernel module available' });
    else if (f.binaries['wireguard-go'] && f.kernel.tun) out.push({ name: 'WireGuard', verdict: 'ok', detail: 'no kernel module; wireguard-go (userspace) will be used' });
    else out.push({ name: 'WireGuard', verdict: 'fail', detail: 'neither the kernel module nor wireguard-go with /dev/net/tun is available', fix: 'load the wireguard module (modprobe wireguard) or install wireguard-go' });
  }
  if (driver === 'libreswan') {
    out.push(f.binaries['charon-systemd'] ? { name: 'strongSwan charon', verdict: 'ok', detail: 'found' } : { name: 'strongSwan charon', verdict: 'fail', detail: 'charon-systemd is not installed', fix: 'install charon-systemd, strongswan-swanctl and libcharon-extra-plugins' });
    if (!f.kernel.esp) out.push({ name: 'kernel ESP', verdict: f.kernel.tun ? 'warn' : 'fail', detail: 'the kernel has no ESP (XFRM) data path', fix: f.kernel.tun ? 'set HAWSER_IPSEC_USERSPACE=true to use kernel-libipsec (slower), or load esp4' : 'load esp4/xfrm modules' });
    else out.push({ name: 'kernel ESP', verdict: 'ok', detail: 'available' });
  }
  out.push(f.kernel.vxlan ? { name: 'VXLAN', verdict: 'ok', detail: 'available (vx-submariner)' } : { name: 'VXLAN', verdict: 'fail', detail: 'the kernel cannot create VXLAN devices', fix: 'load the vxlan module: the route agent needs vx-submariner' });
  out.push(f.ipForward ? { name: 'IP forwarding', verdict: 'ok', detail: 'net.ipv4.ip_forward=1' } : { name: 'IP forwarding', verdict: 'warn', detail: 'net.ipv4.ip_forward=0', fix: 'hawser sets it on start; if it stays 0, something resets it (check sysctl config)' });
  if (f.defaultRouteMtu !== undefined) {
    const overhead = driver === 'vxlan' ? 50 : 120;
    const eff = f.defaultRouteMtu - overhead - 50;
    out.push(eff >= 1280 ? { name: 'MTU', verdict: 'ok', detail: `uplink MTU ${f.defaultRouteMtu}: pods get ${eff} through the cable (MSS is clamped)` } : { name: 'MTU', verdict: 'warn', detail: `uplink MTU ${f.defaultRouteMtu} leaves only ${eff} bytes through vx-submariner and the cable`, fix: 'raise the uplink MTU or set node annotation submariner.io/tcp-clamp-mss' });
  }
  if (f.nftRuleset !== undefined) {
    const blocks = /hook input[^}]*policy drop/s.test(f.nftRuleset) && !/udp dport \{?[^}\n]*4500/.test(f.nftRuleset);
    out.push(blocks ? { name: 'firewall', verdict: 'warn', detail: 'an input chain drops by default and no rule mentions UDP 4500', fix: 'allow UDP 4500 (cable), 4490 (NAT discovery) and 4800 (vx-submariner) from peers' } : { name: 'firewall', verdict: 'ok', detail: 'no default-drop input chain blocking the cable ports found' });
    // Calico and kube-proxy set iptables' FORWARD policy to DROP: hawser's accepts in its own table cannot
    // overrule another table's drop, so a gateway drops other nodes' cross-cluster traffic.
    if (/hook forward[^;\n]*;\s*policy drop;/.test(f.nftRuleset)) {
      const remote = (f.remoteClusters ?? []).flatMap((r) => r.cidrs);
      const list = remote.length ? remote.join(' ') : '<each remote pod and service CIDR>';
      out.push({ name: 'forwarding', verdict: 'warn', detail: 'a forward chain drops by default (e.g. iptables FORWARD policy DROP): on a gateway, cross-cluster traffic of pods on other nodes is dropped', fix: `accept it ahead of the drop: for c in ${list}; do iptables -I FORWARD -s $c -j ACCEPT; iptables -I FORWARD -d $c -j ACCEPT; done` });
    }
  }
  const cidrs = f.clusterCidrs.map((t) => parseIpv4Cidr(t)).filter((c): c is Ipv4Cidr => c !== undefined);
  if (cidrs.length) {
    const cni = f.addresses.find((a) => cidrs.some((c) => cidrContains(c, a.ip)));
    out.push(cni ? { name: 'CNI interface', verdict: 'ok', detail: `${cni.ifname} has ${cni.ip} in the cluster CIDR (health-check source)` } : { name: 'CNI interface', verdict: 'warn', detail: `no address on this node is inside ${f.clusterCidrs.join(', ')} (underlay/macvlan pods?)`, fix: 'hawser keeps the cable up and reports health checking as unavailable; Submariner would crash-loop here' });
  }
  if (f.remoteClusters && cidrs.length && !f.globalnet) {
    for (const r of f.remoteClusters) {
      const clash = r.cidrs.map((t) => parseIpv4Cidr(t)).filter((c): c is Ipv4Cidr => c !== undefined).filter((rc) => cidrs.some((lc) => cidrsOverlap(lc, rc)));
      if (clash.length) out.push({ name: `CIDR overlap with ${r.clusterId}`, verdict: 'fail', detail: `${clash.map((c) => c.text).join(', ')} overlaps this cluster's CIDRs`, fix: 'enable Globalnet (SUBMARINER_GLOBALCIDR) or renumber one cluster' });
    }
  }
  if (f.apiError) out.push({ name: 'API server', verdict: 'warn', detail: `not reachable: ${f.apiError}`, fix: 'pass --kubeconfig, or run in-cluster' });
  if (f.apiClockSkewMs !== undefined) {
    const s = Math.abs(f.apiClockSkewMs) / 1000;
    out.push(s < 2 ? { name: 'clock skew', verdict: 'ok', detail: `${s.toFixed(1)} s from the API server` } : { name: 'clock skew', verdict: s < 10 ? 'warn' : 'fail', detail: `this node's clock is ${s.toFixed(1)} s off the API server's`, fix: 'run NTP (chrony/systemd-timesyncd): Gateway freshness and certificates depend on it' });
  }
  return out;
}

export function renderChecks(rs: readonly CheckResult[]): string {
  const mark: Record<Verdict, string> = { ok: '✓', warn: '!', fail: '✗' };
  return rs.map((r) => `${mark[r.verdict]} ${r.name}: ${r.detail}${r.fix && r.verdict !== 'ok' ? `\n    → ${r.fix}` : ''}`).join('\n') + '\n';
}
