// Which conntrack entries a missing Globalnet table left without their NAT (pure). A connection's NAT is
// decided by its first packet; one that crossed this gateway before the table was loaded (just after a
// failover) keeps leaving un-NATed for as long as its entry lives. Those entries are deleted once the table is
// in place (NftDataplane.clearNatlessFlows), so the connection's next packet is NATed.
import { parseIpv4Cidr, type Ipv4Cidr } from '../net/cidr.js';
import { ctAddrsOf, type CtAddrs, type CtEntry } from '../os/nftables/conntrack.js';

/**
 * The test a conntrack entry without its Globalnet NAT passes, on its addresses as integers, so a dump applies
 * it before making objects (a busy gateway holds hundreds of thousands of entries); undefined when no entry can
 * pass (no remote global CIDR), so no dump is needed.
 */
export function natlessFlowTest(remoteGlobalCidrs: readonly string[], ownGlobalCidr: string | undefined): ((a: Readonly<CtAddrs>) => boolean) | undefined {
  const remote = remoteGlobalCidrs.map((t) => parseIpv4Cidr(t)).filter((c): c is Ipv4Cidr => c !== undefined);
  const own = ownGlobalCidr ? parseIpv4Cidr(ownGlobalCidr) : undefined;
  if (remote.length === 0) return undefined;
  const inRange = (c: Ipv4Cidr, ip: number): boolean => ip >= c.base && ip < c.base + c.size;
  const inRemote = (ip: number): boolean => remote.some((c) => inRange(c, ip));
  const inOwn = (ip: number): boolean => own !== undefined && inRange(own, ip);
  return (a) => {
    // Egress: to a remote cluster's global IP from a local (not global) address, and its source never rewritten.
    if (inRemote(a.origDst) && !inOwn(a.origSrc) && a.replyDst === a.origSrc) return true;
    // Ingress: from a remote cluster's global IP to one of ours, and its destination never rewritten.
    return inOwn(a.origDst) && inRemote(a.origSrc) && a.replySrc === a.origDst;
  };
}

export function natlessFlows(entries: readonly CtEntry[], remoteGlobalCidrs: readonly string[], ownGlobalCidr: string | undefined): CtEntry[] {
  const test = natlessFlowTest(remoteGlobalCidrs, ownGlobalCidr);
  return test ? entries.filter((e) => test(ctAddrsOf(e))) : [];
}
