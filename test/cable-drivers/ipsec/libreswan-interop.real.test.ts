// hawser's IPsec cable against libreswan 4.10 configured exactly as Submariner's libreswan driver configures
// it. Debian's libreswan is unpacked (scripts/libreswan.sh; it conflicts with charon-systemd as an installed
// package) and pluto runs in a private mount namespace (its helpers at /usr/libexec/ipsec) in its own netns.
//
// This kernel has no ESP: neither pluto can install an SA (XFRM answers ENOSYS, errno 38, to "Add SA"), so
// with libreswan no traffic flows here. That is the only thing missing: the tests assert that the IKE SA
// and every child SA (each subnet pair) are *negotiated* (pluto chose an ESP proposal for that pair, then
// the kernel refused to install it). Traffic through hawser↔hawser cables is proven in driver.real.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createIpsecDriver, type IpsecDriver } from '../../../src/cable-drivers/ipsec/index.js';
import { createPlutoDriver, Pluto, type PlutoDriver } from '../../../src/cable-drivers/ipsec/libreswan/index.js';
import { ViciClient } from '../../../src/cable-drivers/ipsec/vici/index.js';
import type { ConnectionState, NatInfo } from '../../../src/cable-drivers/types.js';
import type { EndpointSpec } from '../../../src/k8s/resources.js';
import { exec } from '../../../src/util/exec.js';
import { waitFor } from '../../../src/util/wait.js';
import { submarinerWhackCalls } from './fixtures/submariner-whack.js';
import { buildLab, endpointOf, gatewayConfigOf, memoryLogger, type Lab, type LabGateway } from '../../support/ipsec-lab.js';

const PSK = 'aGF3c2VyLWxhYi1wc2stdGV4dA==';
const WRONG_PSK = 'c29tZXRoaW5nLWVsc2UtZW50aXJlbHk=';

interface SubGateway {
  gw: LabGateway;
  ep: EndpointSpec;
  pluto: Pluto;
}

async function startSubmariner(gw: LabGateway, root: string, psk: string, backendConfig: Record<string, string>): Promise<SubGateway> {
  const pluto = new Pluto({ dir: join(gw.dir, 'submariner-pluto'), netns: gw.ns, root, log: memoryLogger(`sub-${gw.key}`).log });
  pluto.writeConfig(psk); // Init(): `%any %any : PSK "<psk>"`
  await pluto.ensure();
  return { gw, pluto, ep: endpointOf(gw, { backendConfig: { 'udp-port': '4500', ...backendConfig } }) };
}

