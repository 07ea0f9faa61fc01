// SUBMARINER_UNINSTALL on the gateway: the cable driver's cleanup runs, and this node's Gateway object and
// local Endpoint are deleted; the agent itself does not start.
import assert from 'node:assert/strict';
import { GatewayRole } from '../../src/gateway/role.js';
import { gatewayConfigFromEnv } from '../../src/config/roles.js';
import type { CableDriver } from '../../src/cable-drivers/types.js';
import type { KubeObject, RestClient } from '../../src/k8s/rest.js';
import { logSink } from '../support/fixtures.js';

describe('gateway: SUBMARINER_UNINSTALL', () => {
  it('cleans up the driver and deletes the Gateway and the local Endpoint', async () => {
    const cfg = gatewayConfigFromEnv({
      SUBMARINER_NAMESPACE: 'submariner-operator', SUBMARINER_CLUSTERID: 'cluster-a', NODE_NAME: 'gw-1', SUBMARINER_CLUSTERCIDR: '10.42.0.0/16',
      SUBMARINER_SERVICECIDR: '10.43.0.0/16', SUBMARINER_CABLEDRIVER: 'vxlan', BROKER_K8S_APISERVER: 'x:1', BROKER_K8S_APISERVERTOKEN: 't',
      BROKER_K8S_REMOTENAMESPACE: 'b', SUBMARINER_UNINSTALL: 'true',
    });
    assert.equal(cfg.uninstall, true);
    const calls: string[] = [];
    const node: KubeObject = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'gw-1' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.1.11' }] } };
    const local = {
      get: async (path: string) => (calls.push(`GET ${path}`), node),
      delete: async (path: string) => (calls.push(`DELETE ${path}`), true),
    } as unknown as RestClient;
    const driver = { cleanup: async () => void calls.push('driver cleanup'), close: async () => void calls.push('driver close') } as unknown as CableDriver;
    await GatewayRole.uninstall({ cfg, log: logSink().log, local, createDriver: async (ctx) => (calls.push(`driver for ${ctx.localEndpoint.cableName}`), driver) });
    assert.deepEqual(calls, [
      'GET /api/v1/nodes/gw-1',
      'driver for submariner-cable-cluster-a-192-168-1-11',
      'driver cleanup',
      'driver close',
      'DELETE /apis/submariner.io/v1/namespaces/submariner-operator/gateways/gw-1',
      'DELETE /apis/submariner.io/v1/namespaces/submariner-operator/endpoints/cluster-a-submariner-cable-cluster-a-192-168-1-11',
    ]);
  });
});
