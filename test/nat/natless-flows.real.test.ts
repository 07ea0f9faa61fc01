// NftDataplane.clearNatlessFlows against the kernel, in a namespace of the test's own: flows to a "remote
// global CIDR" (routed to loopback there) that crossed without NAT are deleted; other flows are left alone.
import assert from 'node:assert/strict';
import { NftDataplane } from '../../src/nat/nft.js';
import { createNetns, deleteNetns, uniqueName } from '../../src/os/netns.js';
import { NfnlSocket } from '../../src/os/nftables/nfnl-socket.js';
import { exec } from '../../src/util/exec.js';
import { canUseNetns } from '../support/netns.js';

/** argv: destination addresses; one UDP datagram to port 9 of each, from one socket. */
const SEND = `
const s = require('node:dgram').createSocket('udp4');
const to = process.argv.slice(1);
const next = () => (to.length ? s.send('x', 9, to.shift(), next) : s.close());
next();
`;

describe('nat/natless flows: NftDataplane.clearNatlessFlows against the kernel @real', function () {
  this.timeout(30_000);
  let ns = '';
  before(async function () {
    if (!canUseNetns()) this.skip();
    ns = uniqueName('hw-nlf');
    await createNetns(ns);
    await exec('nft', ['-f', '-'], { netns: ns, input: 'table ip hwnlf {\n chain out { type filter hook output priority 0; ct state new counter; }\n}\n' });
    await exec('ip', ['route', 'add', 'local', '242.1.0.0/16', 'dev', 'lo'], { netns: ns });
  });
  after(async () => {
    if (ns) await deleteNetns(ns);
  });

  it('deletes the entries of flows to a remote global CIDR that got no NAT, and nothing else; none left is 0', async () => {
    await exec(process.execPath, ['-e', SEND, '242.1.0.7', '242.1.3.9', '127.0.0.5', '127.0.0.6'], { netns: ns });
    const sock = NfnlSocket.open(ns);
    if ('unavailable' in sock) throw new Error(sock.unavailable);
    const dp = new NftDataplane({ netns: ns });
    try {
      const udpTo = async (): Promise<string[]> => (await sock.dumpConntrack()).filter((e) => e.orig.proto === 17).map((e) => e.orig.dst).sort();
      assert.deepEqual(await udpTo(), ['127.0.0.5', '127.0.0.6', '242.1.0.7', '242.1.3.9']);
      assert.equal(await dp.clearNatlessFlows(['242.2.0.0/16'], '242.0.0.0/16'), 0, 'another remote CIDR: nothing');
      assert.equal(await dp.clearNatlessFlows([], '242.0.0.0/16'), 0, 'no remote CIDR: nothing (and no dump)');
      assert.equal(await dp.clearNatlessFlows(['242.2.0.0/16', '242.1.0.0/16'], '242.0.0.0/16'), 2);
      assert.deepEqual(await udpTo(), ['127.0.0.5', '127.0.0.6']);
      assert.equal(await dp.clearNatlessFlows(['242.1.0.0/16'], '242.0.0.0/16'), 0);
    } finally {
      sock.close();
      dp.close();
    }
  });
});
