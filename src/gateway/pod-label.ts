// The gateway pod's `gateway.submariner.io/status` label (active / passive), as Submariner sets it: Services
// and tools select the active gateway's pod by it. A failure is a status problem, never fatal.
import { resourcePath, type RestClient } from '../k8s/rest.js';
import { errorMessage } from '../util/errors.js';
import type { Failures } from './status-writer.js';

export const POD_STATUS_LABEL = 'gateway.submariner.io/status';

export interface PodLabelOptions {
  client: Pick<RestClient, 'patch'>;
  failures: Failures;
  /** Unset outside a pod (lab, host): nothing to label. */
  podName?: string;
  podNamespace: string;
}

/** Sets the label; a failure lands in `failures` (key `pod-label`) and clears on the next success. */
export async function labelPod(o: PodLabelOptions, status: 'active' | 'passive'): Promise<void> {
  if (!o.podName) return;
  try {
    await o.client.patch(resourcePath('', 'v1', 'pods', o.podNamespace, o.podName), { metadata: { labels: { [POD_STATUS_LABEL]: status } } }, 'merge');
    o.failures.clear('pod-label');
  } catch (err) {
    o.failures.set('pod-label', `cannot label the gateway pod ${o.podName}: ${errorMessage(err)}`);
  }
}
