// WireGuard cable bench: hawser's driver against the same wireguard-go configured by hand with wg(8),
// measured in one run on two namespace pairs joined by veth (traffic stays inside them).
//  - first packet: from the connect() call (or the hand-typed `wg set` + route) to the first ping reply
//    between pod addresses, median of a few runs (each run removes the peer first);
//  - throughput: iperf3 TCP between pod addresses, alternating rounds, medians.
// Both setups are up at once and measured alternately, so load from elsewhere hits both alike.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gatewayConfigFromEnv } from '../../src/config/roles.js';
import { cableName, type EndpointSpec } from '../../src/k8s/resources.js';
import { createLogger } from '../../src/log/index.js';
import { createNetns, deleteNetns, netnsPids, uniqueName } from '../../src/os/netns.js';
import { exec } from '../../src/util/exec.js';
import { waitFor } from '../../src/util/wait.js';
import { WireGuardDriver } from '../../src/cable-drivers/wireguard/index.js';
import { generatePrivateKey, presharedKeyFromText, publicKeyOf } from '../../src/cable-drivers/wireguard/wgctrl/index.js';

const PSK_TEXT = 'aGF3c2VyLWJlbmNoLXBzaw==';

export interface WireGuardBenchOptions {
  runs?: number;
  iperfSeconds?: number;
  /** iperf3 rounds per setup, alternating (default 3). */
  iperfRounds?: number;
}

export interface WireGuardBenchResult {
  firstPacketMs: { hawser: number[]; byHand: number[] };
  connectCallMs: number[];
  /** Medians of the rounds. */
  mbps: { hawser: number; byHand: number };
  mbpsRounds: { hawser: number[]; byHand: number[] };
}

interface Side {
  ns: string;
  ip: string;
  podIP: string;
  podCidr: string;
  ifname: string;
}

async function pair(id: string, tag: string): Promise<[Side, Side]> {
  const sides: Side[] = [];
  for (const i of [1, 2]) {
    const ns = `${id}-${tag}${i}`;
    await createNetns(ns);
    await exec('ip', ['addr', 'add', `10.${i}.0.1/32`, 'dev', 'lo'], { netns: ns });
    sides.push({ ns, ip: `192.0.2.${i}`, podIP: `10.${i}.0.1`, podCidr: `10.${i}.0.0/16`, ifname: uniqueName('hwb', 6) });
  }
  const [a, b] = sides as [Side, Side];
  await exec('ip', ['link', 'add', 'eth0', 'netns', a.ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b.ns]);
  for (const s of sides) {
    await exec('ip', ['addr', 'add', `${s.ip}/24`, 'dev', 'eth0'], { netns: s.ns });
    await exec('ip', ['link', 'set', 'eth0', 'up'], { netns: s.ns });
  }
  return [a, b];
}

/** ms until the first echo reply from `to` (ping exits on its first reply with -c 1 -w). */
async function firstReply(from: Side, to: Side): Promise<void> {
  const r = await exec('ping', ['-n', '-q', '-I', from.podIP, '-c', '1', '-w', '10', '-i', '0.005', to.podIP], { netns: from.ns, allowFailure: true });
  if (r.code !== 0) throw new Error(`no ping reply from ${to.podIP} within 10 s: ${r.stdout.trim()}`);
}

async function iperf(from: Side, to: Side, seconds: number): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', to.ns, 'iperf3', '-s', '-1', '--forceflush', '-B', to.podIP], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  server.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const done = new Promise((r) => server.on('close', r));
  await waitFor(() => /Server listening/.test(out), { timeoutMs: 5000, what: 'iperf3 server' });
  const r = await exec('iperf3', ['-c', to.podIP, '-B', from.podIP, '-t', String(seconds), '-J'], { netns: from.ns });
  await done;
  const j = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: number } } };
  return (j.end?.sum_received?.bits_per_second ?? 0) / 1e6;
}

