// client-node for the tools that use its typed APIs (the lab, tests). Roles do not import this module:
// they reach API servers through ./access.ts and ./rest.ts, which do not load client-node.
import * as k8s from '@kubernetes/client-node';

export { k8s };

/** HTTP status of a client-node ApiException (or undefined for other errors). */
export function apiStatus(err: unknown): number | undefined {
  if (err instanceof k8s.ApiException) return err.code;
  return undefined;
}
