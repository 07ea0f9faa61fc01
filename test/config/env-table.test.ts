// Every variable Submariner's gateway, route agent and globalnet read is in hawser's table, and each one
// is honoured (read into the config) or, when set to something hawser does not do, warned about or
// rejected with a message that names it.
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SUBMARINER_ENV, checkSubmarinerEnv, type EnvRole } from '../../src/config/env-table.js';
import { gatewayConfigFromEnv, globalnetConfigFromEnv, routeAgentConfigFromEnv } from '../../src/config/roles.js';
import { ConfigError, ConfigErrors } from '../../src/config/parse.js';

// Taken from Submariner's source at 5b70b1e4 (0.19) and devel 2026-03 (see src/config/env-table.ts for files):
// envconfig upper-cases field names under the prefix (split_words only for HaltOnCertError).
const SUBMARINER_READS: Record<EnvRole, string[]> = {
  gateway: [
    // pkg/types/types.go SubmarinerSpecification
    'SUBMARINER_CLUSTERCIDR', 'SUBMARINER_GLOBALCIDR', 'SUBMARINER_SERVICECIDR', 'SUBMARINER_BROKER', 'SUBMARINER_CABLEDRIVER',
    'SUBMARINER_CLUSTERID', 'SUBMARINER_NAMESPACE', 'SUBMARINER_PUBLICIP', 'SUBMARINER_TOKEN', 'SUBMARINER_DEBUG', 'SUBMARINER_NATENABLED',
    'SUBMARINER_HEALTHCHECKENABLED', 'SUBMARINER_UNINSTALL', 'SUBMARINER_HALT_ON_CERT_ERROR', 'SUBMARINER_HEALTHCHECKINTERVAL',
    'SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT', 'SUBMARINER_METRICSPORT',
    // main.go leaderConfig; pkg/gateway/gateway.go
    'LEADERSHIP_LEASEDURATION', 'LEADERSHIP_RENEWDEADLINE', 'LEADERSHIP_RETRYPERIOD', 'AIR_GAPPED_DEPLOYMENT',
    // pkg/cable/libreswan + wireguard specification, local_endpoint.go, preferred_server.go
    'CE_IPSEC_DEBUG', 'CE_IPSEC_FORCEENCAPS', 'CE_IPSEC_PSK', 'CE_IPSEC_PSKSECRET', 'CE_IPSEC_LOGFILE', 'CE_IPSEC_NATTPORT',
    'CE_IPSEC_PREFERREDSERVER', 'CE_IPSEC_AUTHMODE',
    // admiral syncer/broker
    'BROKER_K8S_APISERVER', 'BROKER_K8S_APISERVERTOKEN', 'BROKER_K8S_REMOTENAMESPACE', 'BROKER_K8S_INSECURE', 'BROKER_K8S_CA', 'BROKER_K8S_SECRET',
    // pkg/node, pkg/pod
    'NODE_NAME', 'POD_NAME',
  ],
  'route-agent': [
    // routeagent_driver/environment/env.go Specification + SubmarinerSpecification + main.go
    'SUBMARINER_CLUSTERID', 'SUBMARINER_NAMESPACE', 'SUBMARINER_CLUSTERCIDR', 'SUBMARINER_SERVICECIDR', 'SUBMARINER_GLOBALCIDR',
    'SUBMARINER_PROFILEPORT', 'SUBMARINER_UNINSTALL', 'SUBMARINER_WAITFORNODE', 'SUBMARINER_NETWORKPLUGIN', 'SUBMARINER_INTRAROUTINGDISABLED',
    'SUBMARINER_HEALTHCHECKENABLED', 'SUBMARINER_HEALTHCHECKINTERVAL', 'SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT', 'SUBMARINER_DEBUG',
    'OVN_PK', 'OVN_CERT', 'OVN_CA', 'NODE_NAME', 'POD_NAME',
  ],
  // pkg/globalnet/controllers/types.go Specification
  globalnet: ['SUBMARINER_CLUSTERID', 'SUBMARINER_NAMESPACE', 'SUBMARINER_GLOBALCIDR', 'SUBMARINER_METRICSPORT', 'SUBMARINER_UNINSTALL', 'NODE_NAME'],
};

