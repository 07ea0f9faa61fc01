// Which conntrack entries a missing Globalnet table left without their NAT (pure). A connection's NAT is
// decided by its first packet; one that crossed this gateway before the table was loaded (just after a
// failover) keeps leaving un-NATed for as long as its entry lives. Those entries are deleted once the table is
// in place (NftDataplane.clearNatlessFlows), so the connection's next packet is NATed.
import { contains, parseCidr, type Cidr } from '../net/cidr.js';
import type { CtEntry } from '../os/nftables/conntrack.js';

export function natlessFlows(entries: readonly CtEntry[], remoteGlobalCidrs: readonly string[], ownGlobalCidr: string | undefined): CtEntry[] {
  const remote = remoteGlobalCidrs.map((t) => parseCidr(t)).filter((c): c is Cidr => c !== undefined && c.family === 4);
  const own = ownGlobalCidr ? parseCidr(ownGlobalCidr) : undefined;
  if (remote.length === 0) return [];
  const inRemote = (ip: string): boolean => remote.some((c) => contains(c, ip));
  const inOwn = (ip: string): boolean => own !== undefined && contains(own, ip);
  return entries.filter((e) => {
    // Egress: to a remote cluster's global IP from a local (not global) address, and its source never rewritten.
    if (inRemote(e.orig.dst) && !inOwn(e.orig.src) && e.reply.dst === e.orig.src) return true;
    // Ingress: from a remote cluster's global IP to one of ours, and its destination never rewritten.
    return inOwn(e.orig.dst) && inRemote(e.orig.src) && e.reply.src === e.orig.dst;
  });
}
