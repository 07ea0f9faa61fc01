// The IPsec driver against real charons (kernel-libipsec) in network namespaces.
import assert from 'node:assert/strict';
import { chmodSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CableEngine } from '../../../src/cable-drivers/engine.js';
import { createIpsecDriver, type IpsecDriver } from '../../../src/cable-drivers/ipsec/index.js';
import { ViciClient } from '../../../src/cable-drivers/ipsec/vici/index.js';
import type { ConnectionState, NatInfo } from '../../../src/cable-drivers/types.js';
import type { EndpointSpec } from '../../../src/k8s/resources.js';
import { exec } from '../../../src/util/exec.js';
import { waitFor } from '../../../src/util/wait.js';
import { buildLab, endpointOf, gatewayConfigOf, handSwanctlConf, iperf, memoryLogger, ping, startPlainCharon, waitPing, type Lab, type LabGateway } from '../../support/ipsec-lab.js';

const PSK = 'aGF3c2VyLWxhYi1wc2stdGV4dA=='; // used as text, as Submariner does
const WRONG_PSK = 'c29tZXRoaW5nLWVsc2UtZW50aXJlbHk=';

interface Node {
  gw: LabGateway;
  ep: EndpointSpec;
  driver: IpsecDriver;
  lines: string[];
}

// The driver has no resync timer (the engine's resync calls set() with `resync`): what these tests see
// repaired without an engine was repaired by charon's events (updown, a closed VICI socket).

function makeDriver(gw: LabGateway, ep: EndpointSpec, psk: string, lines?: string[], binary?: string): Node {
  const m = memoryLogger(`ipsec-${gw.key}`);
  const driver = createIpsecDriver({ config: gatewayConfigOf(gw, psk), localEndpoint: ep, log: m.log }, { dir: gw.dir, netns: gw.ns, ...(binary ? { binary } : {}) });
  if (lines) m.lines.push(...lines);
  return { gw, ep, driver, lines: m.lines };
}

async function stateOf(n: Node, cable: string): Promise<ConnectionState | undefined> {
  return (await n.driver.connections()).find((c) => c.cableName === cable);
}

function waitStatus(n: Node, cable: string, status: string, timeoutMs = 10_000): Promise<ConnectionState> {
  return waitFor(async () => {
    const s = await stateOf(n, cable);
    return s?.status === status ? s : undefined;
  }, { timeoutMs, intervalMs: 100, what: `${n.gw.key} -> ${cable} ${status}` });
}

async function ikeIds(n: Node, cable: string): Promise<string[]> {
  const v = new ViciClient({ socketPath: n.driver.charon.paths.socket });
  try {
    return (await v.listSas({ ike: cable })).map((s) => s.uniqueId).sort();
  } finally {
    v.close();
  }
}

async function teardown(nodes: Iterable<Node>, lab: Lab | undefined): Promise<void> {
  for (const n of nodes) await n.driver.cleanup().catch(() => undefined);
  await lab?.destroy();
}