const GW = {
  SUBMARINER_NAMESPACE: 'submariner-operator', SUBMARINER_CLUSTERID: 'cluster-a', NODE_NAME: 'node-1',
  SUBMARINER_CLUSTERCIDR: '10.42.0.0/16', SUBMARINER_SERVICECIDR: '10.43.0.0/16', SUBMARINER_CABLEDRIVER: 'wireguard',
  CE_IPSEC_PSK: 'c2VjcmV0LXBzay10ZXh0', BROKER_K8S_APISERVER: '10.0.0.1:6443', BROKER_K8S_APISERVERTOKEN: 'tok-123456',
  BROKER_K8S_REMOTENAMESPACE: 'submariner-k8s-broker',
};
const RA = { SUBMARINER_NAMESPACE: 'submariner-operator', SUBMARINER_CLUSTERID: 'cluster-a', NODE_NAME: 'node-1', SUBMARINER_CLUSTERCIDR: '10.42.0.0/16', SUBMARINER_SERVICECIDR: '10.43.0.0/16' };

function variablesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigErrors) return err.errors.map((e) => e.variable);
    if (err instanceof ConfigError) return [err.variable];
    throw err;
  }
  return [];
}

describe('config: the table of Submariner environment variables', () => {
  for (const [role, names] of Object.entries(SUBMARINER_READS) as Array<[EnvRole, string[]]>) {
    it(`lists every variable Submariner's ${role} reads`, () => {
      const missing = names.filter((n) => !SUBMARINER_ENV.some((e) => e.name === n && e.roles.includes(role)));
      assert.deepEqual(missing, []);
    });
  }

  it('has one row per variable, each with a note', () => {
    const names = SUBMARINER_ENV.map((e) => e.name);
    assert.equal(new Set(names).size, names.length);
    for (const e of SUBMARINER_ENV) assert.ok(e.note.length > 5, e.name);
    for (const e of SUBMARINER_ENV.filter((x) => x.handling !== 'honoured')) assert.ok(e.check, `${e.name} is ${e.handling} but has no check`);
  });

  // One value per not-fully-honoured variable that hawser does not act on: the warning or error names it.
  const notHonoured: Array<[string, string, EnvRole, 'warn' | 'error']> = [
    ['SUBMARINER_HALT_ON_CERT_ERROR', 'true', 'gateway', 'warn'],
    ['SUBMARINER_TOKEN', 'x', 'gateway', 'warn'],
    ['SUBMARINER_BROKER', 'etcd', 'gateway', 'error'],
    ['CE_IPSEC_AUTHMODE', 'cert', 'gateway', 'error'],
    ['CE_IPSEC_AUTHMODE', 'rsa', 'gateway', 'error'],
    ['CE_IPSEC_LOGFILE', '/var/log/pluto.log', 'gateway', 'warn'],
    ['SUBMARINER_NETWORKPLUGIN', 'OVNKubernetes', 'route-agent', 'warn'],
    ['SUBMARINER_INTRAROUTINGDISABLED', 'true', 'route-agent', 'warn'],
    ['SUBMARINER_PROFILEPORT', '32782', 'route-agent', 'warn'],
    ['SUBMARINER_WAITFORNODE', 'true', 'route-agent', 'error'],
    ['OVN_PK', '/etc/ovn/k.pem', 'route-agent', 'warn'],
  ];
  for (const [name, value, role, kind] of notHonoured) {
    it(`${name}=${value}: ${kind === 'warn' ? 'warns' : 'is rejected'}, naming it`, () => {
      const base = role === 'gateway' ? GW : RA;
      const env = { ...base, [name]: value };
      if (kind === 'error') {
        assert.deepEqual(role === 'gateway' ? variablesOf(() => gatewayConfigFromEnv(env)) : variablesOf(() => routeAgentConfigFromEnv(env)), [name]);
        const msg = checkSubmarinerEnv(env, role).errors[0]?.message ?? '';
        assert.ok(msg.startsWith(`${name}:`), msg);
      } else {
        const cfg = role === 'gateway' ? gatewayConfigFromEnv(env) : routeAgentConfigFromEnv(env);
        assert.equal(cfg.warnings.length, 1);
        assert.match(cfg.warnings[0]!, new RegExp(name));
      }
    });
  }

  const harmless: Array<[string, string, EnvRole]> = [
    ['CE_IPSEC_AUTHMODE', 'psk', 'gateway'], ['SUBMARINER_BROKER', 'k8s', 'gateway'], ['SUBMARINER_HALT_ON_CERT_ERROR', 'false', 'gateway'],
    ['SUBMARINER_NETWORKPLUGIN', 'generic', 'route-agent'], ['SUBMARINER_INTRAROUTINGDISABLED', 'false', 'route-agent'], ['SUBMARINER_WAITFORNODE', 'false', 'route-agent'],
  ];
  for (const [name, value, role] of harmless) {
    it(`${name}=${value} is accepted silently`, () => {
      const cfg = role === 'gateway' ? gatewayConfigFromEnv({ ...GW, [name]: value }) : routeAgentConfigFromEnv({ ...RA, [name]: value });
      assert.deepEqual(cfg.warnings, []);
    });
  }
});

