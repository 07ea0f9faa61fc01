// The preferred source of routes to remote subnets: our address inside the local cluster CIDRs.
import type { LocalAddress } from '../../os/addresses.js';

/** `inCluster`: our addresses inside the cluster CIDRs (os/addresses addressesIn). The health-check IP when it is one of them, else the first IPv4 one. */
export function findRouteSrc(inCluster: readonly LocalAddress[], healthCheckIP?: string): { v4?: string } {
  const v4 = inCluster.filter((a) => a.family === 4);
  if (healthCheckIP && v4.some((a) => a.address === healthCheckIP)) return { v4: healthCheckIP };
  return v4[0] ? { v4: v4[0].address } : {};
}
