// Source addresses for charon's userspace ESP (kernel-libipsec). libipsec installs the outbound policy of a
// child SA only together with a route into its TUN device, and that route needs a local address inside
// the child's local traffic selector; without one charon logs "error installing route with policy" and
// the child fails ("unable to install IPsec policies (SPD)"; the peer sees TS_UNACCEPTABLE). A gateway
// always has an address in its pod CIDR (cni0) but none in its service CIDR (kube-proxy in iptables mode,
// or none at all), so every child whose local side is the service CIDR failed. hawser lends charon the
// service CIDR's network address (never a Service IP: Kubernetes does not allocate it) as a /32 on `lo`,
// labelled `lo:hawser` so exactly ours are found and removed. Kernel XFRM needs none of this.
import { isIP } from 'node:net';
import { parseCidr } from '../../config/parse.js';
import type { Logger } from '../../log/index.js';
import { joinAddresses, type LocalAddress } from '../../os/addresses.js';
import { openRtnl, type Rtnl, type RtnlOp } from '../../os/netlink.js';
import { HawserError } from '../../util/errors.js';
import { IPSEC_SOURCE_ADDRESS_LABEL } from '../../os/owned.js';

export const SOURCE_ADDRESS_LABEL = IPSEC_SOURCE_ADDRESS_LABEL;
const SOURCE_DEVICE = 'lo';

export interface HostAddress {
  dev: string;
  address: string;
  prefix: number;
  label: string;
}

export interface SourceAddressPlan {
  /** Addresses (no prefix) to add as /32 on lo with our label. */
  add: string[];
  /** Addresses of ours no longer needed. */
  remove: string[];
  /** Subnet → the address charon will use as source for it (ours or one the host already has). */
  sources: Record<string, string>;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

function inSubnet(ip: string, net: string, prefix: number): boolean {
  if (isIP(ip) !== 4) return false;
  const size = 2 ** (32 - prefix);
  const base = ipv4ToInt(net);
  const n = ipv4ToInt(ip);
  return n >= base && n < base + size;
}

/**
 * Which addresses to lend charon: for each IPv4 subnet in `subnets` (the local service CIDRs that are also
 * traffic selectors) without an address of the host inside (ours do not count), its network address.
 * Pure; IPv6 is left alone (libipsec's limitation stays, and the status says so).
 */
export function planSourceAddresses(subnets: readonly string[], host: readonly HostAddress[]): SourceAddressPlan {
  const ours = new Set(host.filter(isOurs).map((a) => a.address));
  const theirs = host.filter((a) => !isOurs(a));
  const wanted = new Set<string>();
  const sources: Record<string, string> = {};
  for (const s of subnets) {
    const c = parseCidr(s);
    if (!c || c.family !== 4) continue;
    const present = theirs.find((a) => inSubnet(a.address, c.address, c.prefix));
    if (present) {
      sources[c.text] = present.address;
    } else {
      wanted.add(c.address);
      sources[c.text] = c.address;
    }
  }
  return {
    add: [...wanted].filter((a) => !ours.has(a)).sort(),
    remove: [...ours].filter((a) => !wanted.has(a)).sort(),
    sources,
  };
}

function isOurs(a: HostAddress): boolean {
  return a.dev === SOURCE_DEVICE && a.label === SOURCE_ADDRESS_LABEL && a.prefix === 32;
}

/** The host's IPv4 addresses as the planner sees them (label = the interface name unless an alias is set). */
export function hostAddresses(addrs: readonly LocalAddress[]): HostAddress[] {
  return addrs.filter((a) => a.family === 4).map((a) => ({ dev: a.ifname, address: a.address, prefix: a.prefix, label: a.label ?? a.ifname }));
}

export interface SourceAddressOptions {
  netns?: string;
  /** An rtnetlink of the node (tests: the shared fake); default: one opened (and closed) for `netns`. */
  rtnl?: Rtnl;
  log: Logger;
}

/** Reads the host's addresses and lends/takes back ours so `subnets` each have a source address. */
export async function syncSourceAddresses(subnets: readonly string[], o: SourceAddressOptions): Promise<SourceAddressPlan> {
  const rtnl = o.rtnl ?? (await openRtnl({ netns: o.netns }));
  try {
    const [links, addrs] = await Promise.all([rtnl.links(), rtnl.addresses()]);
    const plan = planSourceAddresses(subnets, hostAddresses(joinAddresses(links, addrs)));
    if (plan.add.length === 0 && plan.remove.length === 0) return plan;
    const lo = links.find((l) => l.name === SOURCE_DEVICE);
    if (!lo) throw new HawserError('NETLINK', `no ${SOURCE_DEVICE} device in this network namespace to hold the source addresses ${plan.add.join(', ')}`);
    const ops: RtnlOp[] = [
      ...plan.add.map((address): RtnlOp => ({ op: 'addr-add', ifindex: lo.index, address, prefix: 32, label: SOURCE_ADDRESS_LABEL })),
      ...plan.remove.map((address): RtnlOp => ({ op: 'addr-del', ifindex: lo.index, address, prefix: 32 })),
    ];
    const outcomes = await rtnl.apply(ops);
    // an address already gone is what a removal wanted
    const failed = outcomes.flatMap((r, i) => (r.ok || (ops[i]!.op === 'addr-del' && r.errno === 'EADDRNOTAVAIL') ? [] : [r.error]));
    o.log.info({ added: plan.add, removed: plan.remove, device: SOURCE_ADDRESS_LABEL }, 'source addresses for userspace ESP routes updated (the service CIDR has no address on this host)');
    if (failed.length) throw new HawserError('NETLINK', `lending charon source addresses failed: ${failed.join('; ')}`);
    return plan;
  } finally {
    if (!o.rtnl) await rtnl.close().catch(() => undefined);
  }
}

/** Removes every address hawser lent charon (uninstall). */
export async function removeSourceAddresses(o: SourceAddressOptions): Promise<void> {
  await syncSourceAddresses([], o);
}