function endpoint(s: Side, clusterId: string, backendConfig: Record<string, string>): EndpointSpec {
  return {
    clusterId, cableName: cableName(clusterId, s.ip), hostname: clusterId, subnets: [s.podCidr], invalidSubnets: [], privateIP: s.ip, publicIP: s.ip,
    healthCheckIP: s.podIP, privateIPs: [s.ip], publicIPs: [s.ip], healthCheckIPs: [s.podIP], natEnabled: false, backend: 'wireguard', backendConfig,
  };
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2 : NaN;
};

export async function runWireGuardBench(opts: WireGuardBenchOptions = {}): Promise<WireGuardBenchResult> {
  const runs = opts.runs ?? 5;
  const seconds = opts.iperfSeconds ?? 2;
  const rounds = opts.iperfRounds ?? 3;
  const id = uniqueName('hw-wgb', 4);
  const stateDir = mkdtempSync(join(tmpdir(), 'hw-wgb-'));
  const namespaces: string[] = [];
  const drivers: WireGuardDriver[] = [];
  const log = createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  const result: WireGuardBenchResult = { firstPacketMs: { hawser: [], byHand: [] }, connectCallMs: [], mbps: { hawser: 0, byHand: 0 }, mbpsRounds: { hawser: [], byHand: [] } };
  try {
    // hawser's driver on one namespace pair ...
    const [a, b] = await pair(id, 'h');
    namespaces.push(a.ns, b.ns);
    const mk = (s: Side, cid: string): WireGuardDriver => {
      const config = gatewayConfigFromEnv({
        SUBMARINER_NAMESPACE: 'submariner-operator', SUBMARINER_CLUSTERID: cid, NODE_NAME: cid, SUBMARINER_CLUSTERCIDR: s.podCidr, SUBMARINER_SERVICECIDR: '100.64.0.0/16',
        SUBMARINER_CABLEDRIVER: 'wireguard', CE_IPSEC_PSK: PSK_TEXT, BROKER_K8S_APISERVER: '127.0.0.1:1', BROKER_K8S_APISERVERTOKEN: 'x', BROKER_K8S_REMOTENAMESPACE: 'broker', HAWSER_STATE_DIR: stateDir,
      });
      const d = new WireGuardDriver({ config, localEndpoint: endpoint(s, cid, {}), log }, { ifname: s.ifname, netns: s.ns, stateDir });
      drivers.push(d);
      return d;
    };
    const da = mk(a, 'bench-a');
    const db = mk(b, 'bench-b');
    await Promise.all([da.init(), db.init()]);
    const epA = endpoint(a, 'bench-a', da.localBackendConfig());
    const epB = endpoint(b, 'bench-b', db.localBackendConfig());
    await db.connect(epA, { useIP: a.ip, useNAT: false });

    // ... and the same wireguard-go on another pair, configured by hand as an operator would with wg(8) and ip(8)
    const [x, y] = await pair(id, 'm');
    namespaces.push(x.ns, y.ns);
    const pskFile = join(stateDir, 'psk');
    writeFileSync(pskFile, presharedKeyFromText(PSK_TEXT) + '\n', { mode: 0o600 });
    const keys = new Map<Side, string>();
    for (const s of [x, y]) {
      const key = generatePrivateKey();
      keys.set(s, key);
      writeFileSync(join(stateDir, `${s.ifname}.key`), key + '\n', { mode: 0o600 });
      spawn('ip', ['netns', 'exec', s.ns, 'wireguard-go', '-f', s.ifname], { stdio: 'ignore', detached: true }).unref();
      await waitFor(async () => (await exec('wg', ['show', s.ifname], { netns: s.ns, allowFailure: true })).code === 0, { timeoutMs: 5000, what: 'wireguard-go' });
      await exec('wg', ['set', s.ifname, 'private-key', join(stateDir, `${s.ifname}.key`), 'listen-port', '4500'], { netns: s.ns });
      await exec('ip', ['link', 'set', s.ifname, 'up'], { netns: s.ns });
    }
    const addPeer = async (s: Side, o: Side): Promise<void> => {
      await exec('wg', ['set', s.ifname, 'peer', publicKeyOf(keys.get(o)!), 'preshared-key', pskFile, 'endpoint', `${o.ip}:4500`, 'persistent-keepalive', '10', 'allowed-ips', o.podCidr], { netns: s.ns });
      await exec('ip', ['route', 'replace', o.podCidr, 'dev', s.ifname, 'src', s.podIP], { netns: s.ns });
    };
    await addPeer(y, x);

    // interleaved, so that load from elsewhere on the machine hits both alike
    for (let i = 0; i < runs; i++) {
      if (i > 0) await da.disconnect(epB);
      let t0 = performance.now();
      await da.connect(epB, { useIP: b.ip, useNAT: false });
      result.connectCallMs.push(performance.now() - t0);
      await firstReply(a, b);
      result.firstPacketMs.hawser.push(performance.now() - t0);

      if (i > 0) {
        await exec('wg', ['set', x.ifname, 'peer', publicKeyOf(keys.get(y)!), 'remove'], { netns: x.ns });
        await exec('ip', ['route', 'del', y.podCidr, 'dev', x.ifname], { netns: x.ns, allowFailure: true });
      }
      t0 = performance.now();
      await addPeer(x, y);
      await firstReply(x, y);
      result.firstPacketMs.byHand.push(performance.now() - t0);
    }
    const hawserMbps: number[] = [];
    const byHandMbps: number[] = [];
    for (let i = 0; i < rounds; i++) {
      hawserMbps.push(await iperf(a, b, seconds));
      byHandMbps.push(await iperf(x, y, seconds));
    }
    result.mbps = { hawser: median(hawserMbps), byHand: median(byHandMbps) };
    result.mbpsRounds = { hawser: hawserMbps, byHand: byHandMbps };
    return result;
  } finally {
    for (const d of drivers) await d.cleanup().catch(() => undefined);
    for (const ns of namespaces) {
      for (const pid of await netnsPids(ns)) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          /* gone */
        }
      }
    }
    for (const ns of namespaces) {
      await waitFor(async () => (await netnsPids(ns)).length === 0, { timeoutMs: 3000 }).catch(() => undefined);
      await deleteNetns(ns);
    }
    rmSync(stateDir, { recursive: true, force: true });
  }
}

