// The WireGuard cable driver and its control module.
import type { DriverContext } from '../types.js';
import { WireGuardDriver, type WireGuardDriverOptions } from './driver.js';

export { WireGuardDriver, type WireGuardDriverOptions, type WireGuardStats } from './driver.js';
export * from './constants.js';
export { planDevice, planNet, planNetCleanup, type DesiredDevice, type DesiredPeer, type NetDesired, type NetObserved } from './planner.js';
export { findWireguardGoPid, WireGuardGo } from './supervisor.js';

export function createWireGuardDriver(ctx: DriverContext, opts?: WireGuardDriverOptions): WireGuardDriver {
  return new WireGuardDriver(ctx, opts);
}