describe('config: Submariner variables hawser honours', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'hw-env-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('CE_IPSEC_PSKSECRET: base64 of the mounted psk file, winning over CE_IPSEC_PSK', () => {
    mkdirSync(join(root, 'var/run/secrets/submariner.io/submariner-ipsec-psk'), { recursive: true });
    const raw = Buffer.from([0x00, 0xff, 0x10, 0x41, 0x42]);
    writeFileSync(join(root, 'var/run/secrets/submariner.io/submariner-ipsec-psk/psk'), raw);
    const c = gatewayConfigFromEnv({ ...GW, CE_IPSEC_PSKSECRET: 'submariner-ipsec-psk' }, { secretsRoot: root });
    assert.equal(c.ipsec.psk, raw.toString('base64'));
    assert.equal(c.ipsec.pskSource, 'CE_IPSEC_PSKSECRET');
    const noPsk: Record<string, string | undefined> = { ...GW, CE_IPSEC_PSK: undefined, CE_IPSEC_PSKSECRET: 'submariner-ipsec-psk' };
    assert.equal(gatewayConfigFromEnv(noPsk, { secretsRoot: root }).ipsec.psk, raw.toString('base64'));
  });

  it('CE_IPSEC_PSK with surrounding whitespace: trimmed, with a warning naming it (Submariner would hash it as is)', () => {
    const c = gatewayConfigFromEnv({ ...GW, CE_IPSEC_PSK: 'c2VjcmV0\n' });
    assert.equal(c.ipsec.psk, 'c2VjcmV0');
    assert.equal(c.warnings.length, 1);
    assert.match(c.warnings[0]!, /^CE_IPSEC_PSK has leading or trailing whitespace/);
  });

  it('CE_IPSEC_PSKSECRET naming a Secret that is not mounted: an error naming the variable and the path', () => {
    const errs = variablesOf(() => gatewayConfigFromEnv({ ...GW, CE_IPSEC_PSKSECRET: 'nope' }, { secretsRoot: root }));
    assert.deepEqual(errs, ['CE_IPSEC_PSKSECRET']);
    assert.throws(() => gatewayConfigFromEnv({ ...GW, CE_IPSEC_PSKSECRET: 'nope' }, { secretsRoot: root }), /var\/run\/secrets\/submariner\.io\/nope\/psk/);
  });

  it('BROKER_K8S_SECRET: token and ca.crt files are tried before the variables; the token variable is then optional', () => {
    const dir = join(root, 'run/secrets/submariner.io/broker-secret');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'token'), 'file-token\n');
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    writeFileSync(join(dir, 'ca.crt'), pem);
    const c = gatewayConfigFromEnv({ ...GW, BROKER_K8S_SECRET: 'broker-secret' }, { secretsRoot: root });
    assert.equal(c.broker.token, 'file-token');
    assert.equal(c.broker.tokenSource, 'BROKER_K8S_SECRET');
    assert.equal(c.broker.ca, pem.trim());
    const without: Record<string, string | undefined> = { ...GW, BROKER_K8S_APISERVERTOKEN: undefined, BROKER_K8S_SECRET: 'broker-secret' };
    assert.equal(gatewayConfigFromEnv(without, { secretsRoot: root }).broker.token, 'file-token');
    // A secret without a token file falls back to the variable, and with neither the error names the secret.
    assert.equal(gatewayConfigFromEnv({ ...GW, BROKER_K8S_SECRET: 'missing' }, { secretsRoot: root }).broker.tokenSource, 'BROKER_K8S_APISERVERTOKEN');
    assert.deepEqual(variablesOf(() => gatewayConfigFromEnv({ ...GW, BROKER_K8S_APISERVERTOKEN: undefined, BROKER_K8S_SECRET: 'missing' }, { secretsRoot: root })), ['BROKER_K8S_SECRET']);
  });

  it('LEADERSHIP_*: Submariner\'s seconds, unset ones take Submariner\'s defaults; HAWSER_* overrides', () => {
    assert.deepEqual(pickTimings(gatewayConfigFromEnv(GW).election), [2000, 1500, 250]);
    assert.deepEqual(pickTimings(gatewayConfigFromEnv({ ...GW, LEADERSHIP_LEASEDURATION: '20' }).election), [20000, 10000, 2000]);
    assert.deepEqual(pickTimings(gatewayConfigFromEnv({ ...GW, LEADERSHIP_LEASEDURATION: '30', LEADERSHIP_RENEWDEADLINE: '20', LEADERSHIP_RETRYPERIOD: '5' }).election), [30000, 20000, 5000]);
    assert.deepEqual(pickTimings(gatewayConfigFromEnv({ ...GW, LEADERSHIP_LEASEDURATION: '30', HAWSER_LEASE_DURATION: '3', HAWSER_RENEW_DEADLINE: '2', HAWSER_RETRY_PERIOD: '0.5' }).election), [3000, 2000, 500]);
    assert.deepEqual(variablesOf(() => gatewayConfigFromEnv({ ...GW, LEADERSHIP_LEASEDURATION: '5', LEADERSHIP_RENEWDEADLINE: '8' })), ['LEADERSHIP_RENEWDEADLINE']);
    assert.deepEqual(variablesOf(() => gatewayConfigFromEnv({ ...GW, LEADERSHIP_RETRYPERIOD: 'soon' })), ['LEADERSHIP_RETRYPERIOD']);
  });

  it('SUBMARINER_PUBLICIP and AIR_GAPPED_DEPLOYMENT are read; a bad resolver chain names the variable', () => {
    const c = gatewayConfigFromEnv({ ...GW, SUBMARINER_PUBLICIP: 'lb:submariner-gateway,ipv4:203.0.113.9', AIR_GAPPED_DEPLOYMENT: 'true' });
    assert.equal(c.publicIP, 'lb:submariner-gateway,ipv4:203.0.113.9');
    assert.equal(c.airGapped, true);
    assert.deepEqual(variablesOf(() => gatewayConfigFromEnv({ ...GW, SUBMARINER_PUBLICIP: 'ftp:x' })), ['SUBMARINER_PUBLICIP']);
  });

  it('SUBMARINER_UNINSTALL: gateway, route agent (no CIDRs needed) and globalnet see it', () => {
    assert.equal(gatewayConfigFromEnv({ ...GW, SUBMARINER_UNINSTALL: 'true' }).uninstall, true);
    const ra = routeAgentConfigFromEnv({ SUBMARINER_NAMESPACE: 'submariner-operator', SUBMARINER_CLUSTERID: 'c', NODE_NAME: 'n', SUBMARINER_UNINSTALL: 'true' });
    assert.equal(ra.uninstall, true);
    assert.equal(routeAgentConfigFromEnv(RA).uninstall, false);
    assert.equal(globalnetConfigFromEnv({ ...RA, SUBMARINER_GLOBALCIDR: '242.0.0.0/16', SUBMARINER_UNINSTALL: 'true' }).uninstall, true);
  });
});

function pickTimings(t: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number }): number[] {
  return [t.leaseDurationMs, t.renewDeadlineMs, t.retryPeriodMs];
}

describe('README: the Submariner environment table', () => {
  it('has a row for every variable of src/config/env-table.ts, with its handling', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Submariner compatibility'));
    for (const e of SUBMARINER_ENV) assert.ok(section.includes(`| \`${e.name}\` | ${e.roles.join(', ')} | ${e.handling} |`), `${e.name} in the README`);
  });
});
