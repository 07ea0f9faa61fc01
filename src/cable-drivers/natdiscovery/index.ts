// NAT discovery: the public surface (see natdiscovery.ts).
export { NatDiscovery, type NatDiscoveryOptions, type NatRemoteStatus, type NatDiscoveryCounters, type NatDiscoveryEvents } from './natdiscovery.js';
export {
  DEFAULT_NAT_TIMINGS, DEFAULT_NATT_DISCOVERY_PORT, NATT_DISCOVERY_PORT_KEY, USING_LOAD_BALANCER_KEY, RemoteNatProbe,
  fallbackDecision, remoteDiscoveryPort, usesLoadBalancer, sameNatInfo,
  type NatTimings, type NatState, type DecisionSource, type DecisionChange, type Probe, type ProbeKind,
} from './remote.js';
export { answerRequest, endpointId, endpointIdForm, IPV4_ID_SUFFIX, type EndpointIdForm, type LocalIdentity, type UdpSource } from './answer.js';
export * from './messages.js';
export { UdpTransport, routeSourceIP, systemClock, type Clock, type NatTransport, type UdpPeer } from './transport.js';
