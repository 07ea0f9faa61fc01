// Pure parts of the IPsec driver: connection status from list-sas, failure classification from charon's
// log lines, charon's strongswan.conf and the adoption state file.
import assert from 'node:assert/strict';
import { charonPlugins, classifyCharonLog, noteCharonContext, observeConnection, preferFailure, renderStrongswanConf } from '../../../src/cable-drivers/ipsec/index.js';
import { emptyState, parseState, renderState } from '../../../src/cable-drivers/ipsec/state-file.js';
import type { ChildSa, IkeSa } from '../../../src/cable-drivers/ipsec/vici/index.js';
import { parseEndpointSpec } from '../../../src/k8s/resources.js';

function child(name: string, state: string, bytesIn = 0, bytesOut = 0): ChildSa {
  return {
    key: `${name}-1`, name, uniqueId: '1', state, mode: 'TUNNEL', protocol: 'ESP', encap: true, spiIn: 'a', spiOut: 'b', encrAlg: 'AES_GCM_16',
    integAlg: '', bytesIn, bytesOut, packetsIn: 0, packetsOut: 0, localTs: [], remoteTs: [],
  };
}

function ike(name: string, state: string, children: ChildSa[], extra: Partial<IkeSa> = {}): IkeSa {
  return {
    name, uniqueId: '1', version: 2, state, localHost: '10.0.0.1', localId: '10.0.0.1', remoteHost: '10.0.0.2', remoteId: '10.0.0.2',
    initiator: true, initiatorSpi: 'x', responderSpi: 'y', natLocal: false, natRemote: false, natFake: false, natAny: false, encrAlg: '',
    integAlg: '', prfAlg: '', dhGroup: '', tasksQueued: [], tasksActive: [], tasksPassive: [], children, ...extra,
  };
}

const EXP = { name: 'cable-b', children: ['cable-b-0-0', 'cable-b-1-0'], initiate: true, peer: '10.0.0.2', port: 4500 };
const CTX = { cable: 'cable-b', peer: '10.0.0.2', port: 4500, localId: '10.0.0.1', remoteIds: ['10.0.0.2'], localPreferredServer: false };

