import assert from 'node:assert/strict';
import { RemoteNatProbe, DEFAULT_NAT_TIMINGS, fallbackDecision } from '../../../src/cable-drivers/natdiscovery/remote.js';
import { answerRequest } from '../../../src/cable-drivers/natdiscovery/answer.js';
import { ResponseType, type NatRequest } from '../../../src/cable-drivers/natdiscovery/messages.js';
import { natEndpointSpec } from '../../support/fixtures.js';

const T = DEFAULT_NAT_TIMINGS;

describe('natdiscovery: answering requests', () => {
  const local = { clusterId: 'b', cableName: 'cable-b', privateIP: '10.0.0.2' };
  const req = (o: Partial<NatRequest> = {}): NatRequest => ({
    requestNumber: 7n,
    sender: { clusterId: 'a', endpointId: 'cable-a' },
    receiver: { clusterId: 'b', endpointId: 'cable-b' },
    usingSrc: { ip: '10.0.0.1', port: 4490 },
    usingDst: { ip: '10.0.0.2', port: 4490 },
    ...o,
  });
  const cases: Array<[string, NatRequest, { ip: string; port: number }, Partial<ReturnType<typeof answerRequest>>]> = [
    ['direct: OK', req(), { ip: '10.0.0.1', port: 4490 }, { response: ResponseType.OK, srcIpNatDetected: false, srcPortNatDetected: false, dstIpNatDetected: false }],
    ['source masqueraded', req(), { ip: '203.0.113.1', port: 4490 }, { response: ResponseType.NAT_DETECTED, srcIpNatDetected: true }],
    ['source port changed', req(), { ip: '10.0.0.1', port: 1024 }, { response: ResponseType.NAT_DETECTED, srcPortNatDetected: true, srcIpNatDetected: false }],
    ['sent to our public IP (DNAT)', req({ usingDst: { ip: '198.51.100.2', port: 4490 } }), { ip: '10.0.0.1', port: 4490 }, { response: ResponseType.NAT_DETECTED, dstIpNatDetected: true }],
    ['empty using_src IP is not a NAT sign', req({ usingSrc: { ip: '', port: 4490 } }), { ip: '10.0.0.1', port: 4490 }, { response: ResponseType.OK }],
    ['another cluster', req({ receiver: { clusterId: 'c', endpointId: 'cable-b' } }), { ip: '10.0.0.1', port: 4490 }, { response: ResponseType.UNKNOWN_DST_CLUSTER }],
    ['another endpoint of our cluster', req({ receiver: { clusterId: 'b', endpointId: 'old' } }), { ip: '10.0.0.1', port: 4490 }, { response: ResponseType.UNKNOWN_DST_ENDPOINT }],
    ['missing using_dst', req({ usingDst: undefined }), { ip: '10.0.0.1', port: 4490 }, { response: ResponseType.MALFORMED }],
  ];
  for (const [name, r, from, want] of cases) {
    it(name, () => {
      const got = answerRequest(r, from, local);
      for (const [k, v] of Object.entries(want)) assert.equal(got[k as keyof typeof got], v, `${name}: ${k}`);
      assert.equal(got.requestNumber, 7n);
      assert.deepEqual(got.sender, { clusterId: 'b', endpointId: 'cable-b' });
      assert.deepEqual(got.receivedSrc, from);
    });
  }

  // Submariner 0.19 asks for the plain cable name, Submariner since 2025-02 for `<cable>-v4`: both are us,
  // and each is answered under the id it asked for (that is the key its response handler looks up).
  const forms: Array<[string, string, number, string]> = [
    ['0.19 form (plain cable name)', 'cable-b', ResponseType.OK, 'cable-b'],
    ['2025 form (<cable>-v4)', 'cable-b-v4', ResponseType.OK, 'cable-b-v4'],
    ['IPv6 form (no IPv6 listener here)', 'cable-b-v6', ResponseType.UNKNOWN_DST_ENDPOINT, 'cable-b'],
    ['another cable with a -v4 suffix', 'cable-c-v4', ResponseType.UNKNOWN_DST_ENDPOINT, 'cable-b'],
  ];
  for (const [name, asked, response, answeredAs] of forms) {
    it(`endpoint id: ${name}`, () => {
      const got = answerRequest(req({ receiver: { clusterId: 'b', endpointId: asked } }), { ip: '10.0.0.1', port: 4490 }, local);
      assert.equal(got.response, response);
      assert.deepEqual(got.sender, { clusterId: 'b', endpointId: answeredAs });
      assert.deepEqual(got.receiver, { clusterId: 'a', endpointId: 'cable-a' });
    });
  }
});

