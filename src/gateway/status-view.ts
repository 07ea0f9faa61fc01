// What this node's Gateway says, decided from the role's state alone (pure, table-tested): whether the
// gateway serves (active, or stopping for a restart in place), and whether there is anything to write yet;
// and the snapshot the status writer builds the Gateway from.
import type { EndpointSpec } from '../k8s/submariner/endpoint.js';
import type { ConnectionView } from '../cable-drivers/engine.js';
import type { GatewayState } from './role.js';
import type { ConnectionHealth } from './status.js';
import type { GatewaySnapshot } from './status-writer.js';

export interface RoleView {
  state: GatewayState;
  /** The state a SIGTERM stopped from. */
  stoppingFrom?: GatewayState;
  /** A SIGTERM decided to hand over: from then on the Gateway says passive. */
  handingOver: boolean;
  /** The elector has said who holds the lease at least once. */
  electionSettled: boolean;
  /** Some failure is to be shown. */
  problems: boolean;
  /** The local Endpoint is known (the driver started). */
  hasEndpoint: boolean;
}

/**
 * Whether this gateway still serves: active, or stopping from active without a hand-over (a restart in
 * place keeps lease and cables, so a write during the stop must keep saying active: Globalnet acts on it).
 */
export function serving(v: Pick<RoleView, 'state' | 'stoppingFrom' | 'handingOver'>): boolean {
  return v.state === 'active' || (v.state === 'stopping' && v.stoppingFrom === 'active' && !v.handingOver);
}

/** The haStatus to write now, or undefined while there is nothing to say. */
export function haStatusToWrite(v: RoleView): 'active' | 'passive' | undefined {
  if (!v.hasEndpoint && !v.problems) return undefined;
  // A restart in place must not flash "passive" (Globalnet acts on it): wait for the election's first word.
  const standingBy = v.state === 'standby' || (v.state === 'stopping' && v.stoppingFrom === 'standby');
  if (standingBy && !v.electionSettled && !v.problems) return undefined;
  return serving(v) ? 'active' : 'passive';
}

/**
 * What the status writer writes now, from the role's view: undefined while there is nothing to say; the
 * connections only while serving; before the driver started, a placeholder Endpoint carries the problems.
 */
export async function gatewaySnapshot(v: RoleView, o: {
  localEndpoint: EndpointSpec | undefined;
  placeholder: () => EndpointSpec;
  connections: () => Promise<ConnectionView[]>;
  health: (cableName: string) => ConnectionHealth | undefined;
}): Promise<GatewaySnapshot | undefined> {
  const haStatus = haStatusToWrite(v);
  if (!haStatus) return undefined;
  return {
    haStatus,
    localEndpoint: o.localEndpoint ?? o.placeholder(),
    connections: haStatus === 'active' && serving(v) ? await o.connections() : [],
    health: o.health,
  };
}
