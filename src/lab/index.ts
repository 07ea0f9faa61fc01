// The network-namespace lab: the public surface for the CLI and for end-to-end tests.
export { Lab, findRepoRoot, randomLabName, type LabNetnsWorld, type LabUpOptions } from './lab.js';
export { labDown, labStatus, type DownReport, type LabStatus, type ProcessStatus } from './control.js';
export { runDemo, type DemoOptions } from './demo.js';
export {
  cableStates, formatConnections, formatPingMatrix, globalIpsByPod, parseGateway, pingMatrix, readAllGateways, readGateways, waitForCables,
  type CableState, type ConnectionSummary, type GatewaySummary, type PingCell,
} from './observe.js';
export { listLabs, readState, stateFilePath, type LabState, type ProcessRecord } from './state.js';
export {
  API_PORT, BROKER_NAMESPACE, DEFAULT_STATE_ROOT, LAB_ROLES, SUBMARINER_NAMESPACE, allPods, findNode, formatTopology, planLab,
  resolveOptions, resolveTarget, rolePodName,
  type ClusterPlan, type LabOptions, type LabRole, type LabTopology, type NodePlan, type PodPlan, type ProcessPlan,
} from './topology.js';
