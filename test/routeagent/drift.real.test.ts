// A route and the rule of ours deleted behind hawser's back with `ip` come back within one second,
// started by their rtnetlink notifications, with no full dump of the kernel state; likewise a flushed
// chain of our nft table, or an element deleted from one of its sets (nftables notifications).
import { strict as assert } from 'node:assert';
import { createLogger } from '../../src/log/index.js';
import { RouteAgentDataplane } from '../../src/routeagent/dataplane.js';
import { RouteAgentRunner } from '../../src/routeagent/runner.js';
import type { RouteAgentInput } from '../../src/routeagent/types.js';
import { waitFor } from '../../src/util/wait.js';
import { ipIn, Namespaces, run } from '../support/netns-commands.js';

const log = createLogger({ level: process.env.LOG_LEVEL ?? 'fatal' });

const input: RouteAgentInput = {
  nodeName: 'w1',
  nodeIP: '192.168.93.12',
  nodes: [{ name: 'gw1', ip: '192.168.93.11' }, { name: 'w1', ip: '192.168.93.12' }],
  activeGateway: { nodeName: 'gw1', nodeIP: '192.168.93.11' },
  localClusterCidrs: ['10.46.0.0/16'],
  localServiceCidrs: ['10.47.0.0/16'],
  remoteCidrs: ['10.56.0.0/16', '10.57.0.0/16'],
  cableDriver: 'libreswan',
};

describe('routeagent: drift repaired from notifications @real', function () {
  this.timeout(30_000);
  const nss = new Namespaces();
  let ns = '';
  let dp: RouteAgentDataplane | undefined;
  let runner: RouteAgentRunner | undefined;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    ns = await nss.create('hw-radrift');
    await ipIn(ns, 'link add eth0 type veth peer name eth1\naddress add 192.168.93.12/24 dev eth0\nlink set eth0 up\nlink set eth1 up\nlink set lo up');
    dp = new RouteAgentDataplane({ netns: ns, log, resyncIntervalMs: 0, onDrift: () => runner?.resync() });
    runner = new RouteAgentRunner({ dataplane: dp, log });
    runner.update(input);
    const r = await runner.settled();
    assert.deepEqual(r?.error, undefined);
  });
  after(async () => {
    await runner?.stop();
    await dp?.close();
    await nss.cleanup();
  });

  const routes = async (): Promise<string> => run(ns, 'ip', ['route', 'show', 'table', '150']);
  const rules = async (): Promise<string> => run(ns, 'ip', ['rule', 'show']);

  it('a deleted route and rule are restored within 1 s without a full resync', async () => {
    const dumps = (await dp!.cacheStats())!.fullDumps;
    assert.match(await routes(), /10\.56\.0\.0\/16 via 240\.168\.93\.11/);
    await ipIn(ns, 'route del 10.56.0.0/16 table 150\nrule del pref 150 lookup 150');
    const t0 = Date.now();
    await waitFor(async () => /10\.56\.0\.0\/16 via 240\.168\.93\.11/.test(await routes()) && /^150:\s+from all lookup 150/m.test(await rules()), { timeoutMs: 1000, intervalMs: 10, what: 'route and rule restored' });
    const ms = Date.now() - t0;
    assert.equal((await dp!.cacheStats())!.fullDumps, dumps, 'no full dump');
    process.stdout.write(`      restored in ${ms} ms (poll granularity 10 ms), full dumps: ${dumps}\n`);
  });

  it('a flushed chain of our nft table is restored within 1 s without a full resync', async () => {
    const dumps = (await dp!.cacheStats())!.fullDumps;
    await run(ns, 'nft', ['flush', 'chain', 'ip', 'hawser', 'SUBMARINER-POSTROUTING']);
    await waitFor(async () => /local to remote keeps its source/.test(await run(ns, 'nft', ['list', 'chain', 'ip', 'hawser', 'SUBMARINER-POSTROUTING'])), { timeoutMs: 1000, intervalMs: 20, what: 'nft chain restored' });
    assert.equal((await dp!.cacheStats())!.fullDumps, dumps, 'no full dump');
  });

  it('an element deleted from our remote set is restored within 1 s without a full resync, as one element transaction', async () => {
    const dumps = (await dp!.cacheStats())!.fullDumps;
    const remoteSet = async (): Promise<string> => run(ns, 'nft', ['list', 'set', 'ip', 'hawser', 'SUBMARINER-REMOTECIDRS']);
    assert.match(await remoteSet(), /10\.57\.0\.0\/16/);
    const tableHandle = async (): Promise<string | undefined> => /^table ip hawser \{ # handle (\d+)/m.exec(await run(ns, 'nft', ['-a', '-t', 'list', 'table', 'ip', 'hawser']))?.[1];
    const handle = await tableHandle();
    assert.ok(handle);
    await run(ns, 'nft', ['delete', 'element', 'ip', 'hawser', 'SUBMARINER-REMOTECIDRS', '{ 10.57.0.0/16 }']);
    const t0 = Date.now();
    await waitFor(async () => /10\.57\.0\.0\/16/.test(await remoteSet()), { timeoutMs: 1000, intervalMs: 10, what: 'set element restored' });
    process.stdout.write(`      restored in ${Date.now() - t0} ms (poll granularity 10 ms)\n`);
    assert.equal((await dp!.cacheStats())!.fullDumps, dumps, 'no full dump');
    // the table was not replaced (a new table would have a new handle)
    assert.equal(await tableHandle(), handle);
  });
});