describe('ipsec driver @real: three gateways on a WAN', function () {
  this.timeout(60_000);
  let lab: Lab;
  const nodes: Record<string, Node> = {};
  const nat = (to: Node): NatInfo => ({ useIP: to.gw.ip, useNAT: false });

  before(async () => {
    lab = await buildLab([
      { key: 'a', subnets: ['10.1.0.0/24', '10.11.0.0/24'] },
      { key: 'b', subnets: ['10.2.0.0/24'] },
      { key: 'c', subnets: ['10.3.0.0/24'] },
    ]);
    for (const k of ['a', 'b', 'c']) {
      const gw = lab.gateways[k]!;
      nodes[k] = makeDriver(gw, endpointOf(gw), k === 'c' ? WRONG_PSK : PSK);
    }
    await Promise.all(Object.values(nodes).map((n) => n.driver.init()));
  });

  after(async () => {
    await teardown(Object.values(nodes), lab);
  });

  it('connects two gateways: ping and TCP between pod addresses, ESP-in-UDP on the WAN, nothing in clear', async () => {
    const { a, b } = nodes as Record<'a' | 'b', Node>;
    const before = await lab.counters();
    await Promise.all([a.driver.connect(b.ep, nat(b)), b.driver.connect(a.ep, nat(a))]);
    const sa = await waitStatus(a, b.ep.cableName, 'connected');
    await waitStatus(b, a.ep.cableName, 'connected');
    assert.equal(sa.usingIP, b.gw.ip);
    // both child SAs (two local subnets x one remote) carry traffic
    await waitPing(a.gw, a.gw.podIPs[0]!, b.gw.podIPs[0]!, 5_000);
    await waitPing(a.gw, a.gw.podIPs[1]!, b.gw.podIPs[0]!, 5_000);
    await waitPing(b.gw, b.gw.podIPs[0]!, a.gw.podIPs[1]!, 5_000);
    const mbps = await iperf(a.gw, a.gw.podIPs[0]!, b.gw, b.gw.podIPs[0]!, 1);
    assert.ok(mbps > 1, `TCP through the cable: ${mbps} Mbit/s`);
    const after = await lab.counters();
    assert.ok(after.espInUdp - before.espInUdp > 50, `ESP-in-UDP packets on the WAN: ${after.espInUdp - before.espInUdp}`);
    assert.equal(after.clear - before.clear, 0, 'no packet with a pod address crossed the WAN in clear');
    const s = await stateOf(a, b.ep.cableName);
    assert.ok((s?.txBytes ?? 0) > 100_000 && (s?.rxBytes ?? 0) > 0, `byte counters ${s?.rxBytes}/${s?.txBytes}`);
     // With every cable up charon's log events (DPD, packets) are not followed; a down event follows them again.
    await waitFor(() => !a.driver.followsCharonLog && !b.driver.followsCharonLog, { timeoutMs: 5_000, what: 'log events no longer followed' });
  });

  it('connect() again with the same remote and NAT changes nothing (same IKE_SA)', async () => {
    const { a, b } = nodes as Record<'a' | 'b', Node>;
    const ids = await ikeIds(a, b.ep.cableName);
    await a.driver.connect(b.ep, nat(b));
    await b.driver.connect(a.ep, nat(a));
    assert.deepEqual(await ikeIds(a, b.ep.cableName), ids);
    assert.equal((await stateOf(a, b.ep.cableName))?.status, 'connected');
  });

  it('a wrong PSK on one side: that connection is in error naming the PSK mismatch, the others untouched', async () => {
    const { a, b, c } = nodes as Record<'a' | 'b' | 'c', Node>;
    const ids = await ikeIds(a, b.ep.cableName);
    await Promise.all([a.driver.connect(c.ep, nat(c)), c.driver.connect(a.ep, nat(a))]);
    const onA = await waitStatus(a, c.ep.cableName, 'error');
    const onC = await waitStatus(c, a.ep.cableName, 'error');
    assert.match(onA.statusMessage, /pre-shared key mismatch/i);
    assert.match(onC.statusMessage, /pre-shared key mismatch/i);
    assert.match(onA.statusMessage, /CE_IPSEC_PSK/);
    assert.equal(a.driver.followsCharonLog, true, 'charon\'s log is followed while a cable is not up');
    const ab = await stateOf(a, b.ep.cableName);
    assert.equal(ab?.status, 'connected', `A-B: ${JSON.stringify(ab?.statusMessage)}`);
    assert.deepEqual(await ikeIds(a, b.ep.cableName), ids, 'the A-B IKE_SAs are the same ones');
    await waitPing(a.gw, a.gw.podIPs[0]!, b.gw.podIPs[0]!, 3_000);
    await a.driver.disconnect(c.ep);
    await c.driver.disconnect(a.ep);
    assert.equal(await stateOf(a, c.ep.cableName), undefined);
  });

  it('a new driver instance adopts charon and its SAs: zero lost pings at 10/s', async () => {
    const { a, b } = nodes as Record<'a' | 'b', Node>;
    const ids = await ikeIds(a, b.ep.cableName);
    const pid = a.driver.charon.pid;
    const pinger = exec('ping', ['-i', '0.1', '-c', '40', '-W', '1', '-I', a.gw.podIPs[0]!, b.gw.podIPs[0]!], { netns: a.gw.ns, allowFailure: true });
    await waitFor(() => true, { timeoutMs: 100 });
    await a.driver.close();
    const next = makeDriver(a.gw, a.ep, PSK);
    nodes.a = next;
    await next.driver.init();
    await next.driver.connect(b.ep, nat(b));
    const r = await pinger;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(m[1], '40');
    assert.equal(m[2], '40', `lost pings over the driver restart: ${r.stdout.split('\n').slice(-3).join(' ')}`);
    assert.equal(next.driver.charon.pid, pid, 'the same charon');
    assert.deepEqual(await ikeIds(next, b.ep.cableName), ids, 'no new IKE_SA');
    assert.ok(next.lines.some((l) => l.includes('adopted the running charon')), 'adopted');
    assert.equal((await stateOf(next, b.ep.cableName))?.status, 'connected');
  });

  it('rekeying the IKE_SA and the CHILD_SAs loses no ping (make-before-break)', async () => {
    const { a, b } = nodes as Record<'a' | 'b', Node>;
    const pinger = exec('ping', ['-i', '0.1', '-c', '25', '-W', '1', '-I', a.gw.podIPs[0]!, b.gw.podIPs[0]!], { netns: a.gw.ns, allowFailure: true });
    const v = new ViciClient({ socketPath: a.driver.charon.paths.socket });
    try {
      const before = await v.listSas({ ike: b.ep.cableName });
      const spis = before.flatMap((s) => s.children.map((c) => c.spiIn));
      assert.deepEqual((await v.listSas({ ikeId: before[0]!.uniqueId })).map((s) => s.uniqueId), [before[0]!.uniqueId], 'list-sas by ike-id');
      // every SA, by unique id (both sides may have initiated: duplicates are fine, each gets rekeyed)
      for (const sa of before) {
        for (const c of sa.children) await v.rekey({ childId: c.uniqueId });
        await v.rekey({ ikeId: sa.uniqueId });
      }
      await waitFor(async () => {
        const now = (await v.listSas({ ike: b.ep.cableName })).flatMap((s) => s.children.filter((c) => c.state === 'INSTALLED').map((c) => c.spiIn));
        return now.length >= 2 && now.every((spi) => !spis.includes(spi));
      }, { timeoutMs: 5_000, what: 'new CHILD_SAs after rekeying' });
    } finally {
      v.close();
    }
    const r = await pinger;
    assert.match(r.stdout, /25 packets transmitted, 25 received/, r.stdout.split('\n').slice(-3).join(' '));
    assert.equal((await stateOf(a, b.ep.cableName))?.status, 'connected');
  });

  it('an IKE_SA terminated behind hawser\'s back (swanctl --terminate) is re-established by its down event within a few seconds', async () => {
    const { a, b } = nodes as Record<'a' | 'b', Node>;
    const before = await ikeIds(a, b.ep.cableName);
    assert.ok(before.length >= 1, 'an IKE_SA to terminate');
    const t0 = Date.now();
    const r = await exec('swanctl', ['--terminate', '--ike', b.ep.cableName, '--force', '--uri', `unix://${a.driver.charon.paths.socket}`], { netns: a.gw.ns, allowFailure: true });
    assert.equal(r.code, 0, r.stderr || r.stdout);
    await waitFor(async () => {
      const now = await ikeIds(a, b.ep.cableName);
      return now.length >= 1 && now.every((id) => !before.includes(id)) && (await stateOf(a, b.ep.cableName))?.status === 'connected';
    }, { timeoutMs: 5_000, intervalMs: 50, what: 'a new IKE_SA after the terminate' });
    await waitPing(a.gw, a.gw.podIPs[0]!, b.gw.podIPs[0]!, 3_000);
    const ms = Date.now() - t0;
    if (process.env.HAWSER_TEST_LOG === '1') console.log(`re-established ${ms} ms after swanctl --terminate`);
    assert.ok(a.lines.some((l) => l.includes('IPsec IKE_SA down') && l.includes(b.ep.cableName)), 'the down event was seen');
    await waitFor(() => !a.driver.followsCharonLog, { timeoutMs: 5_000, what: 'log events no longer followed once the cable is back' });
  });

  it('kill charon by PID: the cable is back within 5 s and the log says what happened', async () => {
    const { a, b } = nodes as Record<'a' | 'b', Node>;
    const pid = a.driver.charon.pid;
    assert.ok(pid, 'charon runs');
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    await waitFor(async () => (await ping(a.gw, a.gw.podIPs[0]!, b.gw.podIPs[0]!, 0.2)) && a.driver.charon.pid !== pid && a.driver.charon.pid !== undefined, { timeoutMs: 5_000, intervalMs: 20, what: 'cable back after charon was killed' });
    const ms = Date.now() - t0;
    assert.ok(ms < 5_000, `back after ${ms} ms`);
    if (process.env.HAWSER_TEST_LOG === '1') console.log(`cable back ${ms} ms after SIGKILL`);
    await waitFor(() => a.lines.some((l) => l.includes('IPsec connections re-loaded into the restarted charon')), { timeoutMs: 2_000 });
    assert.ok(a.lines.some((l) => l.includes('VICI socket closed')), 'the closed socket was noticed');
    assert.ok(a.lines.some((l) => l.includes('charon died and was restarted') && l.includes(`"previousPid":${pid}`)), 'restart logged');
    await waitStatus(a, b.ep.cableName, 'connected');
    assert.ok(await ping(b.gw, b.gw.podIPs[0]!, a.gw.podIPs[1]!), 'the other direction too');
  });

  it('disconnect() removes the cable; cleanup() unloads everything and stops charon', async () => {
    const { a, b } = nodes as Record<'a' | 'b', Node>;
    await a.driver.disconnect(b.ep);
    await a.driver.disconnect(b.ep); // idempotent
    assert.equal(await stateOf(a, b.ep.cableName), undefined);
    assert.deepEqual(await ikeIds(a, b.ep.cableName), []);
    const pid = a.driver.charon.pid;
    await a.driver.cleanup();
    assert.equal(a.driver.charon.pid, undefined);
    assert.ok(pid !== undefined, 'charon runs');
    const routes = await exec('ip', ['route', 'show', 'table', '220'], { netns: a.gw.ns, allowFailure: true });
    assert.equal(routes.stdout.trim(), '');
    const links = await exec('ip', ['-o', 'link'], { netns: a.gw.ns });
    assert.doesNotMatch(links.stdout, /ipsec\d/);
  });
});

