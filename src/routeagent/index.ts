// The route agent's data path, for the role wiring: plan (pure) -> RouteAgentDataplane.reconcile.
export { planRouteAgent, parseMssAnnotation, MSS_MIN, MSS_MAX } from './planner.js';
export { planCounts, planToText } from './plan-text.js';
export { renderFirewall, firewallDigest } from './firewall.js';
export { RouteAgentDataplane, RouteAgentApplyError, type HostFacts, type NftPort, type RouteAgentDataplaneOptions } from './dataplane.js';
export { RouteAgentRunner, type RouteAgentRunnerOptions, type RunResult } from './runner.js';
export { vtepIP, vtepMac } from './vtep.js';
export * from './types.js';
