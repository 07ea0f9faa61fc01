// The health check's source address: an address of this node inside a local cluster (pod) CIDR, so
// that pings travel the cable like pod traffic (Submariner calls its holder the "CNI interface").
// When there is none (pods on an underlay/macvlan IPAM such as Spiderpool), Submariner crash-loops
// with "unable to find CNI interface"; hawser reports health checking as unavailable and keeps going.
import { BlockList, isIP } from 'node:net';
import type { Cidr } from '../config/parse.js';
import { parseCidr } from '../config/parse.js';
import { localAddresses } from '../os/addresses.js';
import { openRtnl, type Rtnl } from '../os/netlink.js';

export interface NodeAddress {
  ifname: string;
  ip: string;
}

export type HealthCheckIPChoice = { ip: string; ifname: string } | { unavailable: string };

/** Pure: the first address (kernel order, loopback last) inside one of the cluster CIDRs. */
export function chooseHealthCheckIP(addrs: readonly NodeAddress[], clusterCidrs: readonly (string | Cidr)[]): HealthCheckIPChoice {
  const cidrs = clusterCidrs.map((c) => (typeof c === 'string' ? parseCidr(c) : c)).filter((c): c is Cidr => c !== undefined);
  if (cidrs.length === 0) return { unavailable: 'no cluster CIDR is configured (SUBMARINER_CLUSTERCIDR), so no health-check source address can be chosen' };
  const inside = new BlockList();
  for (const c of cidrs) inside.addSubnet(c.address, c.prefix, c.family === 4 ? 'ipv4' : 'ipv6');
  const matches = addrs.filter((a) => {
    const fam = isIP(a.ip);
    return fam !== 0 && inside.check(a.ip, fam === 4 ? 'ipv4' : 'ipv6');
  });
  const pick = matches.find((a) => a.ifname !== 'lo') ?? matches[0];
  if (pick) return { ip: pick.ip, ifname: pick.ifname };
  const list = cidrs.map((c) => c.text).join(', ');
  return {
    unavailable:
      `no address on this node is inside the cluster CIDRs [${list}] (pods on an underlay/macvlan IPAM such as Spiderpool ` +
      'have no CNI interface on the node); health checking is off and cables stay up. To enable it, give the gateway node ' +
      'an address from a cluster CIDR, or set SUBMARINER_HEALTHCHECKENABLED=false to silence this',
  };
}

/** This node's addresses (in `netns` if given), kernel order, link-local IPv6 left out. */
export async function listNodeAddresses(opts: { netns?: string; rtnl?: Rtnl } = {}): Promise<NodeAddress[]> {
  const rtnl = opts.rtnl ?? (await openRtnl({ netns: opts.netns }));
  try {
    return (await localAddresses(rtnl)).map((a) => ({ ifname: a.ifname, ip: a.address }));
  } finally {
    if (!opts.rtnl) await rtnl.close().catch(() => undefined);
  }
}

/** Lists addresses and chooses; a failure to list is reported as unavailable, never thrown. */
export async function findHealthCheckIP(clusterCidrs: readonly (string | Cidr)[], opts: { netns?: string; rtnl?: Rtnl } = {}): Promise<HealthCheckIPChoice> {
  try {
    return chooseHealthCheckIP(await listNodeAddresses(opts), clusterCidrs);
  } catch (err) {
    return { unavailable: `cannot list this node's addresses: ${(err as Error).message}` };
  }
}
