import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { NatDiscovery } from '../../../src/cable-drivers/natdiscovery/natdiscovery.js';
import { ResponseType, decodeMessage, encodeRequestMessage, encodeResponseMessage } from '../../../src/cable-drivers/natdiscovery/messages.js';
import { answerRequest } from '../../../src/cable-drivers/natdiscovery/answer.js';
import type { NatTimings } from '../../../src/cable-drivers/natdiscovery/remote.js';
import type { NatInfo } from '../../../src/cable-drivers/types.js';
import type { EndpointSpec } from '../../../src/k8s/resources.js';
import { waitFor } from '../../../src/util/wait.js';
import { FakeClock, FakeNet, type PathRule, type Tuple } from '../../support/fake-nat-network.js';
import { logSink, natEndpointSpec } from '../../support/fixtures.js';

interface Side {
  nd: NatDiscovery;
  ep: EndpointSpec;
  decisions: Array<{ cable: string; info: NatInfo; source: string }>;
}

async function side(net: FakeNet, clock: FakeClock, ep: EndpointSpec, ips: string[], timings?: Partial<NatTimings>): Promise<Side> {
  const nd = new NatDiscovery({ localEndpoint: ep, log: logSink().log, clock, transport: net.host(ips), timings });
  const decisions: Side['decisions'] = [];
  nd.on('decided', (cable, info, source) => decisions.push({ cable, info, source }));
  await nd.start();
  return { nd, ep, decisions };
}

/** Two gateways on a fake network; each discovers the other. */
async function pair(path: PathRule, a: EndpointSpec, b: EndpointSpec, timings?: Partial<NatTimings>, direct?: (t: Tuple) => boolean): Promise<{ a: Side; b: Side; clock: FakeClock; net: FakeNet }> {
  const net = new FakeNet(path, direct);
  const clock = new FakeClock();
  const sa = await side(net, clock, a, [a.privateIP], timings);
  const sb = await side(net, clock, b, [b.privateIP], timings);
  sa.nd.addRemote(b);
  sb.nd.addRemote(a);
  return { a: sa, b: sb, clock, net };
}

const at = (ip: string, port = 4490): { ip: string; port: number } => ({ ip, port });
const reach = (ips: string[]): PathRule => (t) => (ips.includes(t.dst.ip) ? t : null);

interface Site {
  prefix: string;
  host: string;
  pub: string;
}

/**
 * Sites behind NAT routers on an internet: a router masquerades its site's traffic to its public IP
 * (port changed) and forwards its public IP's port 4490 to the site's gateway; site-private addresses are
 * unreachable from outside; `wan` hosts are reachable directly.
 */
function internet(sites: Site[], wan: string[]): PathRule {
  return (t) => {
    const srcSite = sites.find((s) => t.src.ip.startsWith(s.prefix));
    const dstSite = sites.find((s) => t.dst.ip.startsWith(s.prefix));
    if (srcSite && srcSite === dstSite) return t;
    if (dstSite) return null;
    const src = srcSite ? at(srcSite.pub, 61000) : t.src;
    const pubSite = sites.find((s) => s.pub === t.dst.ip);
    if (pubSite) return t.dst.port === 4490 ? { src, dst: at(pubSite.host) } : null;
    return wan.includes(t.dst.ip) ? { src, dst: t.dst } : null;
  };
}