describe('ipsec driver @real: one gateway behind NAT (masquerade)', function () {
  this.timeout(60_000);
  let lab: Lab;
  const nodes: Record<string, Node> = {};

  before(async () => {
    lab = await buildLab([
      { key: 'a', nat: true, subnets: ['10.21.0.0/24'] },
      { key: 'b', subnets: ['10.22.0.0/24'] },
    ]);
    const a = lab.gateways.a!;
    const b = lab.gateways.b!;
    nodes.a = makeDriver(a, endpointOf(a, { publicIP: lab.publicIPOf(a, b) }), PSK);
    nodes.b = makeDriver(b, endpointOf(b), PSK);
    await Promise.all(Object.values(nodes).map((n) => n.driver.init()));
  });

  after(async () => {
    await teardown(Object.values(nodes), lab);
  });

  it('connects through the NAT with UDP-encapsulated ESP; nothing in clear', async () => {
    const { a, b } = nodes as Record<'a' | 'b', Node>;
    const before = await lab.counters();
    await Promise.all([
      a.driver.connect(b.ep, { useIP: b.gw.ip, useNAT: true }),
      b.driver.connect(a.ep, { useIP: a.ep.publicIP, useNAT: true }),
    ]);
    await waitStatus(a, b.ep.cableName, 'connected');
    const onB = await waitStatus(b, a.ep.cableName, 'connected');
    assert.equal(onB.usingNAT, true);
    await waitPing(b.gw, b.gw.podIPs[0]!, a.gw.podIPs[0]!, 5_000);
    const mbps = await iperf(b.gw, b.gw.podIPs[0]!, a.gw, a.gw.podIPs[0]!, 1);
    assert.ok(mbps > 1, `TCP through the NATed cable: ${mbps} Mbit/s`);
    const v = new ViciClient({ socketPath: b.driver.charon.paths.socket });
    try {
      const sas = await v.listSas({ ike: a.ep.cableName });
      const live = sas.filter((s) => s.state === 'ESTABLISHED');
      assert.ok(live.length >= 1, 'a live SA');
      assert.ok(live.every((s) => s.remoteHost === a.ep.publicIP && s.natRemote), 'B sees A at the NAT address');
      assert.ok(live.flatMap((s) => s.children).every((c) => c.encap), 'ESP is UDP-encapsulated');
    } finally {
      v.close();
    }
    const after = await lab.counters();
    assert.ok(after.espInUdp - before.espInUdp > 50, `ESP-in-UDP on the WAN: ${after.espInUdp - before.espInUdp}`);
    assert.equal(after.esp - before.esp, 0, 'no plain ESP through the NAT');
    assert.equal(after.clear - before.clear, 0, 'nothing in clear');
  });

  it('preferred-server: the public gateway only answers, the NATed client initiates', async () => {
    const { a } = nodes as Record<'a', Node>;
    let b = nodes.b!;
    await Promise.all([a.driver.disconnect(b.ep), b.driver.disconnect(a.ep)]);
    const aEp = endpointOf(a.gw, { publicIP: a.ep.publicIP, backendConfig: { 'preferred-server': 'false' } });
    const bEp = endpointOf(b.gw, { backendConfig: { 'preferred-server': 'true' } });
    // B becomes a preferred server (its node label): a new driver instance over the same charon.
    await b.driver.close();
    b = nodes.b = makeDriver(b.gw, bEp, PSK);
    await b.driver.init();
    assert.equal(b.driver.plan(aEp, { useIP: a.ep.publicIP, useNAT: true }).mode, 'server');
    assert.equal(a.driver.plan(bEp, { useIP: b.gw.ip, useNAT: true }).mode, 'client');
    await Promise.all([b.driver.connect(aEp, { useIP: a.ep.publicIP, useNAT: true }), a.driver.connect(bEp, { useIP: b.gw.ip, useNAT: true })]);
    await waitStatus(b, aEp.cableName, 'connected');
    await waitPing(b.gw, b.gw.podIPs[0]!, a.gw.podIPs[0]!, 5_000);
    const v = new ViciClient({ socketPath: b.driver.charon.paths.socket });
    try {
      // server/client mode: one IKE connection per subnet pair, `<cable>-<i>-<j>`, with libreswan's FQDN ids
      const sas = (await v.listSas()).filter((s) => s.name.startsWith(`${aEp.cableName}-`));
      assert.ok(sas.length >= 1 && sas.every((s) => !s.initiator), 'the server never initiated');
      assert.ok(sas.every((s) => /^\S+-\d+-\d+$/.test(s.localId) && s.remoteId === `${a.gw.ip}-0-0`), JSON.stringify(sas.map((s) => [s.localId, s.remoteId])));
    } finally {
      v.close();
    }
  });
});

