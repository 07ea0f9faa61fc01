import assert from 'node:assert/strict';
import { gatewayConfigFromEnv, globalnetConfigFromEnv, routeAgentConfigFromEnv } from '../../src/config/roles.js';
import { ConfigError, ConfigErrors, parseCidr } from '../../src/config/parse.js';

const GOOD = {
  SUBMARINER_NAMESPACE: 'submariner-operator',
  SUBMARINER_CLUSTERID: 'cluster-a',
  NODE_NAME: 'node-1',
  SUBMARINER_CLUSTERCIDR: '10.42.0.0/16',
  SUBMARINER_SERVICECIDR: '10.43.0.0/16',
  SUBMARINER_CABLEDRIVER: 'wireguard',
  CE_IPSEC_PSK: 'c2VjcmV0LXBzay10ZXh0',
  BROKER_K8S_APISERVER: '10.0.0.1:6443',
  BROKER_K8S_APISERVERTOKEN: 'tok-123456',
  BROKER_K8S_REMOTENAMESPACE: 'submariner-k8s-broker',
};

function errorsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigErrors) return err.errors.map((e) => e.variable);
    if (err instanceof ConfigError) return [err.variable];
    throw err;
  }
  return [];
}

describe('config: gateway environment', () => {
  it('reads a complete Submariner environment with defaults', () => {
    const c = gatewayConfigFromEnv(GOOD);
    assert.equal(c.clusterId, 'cluster-a');
    assert.equal(c.cableDriver, 'wireguard');
    assert.deepEqual(c.clusterCidrs.map((x) => x.text), ['10.42.0.0/16']);
    assert.equal(c.healthCheck.enabled, true);
    assert.equal(c.healthCheck.intervalMs, 1000);
    assert.equal(c.healthCheck.maxPacketLossCount, 5);
    assert.equal(c.ipsec.nattPort, 4500);
    assert.equal(c.ipsec.ikePort, 500);
    assert.equal(c.ipsec.psk, GOOD.CE_IPSEC_PSK);
    assert.equal(c.metricsPort, 32780);
    assert.equal(c.natEnabled, false);
    assert.deepEqual(c.colorCodes, ['blue']);
    assert.equal(c.election.leaseDurationMs, 2000);
  });

  it('accepts several cluster CIDRs and the driver aliases', () => {
    const c = gatewayConfigFromEnv({ ...GOOD, SUBMARINER_CLUSTERCIDR: '10.42.0.0/16, 10.44.0.0/16', SUBMARINER_CABLEDRIVER: 'ipsec' });
    assert.deepEqual(c.clusterCidrs.map((x) => x.text), ['10.42.0.0/16', '10.44.0.0/16']);
    assert.equal(c.cableDriver, 'libreswan');
  });

  const bad: Array<[string, Record<string, string | undefined>, string]> = [
    ['missing cluster ID', { SUBMARINER_CLUSTERID: undefined }, 'SUBMARINER_CLUSTERID'],
    ['cluster ID with capitals', { SUBMARINER_CLUSTERID: 'Cluster_A' }, 'SUBMARINER_CLUSTERID'],
    ['bad CIDR', { SUBMARINER_CLUSTERCIDR: '10.42.0.0/33' }, 'SUBMARINER_CLUSTERCIDR'],
    ['not a CIDR', { SUBMARINER_SERVICECIDR: 'ten' }, 'SUBMARINER_SERVICECIDR'],
    ['unknown driver', { SUBMARINER_CABLEDRIVER: 'gre' }, 'SUBMARINER_CABLEDRIVER'],
    ['bad bool', { SUBMARINER_NATENABLED: 'maybe' }, 'SUBMARINER_NATENABLED'],
    ['interval not a number', { SUBMARINER_HEALTHCHECKINTERVAL: 'abc' }, 'SUBMARINER_HEALTHCHECKINTERVAL'],
    ['interval negative', { SUBMARINER_HEALTHCHECKINTERVAL: '-1' }, 'SUBMARINER_HEALTHCHECKINTERVAL'],
    ['port out of range', { CE_IPSEC_NATTPORT: '70000' }, 'CE_IPSEC_NATTPORT'],
    ['missing PSK for wireguard', { CE_IPSEC_PSK: undefined }, 'CE_IPSEC_PSK'],
    ['missing broker', { BROKER_K8S_APISERVER: undefined }, 'BROKER_K8S_APISERVER'],
    ['bad broker CA', { BROKER_K8S_CA: 'bm90IGEgY2VydA==' }, 'BROKER_K8S_CA'],
    ['renew deadline longer than lease', { HAWSER_LEASE_DURATION: '2', HAWSER_RENEW_DEADLINE: '3' }, 'HAWSER_RENEW_DEADLINE'],
    ['missing node name', { NODE_NAME: undefined }, 'NODE_NAME'],
    ['release on stop not a bool', { HAWSER_RELEASE_ON_STOP: 'sometimes' }, 'HAWSER_RELEASE_ON_STOP'],
    ['lapse grace over 300 s', { HAWSER_LEASE_LAPSE_GRACE: '301' }, 'HAWSER_LEASE_LAPSE_GRACE'],
    ['lapse grace not a number', { HAWSER_LEASE_LAPSE_GRACE: 'long' }, 'HAWSER_LEASE_LAPSE_GRACE'],
  ];
  for (const [name, patch, variable] of bad) {
    it(`names the variable: ${name}`, () => {
      assert.deepEqual(errorsOf(() => gatewayConfigFromEnv({ ...GOOD, ...patch })), [variable]);
    });
  }

  it('HAWSER_RELEASE_ON_STOP (unset: decided from the Node) and HAWSER_LEASE_LAPSE_GRACE (seconds, default 0) are gateway settings', () => {
    const d = gatewayConfigFromEnv(GOOD);
    assert.equal(d.releaseOnStop, undefined);
    assert.equal(d.leaseLapseGraceMs, 0);
    const c = gatewayConfigFromEnv({ ...GOOD, HAWSER_RELEASE_ON_STOP: 'F', HAWSER_LEASE_LAPSE_GRACE: '2.5' });
    assert.equal(c.releaseOnStop, false);
    assert.equal(c.leaseLapseGraceMs, 2500);
    assert.equal(gatewayConfigFromEnv({ ...GOOD, HAWSER_RELEASE_ON_STOP: 'true' }).releaseOnStop, true);
  });

  it('reports every bad variable at once', () => {
    const vars = errorsOf(() => gatewayConfigFromEnv({ ...GOOD, SUBMARINER_NATENABLED: 'x', CE_IPSEC_IKEPORT: '-1' }));
    assert.deepEqual(vars.sort(), ['CE_IPSEC_IKEPORT', 'SUBMARINER_NATENABLED']);
  });

  it('reads 0 as the default for the health-check integers, as Submariner does', () => {
    const c = gatewayConfigFromEnv({ ...GOOD, SUBMARINER_HEALTHCHECKINTERVAL: '0', SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT: '0' });
    assert.deepEqual(c.healthCheck, { enabled: true, intervalMs: 1000, maxPacketLossCount: 5 });
  });

  it('does not need a PSK for the vxlan driver', () => {
    const c = gatewayConfigFromEnv({ ...GOOD, SUBMARINER_CABLEDRIVER: 'vxlan', CE_IPSEC_PSK: undefined });
    assert.equal(c.cableDriver, 'vxlan');
  });
});