/** Issues Submariner's calls; whack's exit codes are ignored for --route (it fails without kernel ESP). */
async function subConnect(s: SubGateway, remote: EndpointSpec, nat: NatInfo): Promise<void> {
  for (const args of submarinerWhackCalls(s.ep, remote, nat.useIP, nat.useNAT)) {
    const r = await s.pluto.whack(args);
    if (r.code !== 0 && args[0] !== '--route' && args[0] !== '--listen') throw new Error(`whack ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  }
}

async function subDisconnect(s: SubGateway, remote?: EndpointSpec): Promise<void> {
  const st = await s.pluto.whack(['--status']);
  for (const name of new Set([...st.stdout.matchAll(/"([^"]+)"(?:\[\d+\])?: /g)].map((m) => m[1]!))) {
    if (!remote || name.startsWith(`${remote.cableName}-`)) await s.pluto.whack(['--delete', '--name', name]);
  }
}

/** pluto's log from byte `from` (a mark taken at the start of a test) on. */
function plutoLog(p: Pluto, from = 0): string {
  try {
    return readFileSync(p.paths.logFile).subarray(from).toString('utf8');
  } catch {
    return '';
  }
}

function mark(p: Pluto): number {
  return Buffer.byteLength(plutoLog(p));
}

/** A child SA for this connection was negotiated: pluto chose an ESP proposal for it (as responder). */
function negotiatedChildren(log: string): Set<string> {
  const out = new Set<string>();
  for (const m of log.matchAll(/"([^"]+)"(?:\[\d+\])?(?: \S+)? #\d+: proposal \d+:ESP=\S+ .*chosen from remote proposals/g)) out.add(m[1]!);
  return out;
}

/** Connections whose IKE SA was established (pluto's log: `initiator|responder established IKE SA`). */
function establishedIke(log: string): Set<string> {
  const out = new Set<string>();
  for (const m of log.matchAll(/"([^"]+)"(?:\[\d+\])?(?: \S+)? #\d+: (?:initiator|responder) established IKE SA/g)) out.add(m[1]!);
  return out;
}

/** What keeps the child SAs from being installed: must be the kernel's missing ESP and nothing else. */
function installFailures(log: string): string[] {
  return [...log.matchAll(/netlink response for Add SA \S+: (.*)$/gm)].map((m) => m[1]!);
}

interface HawserNode<D> {
  gw: LabGateway;
  ep: EndpointSpec;
  driver: D;
  lines: string[];
}

function stateOf(d: { connections(): Promise<ConnectionState[]> }, cable: string): Promise<ConnectionState | undefined> {
  return d.connections().then((cs) => cs.find((c) => c.cableName === cable));
}

/** Both sides' connection names for the (i, j) pairs: hawser's `<sub cable>-i-j`, Submariner's `<hawser cable>-j-i`. */
function pairNames(h: EndpointSpec, s: EndpointSpec): Array<{ hawser: string; sub: string }> {
  const out: Array<{ hawser: string; sub: string }> = [];
  h.subnets.forEach((_, i) => s.subnets.forEach((__, j) => out.push({ hawser: `${s.cableName}-${i}-${j}`, sub: `${h.cableName}-${j}-${i}` })));
  return out;
}

describe('ipsec interop with libreswan 4.10 configured as Submariner @real', function () {
  this.timeout(120_000);
  let lab: Lab;
  let root = '';
  let sub: SubGateway;
  let subWrong: SubGateway;
  const plutoNodes: Array<HawserNode<PlutoDriver>> = [];
  const charonNodes: Array<HawserNode<IpsecDriver>> = [];

  function plutoNode(gw: LabGateway, backendConfig: Record<string, string>): HawserNode<PlutoDriver> {
    const m = memoryLogger(`hawser-pluto-${gw.key}`);
    const local = endpointOf(gw, { backendConfig });
    const driver = createPlutoDriver({ config: gatewayConfigOf(gw, PSK, { HAWSER_IPSEC_BACKEND: 'libreswan' }), localEndpoint: local, log: m.log }, { dir: join(gw.dir, 'pluto'), netns: gw.ns, root });
    const n = { gw, ep: endpointOf(gw, { backendConfig: { ...backendConfig, ...driver.localBackendConfig() } }), driver, lines: m.lines };
    plutoNodes.push(n);
    return n;
  }

  function charonNode(gw: LabGateway, backendConfig: Record<string, string>): HawserNode<IpsecDriver> {
    const m = memoryLogger(`hawser-charon-${gw.key}`);
    const local = endpointOf(gw, { backendConfig });
    const driver = createIpsecDriver({ config: gatewayConfigOf(gw, PSK), localEndpoint: local, log: m.log }, { dir: join(gw.dir, 'charon'), netns: gw.ns });
    const n = { gw, ep: endpointOf(gw, { backendConfig: { ...backendConfig, ...driver.localBackendConfig() } }), driver, lines: m.lines };
    charonNodes.push(n);
    return n;
  }

  before(async function () {
    this.timeout(300_000);
    const r = await exec('scripts/libreswan.sh', [], { timeoutMs: 280_000 });
    root = r.stdout.trim().split('\n').pop()!;
    lab = await buildLab([
      { key: 's', subnets: ['10.2.0.0/24', '10.22.0.0/24'] },
      { key: 'h', subnets: ['10.1.0.0/24', '10.11.0.0/24'] },
      { key: 'c', subnets: ['10.3.0.0/24'] },
      { key: 'n', nat: true, subnets: ['10.4.0.0/24'] },
      { key: 'w', subnets: ['10.5.0.0/24'] },
    ]);
    sub = await startSubmariner(lab.gateways.s!, root, PSK, { 'preferred-server': 'false' });
    subWrong = await startSubmariner(lab.gateways.w!, root, WRONG_PSK, { 'preferred-server': 'false' });
  });

  afterEach(function () {
    if (this.currentTest?.state !== 'failed' || process.env.HAWSER_TEST_LOG !== '1') return;
    for (const p of [sub.pluto, subWrong.pluto, ...plutoNodes.map((n) => n.driver.pluto)]) console.log(`--- ${p.paths.logFile}\n${plutoLog(p).split('\n').slice(-60).join('\n')}`);
    for (const n of [...plutoNodes, ...charonNodes]) console.log(`--- hawser ${n.gw.key}\n${n.lines.slice(-15).join('\n')}`);
    for (const n of charonNodes) {
      try {
        console.log(`--- charon ${n.gw.key}\n${readFileSync(n.driver.charon.paths.logFile, 'utf8').split('\n').slice(-80).join('\n')}`);
      } catch {
        /* none */
      }
    }
  });

  // A failed test must not leave connections behind for the next one.
  afterEach(async () => {
    for (const x of [sub, subWrong]) if (x) await subDisconnect(x);
  });

  after(async () => {
    for (const n of [...plutoNodes, ...charonNodes]) await n.driver.cleanup().catch(() => undefined);
    for (const s of [sub, subWrong]) await s?.pluto.stop().catch(() => undefined);
    await lab?.destroy();
  });

  const noNat = (to: { gw: LabGateway }): NatInfo => ({ useIP: to.gw.ip, useNAT: false });

  /**
   * Every subnet pair: an IKE SA established on both sides (server/client: one per pair) and an ESP proposal
   * chosen for its child SA; the only thing that failed afterwards is installing it (no ESP in this kernel).
   */
  async function assertNegotiated(h: HawserNode<PlutoDriver>, s: SubGateway, sEp: EndpointSpec, marks: [number, number], perPairIke: boolean): Promise<void> {
    const pairs = pairNames(h.ep, sEp);
    const logs = (): [string, string] => [plutoLog(h.driver.pluto, marks[0]), plutoLog(s.pluto, marks[1])];
    // Both sides log in their own time: wait until every pair's child and IKE SA show up (each side's log)
    const missing = (): string[] => {
      const [hl, sl] = logs();
      const got = new Set([...negotiatedChildren(hl), ...negotiatedChildren(sl)]);
      const ikeH = establishedIke(hl);
      const ikeS = establishedIke(sl);
      const out = pairs.filter((p) => !got.has(p.hawser) && !got.has(p.sub)).map((p) => `child ${p.hawser}`);
      if (ikeH.size === 0 || ikeS.size === 0) out.push('an IKE SA on each side');
      if (perPairIke) out.push(...pairs.filter((p) => !ikeH.has(p.hawser) || !ikeS.has(p.sub)).map((p) => `IKE SA ${p.hawser} / ${p.sub}`));
      return out;
    };
    await waitFor(() => missing().length === 0, { timeoutMs: 30_000, intervalMs: 200, what: 'every child SA negotiated and its IKE SA established' })
      .catch(() => assert.fail(`not negotiated: ${missing().join(', ')}`));
    const [hl, sl] = logs();
    const fails = [...installFailures(hl), ...installFailures(sl)];
    assert.ok(fails.length >= pairs.length, 'each negotiated child SA reached the kernel');
    for (const f of fails) assert.match(f, /Function not implemented \(errno 38\)/, 'the only failure: this kernel has no ESP');
    // hawser's status names the cause on that cable: its own kernel, or the peer refusing after its kernel failed
    const st = await waitFor(async () => {
      const s1 = await stateOf(h.driver, sEp.cableName);
      return s1?.status === 'error' ? s1 : undefined;
    }, { timeoutMs: 10_000, intervalMs: 200, what: 'hawser status' });
    assert.match(st.statusMessage, /negotiated but this kernel cannot install it: it has no ESP|TS_UNACCEPTABLE.*without kernel ESP/);
  }

  it('bidirectional (Submariner\'s default), hawser on its libreswan back end: IKE SA and all 4 child SAs negotiated', async () => {
    const h = plutoNode(lab.gateways.h!, { 'preferred-server': 'false' });
    await h.driver.init();
    const marks: [number, number] = [mark(h.driver.pluto), mark(sub.pluto)];
    await Promise.all([h.driver.connect(sub.ep, noNat(sub)), subConnect(sub, h.ep, noNat(h))]);
    await assertNegotiated(h, sub, sub.ep, marks, false);
    assert.match(plutoLog(h.driver.pluto), /authenticated peer using authby=secret and ID_IPV4_ADDR/);
    await h.driver.disconnect(sub.ep);
    await subDisconnect(sub, h.ep);
  });

  it('preferred-server, hawser (libreswan back end) as server, Submariner as client: FQDN identities, all child SAs negotiated', async () => {
    const h = plutoNodes[0]!;
    const hServer = { ...h.ep, backendConfig: { ...h.ep.backendConfig, 'preferred-server': 'true' } };
    const localServer = createPlutoDriver({ config: gatewayConfigOf(h.gw, PSK, { HAWSER_IPSEC_BACKEND: 'libreswan', CE_IPSEC_PREFERREDSERVER: 'true' }), localEndpoint: hServer, log: memoryLogger('hawser-pluto-h2').log }, { dir: join(h.gw.dir, 'pluto'), netns: h.gw.ns, root });
    await h.driver.close();
    h.driver = localServer; // adopts the running pluto
    await h.driver.init();
    const marks: [number, number] = [mark(h.driver.pluto), mark(sub.pluto)];
    await Promise.all([h.driver.connect(sub.ep, noNat(sub)), subConnect(sub, hServer, noNat(h))]);
    const node = { ...h, ep: hServer };
    await assertNegotiated(node, sub, sub.ep, marks, true);
    assert.match(plutoLog(h.driver.pluto), new RegExp(`authenticated peer using authby=secret and ID_FQDN '@${sub.gw.ip.replace(/\./g, '\\.')}-\\d-\\d'`));
    await h.driver.disconnect(sub.ep);
    await subDisconnect(sub, hServer);
  });

  it('preferred-server through NAT, hawser (libreswan back end, behind NAT) as client of a Submariner server', async () => {
    const n = plutoNode(lab.gateways.n!, { 'preferred-server': 'false' });
    await n.driver.init();
    const marks: [number, number] = [mark(n.driver.pluto), mark(sub.pluto)];
    const subServer: SubGateway = { ...sub, ep: { ...sub.ep, backendConfig: { ...sub.ep.backendConfig, 'preferred-server': 'true' } } };
    await Promise.all([
      n.driver.connect(subServer.ep, { useIP: sub.gw.ip, useNAT: true }),
      subConnect(subServer, n.ep, { useIP: lab.publicIPOf(n.gw, sub.gw), useNAT: true }),
    ]);
    await assertNegotiated(n, subServer, subServer.ep, marks, true);
    // the server restarted (new preferred-server-timestamp): the client replaces its connections and initiates again
    const m2: [number, number] = [mark(n.driver.pluto), mark(sub.pluto)];
    const restarted = { ...subServer.ep, backendConfig: { ...subServer.ep.backendConfig, 'preferred-server-timestamp': String(Math.floor(Date.now() / 1000)) } };
    await n.driver.connect(restarted, { useIP: sub.gw.ip, useNAT: true });
    assert.ok(n.lines.some((l) => l.includes('libreswan connection settings changed; replacing its connections')), 'the client replaced its connections');
    await assertNegotiated(n, subServer, restarted, m2, true);
    // the server saw the client at the NAT router's address, and accepted it (%any)
    assert.match(plutoLog(sub.pluto, marks[1]), new RegExp(`"\\[\\d+\\] ${lab.publicIPOf(n.gw, sub.gw).replace(/\./g, '\\.')} #\\d+: responder established IKE SA`));
    await n.driver.disconnect(subServer.ep);
    await subDisconnect(subServer, n.ep);
  });

  it('bidirectional through NAT, hawser (libreswan back end) behind NAT: its initiations get through, all child SAs negotiated', async () => {
    const n = plutoNodes.find((x) => x.gw.key === 'n')!;
    const marks: [number, number] = [mark(n.driver.pluto), mark(sub.pluto)];
    await Promise.all([
      n.driver.connect(sub.ep, { useIP: sub.gw.ip, useNAT: true }),
      // Submariner's initiations go to the NAT router's address and die there; the NATed side's get through
      subConnect(sub, n.ep, { useIP: lab.publicIPOf(n.gw, sub.gw), useNAT: true }),
    ]);
    await assertNegotiated(n, sub, sub.ep, marks, false);
    assert.ok(n.driver.plan(sub.ep, { useIP: sub.gw.ip, useNAT: true }).conns.every((c) => c.add.includes('--forceencaps')));
    await n.driver.disconnect(sub.ep);
    await subDisconnect(sub, n.ep);
  });

  // --------------------------------------------------------------------------------------------
  // hawser's default back end (strongSwan charon, userspace ESP) against the same Submariner libreswan.

  async function charonSas(n: HawserNode<IpsecDriver>): Promise<Array<{ name: string; state: string; localId: string; remoteId: string; children: number }>> {
    const v = new ViciClient({ socketPath: n.driver.charon.paths.socket });
    try {
      return (await v.listSas({ noblock: true })).map((x) => ({ name: x.name, state: x.state, localId: x.localId, remoteId: x.remoteId, children: x.children.length }));
    } finally {
      v.close();
    }
  }

  function waitError(d: { connections(): Promise<ConnectionState[]> }, cable: string, re: RegExp, timeoutMs = 30_000): Promise<ConnectionState> {
    return waitFor(async () => {
      const st = await stateOf(d, cable);
      return st?.status === 'error' && re.test(st.statusMessage) ? st : undefined;
    }, { timeoutMs, intervalMs: 200, what: `${cable} in error matching ${re}` }).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(await stateOf(d, cable))}`);
    });
  }

  /** The one warn line hawser logged for that cable and cause. */
  function loggedOnce(n: HawserNode<unknown>, cable: string, re: RegExp): void {
    const hits = n.lines.filter((l) => l.includes('"level":"warn"') && l.includes(`"cable":"${cable}"`) && re.test(l));
    assert.ok(hits.length >= 1, `a log line for ${cable} matching ${re}`);
  }

  let c: HawserNode<IpsecDriver>;

  it('strongSwan back end, bidirectional: IKE SA up, no child SA; the cable says ESN, which side lacks it and what to change', async () => {
    c = charonNode(lab.gateways.c!, { 'preferred-server': 'false' });
    await c.driver.init();
    await Promise.all([c.driver.connect(sub.ep, noNat(sub)), subConnect(sub, c.ep, noNat(c))]);
    const st = await waitError(c.driver, sub.ep.cableName, /because of ESN|no common ESP proposal/);
    assert.match(st.statusMessage, /libreswan 5 or later.*--no-esn.*HAWSER_IPSEC_BACKEND=libreswan/);
    // as responder charon sees libreswan's ESP proposals and says exactly which side lacks the ESN transform
    await waitFor(() => c.lines.some((l) => /because of ESN: the peer proposes ESP without an Extended Sequence Numbers transform/.test(l)), { timeoutMs: 30_000, intervalMs: 200, what: 'the responder-side ESN message' });
    loggedOnce(c, sub.ep.cableName, /because of ESN/);
    const sas = await charonSas(c);
    assert.ok(sas.some((x) => x.name === sub.ep.cableName && x.state === 'ESTABLISHED' && x.remoteId === sub.gw.ip), `IKE SA with IP identities: ${JSON.stringify(sas)}`);
    assert.match(plutoLog(sub.pluto), /no local proposal matches remote proposals .*ESN=DISABLED/, 'and libreswan refuses strongSwan\'s ESN transform');
    await c.driver.disconnect(sub.ep);
    await subDisconnect(sub, c.ep);
  });

  it('strongSwan back end as preferred-server client: one IKE SA per subnet pair with @<ip>-<i>-<j> identities, children fail on ESN', async () => {
    const subServer: SubGateway = { ...sub, ep: { ...sub.ep, backendConfig: { ...sub.ep.backendConfig, 'preferred-server': 'true' } } };
    await Promise.all([c.driver.connect(subServer.ep, noNat(sub)), subConnect(subServer, c.ep, noNat(c))]);
    const want = pairNames(c.ep, sub.ep).map((p) => p.hawser);
    await waitFor(async () => {
      const sas = await charonSas(c);
      return want.every((w, k) => sas.some((x) => x.name === w && x.state === 'ESTABLISHED' && x.localId === `${c.gw.ip}-0-${k}` && x.remoteId === `${sub.gw.ip}-${k}-0`));
    }, { timeoutMs: 20_000, intervalMs: 200, what: `IKE SAs ${want.join(', ')} with FQDN identities` });
    await waitError(c.driver, sub.ep.cableName, /no common ESP proposal.*ESN/);
    await c.driver.disconnect(subServer.ep);
    await subDisconnect(subServer, c.ep);
  });

  it('strongSwan back end as preferred-server server: accepts the Submariner client\'s FQDN identities; ESN named from the received proposals', async () => {
    const cServer = { ...c.ep, backendConfig: { ...c.ep.backendConfig, 'preferred-server': 'true' } };
    const server = createIpsecDriver({ config: gatewayConfigOf(c.gw, PSK, { CE_IPSEC_PREFERREDSERVER: 'true' }), localEndpoint: cServer, log: memoryLogger('hawser-charon-c2').log }, { dir: join(c.gw.dir, 'charon'), netns: c.gw.ns });
    await c.driver.close();
    c.driver = server; // adopts the running charon
    await c.driver.init();
    await Promise.all([c.driver.connect(sub.ep, noNat(sub)), subConnect(sub, cServer, noNat(c))]);
    await waitFor(async () => (await charonSas(c)).some((x) => x.state === 'ESTABLISHED' && x.remoteId === `${sub.gw.ip}-0-0` && x.localId === `${c.gw.ip}-0-0`), { timeoutMs: 20_000, intervalMs: 200, what: 'IKE SA from the Submariner client' });
    const st = await waitError(c.driver, sub.ep.cableName, /because of ESN: the peer proposes ESP without an Extended Sequence Numbers transform/);
    assert.match(st.statusMessage, /HAWSER_IPSEC_BACKEND=libreswan/);
    await c.driver.disconnect(sub.ep);
    await subDisconnect(sub, cServer);
  });

  /** A new strongSwan-back-end driver for gateway c with this preferred-server setting; it adopts the running charon. */
  async function restartCharonDriver(preferred: boolean): Promise<void> {
    const ep = { ...c.ep, backendConfig: { ...c.ep.backendConfig, 'preferred-server': String(preferred) } };
    const m = memoryLogger(`hawser-charon-c-${String(preferred)}`);
    const d = createIpsecDriver({ config: gatewayConfigOf(c.gw, PSK, { CE_IPSEC_PREFERREDSERVER: String(preferred) }), localEndpoint: ep, log: m.log }, { dir: join(c.gw.dir, 'charon'), netns: c.gw.ns });
    await c.driver.close();
    c.driver = d;
    c.ep = ep;
    c.lines = m.lines;
    await d.init();
  }

  it('identity mismatch (the peer runs preferred-server, its Endpoint here says bidirectional): expected vs received id and both settings, from events charon does not name', async () => {
    await restartCharonDriver(false);
    // Submariner is told hawser prefers to serve (so it is the client with @<ip>-<i>-<j> ids); hawser sees plain bidirectional.
    const cAsServer = { ...c.ep, backendConfig: { ...c.ep.backendConfig, 'preferred-server': 'true' } };
    const subPlain: SubGateway = { ...sub, ep: { ...sub.ep, backendConfig: { ...sub.ep.backendConfig, 'preferred-server': 'false' } } };
    await Promise.all([c.driver.connect(subPlain.ep, noNat(sub)), subConnect(subPlain, cAsServer, noNat(c))]);
    const st = await waitError(c.driver, sub.ep.cableName, /identity mismatch/);
    assert.match(st.statusMessage, new RegExp(`presented identity ${sub.gw.ip.replace(/\./g, '\\.')}-\\d-\\d but this gateway expects ${sub.gw.ip.replace(/\./g, '\\.')} \\(preferred-server here false, on the peer false`));
    loggedOnce(c, sub.ep.cableName, /identity mismatch/);
    await c.driver.disconnect(subPlain.ep);
    await subDisconnect(subPlain, cAsServer);
  });

  it('PSK mismatch, no common IKE proposal, refused traffic selectors: each named on that cable\'s status', async () => {
    const w: SubGateway = subWrong;
    // PSK: the libreswan peer w has another PSK
    await Promise.all([c.driver.connect(w.ep, noNat(w)), subConnect(w, c.ep, noNat(c))]);
    await waitError(c.driver, w.ep.cableName, /pre-shared key mismatch|pre-shared key differs/);
    await c.driver.disconnect(w.ep);
    await subDisconnect(w, c.ep);
    // IKE proposals: the peer offers only AES-128/SHA-1/MODP-1536 (Submariner's args plus --ike)
    await c.driver.connect(w.ep, noNat(w));
    const calls = submarinerWhackCalls(w.ep, c.ep, c.gw.ip, false);
    for (const args of calls) {
      const a = args[0] === '--psk' ? [...args.slice(0, 2), '--ike', 'aes128-sha1;modp1536', ...args.slice(2)] : args;
      const r = await w.pluto.whack(a);
      if (r.code !== 0 && a[0] === '--psk') throw new Error(`whack ${a.join(' ')}: ${r.stdout}${r.stderr}`);
    }
    const ike = await waitError(c.driver, w.ep.cableName, /no common IKE proposal/);
    assert.match(ike.statusMessage, /it offers IKE:AES_CBC_128\/HMAC_SHA1_96\/PRF_HMAC_SHA1\/MODP_1536.*hawser offers IKE:AES_GCM_16_256/);
    await c.driver.disconnect(w.ep);
    await subDisconnect(w, c.ep);
    // traffic selectors: hawser believes the peer has 10.99.0.0/24, which the peer does not tunnel
    const lying = { ...sub.ep, subnets: ['10.99.0.0/24'] };
    await Promise.all([c.driver.connect(lying, noNat(sub)), subConnect(sub, c.ep, noNat(c))]);
    await waitError(c.driver, sub.ep.cableName, /refused the traffic selectors \(TS_UNACCEPTABLE\)/);
    await c.driver.disconnect(lying);
    await subDisconnect(sub, c.ep);
  });

  // --------------------------------------------------------------------------------------------
  // hawser's two back ends together, and the libreswan back end's own guarantees.

  function charonChildrenEstablished(n: HawserNode<IpsecDriver>): Set<string> {
    let text = '';
    try {
      text = readFileSync(n.driver.charon.paths.logFile, 'utf8');
    } catch {
      /* none yet */
    }
    return new Set([...text.matchAll(/CHILD_SA (\S+)\{\d+\} established/g)].map((m) => m[1]!));
  }

  it('libreswan back end and strongSwan back end (hawser on both ends): --no-esn from the published back end, every child SA negotiated', async () => {
    const h = plutoNodes[0]!;
    const hEp = { ...h.ep, backendConfig: { ...h.ep.backendConfig, 'preferred-server': 'false' } };
    const d = createPlutoDriver({ config: gatewayConfigOf(h.gw, PSK, { HAWSER_IPSEC_BACKEND: 'libreswan' }), localEndpoint: hEp, log: memoryLogger('hawser-pluto-h3').log }, { dir: join(h.gw.dir, 'pluto'), netns: h.gw.ns, root });
    await h.driver.close();
    h.driver = d;
    h.ep = hEp;
    await d.init();
    await restartCharonDriver(false);
    assert.equal(c.ep.backendConfig['hawser-ipsec-backend'], 'strongswan');
    const m0 = mark(h.driver.pluto);
    assert.ok(d.plan(c.ep, noNat(c)).noEsn);
    await Promise.all([d.connect(c.ep, noNat(c)), c.driver.connect(hEp, noNat(h))]);
    const pairs = pairNames(hEp, c.ep);
    await waitFor(() => {
      const got = new Set([...negotiatedChildren(plutoLog(h.driver.pluto, m0)), ...charonChildrenEstablished(c)]);
      return pairs.every((p) => got.has(p.hawser) || got.has(p.sub));
    }, { timeoutMs: 30_000, intervalMs: 200, what: 'every child SA between the two back ends negotiated' });
    assert.doesNotMatch(plutoLog(h.driver.pluto, m0), /no local proposal matches/);
    for (const f of installFailures(plutoLog(h.driver.pluto, m0))) assert.match(f, /errno 38/, 'only pluto\'s missing kernel ESP fails');
  });

  it('libreswan back end keeps its guarantees: a new instance adopts pluto and its connections; a killed pluto is restarted and re-filled', async () => {
    const h = plutoNodes[0]!;
    const pid = h.driver.pluto.pid;
    assert.ok(pid, 'pluto runs');
    const m = memoryLogger('hawser-pluto-h4');
    const d = createPlutoDriver({ config: gatewayConfigOf(h.gw, PSK, { HAWSER_IPSEC_BACKEND: 'libreswan' }), localEndpoint: h.ep, log: m.log }, { dir: join(h.gw.dir, 'pluto'), netns: h.gw.ns, root });
    await h.driver.close();
    h.driver = d;
    h.lines = m.lines;
    await d.init();
    await d.connect(c.ep, noNat(c));
    assert.equal(d.pluto.pid, pid, 'the same pluto');
    assert.ok(m.lines.some((l) => l.includes('adopted libreswan connections')), 'connections adopted');
    assert.ok(!m.lines.some((l) => l.includes('"msg":"libreswan connections added"')), 'nothing re-added (no flap)');
    const conns = pairNames(h.ep, c.ep).map((p) => p.hawser);
    process.kill(pid, 'SIGKILL');
    // Either path notices first: the daemon watch (restart, then re-add) or the reconcile pass (re-add).
    const noticed = (): boolean => m.lines.some((l) => l.includes('pluto died and was restarted') || l.includes('libreswan connections were missing from pluto'));
    await waitFor(async () => {
      const npid = d.pluto.pid;
      if (npid === undefined || npid === pid || !noticed()) return false;
      const st = await d.pluto.whack(['--status']);
      return conns.every((n) => st.stdout.includes(`"${n}"`));
    }, { timeoutMs: 20_000, intervalMs: 200, what: 'pluto restarted with every connection' });
    assert.ok(m.lines.some((l) => l.includes('"msg":"daemon started"')), 'a new pluto was started');
    await d.disconnect(c.ep);
    assert.equal((await d.connections()).length, 0);
    // charon may be slow to answer while it retransmits to the pluto that was killed: best effort (after() cleans up)
    await c.driver.disconnect(h.ep).catch(() => undefined);
  });
});