describe('ipsec driver @real: interop with a charon configured only by swanctl.conf', function () {
  this.timeout(60_000);
  let lab: Lab;
  let node: Node | undefined;
  let plainStop: (() => Promise<void>) | undefined;

  before(async () => {
    lab = await buildLab([
      { key: 'a', subnets: ['10.31.0.0/24', '10.131.0.0/24'] },
      { key: 'd', subnets: ['10.32.0.0/24'] },
    ]);
  });

  after(async () => {
    await plainStop?.();
    await teardown(node ? [node] : [], lab);
  });

  it('a hawser driver and a plain swanctl-configured charon (Submariner-style IKEv2/PSK/selectors) pass traffic', async () => {
    const a = lab.gateways.a!;
    const d = lab.gateways.d!;
    const epA = endpointOf(a);
    const epD = endpointOf(d);
    // What Submariner's libreswan driver negotiates, written by hand: IKEv2, PSK = the CE_IPSEC_PSK text,
    // ids = private IPs, IKE on the NAT-T ports, one child per (local subnet, remote subnet) named
    // <remote cable>-<i>-<j>, DPD 30 s with hold; it initiates too (bidirectional).
    const plain = await startPlainCharon(d, `${lab.tmp}/plain`, handSwanctlConf({
      name: epA.cableName,
      localIP: d.ip,
      remoteIP: a.ip,
      psk: PSK,
      children: epA.subnets.map((r, j) => ({ name: `${epA.cableName}-0-${j}`, local: epD.subnets[0]!, remote: r })),
    }));
    plainStop = plain.stop;

    node = makeDriver(a, epA, PSK);
    await node.driver.init();
    await node.driver.connect(epD, { useIP: d.ip, useNAT: false });
    await waitStatus(node, epD.cableName, 'connected');
    await waitPing(a, a.podIPs[0]!, d.podIPs[0]!, 5_000);
    await waitPing(d, d.podIPs[0]!, a.podIPs[1]!, 5_000);
    const mbps = await iperf(d, d.podIPs[0]!, a, a.podIPs[0]!, 1);
    assert.ok(mbps > 1, `TCP: ${mbps} Mbit/s`);
  });
});

