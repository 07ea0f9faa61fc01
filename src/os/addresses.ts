// "My address in the cluster CIDR" and friends: queries over the observed links/addresses/routes of a
// namespace (an Rtnl, or the event-kept RtnlCache which has the same read methods). One answer for the
// route agent's CNI interface, the health-check source, Globalnet's CNI IP, the WireGuard/VXLAN route
// source and the VXLAN underlay MTU.
import { contains, parseCidrs, type Cidr } from '../net/cidr.js';
import type { AddrInfo, LinkInfo, RouteInfo, Rtnl } from './netlink.js';
import { RT_SCOPE_LINK, RT_TABLE_MAIN } from './netlink.js';

/** The read side these queries need; Rtnl and RtnlCache both have it. */
export type AddressSource = Pick<Rtnl, 'links' | 'addresses'> & Partial<Pick<Rtnl, 'routes'>>;

/** One address with its interface facts. */
export interface LocalAddress {
  ifindex: number;
  ifname: string;
  family: 4 | 6;
  address: string;
  prefix: number;
  /** Interface MTU. */
  mtu: number;
  /** Link kind (`bridge`, `veth`, `vxlan`...); undefined for plain devices. */
  kind?: string;
  /** Address label when the kernel reports one (e.g. `lo:hawser`). */
  label?: string;
}

export type CniAddressChoice = LocalAddress | { unavailable: string };

/** Used when neither the address holder nor a default route names an interface. */
export const FALLBACK_UNDERLAY_MTU = 1500;

/** Pure: joins addresses to their links; kernel order, link-scope IPv6 (fe80::/10) left out. */
export function joinAddresses(links: readonly LinkInfo[], addrs: readonly AddrInfo[]): LocalAddress[] {
  const byIndex = new Map(links.map((l) => [l.index, l]));
  const out: LocalAddress[] = [];
  for (const a of addrs) {
    if (a.family === 6 && /^fe[89ab]/i.test(a.address)) continue;
    const l = byIndex.get(a.ifindex);
    const la: LocalAddress = { ifindex: a.ifindex, ifname: l?.name ?? `if${a.ifindex}`, family: a.family, address: a.address, prefix: a.prefix, mtu: l?.mtu ?? 0 };
    if (l?.kind) la.kind = l.kind;
    const label = (a as AddrInfo & { label?: unknown }).label;
    if (typeof label === 'string' && label !== la.ifname) la.label = label;
    out.push(la);
  }
  return out;
}

/** Pure: the addresses inside any of `cidrs` (texts or parsed), kernel order. */
export function selectAddressesIn(addrs: readonly LocalAddress[], cidrs: readonly (string | Cidr)[]): LocalAddress[] {
  const { cidrs: parsed } = parseCidrs(cidrs);
  return addrs.filter((a) => parsed.some((c) => contains(c, a.address)));
}

/**
 * Pure: the CNI address, i.e. this node's address inside one of the cluster's pod CIDRs (several pod
 * subnets are fine; the holder may be a bridge, a veth, a plain device). Loopback only as a last resort.
 */
export function chooseCniAddress(addrs: readonly LocalAddress[], cidrs: readonly (string | Cidr)[]): CniAddressChoice {
  const { cidrs: parsed, bad } = parseCidrs(cidrs);
  if (parsed.length === 0) {
    return { unavailable: bad.length ? `none of the cluster CIDRs [${bad.join(', ')}] is a valid CIDR` : 'no cluster CIDR is configured' };
  }
  const hits = selectAddressesIn(addrs, parsed);
  const pick = hits.find((a) => a.ifname !== 'lo') ?? hits[0];
  if (pick) return pick;
  return { unavailable: `no address on this node is inside the cluster CIDRs [${parsed.map((c) => c.text).join(', ')}]` };
}

/** Pure: the MTU of the interface holding `ip`, else of the main-table default route's device, else 1500. */
export function chooseUnderlayMtu(links: readonly LinkInfo[], addrs: readonly AddrInfo[], routes: readonly RouteInfo[], ip: string): number {
  const holder = addrs.find((a) => a.address === ip);
  const byIndex = new Map(links.map((l) => [l.index, l]));
  const viaHolder = holder ? byIndex.get(holder.ifindex)?.mtu : undefined;
  if (viaHolder) return viaHolder;
  const def = routes.find((r) => r.family === 4 && r.table === RT_TABLE_MAIN && r.dst === '0.0.0.0/0' && r.oif !== undefined && r.scope !== RT_SCOPE_LINK);
  const viaDefault = def?.oif !== undefined ? byIndex.get(def.oif)?.mtu : undefined;
  return viaDefault || FALLBACK_UNDERLAY_MTU;
}

export async function localAddresses(src: AddressSource): Promise<LocalAddress[]> {
  const [links, addrs] = await Promise.all([src.links(), src.addresses()]);
  return joinAddresses(links, addrs);
}

/** This node's addresses inside one of `cidrs`. */
export async function addressesIn(src: AddressSource, cidrs: readonly (string | Cidr)[]): Promise<LocalAddress[]> {
  return selectAddressesIn(await localAddresses(src), cidrs);
}

/** The CNI address (see chooseCniAddress); a failure to read is reported as unavailable, never thrown. */
export async function cniAddress(src: AddressSource, cidrs: readonly (string | Cidr)[]): Promise<CniAddressChoice> {
  try {
    return chooseCniAddress(await localAddresses(src), cidrs);
  } catch (err) {
    return { unavailable: `cannot list this node's addresses: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** MTU of the underlay carrying `ip` (the VXLAN device is this minus its overhead). */
export async function underlayMtu(src: AddressSource, ip: string): Promise<number> {
  const [links, addrs, routes] = await Promise.all([src.links(), src.addresses(), src.routes ? src.routes() : Promise.resolve([])]);
  return chooseUnderlayMtu(links, addrs, routes, ip);
}

export function isUnavailable(c: CniAddressChoice): c is { unavailable: string } {
  return 'unavailable' in c;
}