describe('natdiscovery: NatDiscovery over a fake network (fake clock)', () => {
  const stops: NatDiscovery[] = [];
  afterEach(async () => {
    await Promise.all(stops.splice(0).map((n) => n.stop()));
  });
  const track = (...s: Side[]): void => void stops.push(...s.map((x) => x.nd));

  it('same LAN: both pick the private IP without NAT, once', async () => {
    const a = natEndpointSpec({ cluster: 'a', privateIP: '10.0.0.1', publicIP: '203.0.113.1' });
    const b = natEndpointSpec({ cluster: 'b', privateIP: '10.0.0.2', publicIP: '203.0.113.2' });
    const { a: sa, b: sb, clock } = await pair(reach(['10.0.0.1', '10.0.0.2']), a, b);
    track(sa, sb);
    await clock.advance(100);
    assert.deepEqual(sa.decisions, [{ cable: b.cableName, info: { useIP: '10.0.0.2', useNAT: false }, source: 'private-answer' }]);
    assert.deepEqual(sb.decisions, [{ cable: a.cableName, info: { useIP: '10.0.0.1', useNAT: false }, source: 'private-answer' }]);
    assert.deepEqual(sa.nd.decision(b.cableName), { useIP: '10.0.0.2', useNAT: false });
  });

  it('private and public both answer: private is preferred and no public decision is emitted first', async () => {
    const a = natEndpointSpec({ cluster: 'a', privateIP: '10.0.0.1', publicIP: '203.0.113.1' });
    const b = natEndpointSpec({ cluster: 'b', privateIP: '10.0.0.2', publicIP: '203.0.113.2' });
    // Publics are DNATed to the privates; the public answer arrives first (the private path is slower).
    let n = 0;
    const path: PathRule = (t) => {
      if (t.dst.ip === '203.0.113.1') return { src: t.src, dst: at('10.0.0.1') };
      if (t.dst.ip === '203.0.113.2') return { src: t.src, dst: at('10.0.0.2') };
      return n++ < 2 ? null : t; // the first private probes are lost
    };
    // Retries every 300 ms: the second private probe lands inside the public answer's 1 s grace period.
    const lan = (t: Tuple): boolean => t.src.ip.startsWith('10.') && t.dst.ip.startsWith('10.');
    const { a: sa, b: sb, clock } = await pair(path, a, b, { probeIntervalMs: 300 }, lan);
    track(sa, sb);
    await clock.advance(1500);
    assert.deepEqual(sa.decisions.map((d) => d.info), [{ useIP: '10.0.0.2', useNAT: false }]);
    assert.deepEqual(sb.decisions.map((d) => d.info), [{ useIP: '10.0.0.1', useNAT: false }]);
  });

  it('one side behind a NAT router: public + NAT towards it, NAT flagged from it', async () => {
    const a = natEndpointSpec({ cluster: 'a', privateIP: '192.168.1.10', publicIP: '203.0.113.1', nat: true });
    const b = natEndpointSpec({ cluster: 'b', privateIP: '198.51.100.2', publicIP: '198.51.100.2' });
    const path = internet([{ prefix: '192.168.1.', host: '192.168.1.10', pub: '203.0.113.1' }], ['198.51.100.2']);
    const { a: sa, b: sb, clock } = await pair(path, a, b);
    track(sa, sb);
    await clock.advance(3000);
    assert.deepEqual(sb.decisions, [{ cable: a.cableName, info: { useIP: '203.0.113.1', useNAT: true }, source: 'public-answer' }]);
    assert.deepEqual(sa.decisions, [{ cable: b.cableName, info: { useIP: '198.51.100.2', useNAT: true }, source: 'private-answer' }]);
  });

  it('both sides behind NAT routers: both use the public IP with NAT', async () => {
    const a = natEndpointSpec({ cluster: 'a', privateIP: '192.168.1.10', publicIP: '203.0.113.1', nat: true });
    const b = natEndpointSpec({ cluster: 'b', privateIP: '192.168.2.20', publicIP: '198.51.100.1', nat: true });
    const path = internet([
      { prefix: '192.168.1.', host: '192.168.1.10', pub: '203.0.113.1' },
      { prefix: '192.168.2.', host: '192.168.2.20', pub: '198.51.100.1' },
    ], []);
    const { a: sa, b: sb, clock } = await pair(path, a, b);
    track(sa, sb);
    await clock.advance(3000);
    assert.deepEqual(sa.decisions, [{ cable: b.cableName, info: { useIP: '198.51.100.1', useNAT: true }, source: 'public-answer' }]);
    assert.deepEqual(sb.decisions, [{ cable: a.cableName, info: { useIP: '203.0.113.1', useNAT: true }, source: 'public-answer' }]);
  });

  it('no answers: falls back after 60 s from the NAT flags, then a late answer corrects the guess', async () => {
    const a = natEndpointSpec({ cluster: 'a', privateIP: '10.0.0.1', publicIP: '203.0.113.1' });
    const b = natEndpointSpec({ cluster: 'b', privateIP: '10.0.0.2', publicIP: '203.0.113.2', nat: true });
    let open = false;
    const { a: sa, b: sb, clock } = await pair((t) => (open && t.dst.ip.startsWith('10.') ? t : null), a, b);
    track(sa, sb);
    await clock.advance(59_000);
    assert.deepEqual(sa.decisions, []);
    await clock.advance(1_500);
    assert.deepEqual(sa.decisions, [{ cable: b.cableName, info: { useIP: '203.0.113.2', useNAT: true }, source: 'fallback' }]);
    // Only the remote's nat_enabled counts (Submariner's useLegacyNATSettings): a does not set it.
    assert.deepEqual(sb.decisions, [{ cable: a.cableName, info: { useIP: '10.0.0.1', useNAT: false }, source: 'fallback' }]);
    open = true;
    await clock.advance(11_000);
    assert.deepEqual(sa.decisions.at(-1), { cable: b.cableName, info: { useIP: '10.0.0.2', useNAT: false }, source: 'private-answer' });
    assert.equal(sa.decisions.length, 2);
  });

  it('a remote without a NAT discovery port is decided at once from the flags', async () => {
    const net = new FakeNet(() => null);
    const clock = new FakeClock();
    const a = await side(net, clock, natEndpointSpec({ cluster: 'a', privateIP: '10.0.0.1' }), ['10.0.0.1']);
    track(a);
    a.nd.addRemote(natEndpointSpec({ cluster: 'b', privateIP: '10.0.0.2', publicIP: '203.0.113.2', nat: true, nattPort: null }));
    await clock.advance(1);
    assert.deepEqual(a.decisions.map((d) => [d.info, d.source]), [[{ useIP: '203.0.113.2', useNAT: true }, 'no-discovery']]);
    assert.equal(net.delivered, 0);
  });

  it('a refusal (UNKNOWN_DST_ENDPOINT) is reported in status and decides nothing', async () => {
    const a = natEndpointSpec({ cluster: 'a', privateIP: '10.0.0.1' });
    const bReal = natEndpointSpec({ cluster: 'b', privateIP: '10.0.0.2' });
    const bAsSeenByA = { ...bReal, cableName: 'submariner-cable-b-stale' };
    const net = new FakeNet(reach(['10.0.0.1', '10.0.0.2']));
    const clock = new FakeClock();
    const sa = await side(net, clock, a, ['10.0.0.1']);
    const sb = await side(net, clock, bReal, ['10.0.0.2']);
    track(sa, sb);
    sa.nd.addRemote(bAsSeenByA);
    await clock.advance(2500);
    assert.deepEqual(sa.decisions, []);
    const st = sa.nd.status();
    assert.equal(st[0]?.state, 'probing');
    assert.match(st[0]?.lastProblem ?? '', /UNKNOWN_DST_ENDPOINT/);
  });

  it('a remote that refuses <cable>-v4 (Submariner 0.19) is asked again with the plain cable name at once', async () => {
    const a = natEndpointSpec({ cluster: 'a', privateIP: '10.0.0.1' });
    const b = natEndpointSpec({ cluster: 'b', privateIP: '10.0.0.2' });
    const net = new FakeNet(reach(['10.0.0.1', '10.0.0.2']));
    const clock = new FakeClock();
    const sa = await side(net, clock, a, ['10.0.0.1']);
    // b answers as 0.19 does: only its plain cable name is itself.
    const bt = net.host(['10.0.0.2']);
    const asked: string[] = [];
    bt.onMessage((data, from) => {
      const m = decodeMessage(data);
      if (!m.ok || m.value.kind !== 'request') return;
      const r = m.value.request;
      asked.push(r.receiver?.endpointId ?? '');
      const plain = r.receiver?.endpointId === b.cableName;
      const answer = plain ? answerRequest(r, from, { clusterId: 'b', cableName: b.cableName, privateIP: '10.0.0.2' })
        : { requestNumber: r.requestNumber, response: ResponseType.UNKNOWN_DST_ENDPOINT, sender: { clusterId: 'b', endpointId: b.cableName }, receiver: r.sender, srcIpNatDetected: false, srcPortNatDetected: false, dstIpNatDetected: false, receivedSrc: from };
      void bt.send(encodeResponseMessage(answer), from);
    });
    await bt.bind(4490);
    track(sa);
    sa.nd.addRemote(b);
    await clock.advance(100);
    assert.deepEqual(asked, [`${b.cableName}-v4`, b.cableName]);
    assert.deepEqual(sa.decisions, [{ cable: b.cableName, info: { useIP: '10.0.0.2', useNAT: false }, source: 'private-answer' }]);
    assert.equal(sa.nd.status()[0]?.lastProblem, undefined);
    await bt.close();
  });

  it('refuses an answer for the private IP that comes from another address', async () => {
    const a = natEndpointSpec({ cluster: 'a', privateIP: '10.0.0.1' });
    const b = natEndpointSpec({ cluster: 'b', privateIP: '10.0.0.2' });
    // Requests reach b, but b's answers arrive from 10.9.9.9 (a NAT rewriting the private path).
    const path: PathRule = (t) => (t.dst.ip === '10.0.0.1' ? { src: at('10.9.9.9'), dst: t.dst } : t);
    const { a: sa, b: sb, clock } = await pair(path, a, b);
    track(sa, sb);
    await clock.advance(2500);
    assert.deepEqual(sa.decisions, []);
    assert.match(sa.nd.status()[0]?.lastProblem ?? '', /came from 10\.9\.9\.9/);
  });

  it('re-adding an unchanged endpoint keeps the decision; a changed one starts over; removal forgets it', async () => {
    const a = natEndpointSpec({ cluster: 'a', privateIP: '10.0.0.1' });
    const b = natEndpointSpec({ cluster: 'b', privateIP: '10.0.0.2' });
    const { a: sa, b: sb, clock } = await pair(reach(['10.0.0.1', '10.0.0.2', '10.0.0.3']), a, b);
    track(sa, sb);
    await clock.advance(100);
    sa.nd.setRemotes([b]);
    assert.equal(sa.nd.status()[0]?.state, 'decided');
    sa.nd.setRemotes([{ ...b, publicIP: '10.0.0.3' }]);
    assert.equal(sa.nd.status()[0]?.state, 'probing');
    sa.nd.setRemotes([]);
    assert.equal(sa.nd.decision(b.cableName), undefined);
    assert.deepEqual(sa.nd.status(), []);
  });
});