describe('ipsec driver @real: kernel data path on this kernel (no ESP)', function () {
  this.timeout(60_000);
  let lab: Lab;
  const nodes: Node[] = [];

  after(async () => {
    await teardown(nodes, lab);
  });

  it('the connection is in error with a message that says to use HAWSER_IPSEC_USERSPACE', async () => {
    lab = await buildLab([{ key: 'a', subnets: ['10.41.0.0/24'] }, { key: 'b', subnets: ['10.42.0.0/24'] }]);
    for (const k of ['a', 'b']) {
      const gw = lab.gateways[k]!;
      const m = memoryLogger(`ipsec-${k}`);
      const driver = createIpsecDriver({ config: gatewayConfigOf(gw, PSK, { HAWSER_IPSEC_USERSPACE: 'false' }), localEndpoint: endpointOf(gw), log: m.log }, { dir: gw.dir, netns: gw.ns });
      nodes.push({ gw, ep: endpointOf(gw), driver, lines: m.lines });
    }
    const [a, b] = nodes as [Node, Node];
    await Promise.all(nodes.map((n) => n.driver.init()));
    await Promise.all([a.driver.connect(b.ep, { useIP: b.gw.ip, useNAT: false }), b.driver.connect(a.ep, { useIP: a.gw.ip, useNAT: false })]);
    const s = await waitFor(async () => {
      const st = await stateOf(a, b.ep.cableName);
      return st?.status === 'error' && /kernel/.test(st.statusMessage) ? st : undefined;
    }, { timeoutMs: 10_000, what: 'kernel install error' });
    assert.match(s.statusMessage, /could not be installed in the kernel.*HAWSER_IPSEC_USERSPACE=true/);
  });
});

