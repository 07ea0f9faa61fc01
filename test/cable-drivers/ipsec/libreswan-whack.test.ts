// hawser's libreswan back end issues the whack arguments Submariner's libreswan driver issues (fixture copied
// from Submariner's source), so a Submariner peer sees exactly a Submariner gateway; pluto log parsing.
import assert from 'node:assert/strict';
import { classifyPlutoLog, connOfLine, parseShowStates, parseTrafficStatus, planWhack, whackPlanToText } from '../../../src/cable-drivers/ipsec/libreswan/index.js';
import type { IpsecConnSettings } from '../../../src/cable-drivers/ipsec/index.js';
import { parseEndpointSpec, type EndpointSpec } from '../../../src/k8s/resources.js';
import { submarinerWhackCalls } from './fixtures/submariner-whack.js';

function ep(o: Record<string, unknown>): EndpointSpec {
  const r = parseEndpointSpec({ backend: 'libreswan', hostname: 'gw', nat_enabled: false, ...o });
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

const SETTINGS: IpsecConnSettings = { nattPort: 4500, forceEncaps: false, preferredServer: false, userspace: false };
const EAST = ep({ cluster_id: 'east', cable_name: 'submariner-cable-east-192-168-1-10', subnets: ['10.42.0.0/16', '10.43.0.0/16'], private_ip: '192.168.1.10', public_ip: '203.0.113.10', backend_config: { 'udp-port': '4500' } });
const WEST = ep({ cluster_id: 'west', cable_name: 'submariner-cable-west-172-16-0-5', subnets: ['10.52.0.0/16', '10.53.0.0/16'], private_ip: '172.16.0.5', public_ip: '198.51.100.5', backend_config: { 'udp-port': '4501' } });

function withPref(e: EndpointSpec, v: string): EndpointSpec {
  return { ...e, backendConfig: { ...e.backendConfig, 'preferred-server': v } };
}

/** hawser's calls in Submariner's order: --listen, then per connection add [+ --route, --initiate]. */
function hawserCalls(local: EndpointSpec, remote: EndpointSpec, useIP: string, useNAT: boolean): string[][] {
  const plan = planWhack({ local, remote, nat: { useIP, useNAT }, settings: SETTINGS });
  const calls: string[][] = [['--listen']];
  for (const c of plan.conns) {
    calls.push(c.add);
    if (c.initiate) calls.push(['--route', '--name', c.name], ['--initiate', '--asynchronous', '--name', c.name]);
  }
  return calls;
}

describe('ipsec libreswan back end: whack arguments', () => {
  for (const [mode, local, remote] of [
    ['bidirectional', withPref(EAST, 'false'), withPref(WEST, 'false')],
    ['server', withPref(EAST, 'true'), withPref(WEST, 'false')],
    ['client', withPref(EAST, 'false'), withPref(WEST, 'true')],
  ] as const) {
    for (const nat of [false, true]) {
      it(`${mode}${nat ? ' through NAT' : ''}: the same calls with the same arguments as Submariner's driver`, () => {
        const useIP = nat ? WEST.publicIP : WEST.privateIP;
        assert.deepEqual(hawserCalls(local, remote, useIP, nat), submarinerWhackCalls(local, remote, useIP, nat));
        assert.equal(planWhack({ local, remote, nat: { useIP, useNAT: nat }, settings: SETTINGS }).mode, mode);
      });
    }
  }

  it('adds --no-esn only towards a hawser peer on the strongSwan back end', () => {
    const plan = planWhack({ local: EAST, remote: { ...WEST, backendConfig: { ...WEST.backendConfig, 'hawser-ipsec-backend': 'strongswan' } }, nat: { useIP: WEST.privateIP, useNAT: false }, settings: SETTINGS });
    assert.ok(plan.noEsn, 'noEsn');
    assert.ok(plan.conns.every((c) => c.add.includes('--no-esn')), 'every connection has --no-esn');
    assert.match(whackPlanToText(plan), /^# submariner-cable-west-172-16-0-5: mode bidirectional, initiates, 4 connection\(s\), --no-esn/);
    assert.match(whackPlanToText(plan), /\nipsec whack --route --name submariner-cable-west-172-16-0-5-1-1\n/);
  });

  it('the digest changes with the arguments only', () => {
    const h = (l: EndpointSpec): string => planWhack({ local: l, remote: WEST, nat: { useIP: WEST.privateIP, useNAT: false }, settings: SETTINGS }).hash;
    assert.equal(h(EAST), h(EAST));
    assert.notEqual(h(EAST), h(withPref(EAST, 'true')));
    // a client re-adds its connections when the server restarted (new preferred-server-timestamp)
    const c = (ts: string): string => planWhack({ local: EAST, remote: { ...WEST, backendConfig: { ...WEST.backendConfig, 'preferred-server': 'true', 'preferred-server-timestamp': ts } }, nat: { useIP: WEST.privateIP, useNAT: false }, settings: SETTINGS }).hash;
    assert.notEqual(c('1'), c('2'));
  });
});

describe('ipsec libreswan back end: reading pluto', () => {
  it('parses trafficstatus and showstates lines (with and without connection instances)', () => {
    const t = parseTrafficStatus(`006 #3: "c-0-0", type=ESP, add_time=1590508783, inBytes=10, outBytes=20, id='172.17.0.8'
006 #2: "c-1-0"[1] 3.139.75.179, type=ESP, add_time=1617195756, inBytes=1, outBytes=2, id='@10.0.63.203-0-0'
000 Total IPsec connections: loaded 2, active 1`);
    assert.deepEqual(t, [{ conn: 'c-0-0', inBytes: 10, outBytes: 20 }, { conn: 'c-1-0', inBytes: 1, outBytes: 2 }]);
    const s = parseShowStates(`#1: "c-0-0":4500 STATE_V2_ESTABLISHED_IKE_SA (established IKE SA); REKEY in 28221s
#13: "c-1-1"[1] 198.18.1.2:4500 STATE_V2_ESTABLISHED_CHILD_SA (established Child SA)`);
    assert.deepEqual(s, [{ serial: 1, conn: 'c-0-0', state: 'STATE_V2_ESTABLISHED_IKE_SA' }, { serial: 13, conn: 'c-1-1', state: 'STATE_V2_ESTABLISHED_CHILD_SA' }]);
    assert.equal(connOfLine('Dec  3 09:50:43.507202: ERROR: "c-0-0"[1] 198.18.1.1 #23: netlink response for Add SA esp.e952fa51@198.18.1.1: Function not implemented (errno 38)'), 'c-0-0');
    assert.equal(connOfLine('"c-0-1" #4: IKE_AUTH response rejected Child SA with TS_UNACCEPTABLE'), 'c-0-1');
  });

  it('classifies pluto 4.10 lines into failures that say what to change', () => {
    const ctx = { peer: '198.18.1.2', port: 4500, localId: '@198.18.2.2-0-0', remoteId: '@198.18.1.2-0-0', localPreferredServer: true, remotePreferredServer: 'false' };
    const cases: Array<[string, string | undefined, RegExp?]> = [
      ['ERROR: "c-0-0"[1] 198.18.1.1 #23: netlink response for Add SA esp.e952fa51@198.18.1.1: Function not implemented (errno 38)', 'kernel', /negotiated but this kernel cannot install it: it has no ESP \(XFRM answered errno 38\)/],
      ['"c-0-0" #2: no local proposal matches remote proposals 1:ESP:ENCR=AES_GCM_C_256;ESN=DISABLED', 'esn', /because of ESN.*ESN=DISABLED/],
      ['"c-0-0" #1: no local proposal matches remote proposals 1:IKE:ENCR=3DES_CBC;PRF=HMAC_MD5', 'ike-proposal', /no common IKE proposal.*3DES_CBC/],
      ['"c-0-0" #1: IKE SA authentication request rejected by peer: AUTHENTICATION_FAILED', 'auth-rejected', /we sent @198\.18\.2\.2-0-0 and expect @198\.18\.1\.2-0-0 \(preferred-server here true, on the peer false/],
      ['"c-0-1" #4: IKE_AUTH response rejected Child SA with TS_UNACCEPTABLE', 'traffic-selectors', /TS_UNACCEPTABLE/],
      ['"c-0-0" #1: sent IKE_SA_INIT request to 198.18.1.2:4500', undefined],
    ];
    for (const [line, kind, re] of cases) {
      const f = classifyPlutoLog(line, ctx, 1);
      assert.equal(f?.kind, kind, line);
      if (re) assert.match(f!.message, re, line);
    }
  });
});
