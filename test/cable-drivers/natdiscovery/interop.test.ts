// NAT discovery against a peer built only from Submariner's natdiscovery.proto (protobufjs), behaving like
// Submariner 0.19 (plain cable names) and like Submariner since 2025-02 (`<cable>-v4`): hawser discovers the
// peer, and the peer discovers hawser, over UDP on loopback (hawser 127.0.0.1, the peer 127.0.0.2).
import assert from 'node:assert/strict';
import { NatDiscovery } from '../../../src/cable-drivers/natdiscovery/natdiscovery.js';
import type { NatInfo } from '../../../src/cable-drivers/types.js';
import { waitFor } from '../../../src/util/wait.js';
import { SubmarinerNatPeer, type SubmarinerVersion } from './submariner-peer.js';
import { logSink, natEndpointSpec } from '../../support/fixtures.js';

const HAWSER_IP = '127.0.0.1';
const PEER_IP = '127.0.0.2';

describe('natdiscovery: interop with a Submariner peer built from natdiscovery.proto', () => {
  let nd: NatDiscovery | undefined;
  let peer: SubmarinerNatPeer | undefined;
  afterEach(async () => {
    await nd?.stop();
    await peer?.stop();
    nd = undefined;
    peer = undefined;
  });

  async function setUp(version: SubmarinerVersion): Promise<{ nd: NatDiscovery; peer: SubmarinerNatPeer; decisions: Array<[string, NatInfo, string]> }> {
    const local = natEndpointSpec({ cluster: 'hawser', privateIP: HAWSER_IP });
    nd = new NatDiscovery({ localEndpoint: local, port: 0, bindAddress: HAWSER_IP, log: logSink().log, timings: { probeIntervalMs: 200 } });
    const decisions: Array<[string, NatInfo, string]> = [];
    nd.on('decided', (cable, info, source) => decisions.push([cable, info, source]));
    await nd.start();
    peer = new SubmarinerNatPeer(version, { clusterId: 'sub', cableName: `submariner-cable-sub-${PEER_IP.replace(/\./g, '-')}`, privateIP: PEER_IP, publicIP: '' }, PEER_IP);
    await peer.start(200);
    return { nd, peer, decisions };
  }

  const hawserAsSeenByPeer = (n: NatDiscovery): Parameters<SubmarinerNatPeer['addEndpoint']>[0] => ({
    clusterId: 'hawser', cableName: natEndpointSpec({ cluster: 'hawser', privateIP: HAWSER_IP }).cableName, privateIP: HAWSER_IP, publicIP: '', nattDiscoveryPort: n.port,
  });

  for (const version of ['0.19', '2025'] as const) {
    it(`hawser discovers a Submariner ${version} peer (its private IP, no NAT)`, async () => {
      const { nd: h, peer: p, decisions } = await setUp(version);
      const remote = natEndpointSpec({ cluster: 'sub', privateIP: PEER_IP, nattPort: p.port });
      h.addRemote(remote);
      await waitFor(() => decisions.length > 0, { timeoutMs: 10_000, what: 'hawser to decide' });
      assert.deepEqual(decisions, [[remote.cableName, { useIP: PEER_IP, useNAT: false }, 'private-answer']]);
      // hawser asks with the 2025 form first; a 0.19 peer refuses it and is asked with the plain name.
      const want = version === '2025' ? [`${remote.cableName}-v4`] : [`${remote.cableName}-v4`, remote.cableName];
      // a slow answer may see the same form asked twice (the next probe leaves first): compare the sequence of forms
      const forms = p.askedAs.filter((id, i, all) => i === 0 || all[i - 1] !== id);
      assert.deepEqual(forms.slice(0, want.length), want);
      assert.ok(forms.slice(want.length).every((id) => id === want.at(-1)), `later requests use the accepted form: ${p.askedAs.join(', ')}`);
      assert.equal(h.status()[0]?.lastProblem, undefined);
    });

    it(`a Submariner ${version} peer discovers hawser (hawser answers in the id form it was asked)`, async () => {
      const { nd: h, peer: p } = await setUp(version);
      const me = hawserAsSeenByPeer(h);
      p.addEndpoint(me);
      await waitFor(() => p.decision(me.cableName) !== undefined, { timeoutMs: 10_000, what: 'the peer to decide' });
      assert.deepEqual(p.decision(me.cableName), { useIP: HAWSER_IP, useNAT: false });
      // Every answer was found under the key the peer uses: no "unknown endpoint" or refusals.
      assert.deepEqual(p.errors, []);
      assert.ok(h.counters.requestsAnswered >= 1);
    });
  }
});