describe('natdiscovery: decision state machine (explicit times)', () => {
  const remote = natEndpointSpec({ cluster: 'b', privateIP: '10.0.0.2', publicIP: '198.51.100.2' });
  const t0 = 5000;

  it('probes private and public every interval, only while undecided', () => {
    const p = new RemoteNatProbe(remote, T, t0, true);
    assert.deepEqual(p.probesDue(t0), [{ kind: 'private', ip: '10.0.0.2' }, { kind: 'public', ip: '198.51.100.2' }]);
    assert.deepEqual(p.probesDue(t0 + 999), []);
    assert.equal(p.probesDue(t0 + 1000).length, 2);
    p.onAnswer('private', false, t0 + 1001);
    assert.deepEqual(p.probesDue(t0 + 5000), []);
  });

  it('probes one address when the public IP is the private one or empty', () => {
    const same = new RemoteNatProbe(natEndpointSpec({ cluster: 'b', privateIP: '10.0.0.2', publicIP: '10.0.0.2' }), T, t0, true);
    assert.deepEqual(same.probesDue(t0), [{ kind: 'private', ip: '10.0.0.2' }]);
    const none = new RemoteNatProbe(natEndpointSpec({ cluster: 'b', privateIP: '10.0.0.2' }), T, t0, true);
    assert.deepEqual(none.probesDue(t0), [{ kind: 'private', ip: '10.0.0.2' }]);
  });

  it('a private answer decides at once', () => {
    const p = new RemoteNatProbe(remote, T, t0, true);
    assert.deepEqual(p.onAnswer('private', false, t0 + 3), { info: { useIP: '10.0.0.2', useNAT: false }, source: 'private-answer' });
    assert.equal(p.state, 'decided');
  });

  it('a public answer waits the grace period; a private answer within it wins without a public decision', () => {
    const p = new RemoteNatProbe(remote, T, t0, true);
    assert.equal(p.onAnswer('public', true, t0 + 10), undefined);
    assert.equal(p.state, 'public-pending');
    assert.equal(p.tick(t0 + 10 + 999), undefined);
    assert.deepEqual(p.onAnswer('private', false, t0 + 10 + 999), { info: { useIP: '10.0.0.2', useNAT: false }, source: 'private-answer' });
  });

  it('a public answer decides when the grace period runs out; a later private answer is too late', () => {
    const p = new RemoteNatProbe(remote, T, t0, true);
    p.onAnswer('public', true, t0 + 10);
    assert.deepEqual(p.tick(t0 + 10 + T.privateGraceMs), { info: { useIP: '198.51.100.2', useNAT: true }, source: 'public-answer' });
    assert.equal(p.onAnswer('private', false, t0 + 10 + T.privateGraceMs + 1), undefined);
    assert.equal(p.decision?.useIP, '198.51.100.2');
  });

  it('a private answer reporting NAT keeps useNAT (our side is masqueraded)', () => {
    const p = new RemoteNatProbe(remote, T, t0, true);
    assert.deepEqual(p.onAnswer('private', true, t0 + 1)?.info, { useIP: '10.0.0.2', useNAT: true });
  });

  const fallbacks: Array<[string, boolean, { nat?: boolean; lb?: boolean }, { useIP: string; useNAT: boolean }, number]> = [
    ['no NAT anywhere: private', false, {}, { useIP: '10.0.0.2', useNAT: false }, T.fallbackMs],
    ['remote behind NAT: public', false, { nat: true }, { useIP: '198.51.100.2', useNAT: true }, T.fallbackMs],
    // As Submariner's useLegacyNATSettings: only the remote's flags count, ours do not.
    ['only local behind NAT: private, no NAT', true, {}, { useIP: '10.0.0.2', useNAT: false }, T.fallbackMs],
    ['both behind NAT: public', true, { nat: true }, { useIP: '198.51.100.2', useNAT: true }, T.fallbackMs],
    ['remote behind a load balancer: public after 6 s', false, { lb: true }, { useIP: '198.51.100.2', useNAT: true }, T.loadBalancerFallbackMs],
  ];
  for (const [name, , o, want, after] of fallbacks) {
    it(`falls back without answers: ${name}`, () => {
      const ep = natEndpointSpec({ cluster: 'b', privateIP: '10.0.0.2', publicIP: '198.51.100.2', nat: o.nat, loadBalancer: o.lb });
      const p = new RemoteNatProbe(ep, T, t0, true);
      assert.equal(p.tick(t0 + after - 1), undefined);
      assert.deepEqual(p.tick(t0 + after), { info: want, source: 'fallback' });
      assert.deepEqual(fallbackDecision(ep), want);
    });
  }

  it('after a fallback it keeps probing slowly and a real answer replaces the guess', () => {
    const ep = natEndpointSpec({ cluster: 'b', privateIP: '10.0.0.2', publicIP: '198.51.100.2', nat: true });
    const p = new RemoteNatProbe(ep, T, t0, true);
    p.probesDue(t0);
    const t1 = t0 + T.fallbackMs;
    assert.equal(p.tick(t1)?.info.useIP, '198.51.100.2');
    assert.deepEqual(p.probesDue(t1 + 1000), []);
    assert.equal(p.probesDue(t1 + T.reprobeAfterFallbackMs).length, 2);
    // The same IP confirmed by an answer is no change; a private answer is.
    assert.deepEqual(p.onAnswer('private', false, t1 + T.reprobeAfterFallbackMs + 5), { info: { useIP: '10.0.0.2', useNAT: false }, source: 'private-answer' });
  });

  it('does not fall back while a public answer waits for the grace period', () => {
    const p = new RemoteNatProbe(remote, T, t0, true);
    p.onAnswer('public', false, t0 + T.fallbackMs - 10);
    assert.equal(p.tick(t0 + T.fallbackMs), undefined);
    assert.equal(p.tick(t0 + T.fallbackMs - 10 + T.privateGraceMs)?.source, 'public-answer');
  });

  it('decides from the NAT flags at once when discovery is impossible', () => {
    const p = new RemoteNatProbe(natEndpointSpec({ cluster: 'b', privateIP: '10.0.0.2', publicIP: '198.51.100.2', nat: true, nattPort: null }), T, t0, false);
    assert.equal(p.state, 'decided');
    assert.equal(p.source, 'no-discovery');
    assert.deepEqual(p.decision, { useIP: '198.51.100.2', useNAT: true });
    assert.deepEqual(p.probesDue(t0), []);
  });
});