describe('ipsec connection state', () => {
  it('connected when every child SA is up, summing bytes over duplicate SAs from both sides initiating', () => {
    const sas = [
      ike('cable-b', 'ESTABLISHED', [child('cable-b-0-0', 'INSTALLED', 100, 200), child('cable-b-1-0', 'INSTALLED', 1, 2)], { established: 10 }),
      ike('cable-b', 'ESTABLISHED', [child('cable-b-0-0', 'INSTALLED', 5, 5)], { established: 3, initiator: false }),
      ike('cable-c', 'ESTABLISHED', [child('cable-c-0-0', 'INSTALLED', 1000, 1000)]),
    ];
    const o = observeConnection(EXP, sas, undefined, 100_000);
    assert.equal(o.status, 'connected');
    assert.equal(o.statusMessage, '');
    assert.equal(o.rxBytes, 106);
    assert.equal(o.txBytes, 207);
    assert.equal(o.establishedMs, 100_000 - 3_000, 'the newest IKE_SA');
  });

  it('connecting, with what it waits for', () => {
    const partial = observeConnection(EXP, [ike('cable-b', 'ESTABLISHED', [child('cable-b-0-0', 'INSTALLED')])], undefined, 0);
    assert.equal(partial.status, 'connecting');
    assert.equal(partial.statusMessage, '1 of 2 child SAs up; waiting for cable-b-1-0');
    assert.deepEqual(partial.missingChildren, ['cable-b-1-0']);
    const nego = observeConnection(EXP, [ike('cable-b', 'CONNECTING', [])], undefined, 0);
    assert.equal(nego.statusMessage, 'IKE negotiation with 10.0.0.2:4500 in progress');
    assert.equal(nego.negotiating, true);
    assert.equal(observeConnection(EXP, [], undefined, 0).statusMessage, 'initiating IKE to 10.0.0.2:4500');
    assert.equal(observeConnection({ ...EXP, initiate: false }, [], undefined, 0).statusMessage, 'waiting for 10.0.0.2 to initiate (this gateway is the preferred server)');
    // SAs on their way out do not count
    assert.equal(observeConnection(EXP, [ike('cable-b', 'DELETING', [child('cable-b-0-0', 'INSTALLED'), child('cable-b-1-0', 'INSTALLED')])], undefined, 0).status, 'connecting');
  });

  it('error with the failure message while not connected; connected wins over an old failure', () => {
    const f = classifyCharonLog('received AUTHENTICATION_FAILED notify error', CTX, 1);
    assert.ok(f, 'classified');
    assert.equal(observeConnection(EXP, [], f, 0).status, 'error');
    assert.match(observeConnection(EXP, [], f, 0).statusMessage, /pre-shared key differs/);
    const up = [ike('cable-b', 'ESTABLISHED', [child('cable-b-0-0', 'INSTALLED'), child('cable-b-1-0', 'REKEYING')])];
    assert.equal(observeConnection(EXP, up, f, 0).status, 'connected');
  });

  it('classifies charon 5.9 log lines into actionable failures', () => {
    const cases: Array<[string, string | undefined, RegExp?]> = [
      ["tried 1 shared key for '10.0.0.1' - '10.0.0.2', but MAC mismatched", 'psk-mismatch', /pre-shared key mismatch with 10\.0\.0\.2 .*CE_IPSEC_PSK/],
      ['received AUTHENTICATION_FAILED notify error', 'auth-rejected', /AUTHENTICATION_FAILED.*CE_IPSEC_PSK.*we sent 10\.0\.0\.1 and expect 10\.0\.0\.2.*preferred-server here false, on the peer not published \(counts as false\)/],
      ["no shared key found for '10.0.0.1' - '10.0.0.2'", 'no-psk', /CE_IPSEC_PSK is missing/],
      ['no matching peer config found', 'identity', /identity mismatch.*expects 10\.0\.0\.2.*preferred-server/],
      ['received NO_PROPOSAL_CHOSEN notify error', 'proposal', /NO_PROPOSAL_CHOSEN/],
      ['received TS_UNACCEPTABLE notify, no CHILD_SA built', 'traffic-selectors', /CIDRs/],
      ['giving up after 4 retransmits', 'unreachable', /does not answer IKE on UDP 4500/],
      ['establishing IKE_SA failed, peer not responding', 'unreachable'],
      ['unable to install inbound and outbound IPsec SA (SAD) in kernel', 'kernel', /HAWSER_IPSEC_USERSPACE/],
      ['unable to add SAD entry with SPI c1f0a2b3', 'kernel'],
      ['sending DPD request', undefined],
      ['CHILD_SA cable-b-0-0{1} established with SPIs', undefined],
    ];
    for (const [line, kind, re] of cases) {
      const f = classifyCharonLog(line, CTX, 5);
      assert.equal(f?.kind, kind, line);
      if (re) assert.match(f!.message, re, line);
      if (f) assert.equal(f.detail, line);
    }
  });
});

