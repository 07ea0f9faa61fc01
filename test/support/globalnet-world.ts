// A small Globalnet world for show-plan tests: cluster a (global CIDR 242.0.0.0/24), remote cluster b's
// Endpoint, and the cluster-wide egress IP object; seeded into a FakeApi.
import { FakeApi } from './fake-api.js';

export const GLOBALNET_WORLD_NS = 'submariner-operator';

export function globalnetWorld(ns = GLOBALNET_WORLD_NS): FakeApi {
  const api = new FakeApi();
  api.seed(`/apis/submariner.io/v1/namespaces/${ns}/clusters/a`, { metadata: { name: 'a' }, spec: { cluster_id: 'a', cluster_cidr: ['10.42.0.0/16'], service_cidr: ['10.43.0.0/16'], global_cidr: ['242.0.0.0/24'] } });
  api.seed(`/apis/submariner.io/v1/namespaces/${ns}/endpoints/b-ep`, {
    metadata: { name: 'b-ep', labels: { 'submariner-io/clusterID': 'b' } },
    spec: { cluster_id: 'b', cable_name: 'c-b', hostname: 'bgw', subnets: ['242.1.0.0/24'], private_ip: '192.168.2.11', public_ip: '192.168.2.11', nat_enabled: false, backend: 'vxlan' },
  });
  api.seed('/apis/submariner.io/v1/clusterglobalegressips/cluster-egress.submariner.io', { metadata: { name: 'cluster-egress.submariner.io' }, spec: { numGlobalIPs: 2 } });
  return api;
}