describe('ipsec driver @real: IKE ports already taken in the namespace', function () {
  this.timeout(30_000);
  let lab: Lab;
  const nodes: Node[] = [];

  after(async () => {
    await teardown(nodes, lab);
  });

  it('init() refuses a charon that could not bind its sockets, says why, and stops it', async () => {
    lab = await buildLab([{ key: 'a', subnets: ['10.51.0.0/24'] }]);
    const gw = lab.gateways.a!;
    const first = makeDriver(gw, endpointOf(gw), PSK);
    const second = makeDriver({ ...gw, dir: `${gw.dir}-second` }, endpointOf(gw), PSK);
    nodes.push(first, second);
    await first.driver.init();
    await assert.rejects(second.driver.init(), (e: unknown) => e instanceof Error && /cannot open its IKE sockets.*UDP 500\/4500 is probably taken by another IKE daemon/.test(e.message));
    assert.equal(second.driver.charon.pid, undefined, 'the useless charon was stopped');
    assert.ok(first.driver.charon.pid !== undefined, 'the first one is untouched');
  });
});

describe('ipsec driver @real: charon killed and not restartable for a while', function () {
  this.timeout(60_000);
  let lab: Lab;
  const nodes: Node[] = [];

  after(async () => {
    await teardown(nodes, lab);
  });

  it('the cable is in error naming charon while it cannot be started, and comes back once it can', async () => {
    lab = await buildLab([{ key: 'a', subnets: ['10.61.0.0/24'] }, { key: 'b', subnets: ['10.62.0.0/24'] }]);
    // charon through a wrapper this test can take away (same process: the wrapper execs charon-systemd).
    const wrapper = join(lab.tmp, 'charon-wrapper');
    writeFileSync(wrapper, '#!/bin/sh\nexec /usr/sbin/charon-systemd "$@"\n');
    chmodSync(wrapper, 0o755);
    const ga = lab.gateways.a!;
    const gb = lab.gateways.b!;
    const a = makeDriver(ga, endpointOf(ga), PSK, undefined, wrapper);
    const b = makeDriver(gb, endpointOf(gb), PSK);
    nodes.push(a, b);
    await Promise.all(nodes.map((n) => n.driver.init()));
    await Promise.all([a.driver.connect(b.ep, { useIP: gb.ip, useNAT: false }), b.driver.connect(a.ep, { useIP: ga.ip, useNAT: false })]);
    await waitStatus(a, b.ep.cableName, 'connected');
    const pid = a.driver.charon.pid;
    assert.ok(pid, 'charon runs');
    renameSync(wrapper, `${wrapper}.away`);
    process.kill(pid, 'SIGKILL');
    const down = await waitFor(async () => {
      const s = await stateOf(a, b.ep.cableName);
      return s?.status === 'error' && /exited during start|cannot start/.test(s.statusMessage) ? s : undefined;
    }, { timeoutMs: 10_000, intervalMs: 50, what: 'the status names the failed restart' });
    assert.match(down.statusMessage, /charon is not answering: its VICI socket closed/);
    assert.ok(a.lines.some((l) => l.includes('could not bring charon back')), 'the failed restart is logged');
    assert.equal((await stateOf(b, a.ep.cableName))?.status !== undefined, true, 'the peer still has its cable');
    renameSync(`${wrapper}.away`, wrapper);
    await waitStatus(a, b.ep.cableName, 'connected', 20_000);
    await waitPing(ga, ga.podIPs[0]!, gb.podIPs[0]!, 5_000);
    assert.notEqual(a.driver.charon.pid, pid, 'a new charon');
  });
});

