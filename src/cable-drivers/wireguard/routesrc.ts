// The preferred source of routes to remote subnets: our address inside the local cluster CIDRs.
import { isIP } from 'node:net';
import type { LocalAddress } from './netops.js';

function v4ToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

export function ipv4InCidr(ip: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split('/');
  if (!net || bitsText === undefined || isIP(ip) !== 4 || isIP(net) !== 4) return false;
  const bits = Number(bitsText);
  const size = 2 ** (32 - bits);
  return Math.floor(v4ToInt(ip) / size) === Math.floor(v4ToInt(net) / size);
}

/** The health-check IP when it is ours, else the first of our IPv4 addresses inside a cluster CIDR. */
export function findRouteSrc(addrs: readonly LocalAddress[], clusterCidrs: readonly string[], healthCheckIP?: string): { v4?: string; v6?: string } {
  const mine = addrs.filter((a) => a.family === 4);
  if (healthCheckIP && mine.some((a) => a.address === healthCheckIP) && clusterCidrs.some((c) => ipv4InCidr(healthCheckIP, c))) return { v4: healthCheckIP };
  const hit = mine.find((a) => clusterCidrs.some((c) => ipv4InCidr(a.address, c)));
  return hit ? { v4: hit.address } : {};
}