describe('config: route agent and globalnet environment', () => {
  it('route agent needs no broker or PSK', () => {
    const c = routeAgentConfigFromEnv({ SUBMARINER_NAMESPACE: 'ns', SUBMARINER_CLUSTERID: 'a', NODE_NAME: 'n', SUBMARINER_CLUSTERCIDR: '10.0.0.0/16', SUBMARINER_SERVICECIDR: '10.1.0.0/16' });
    assert.equal(c.role, 'route-agent');
    assert.deepEqual(c.healthCheck, { enabled: true, intervalMs: 1000, maxPacketLossCount: 5 });
  });
  it('globalnet requires the global CIDR and uses port 32781', () => {
    assert.deepEqual(errorsOf(() => globalnetConfigFromEnv({ SUBMARINER_NAMESPACE: 'ns', SUBMARINER_CLUSTERID: 'a', NODE_NAME: 'n' })), ['SUBMARINER_GLOBALCIDR']);
    const c = globalnetConfigFromEnv({ SUBMARINER_NAMESPACE: 'ns', SUBMARINER_CLUSTERID: 'a', NODE_NAME: 'n', SUBMARINER_GLOBALCIDR: '242.0.0.0/16' });
    assert.equal(c.metricsPort, 32781);
    assert.equal(c.election.leaseDurationMs, 20000);
  });
});

describe('config: CIDR parsing', () => {
  it('canonicalizes host bits and rejects junk', () => {
    assert.equal(parseCidr('10.1.2.3/16')?.text, '10.1.0.0/16');
    assert.equal(parseCidr('fd00::/64')?.family, 6);
    assert.equal(parseCidr('300.1.1.1/8'), undefined);
    assert.equal(parseCidr('10.0.0.0'), undefined);
  });
});