describe('ipsec driver @real: drift without any event, under the cable engine', function () {
  this.timeout(60_000);
  let lab: Lab;
  const nodes: Node[] = [];
  let engine: CableEngine | undefined;

  after(async () => {
    await engine?.stop();
    await teardown(nodes, lab);
  });

  it('a connection unloaded behind hawser\'s back (no event) is loaded again by the engine\'s resync, and the cable stays up', async () => {
    lab = await buildLab([{ key: 'a', subnets: ['10.71.0.0/24'] }, { key: 'b', subnets: ['10.72.0.0/24'] }]);
    const ga = lab.gateways.a!;
    const gb = lab.gateways.b!;
    const a = makeDriver(ga, endpointOf(ga), PSK);
    const b = makeDriver(gb, endpointOf(gb), PSK);
    nodes.push(a, b);
    await Promise.all(nodes.map((n) => n.driver.init()));
    // A short resync so the test need not wait 30 s; the driver itself has no timer.
    const resyncMs = 1_500;
    engine = new CableEngine({ driver: a.driver, localEndpoint: a.ep, log: memoryLogger('engine-a').log, natFor: () => ({ useIP: gb.ip, useNAT: false }), resyncMs });
    engine.setWanted({ wanted: [b.ep], rejected: [] });
    await engine.reconcile();
    await b.driver.connect(a.ep, { useIP: ga.ip, useNAT: false });
    await waitStatus(a, b.ep.cableName, 'connected');
    await waitPing(ga, ga.podIPs[0]!, gb.podIPs[0]!, 5_000);

    const v = new ViciClient({ socketPath: a.driver.charon.paths.socket });
    try {
      const loaded = (await v.getConns()).filter((n) => n === b.ep.cableName || n.startsWith(`${b.ep.cableName}-`));
      assert.ok(loaded.length >= 1, 'the cable\'s connection is loaded');
      const t0 = Date.now();
      for (const n of loaded) await v.unloadConn(n);
      assert.deepEqual((await v.getConns()).filter((n) => loaded.includes(n)), [], 'unloaded');
      await waitFor(async () => {
        const now = await v.getConns();
        return loaded.every((n) => now.includes(n));
      }, { timeoutMs: 3 * resyncMs + 5_000, intervalMs: 100, what: 'the unloaded connection loaded again' });
      const ms = Date.now() - t0;
      if (process.env.HAWSER_TEST_LOG === '1') console.log(`connection back ${ms} ms after unload-conn (resync every ${resyncMs} ms)`);
    } finally {
      v.close();
    }
    assert.ok(a.lines.some((l) => l.includes('IPsec connections were missing from charon')), 'the resync said what it repaired');
    await waitStatus(a, b.ep.cableName, 'connected');
    await waitPing(ga, ga.podIPs[0]!, gb.podIPs[0]!, 5_000);
  });
});