describe('ipsec failure causes from the lines before them', () => {
  it('ESN: the peer proposes ESP without an ESN transform (libreswan 4.x as Submariner configures it)', () => {
    const recent = {};
    assert.ok(noteCharonContext('received proposals: ESP:AES_GCM_16_256, ESP:AES_GCM_16_128, ESP:AES_CBC_256/HMAC_SHA2_512_256/HMAC_SHA2_256_128', recent));
    assert.ok(noteCharonContext('configured proposals: ESP:AES_GCM_16_256/AES_GCM_16_128/MODP_2048/NO_EXT_SEQ, ESP:AES_GCM_16_256/AES_GCM_16_128/NO_EXT_SEQ', recent));
    const f = classifyCharonLog('no acceptable proposal found', { ...CTX, recent }, 1)!;
    assert.equal(f.kind, 'esn');
    assert.match(f.message, /because of ESN: the peer proposes ESP without an Extended Sequence Numbers transform \(ESP:AES_GCM_16_256,/);
    assert.match(f.message, /libreswan 5 or later.*--no-esn.*HAWSER_IPSEC_BACKEND=libreswan/);
    // as the initiator only the refusal is seen, after IKE is up
    assert.equal(classifyCharonLog('received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built', CTX, 1)?.kind, 'esn');
  });

  it('IKE: both sides\' proposals; identity: what was received vs expected', () => {
    const recent = {};
    noteCharonContext('received proposals: IKE:3DES_CBC/HMAC_MD5_96/PRF_HMAC_MD5/MODP_1024', recent);
    noteCharonContext('configured proposals: IKE:AES_GCM_16_256/PRF_HMAC_SHA2_256/MODP_2048', recent);
    const f = classifyCharonLog('received proposals unacceptable', { ...CTX, recent }, 1)!;
    assert.equal(f.kind, 'ike-proposal');
    assert.match(f.message, /it offers IKE:3DES_CBC.*hawser offers IKE:AES_GCM_16_256/);
    const r2 = {};
    noteCharonContext('looking for peer configs matching 198.18.2.2[%any]...198.18.1.2[10.0.0.2-0-0]', r2);
    const g = classifyCharonLog('no matching peer config found', { ...CTX, remoteIds: ['10.0.0.2'], remotePreferredServer: 'true', recent: r2 }, 1)!;
    assert.match(g.message, /presented identity 10\.0\.0\.2-0-0 but this gateway expects 10\.0\.0\.2 \(preferred-server here false, on the peer true/);
  });
});

describe('ipsec failure precedence', () => {
  it('a root cause is not hidden by its echo from the peer', () => {
    const kernel = classifyCharonLog('unable to install inbound and outbound IPsec SA (SAD) in kernel', CTX, 1000)!;
    const proposal = classifyCharonLog('received NO_PROPOSAL_CHOSEN notify error', CTX, 1500)!;
    assert.equal(preferFailure(kernel, proposal).kind, 'kernel');
    assert.equal(preferFailure(proposal, kernel).kind, 'kernel');
    assert.equal(preferFailure(kernel, { ...proposal, atMs: 20_000 }).kind, 'proposal', 'an old one ages out');
    assert.equal(preferFailure(undefined, proposal).kind, 'proposal');
  });
});

describe('ipsec charon configuration', () => {
  it('userspace: kernel-libipsec before kernel-netlink, routes in table 220, own socket and log', () => {
    const t = renderStrongswanConf({ viciSocket: '/run/h/charon.vici', logFile: '/run/h/charon.log', userspace: true, ikePort: 500, nattPort: 4500, debug: false });
    assert.match(t, /load = random nonce openssl aes sha1 sha2 hmac gcm kdf gmp kernel-libipsec kernel-netlink socket-default vici\n/);
    assert.match(t, /load_modular = no/);
    assert.match(t, /port = 500\n {2}port_nat_t = 4500\n/);
    assert.match(t, /install_routes = yes/);
    assert.match(t, /routing_table = 220\n {2}routing_table_prio = 220/);
    assert.match(t, /socket = unix:\/\/\/run\/h\/charon\.vici/);
    assert.match(t, /path = \/run\/h\/charon\.log/);
    for (const p of ['stroke', 'lookip', 'error-notify', 'updown', 'resolve']) assert.doesNotMatch(t, new RegExp(`load = .*\\b${p}\\b`));
  });

  it('kernel data path: no kernel-libipsec, no routes; equal IKE and NAT-T ports cannot both bind', () => {
    assert.deepEqual(charonPlugins(false).filter((p) => p.startsWith('kernel')), ['kernel-netlink']);
    const t = renderStrongswanConf({ viciSocket: '/s', logFile: '/l', userspace: false, ikePort: 4500, nattPort: 4500, debug: true });
    assert.match(t, /install_routes = no/);
    assert.match(t, /port = 0\n {2}port_nat_t = 4500/);
    assert.match(t, /default = 2/);
  });
});

describe('ipsec adoption state file', () => {
  it('round-trips and tolerates garbage', () => {
    const r = parseEndpointSpec({ cluster_id: 'b', cable_name: 'cable-b', hostname: 'gw-b', subnets: ['10.2.0.0/24'], private_ip: '10.0.0.2', public_ip: '10.0.0.2', nat_enabled: false, backend: 'libreswan' });
    assert.ok(r.ok, 'parsed');
    const s = emptyState(1234);
    s.conns.set('cable-b', { hash: 'abc', remote: r.value, nat: { useIP: '10.0.0.2', useNAT: false } });
    const back = parseState(renderState(s));
    assert.equal(back.charonPid, 1234);
    assert.deepEqual(back.conns.get('cable-b')?.nat, { useIP: '10.0.0.2', useNAT: false });
    assert.equal(back.conns.get('cable-b')?.remote.cableName, 'cable-b');
    assert.equal(parseState('{not json').conns.size, 0);
    assert.equal(parseState('{"version":1,"conns":{"x":{"hash":1}}}').conns.size, 0);
  });
});
