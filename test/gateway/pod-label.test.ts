import assert from 'node:assert/strict';
import { labelPod, POD_STATUS_LABEL } from '../../src/gateway/pod-label.js';
import { Failures } from '../../src/gateway/status-writer.js';
import { quietLog } from '../support/apiserver.js';

describe('gateway pod label', () => {
  it('merge-patches gateway.submariner.io/status; a failure is a status problem that clears on success; no pod, no call', async () => {
    const calls: string[] = [];
    let fail = false;
    const client = {
      patch: async (path: string, body: unknown, kind?: string): Promise<never> => {
        calls.push(`${kind} ${path} ${JSON.stringify(body)}`);
        if (fail) throw new Error('pods "gw-pod" is forbidden');
        return {} as never;
      },
    };
    const failures = new Failures(quietLog);
    const o = { client, failures, podName: 'gw-pod', podNamespace: 'submariner-operator' };
    await labelPod(o, 'active');
    assert.deepEqual(calls, [`merge /api/v1/namespaces/submariner-operator/pods/gw-pod {"metadata":{"labels":{"${POD_STATUS_LABEL}":"active"}}}`]);
    fail = true;
    await labelPod(o, 'passive');
    assert.match(failures.text(), /cannot label the gateway pod gw-pod: pods "gw-pod" is forbidden/);
    fail = false;
    await labelPod(o, 'passive');
    assert.equal(failures.text(), '');
    await labelPod({ ...o, podName: undefined }, 'active');
    assert.equal(calls.length, 3);
  });
});
