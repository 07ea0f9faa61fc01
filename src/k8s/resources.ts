// Old home of the Endpoint/Cluster wire types, kept so existing importers keep working. New code imports
// from `k8s/submariner/` (one module per kind); the lead converts the remaining importers after the merge.
export { CLUSTER_ID_LABEL, SUBMARINER_GROUP, SUBMARINER_VERSION, type Parsed } from './submariner/common.js';
export {
  backendKind,
  backendPort,
  cableName,
  endpointObjectName,
  endpointSpecToWire,
  ensureValidName,
  parseEndpointSpec,
  type Backend,
  type EndpointSpec,
} from './submariner/endpoint.js';
export { clusterSpecToWire, parseClusterSpec, type ClusterSpec } from './submariner/cluster.js';
