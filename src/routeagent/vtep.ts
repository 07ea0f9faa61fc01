// VTEP addressing on vx-submariner: the shared VXLAN-overlay helper (net/vtep.ts) with the route agent's
// first octet, 240 (Submariner's). Two nodes whose IPs differ only in the first octet share a VTEP; the
// planner reports that.
import { ROUTE_AGENT_VTEP_OCTET, vtepIP as vtepWith, vtepMac, ZERO_MAC } from '../net/vtep.js';

export function vtepIP(nodeIP: string): string {
  return vtepWith(nodeIP, ROUTE_AGENT_VTEP_OCTET);
}

export { vtepMac, ZERO_MAC };
