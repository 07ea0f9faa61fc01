import assert from 'node:assert/strict';
import { staleGateways, gatewaySummary } from '../../src/gateway/status.js';
import { buildLocalEndpoint, parsePublicIpResolver } from '../../src/gateway/local-endpoint.js';
import { gatewayConfigFromEnv } from '../../src/config/roles.js';

describe('gateway: status helpers', () => {
  it('finds stale Gateway objects (old, missing or bad timestamps), never itself', () => {
    const o = (name: string, ts?: string) => ({ metadata: { name, ...(ts !== undefined ? { annotations: { 'update-timestamp': ts } } : {}) } });
    assert.deepEqual(staleGateways([o('me', '0'), o('fresh', '990'), o('old', '980'), o('none'), o('junk', 'x')], 1000, 'me'), ['old', 'none', 'junk']);
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
  it('parses public-ip resolvers', () => {
    assert.deepEqual(parsePublicIpResolver('ipv4:203.0.113.1'), { kind: 'ipv4', value: '203.0.113.1' });
    assert.ok('error' in parsePublicIpResolver('ipv4:nope'));
    assert.ok('error' in parsePublicIpResolver('1.2.3.4'));
  });
});
