// What hawser owns, in one place: every kind of node state the roles install (named and listed in
// os/owned.ts, re-exported here) and every cluster object they write. `hawser uninstall` removes exactly
// these and nothing else; the route agent's diff and `diagnose` read the same node-state registry.
import { NODE_GLOBAL_IP_ANNOTATION } from '../nat/desired.js';
import { CLUSTER_EGRESS_NAME, INTERNAL_SERVICE_FINALIZER, INTERNAL_SERVICE_LABEL } from '../nat/resources.js';
import type { Owner } from '../os/owned.js';

export {
  OWNED_NODE_STATE, type Owner, type OwnedAddressLabel, type OwnedDaemon, type OwnedLink, type OwnedNftTable, type OwnedNodeState,
  type OwnedPath, type OwnedProtocol, type OwnedTable,
} from '../os/owned.js';

/** A kind of object hawser writes into a cluster at run time (not the manifests, which carry app.kubernetes.io/part-of=hawser). */
export interface OwnedObjects {
  group: string;
  version: string;
  plural: string;
  /** 'hawser' = the agents' namespace (SUBMARINER_NAMESPACE); 'all' = every namespace; 'cluster' = cluster-scoped. */
  scope: 'hawser' | 'all' | 'cluster';
  /** Only these names (else every object of the kind in scope). */
  names?: readonly string[];
  /** Only objects carrying this label (any value). */
  labelKey?: string;
  /** Finalizers of ours to remove before deleting. */
  finalizers?: readonly string[];
  owner: Owner;
  what: string;
}

export const OWNED_CLUSTER_OBJECTS: readonly OwnedObjects[] = [
  { group: 'submariner.io', version: 'v1', plural: 'endpoints', scope: 'hawser', owner: 'gateway', what: 'local Endpoint and remote copies from the broker' },
  { group: 'submariner.io', version: 'v1', plural: 'clusters', scope: 'hawser', owner: 'gateway', what: 'local Cluster and remote copies' },
  { group: 'submariner.io', version: 'v1', plural: 'gateways', scope: 'hawser', owner: 'gateway', what: 'one Gateway per gateway node' },
  { group: 'submariner.io', version: 'v1', plural: 'routeagents', scope: 'hawser', owner: 'route-agent', what: 'one RouteAgent per node' },
  { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', scope: 'hawser', names: ['submariner-gateway-lock', 'submariner-globalnet-lock'], owner: 'gateway', what: 'leader election' },
  { group: 'submariner.io', version: 'v1', plural: 'globalingressips', scope: 'all', owner: 'globalnet', what: 'global IPs of exported Services and pods' },
  { group: 'submariner.io', version: 'v1', plural: 'clusterglobalegressips', scope: 'cluster', names: [CLUSTER_EGRESS_NAME], owner: 'globalnet', what: 'the default cluster egress IPs' },
  { group: '', version: 'v1', plural: 'services', scope: 'all', labelKey: INTERNAL_SERVICE_LABEL, finalizers: [INTERNAL_SERVICE_FINALIZER], owner: 'globalnet', what: 'internal Services behind exported ones' },
];

/** Node annotations hawser writes (removed from every Node). */
export const OWNED_NODE_ANNOTATIONS: readonly string[] = [NODE_GLOBAL_IP_ANNOTATION];

/** Label every object of hawser's manifests carries. */
export const PART_OF_LABEL = 'app.kubernetes.io/part-of';
export const PART_OF_VALUE = 'hawser';
