// The VXLAN cable driver: the public surface.
export { VxlanDriver, createVxlanDriver, type VxlanDriverOptions } from './driver.js';
export * from './constants.js';
export {
  planCable, planCleanup, planDevice, planDisconnect, planSweep, planText, actionCommand, vtepFor, isOurRule,
  type VxlanAction, type VxlanCable, type VxlanDevice, type VxlanObserved, type ObservedLink, type FdbEntry, type RouteEntry, type RuleEntry,
} from './plan.js';
export { RtnlVxlanKernel, fdbEntries, routeEntries, ruleEntries, type VxlanKernel } from './kernel.js';