export function formatWireGuardBench(r: WireGuardBenchResult): string {
  const f = (xs: number[]): string => xs.map((x) => x.toFixed(1)).join(', ');
  const hp = median(r.firstPacketMs.hawser);
  const bp = median(r.firstPacketMs.byHand);
  return [
    'WireGuard cable (wireguard-go, two netns over veth): hawser driver vs the same wireguard-go set up by hand with wg(8)',
    `first packet after connect():  hawser median ${hp.toFixed(1)} ms [${f(r.firstPacketMs.hawser)}] (connect() itself median ${median(r.connectCallMs).toFixed(1)} ms)`,
    `first packet after wg set+ip:  by hand median ${bp.toFixed(1)} ms [${f(r.firstPacketMs.byHand)}]`,
    `first-packet ratio hawser/by-hand: ${(hp / bp).toFixed(2)}`,
    `iperf3 TCP throughput (median of alternating rounds): hawser ${r.mbps.hawser.toFixed(0)} Mbit/s [${r.mbpsRounds.hawser.map((x) => x.toFixed(0)).join(', ')}], by hand ${r.mbps.byHand.toFixed(0)} Mbit/s [${r.mbpsRounds.byHand.map((x) => x.toFixed(0)).join(', ')}]`,
    `throughput ratio hawser/by-hand: ${(r.mbps.hawser / r.mbps.byHand).toFixed(3)}`,
  ].join('\n');
}
