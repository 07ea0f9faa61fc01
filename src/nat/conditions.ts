// Status conditions with Kubernetes' SetStatusCondition semantics: one condition per type, and the
// transition time moves only when the status flips.
import type { Condition } from './resources.js';

/** The one condition type Globalnet writes (Submariner's `GlobalEgressIPAllocated`). */
export const ALLOCATED = 'Allocated';

export type Reason =
  | 'Success'
  | 'Reallocated'
  | 'IPPoolAllocationFailed'
  | 'InvalidInstance'
  | 'InvalidInput'
  | 'ZeroInput'
  | 'InvalidSelector'
  | 'InvalidTarget'
  | 'ServiceNotFound';

export interface ConditionChange {
  status: 'True' | 'False';
  /** A `Reason`, or a reason kept from an existing condition. */
  reason: Reason | (string & Record<never, never>);
  message: string;
}

export function setCondition(conds: readonly Condition[], change: ConditionChange, now: string, generation?: number): Condition[] {
  const old = conds.find((c) => c.type === ALLOCATED);
  const rest = conds.filter((c) => c.type !== ALLOCATED);
  const next: Condition = {
    type: ALLOCATED,
    status: change.status,
    reason: change.reason,
    message: change.message,
    lastTransitionTime: old && old.status === change.status && old.lastTransitionTime ? old.lastTransitionTime : now,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  return [...rest, next];
}

export function allocatedCondition(conds: readonly Condition[]): Condition | undefined {
  return conds.find((c) => c.type === ALLOCATED);
}
