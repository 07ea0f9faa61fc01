// What each hawser identity may and may not do: one matrix, checked against the manifests' RBAC
// (rbac.test.ts, offline) and, where the embedded API server is available, against a live one.

export interface AccessCheck {
  /** `system:serviceaccount:<namespace>:<name>`. */
  user: string;
  verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
  /** '' for the core group. */
  group: string;
  /** Plural, with `/status` for the subresource. */
  resource: string;
  /** Undefined: cluster-scoped, or across all namespaces for list/watch. */
  namespace?: string;
  name?: string;
  allowed: boolean;
}

const sa = (ns: string, name: string): string => `system:serviceaccount:${ns}:${name}`;
export const GATEWAY = sa('submariner-operator', 'submariner-gateway');
export const ROUTE_AGENT = sa('submariner-operator', 'submariner-routeagent');
export const GLOBALNET = sa('submariner-operator', 'submariner-globalnet');
export const BROKER_CLIENT = sa('submariner-k8s-broker', 'cluster-cluster-a');

const NS = 'submariner-operator';
const S = 'submariner.io';

export const ACCESS_MATRIX: readonly AccessCheck[] = [
  // gateway
  { user: GATEWAY, verb: 'create', group: S, resource: 'endpoints', namespace: NS, allowed: true },
  { user: GATEWAY, verb: 'delete', group: S, resource: 'clusters', namespace: NS, name: 'cluster-b', allowed: true },
  { user: GATEWAY, verb: 'update', group: S, resource: 'gateways', namespace: NS, name: 'node-1', allowed: true },
  { user: GATEWAY, verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, allowed: true },
  { user: GATEWAY, verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: 'submariner-gateway-lock', allowed: true },
  { user: GATEWAY, verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: 'submariner-globalnet-lock', allowed: false },
  { user: GATEWAY, verb: 'patch', group: '', resource: 'pods', namespace: NS, name: 'submariner-gateway-x7k2p', allowed: true },
  { user: GATEWAY, verb: 'delete', group: '', resource: 'pods', namespace: NS, name: 'submariner-gateway-x7k2p', allowed: false },
  { user: GATEWAY, verb: 'list', group: '', resource: 'nodes', allowed: true },
  { user: GATEWAY, verb: 'patch', group: '', resource: 'nodes', name: 'node-1', allowed: false },
  { user: GATEWAY, verb: 'get', group: '', resource: 'secrets', namespace: NS, name: 'hawser-ipsec-psk', allowed: false },
  { user: GATEWAY, verb: 'create', group: S, resource: 'endpoints', namespace: 'default', allowed: false },
  { user: GATEWAY, verb: 'list', group: S, resource: 'routeagents', namespace: NS, allowed: false },
  { user: GATEWAY, verb: 'create', group: '', resource: 'events', namespace: NS, allowed: true },
  // route agent
  { user: ROUTE_AGENT, verb: 'list', group: S, resource: 'endpoints', namespace: NS, allowed: true },
  { user: ROUTE_AGENT, verb: 'create', group: S, resource: 'endpoints', namespace: NS, allowed: false },
  { user: ROUTE_AGENT, verb: 'update', group: S, resource: 'gateways', namespace: NS, name: 'node-1', allowed: false },
  { user: ROUTE_AGENT, verb: 'update', group: S, resource: 'routeagents', namespace: NS, name: 'node-1', allowed: true },
  { user: ROUTE_AGENT, verb: 'patch', group: '', resource: 'nodes', name: 'node-1', allowed: true },
  { user: ROUTE_AGENT, verb: 'delete', group: '', resource: 'nodes', name: 'node-1', allowed: false },
  { user: ROUTE_AGENT, verb: 'get', group: '', resource: 'secrets', namespace: NS, name: 'hawser-broker', allowed: false },
  // globalnet
  { user: GLOBALNET, verb: 'create', group: S, resource: 'globalingressips', namespace: 'default', allowed: true },
  { user: GLOBALNET, verb: 'update', group: S, resource: 'globalingressips/status', namespace: 'default', name: 'web', allowed: true },
  { user: GLOBALNET, verb: 'update', group: S, resource: 'clusterglobalegressips/status', name: 'cluster-egress.submariner.io', allowed: true },
  { user: GLOBALNET, verb: 'create', group: '', resource: 'services', namespace: 'default', allowed: true },
  { user: GLOBALNET, verb: 'list', group: 'multicluster.x-k8s.io', resource: 'serviceexports', allowed: true },
  { user: GLOBALNET, verb: 'update', group: '', resource: 'pods', namespace: 'default', name: 'web-0', allowed: false },
  { user: GLOBALNET, verb: 'get', group: '', resource: 'secrets', namespace: 'default', name: 'any', allowed: false },
  { user: GLOBALNET, verb: 'create', group: S, resource: 'endpoints', namespace: NS, allowed: false },
  { user: GLOBALNET, verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: 'submariner-globalnet-lock', allowed: true },
  { user: GLOBALNET, verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: 'submariner-gateway-lock', allowed: false },
  // a joining cluster on the broker
  { user: BROKER_CLIENT, verb: 'create', group: S, resource: 'endpoints', namespace: 'submariner-k8s-broker', allowed: true },
  { user: BROKER_CLIENT, verb: 'list', group: S, resource: 'clusters', namespace: 'submariner-k8s-broker', allowed: true },
  { user: BROKER_CLIENT, verb: 'create', group: S, resource: 'endpoints', namespace: NS, allowed: false },
  { user: BROKER_CLIENT, verb: 'list', group: S, resource: 'gateways', namespace: 'submariner-k8s-broker', allowed: false },
  { user: BROKER_CLIENT, verb: 'get', group: '', resource: 'secrets', namespace: 'submariner-k8s-broker', name: 'cluster-cluster-a-token', allowed: false },
];

export function describeCheck(c: AccessCheck): string {
  const what = `${c.verb} ${c.resource}${c.group ? `.${c.group}` : ''}${c.name ? ` ${c.name}` : ''}${c.namespace ? ` in ${c.namespace}` : ''}`;
  return `${c.user.split(':').pop()} ${c.allowed ? 'may' : 'may not'} ${what}`;
}
