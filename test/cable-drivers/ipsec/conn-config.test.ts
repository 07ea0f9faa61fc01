// The load-conn message as a pure function of (local, remote, NAT, settings), compared as text.
import assert from 'node:assert/strict';
import { connPlanToText, operationMode, parseGoBool, planConn, type IpsecConnSettings } from '../../../src/cable-drivers/ipsec/index.js';
import { isHawserError } from '../../../src/util/errors.js';
import { parseEndpointSpec, type EndpointSpec } from '../../../src/k8s/resources.js';

function ep(o: Record<string, unknown>): EndpointSpec {
  const r = parseEndpointSpec({ backend: 'libreswan', hostname: 'gw', nat_enabled: false, ...o });
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

const EAST = ep({ cluster_id: 'east', cable_name: 'submariner-cable-east-192-168-1-10', subnets: ['10.42.0.0/16', '10.43.0.0/16'], private_ip: '192.168.1.10', public_ip: '203.0.113.10' });
const WEST = ep({ cluster_id: 'west', cable_name: 'submariner-cable-west-172-16-0-5', subnets: ['10.52.0.0/16'], private_ip: '172.16.0.5', public_ip: '198.51.100.5', backend_config: { 'udp-port': '4501' } });
const SETTINGS: IpsecConnSettings = { nattPort: 4500, forceEncaps: false, preferredServer: false, userspace: true };

/** The plan text without its digest (a hash is not something to write by hand). */
function text(local: EndpointSpec, remote: EndpointSpec, useIP: string, useNAT: boolean, settings: Partial<IpsecConnSettings> = {}): string {
  return connPlanToText(planConn({ local, remote, nat: { useIP, useNAT }, settings: { ...SETTINGS, ...settings } })).replace(/, digest [0-9a-f]+/, '');
}

const G = 'modp2048-ecp256-modp3072-ecp384-ecp521-curve25519-modp4096';
const IKE = `proposals = [aes256gcm16-aes128gcm16-prfsha256-prfsha384-prfsha512-${G}, aes256-aes128-sha256-sha384-sha512-${G}]`;
const ESP = `esp_proposals = [aes256gcm16-aes128gcm16-${G}, aes256-aes128-sha256-sha512-${G}, aes256gcm16-aes128gcm16]`;

describe('ipsec connection config (load-conn rendering)', () => {
  it('bidirectional through NAT: private-IP identities, NAT-T ports, forced encapsulation, one child per subnet pair', () => {
    assert.equal(text(EAST, WEST, '198.51.100.5', true), `# submariner-cable-west-172-16-0-5: mode bidirectional, initiates, 2 child SA(s)
load-conn submariner-cable-west-172-16-0-5 {
  version = 2
  local_addrs = [192.168.1.10]
  remote_addrs = [198.51.100.5]
  local_port = 4500
  remote_port = 4501
  ${IKE}
  encap = yes
  mobike = no
  fragmentation = yes
  dpd_delay = 30s
  keyingtries = 1
  unique = never
  send_certreq = no
  local {
    auth = psk
    id = 192.168.1.10
  }
  remote {
    auth = psk
    id = 172.16.0.5
  }
  children {
    submariner-cable-west-172-16-0-5-0-0 {
      mode = tunnel
      local_ts = [10.42.0.0/16]
      remote_ts = [10.52.0.0/16]
      ${ESP}
      dpd_action = trap
      start_action = trap
      close_action = none
    }
    submariner-cable-west-172-16-0-5-1-0 {
      mode = tunnel
      local_ts = [10.43.0.0/16]
      remote_ts = [10.52.0.0/16]
      ${ESP}
      dpd_action = trap
      start_action = trap
      close_action = none
    }
  }
}`);
  });

  it('without NAT encapsulation is left to NAT detection, unless CE_IPSEC_FORCEENCAPS', () => {
    assert.match(text(EAST, WEST, '172.16.0.5', false), /\n {2}encap = no\n/);
    assert.match(text(EAST, WEST, '172.16.0.5', false, { forceEncaps: true }), /\n {2}encap = yes\n/);
    assert.match(text(EAST, WEST, '172.16.0.5', false), /remote_addrs = \[172\.16\.0\.5\]/);
  });

  it('ports: the local Endpoint udp-port, else CE_IPSEC_NATTPORT; the remote udp-port, else CE_IPSEC_NATTPORT', () => {
    const local = ep({ ...wire(EAST), backend_config: { 'udp-port': '4600' } });
    const remote = ep({ ...wire(WEST), backend_config: {} });
    const t = text(local, remote, '172.16.0.5', false, { nattPort: 4444 });
    assert.match(t, /local_port = 4600\n {2}remote_port = 4444\n/);
  });

  it('preferred-server: the server waits for anyone, the client initiates; ties broken by cable name', () => {
    const serverLocal = ep({ ...wire(EAST), backend_config: { 'preferred-server': 'true' } });
    const plainRemote = ep({ ...wire(WEST), backend_config: { 'preferred-server': 'false' } });
    const s = text(serverLocal, plainRemote, '172.16.0.5', false);
    assert.match(s, /mode server, waits for the peer/);
    assert.match(s, /remote_addrs = \[%any\]/);
    assert.match(s, /dpd_action = clear\n {6}start_action = none/);
    // libreswan's server/client mode: one IKE connection per subnet pair, FQDN identities @<ip>-<i>-<j>
    assert.match(s, /load-conn submariner-cable-west-172-16-0-5-0-0 \{[^]*id = @192\.168\.1\.10-0-0\n[^]*id = @172\.16\.0\.5-0-0\n/);
    assert.match(s, /load-conn submariner-cable-west-172-16-0-5-1-0 \{[^]*id = @192\.168\.1\.10-1-0\n[^]*id = @172\.16\.0\.5-0-1\n/);
    const plan = planConn({ local: serverLocal, remote: plainRemote, nat: { useIP: '172.16.0.5', useNAT: false }, settings: SETTINGS });
    assert.deepEqual(plan.ikeConns.map((c) => `${c.name}: ${c.localId} ${c.remoteId} [${c.children.map((x) => x.name).join()}]`), [
      'submariner-cable-west-172-16-0-5-0-0: @192.168.1.10-0-0 @172.16.0.5-0-0 [submariner-cable-west-172-16-0-5-0-0]',
      'submariner-cable-west-172-16-0-5-1-0: @192.168.1.10-1-0 @172.16.0.5-0-1 [submariner-cable-west-172-16-0-5-1-0]',
    ]);
    const serverRemote = ep({ ...wire(WEST), backend_config: { 'preferred-server': 'true' } });
    assert.match(text(EAST, serverRemote, '172.16.0.5', false), /mode client, initiates/);
    // both want to serve: the greater cable name serves
    assert.equal(operationMode(serverLocal, serverRemote, false), 'client'); // "...east..." < "...west..."
    assert.equal(operationMode(serverRemote, serverLocal, false), 'server');
    // CE_IPSEC_PREFERREDSERVER counts as the local flag; a remote without the key means bidirectional
    assert.equal(operationMode(EAST, plainRemote, true), 'server');
    // a remote without the key counts as false (Submariner's preferred_server.go): we serve
    assert.equal(operationMode(EAST, WEST, true), 'server');
    assert.equal(operationMode(EAST, WEST, false), 'bidirectional');
  });

  it('skips subnets that are invalid, of the other family, or exactly "<ip>/" (ExtractSubnetsExcludingIP), and says so', () => {
    const local = ep({ ...wire(EAST), subnets: ['10.42.0.0/16', 'fd00::/64', '172.16.0.0/12'] });
    const remote = ep({ ...wire(WEST), subnets: ['172.16.0.5/32', '10.52.0.0/16', 'not-a-cidr'] });
    const plan = planConn({ local, remote, nat: { useIP: '172.16.0.5', useNAT: false }, settings: SETTINGS });
    // 172.16.0.0/12 contains the peer's address and stays, as in Submariner (the route agent routes it via the gateway)
    assert.deepEqual(plan.children.map((c) => `${c.name} ${c.localTs} ${c.remoteTs}`), [
      'submariner-cable-west-172-16-0-5-0-0 10.42.0.0/16 10.52.0.0/16',
      'submariner-cable-west-172-16-0-5-1-0 172.16.0.0/12 10.52.0.0/16',
    ]);
    assert.deepEqual(plan.notes, [
      'local subnet fd00::/64 is IPv6, the cable is IPv4: skipped',
      'remote (submariner-cable-west-172-16-0-5) subnet 172.16.0.5/32 is the address 172.16.0.5 itself: skipped (as Submariner does)',
      'remote (submariner-cable-west-172-16-0-5) subnet not-a-cidr is not a valid CIDR: skipped',
    ]);
  });

  it('rejects what cannot work with an error that says what to fix', () => {
    const bad = (f: () => unknown, re: RegExp): void => assert.throws(f, (e: unknown) => isHawserError(e, 'INVALID') && re.test(e.message));
    bad(() => planConn({ local: EAST, remote: ep({ ...wire(WEST), backend: 'wireguard' }), nat: { useIP: '172.16.0.5', useNAT: false }, settings: SETTINGS }), /uses the "wireguard" cable driver.*SUBMARINER_CABLEDRIVER/);
    bad(() => planConn({ local: EAST, remote: ep({ ...wire(WEST), subnets: [] }), nat: { useIP: '172.16.0.5', useNAT: false }, settings: SETTINGS }), /publishes no usable IPv4 subnet/);
    bad(() => planConn({ local: ep({ ...wire(EAST), subnets: [] }), remote: WEST, nat: { useIP: '172.16.0.5', useNAT: false }, settings: SETTINGS }), /SUBMARINER_CLUSTERCIDR/);
    bad(() => planConn({ local: EAST, remote: ep({ ...wire(WEST), cable_name: 'bad name"' }), nat: { useIP: '172.16.0.5', useNAT: false }, settings: SETTINGS }), /not usable as an IPsec connection name/);
    bad(() => planConn({ local: EAST, remote: WEST, nat: { useIP: 'nowhere', useNAT: false }, settings: SETTINGS }), /no usable address/);
  });

  it('the digest changes with anything that matters and only then', () => {
    const h = (nat: boolean, s: Partial<IpsecConnSettings> = {}): string => planConn({ local: EAST, remote: WEST, nat: { useIP: '172.16.0.5', useNAT: nat }, settings: { ...SETTINGS, ...s } }).hash;
    assert.equal(h(false), h(false));
    assert.notEqual(h(false), h(true));
    assert.notEqual(h(false), h(false, { nattPort: 4600 }));
    assert.equal(h(false), h(false, { userspace: false }), 'the data path does not change the connection');
  });

  it('a client reconnects when the server\'s preferred-server-timestamp changes; nobody else does', () => {
    const server = (ts: string): EndpointSpec => ep({ ...wire(WEST), backend_config: { 'preferred-server': 'true', 'preferred-server-timestamp': ts } });
    const h = (local: EndpointSpec, remote: EndpointSpec): string => planConn({ local, remote, nat: { useIP: '172.16.0.5', useNAT: false }, settings: SETTINGS }).hash;
    assert.notEqual(h(EAST, server('1700000000')), h(EAST, server('1700000100')), 'client: new server start → new digest → SAs replaced');
    assert.equal(h(EAST, server('1700000000')), h(EAST, server('1700000000')));
    const localServer = ep({ ...wire(EAST), backend_config: { 'preferred-server': 'true' } });
    const plainRemote = (ts: string): EndpointSpec => ep({ ...wire(WEST), backend_config: { 'preferred-server': 'false', 'preferred-server-timestamp': ts } });
    assert.equal(h(localServer, plainRemote('1')), h(localServer, plainRemote('2')), 'a server ignores it');
  });

  it('reads preferred-server as Go strconv.ParseBool does', () => {
    assert.deepEqual(['1', 't', 'TRUE', 'True', 'true', '0', 'F', 'false', 'yes', ''].map(parseGoBool), [true, true, true, true, true, false, false, false, undefined, undefined]);
  });
});

function wire(e: EndpointSpec): Record<string, unknown> {
  return { cluster_id: e.clusterId, cable_name: e.cableName, subnets: e.subnets, private_ip: e.privateIP, public_ip: e.publicIP, backend_config: e.backendConfig };
}
