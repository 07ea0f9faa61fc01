// The submariner.io/v1 wire model: field names as Submariner writes them, unknown fields kept on a write-back,
// validation errors that name the object and the field.
import assert from 'node:assert/strict';
import { clusterSpecToWire, parseCluster } from '../../src/k8s/submariner/cluster.js';
import { endpointSpecToWire, parseEndpoint } from '../../src/k8s/submariner/endpoint.js';
import { gatewayToWire, gatewayUpdateToWire, isStaleGateway, parseGateway } from '../../src/k8s/submariner/gateway.js';
import { parseGlobalEgressIPWire, parseClusterGlobalEgressIPWire, parseGlobalIngressIPWire } from '../../src/k8s/submariner/globalnet.js';
import { parseRouteAgent, routeAgentToWire } from '../../src/k8s/submariner/routeagent.js';
import { nodeGlobalIP, nodeInternalIP, gatewayNodeSetting } from '../../src/k8s/node.js';
import { JsonFieldError, needStr, recordAt } from '../../src/util/json.js';
import { clusterObject, endpointObject, endpointSpec } from '../support/fixtures.js';

describe('submariner.io/v1 wire model', () => {
  it('Endpoint: parse → ToWire keeps fields hawser does not know', () => {
    const o = endpointObject({ cluster: 'east', privateIP: '10.1.0.5', backend: 'wireguard', backendConfig: { publicKey: 'k' } });
    (o.spec as Record<string, unknown>).futureField = { x: 1 };
    const p = parseEndpoint(o);
    assert.ok(p.ok);
    assert.deepEqual(p.value.unknownSpec, { futureField: { x: 1 } });
    const wire = endpointSpecToWire(p.value.spec, p.value.unknownSpec);
    assert.deepEqual(wire.futureField, { x: 1 });
    assert.equal(wire.cluster_id, 'east');
    assert.deepEqual(wire.backend_config, { publicKey: 'k' });
  });

  it('Endpoint and Cluster errors name the object and the field', () => {
    const o = endpointObject({ cluster: 'east', privateIP: '10.1.0.5' });
    delete (o.spec as Record<string, unknown>).cable_name;
    const p = parseEndpoint(o);
    assert.equal(p.ok, false);
    assert.equal(!p.ok && p.error, `Endpoint submariner-operator/${o.metadata.name}: spec.cable_name is missing`);
    const c = parseCluster({ metadata: { name: 'east', namespace: 'ns' }, spec: { color_codes: ['blue'] } });
    assert.equal(!c.ok && c.error, 'Cluster ns/east: spec.cluster_id is missing');
  });

  it('Cluster round-trip keeps unknown fields and writes empty lists, not null', () => {
    const o = clusterObject({ clusterId: 'east', clusterCidrs: ['10.1.0.0/16'] });
    (o.spec as Record<string, unknown>).extra = 'kept';
    const p = parseCluster(o);
    assert.ok(p.ok);
    assert.deepEqual(clusterSpecToWire(p.value.spec, p.value.unknownSpec), { extra: 'kept', cluster_id: 'east', color_codes: ['blue'], service_cidr: [], cluster_cidr: ['10.1.0.0/16'], global_cidr: [] });
  });

  it('Gateway: ToWire and parse agree; staleness from update-timestamp', () => {
    const ep = endpointSpec({ cluster: 'west', privateIP: '10.2.0.5' });
    const obj = gatewayToWire({
      name: 'gw1', namespace: 'ns', nowSeconds: 1000.7,
      status: { haStatus: 'active', statusFailure: '', version: 'v1', connections: [{ status: 'connected', statusMessage: '', endpoint: ep, usingIP: '10.2.0.5', usingNAT: false, latencyRTT: { last: '1ms', min: '1ms', average: '1ms', max: '1ms', stdDev: '0s' }, receiveBytes: 5 }] },
    });
    assert.equal(obj.metadata.annotations?.['update-timestamp'], '1000');
    const st = obj.status as Record<string, unknown>;
    assert.deepEqual(Object.keys((st.connections as Record<string, unknown>[])[0]!), ['status', 'statusMessage', 'endpoint', 'usingIP', 'usingNAT', 'latencyRTT'], 'fields the CRD would prune are not written');
    const g = parseGateway(obj);
    assert.ok(g.ok);
    assert.equal(g.value.status.haStatus, 'active');
    assert.equal(g.value.status.connections[0]!.endpoint?.clusterId, 'west');
    assert.equal(g.value.status.connections[0]!.latencyRTT?.average, '1ms');
    assert.equal(isStaleGateway(g.value, 1015), false);
    assert.equal(isStaleGateway(g.value, 1016), true);
    const bare = parseGateway({ metadata: { name: 'gw2' } });
    assert.ok(bare.ok);
    assert.equal(bare.value.status.haStatus, '');
    assert.equal(isStaleGateway(bare.value, 0), true, 'no timestamp = stale');
  });

  it('Gateway update (another node marked passive): metadata as read, unknown metadata and status fields kept', () => {
    const obj = gatewayToWire({ name: 'gw2', namespace: 'ns', nowSeconds: 1000, status: { haStatus: 'active', statusFailure: '', version: 'v1', connections: [] } });
    const raw = {
      ...obj,
      metadata: { ...obj.metadata, resourceVersion: '42', uid: 'u-1', creationTimestamp: '2026-01-01T00:00:00Z', labels: { app: 'gw' }, finalizers: ['x.io/keep'] },
      status: { ...(obj.status as Record<string, unknown>), futureField: 'kept' },
    };
    const g = parseGateway(raw);
    assert.ok(g.ok);
    const out = gatewayUpdateToWire({ ...g.value, status: { ...g.value.status, haStatus: 'passive', statusFailure: 'not active' } });
    assert.deepEqual(out.metadata, { finalizers: ['x.io/keep'], name: 'gw2', namespace: 'ns', resourceVersion: '42', uid: 'u-1', creationTimestamp: '2026-01-01T00:00:00Z', labels: { app: 'gw' }, annotations: { 'update-timestamp': '1000' } });
    assert.deepEqual(out.status, { futureField: 'kept', haStatus: 'passive', statusFailure: 'not active', version: 'v1', connections: [] });
    assert.equal(out.kind, 'Gateway');
  });

  it('RouteAgent: remoteEndpoints round-trip', () => {
    const spec = endpointSpec({ cluster: 'west', privateIP: '10.2.0.5', healthCheckIP: '10.2.1.1' });
    const obj = routeAgentToWire({ name: 'node1', namespace: 'ns', status: { remoteEndpoints: [{ spec, status: 'connected', statusMessage: '' }], statusFailure: '', version: 'v' } });
    const r = parseRouteAgent(obj);
    assert.ok(r.ok);
    assert.equal(r.value.status.remoteEndpoints[0]!.status, 'connected');
    assert.equal(r.value.status.remoteEndpoints[0]!.spec?.healthCheckIP, '10.2.1.1');
  });

  it('Globalnet kinds: Submariner field names (numGlobalIPs vs numberOfIPs), bad selectors named', () => {
    const c = parseClusterGlobalEgressIPWire({ metadata: { name: 'cluster-egress.submariner.io' }, spec: { numGlobalIPs: 4 }, status: { allocatedIPs: ['242.0.0.1'] } });
    assert.ok(c.ok);
    assert.deepEqual(c.value.numGlobalIPs, { kind: 'integer', value: 4 });
    const e = parseGlobalEgressIPWire({ metadata: { name: 'e', namespace: 'ns' }, spec: { numberOfIPs: 'two', podSelector: { matchExpressions: [{ key: 'app' }] } } });
    assert.equal(!e.ok && e.error, 'GlobalEgressIP ns/e: spec.podSelector.matchExpressions[0] needs key and operator');
    const i = parseGlobalIngressIPWire({ metadata: { name: 'i', namespace: 'ns' }, spec: { target: 'ClusterIPService', serviceRef: { name: 'svc' } }, status: { allocatedIP: '242.0.0.9' } });
    assert.ok(i.ok);
    assert.equal(i.value.serviceRef, 'svc');
    assert.equal(i.value.allocatedIP, '242.0.0.9');
  });

  it('Node: InternalIP (IPv4 only), global IP annotation validated, gateway settings', () => {
    const node = {
      metadata: { name: 'n', labels: { 'gateway.submariner.io/udp-port': '4600' }, annotations: { 'submariner.io/globalIp': 'nope', 'gateway.submariner.io/public-ip': 'ipv4:1.2.3.4' } },
      status: { addresses: [{ type: 'InternalIP', address: 'fd00::1' }, { type: 'InternalIP', address: '10.0.0.4' }] },
    };
    assert.equal(nodeInternalIP(node), '10.0.0.4');
    assert.equal(nodeGlobalIP(node), undefined);
    assert.equal(gatewayNodeSetting(node, 'udp-port'), '4600');
    assert.equal(gatewayNodeSetting(node, 'public-ip'), 'ipv4:1.2.3.4');
  });

  it('JSON reader: typed errors name the object and path', () => {
    assert.throws(() => needStr({ a: 1 }, 'a', 'Endpoint ns/x', 'spec'), (err: unknown) => err instanceof JsonFieldError && err.message === 'Endpoint ns/x: spec.a is not a string (got 1)');
    assert.deepEqual(recordAt({ a: { b: { c: 1 } } }, 'a', 'b'), { c: 1 });
    assert.equal(recordAt({ a: [] }, 'a'), undefined);
  });
});