describe('natdiscovery: NatDiscovery on loopback sockets', () => {
  it('two gateways on 127.0.0.x decide on the private IP; garbage is dropped without harm', async () => {
    const la = logSink();
    const a0 = natEndpointSpec({ cluster: 'a', privateIP: '127.0.0.11', publicIP: '127.0.0.21' });
    const b0 = natEndpointSpec({ cluster: 'b', privateIP: '127.0.0.12', publicIP: '127.0.0.22' });
    const timings = { probeIntervalMs: 50, privateGraceMs: 50 };
    const na = new NatDiscovery({ localEndpoint: a0, port: 0, bindAddress: '127.0.0.11', log: la.log, timings });
    const nb = new NatDiscovery({ localEndpoint: b0, port: 0, bindAddress: '127.0.0.12', log: logSink().log, timings });
    const junk = createSocket('udp4');
    try {
      await na.start();
      await nb.start();
      // Garbage first: the listener must survive it.
      await new Promise<void>((r) => junk.send(Buffer.from([0x12, 0xff, 0x01]), na.port, '127.0.0.11', () => r()));
      await new Promise<void>((r) => junk.send(Buffer.alloc(3000, 0x41), na.port, '127.0.0.11', () => r()));
      await waitFor(() => na.counters.dropped >= 2, { timeoutMs: 2000, what: 'garbage dropped' });
      const a = { ...a0, backendConfig: { 'natt-discovery-port': String(na.port) } };
      const b = { ...b0, backendConfig: { 'natt-discovery-port': String(nb.port) } };
      const got = new Promise<NatInfo>((resolve) => na.on('decided', (_c, info) => resolve(info)));
      na.addRemote(b);
      nb.addRemote(a);
      assert.deepEqual(await got, { useIP: '127.0.0.12', useNAT: false });
      await waitFor(() => nb.decision(a.cableName), { timeoutMs: 2000, what: 'b decides' });
      assert.deepEqual(nb.decision(a.cableName), { useIP: '127.0.0.11', useNAT: false });
      // A valid request from an unknown sender is answered (UNKNOWN_DST_CLUSTER) on the same socket.
      const answer = new Promise<Buffer>((r) => junk.once('message', (m) => r(m)));
      junk.send(encodeRequestMessage({
        requestNumber: 42n, sender: { clusterId: 'x', endpointId: 'y' }, receiver: { clusterId: 'zz', endpointId: 'q' },
        usingSrc: { ip: '127.0.0.1', port: 1 }, usingDst: { ip: '127.0.0.11', port: na.port },
      }), na.port, '127.0.0.11');
      const d = decodeMessage(await answer);
      assert.ok(d.ok && d.value.kind === 'response');
      assert.equal(d.value.response.response, 2);
      assert.ok(la.lines().some((l) => String(l.msg).includes('dropped')));
    } finally {
      junk.close();
      await na.stop();
      await nb.stop();
    }
  });

  it('a port already in use is a clear error', async () => {
    const holder = createSocket('udp4');
    await new Promise<void>((r) => holder.bind(0, '127.0.0.1', () => r()));
    const nd = new NatDiscovery({ localEndpoint: natEndpointSpec({ cluster: 'a', privateIP: '127.0.0.1' }), port: holder.address().port, bindAddress: '127.0.0.1', log: logSink().log });
    try {
      await assert.rejects(nd.start(), (e: Error & { code?: string }) => e.code === 'EXISTS' && /in use/.test(e.message));
    } finally {
      holder.close();
    }
  });
});
