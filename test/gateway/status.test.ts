import assert from 'node:assert/strict';
import { gatewaySummary, isStaleGateway, parseGateway } from '../../src/k8s/submariner/gateway.js';
import { buildLocalEndpoint, unpublishedSubnets } from '../../src/gateway/local-endpoint.js';
import { endpointObjectName } from '../../src/k8s/resources.js';
import { gatewayConfigFromEnv } from '../../src/config/roles.js';

describe('gateway: status helpers', () => {
  it('stale Gateway objects, as the role and the status writer judge them: old, missing or bad timestamps', () => {
    const o = (name: string, ts?: string) => ({ metadata: { name, ...(ts !== undefined ? { annotations: { 'update-timestamp': ts } } : {}) } });
    const stale = [o('fresh', '990'), o('old', '980'), o('none'), o('junk', 'x')].filter((raw) => {
      const g = parseGateway(raw);
      assert.ok(g.ok);
      return isStaleGateway(g.value, 1000);
    });
    assert.deepEqual(stale.map((x) => x.metadata.name), ['old', 'none', 'junk']);
  });
  it('summarizes connections', () => {
    assert.equal(gatewaySummary('active', [{ status: 'connected' }, { status: 'error' }], ''), '1 connections out of 2 are not established');
  });
  it('builds the local endpoint with label overrides and the driver config', () => {
    const cfg = gatewayConfigFromEnv({ SUBMARINER_NAMESPACE: 'ns', SUBMARINER_CLUSTERID: 'a', NODE_NAME: 'gw1', SUBMARINER_CLUSTERCIDR: '10.42.0.0/16', SUBMARINER_SERVICECIDR: '10.43.0.0/16', SUBMARINER_CABLEDRIVER: 'wireguard', CE_IPSEC_PSK: 'cHNrcHNrcHNr', BROKER_K8S_APISERVER: 'x:1', BROKER_K8S_APISERVERTOKEN: 't', BROKER_K8S_REMOTENAMESPACE: 'b' });
    const ep = buildLocalEndpoint(cfg, { name: 'gw1', privateIP: '192.168.1.11', labels: { 'gateway.submariner.io/udp-port': '4501' }, publicIP: '203.0.113.9' }, { publicKey: 'K' });
    assert.equal(ep.cableName, 'submariner-cable-a-192-168-1-11');
    assert.deepEqual(ep.subnets, ['10.43.0.0/16', '10.42.0.0/16']);
    assert.equal(ep.backendConfig['udp-port'], '4501');
    assert.equal(ep.backendConfig.publicKey, 'K');
    assert.equal(ep.publicIP, '203.0.113.9');
  });
  const env = { SUBMARINER_NAMESPACE: 'ns', SUBMARINER_CLUSTERID: 'a', NODE_NAME: 'gw1', SUBMARINER_CLUSTERCIDR: '10.42.0.0/16', SUBMARINER_SERVICECIDR: '10.43.0.0/16', SUBMARINER_CABLEDRIVER: 'wireguard', CE_IPSEC_PSK: 'cHNrcHNrcHNr', BROKER_K8S_APISERVER: 'x:1', BROKER_K8S_APISERVERTOKEN: 't', BROKER_K8S_REMOTENAMESPACE: 'b' };
  it('an unresolved public IP is published empty, never as the private IP', () => {
    const ep = buildLocalEndpoint(gatewayConfigFromEnv(env), { name: 'gw1', privateIP: '192.168.1.11', labels: {} }, {});
    assert.equal(ep.publicIP, '');
    assert.deepEqual(ep.publicIPs, []);
  });
  it('lb: publishes using-loadbalancer; preferred-server mode publishes preferred-server-timestamp', () => {
    const cfg = gatewayConfigFromEnv({ ...env, CE_IPSEC_PREFERREDSERVER: 'true' });
    const ep = buildLocalEndpoint(cfg, { name: 'gw1', privateIP: '192.168.1.11', labels: {}, publicIP: '192.0.2.80', usingLoadBalancer: true, startedAtSeconds: 1764750000.7 }, {});
    assert.equal(ep.backendConfig['using-loadbalancer'], 'true');
    assert.equal(ep.backendConfig['preferred-server'], 'true');
    assert.equal(ep.backendConfig['preferred-server-timestamp'], '1764750000');
    const plain = buildLocalEndpoint(gatewayConfigFromEnv(env), { name: 'gw1', privateIP: '192.168.1.11', labels: {}, startedAtSeconds: 1 }, {});
    assert.equal(plain.backendConfig['preferred-server-timestamp'], undefined);
    assert.equal(plain.backendConfig['using-loadbalancer'], undefined);
    const byLabel = buildLocalEndpoint(gatewayConfigFromEnv(env), { name: 'gw1', privateIP: '192.168.1.11', labels: { 'gateway.submariner.io/preferred-server': 'true' }, startedAtSeconds: 5 }, {});
    assert.equal(byLabel.backendConfig['preferred-server-timestamp'], '5');
  });
  it('IPv6 cluster/service CIDRs are not published while hawser has no IPv6 cables', () => {
    const cfg = gatewayConfigFromEnv({ ...env, SUBMARINER_CLUSTERCIDR: '10.42.0.0/16,fd00:10:42::/56', SUBMARINER_SERVICECIDR: 'fd00:10:43::/112,10.43.0.0/16' });
    const ep = buildLocalEndpoint(cfg, { name: 'gw1', privateIP: '192.168.1.11', labels: {} }, {});
    assert.deepEqual(ep.subnets, ['10.43.0.0/16', '10.42.0.0/16']);
    assert.deepEqual(unpublishedSubnets(cfg), ['fd00:10:43::/112', 'fd00:10:42::/56']);
  });
  it('names Endpoints like admiral\'s EnsureValidName (lower case, [a-z0-9.-], trimmed dashes)', () => {
    assert.equal(endpointObjectName('a', 'submariner-cable-a-10-0-0-1'), 'a-submariner-cable-a-10-0-0-1');
    assert.equal(endpointObjectName('Cluster_A', 'cable:x-'), 'cluster-a-cable-x');
    assert.equal(endpointObjectName('-a', 'b--'), 'a-b');
  });
});
