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
import { HawserError, errorMessage } from '../../util/errors.js';
import { exec } from '../../util/exec.js';
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

/** IPv4 addresses from `ip -j addr show` output; anything malformed is an error, never guessed. */
export function parseIpAddrJson(text: string): HostAddress[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new HawserError('EXEC', `ip -j addr show printed no JSON: ${errorMessage(err)}`);
  }
  if (!Array.isArray(data)) throw new HawserError('EXEC', 'ip -j addr show printed no list of links');
  const out: HostAddress[] = [];
  for (const link of data as unknown[]) {
    if (typeof link !== 'object' || link === null) continue;
    const l = link as Record<string, unknown>;
    const dev = typeof l.ifname === 'string' ? l.ifname : undefined;
    if (!dev || !Array.isArray(l.addr_info)) continue;
    for (const ai of l.addr_info as unknown[]) {
      if (typeof ai !== 'object' || ai === null) continue;
      const a = ai as Record<string, unknown>;
      if (a.family !== 'inet' || typeof a.local !== 'string' || typeof a.prefixlen !== 'number' || isIP(a.local) !== 4) continue;
      out.push({ dev, address: a.local, prefix: a.prefixlen, label: typeof a.label === 'string' ? a.label : dev });
    }
  }
  return out;
}

export interface SourceAddressOptions {
  netns?: string;
  log: Logger;
}

/** Reads the host's addresses and lends/takes back ours so `subnets` each have a source address. */
export async function syncSourceAddresses(subnets: readonly string[], o: SourceAddressOptions): Promise<SourceAddressPlan> {
  const r = await exec('ip', ['-j', '-4', 'addr', 'show'], { netns: o.netns });
  const plan = planSourceAddresses(subnets, parseIpAddrJson(r.stdout));
  for (const a of plan.add) {
    await exec('ip', ['addr', 'add', `${a}/32`, 'dev', SOURCE_DEVICE, 'label', SOURCE_ADDRESS_LABEL], { netns: o.netns });
  }
  for (const a of plan.remove) {
    await exec('ip', ['addr', 'del', `${a}/32`, 'dev', SOURCE_DEVICE], { netns: o.netns, allowFailure: true });
  }
  if (plan.add.length || plan.remove.length) {
    o.log.info({ added: plan.add, removed: plan.remove, device: SOURCE_ADDRESS_LABEL }, 'source addresses for userspace ESP routes updated (the service CIDR has no address on this host)');
  }
  return plan;
}

/** Removes every address hawser lent charon (uninstall). */
export async function removeSourceAddresses(o: SourceAddressOptions): Promise<void> {
  await syncSourceAddresses([], o);
}
