// VXLAN cable benchmark, in two throwaway network namespaces (gateways A and B on a veth underlay, each
// with a "pod" address on a CNI-like bridge):
// 1. time from connect() to the first pod-to-pod UDP echo reply through vxlan-tunnel (a prober sends every
//    1 ms from before connect(); cold: no ARP entry for the remote VTEP), against the same FDB entry +
//    route added by hand with `bridge`/`ip`;
// 2. iperf3 TCP throughput pod-to-pod through hawser's vxlan-tunnel, against a VXLAN device set up by
//    hand with `ip link add ... type vxlan` (same VNI, port, MTU, FDB entry and route), in the same run.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { VxlanDriver } from '../../src/cable-drivers/vxlan/driver.js';
import { parseEndpointSpec, type EndpointSpec } from '../../src/k8s/resources.js';
import { createLogger } from '../../src/log/index.js';
import { createNetns, deleteNetns, netnsPids, uniqueName } from '../../src/os/netns.js';
import { exec, netnsArgv } from '../../src/util/exec.js';
import type { GatewayConfig } from '../../src/config/roles.js';
import type { DriverContext } from '../../src/cable-drivers/types.js';

export interface VxlanBenchResult {
  /** Median ms from connect() start to the first echo reply, hawser vs. by hand. */
  firstPacketMs: { hawser: number; byHand: number; ratio: number };
  /** Median ms connect() itself took, vs. the two commands by hand. */
  connectMs: { hawser: number; byHand: number };
  /** Mean iperf3 receive rate in Gbit/s, hawser's device vs. a hand-made one; ratio = hawser / by hand. */
  throughputGbps: { hawser: number; byHand: number; ratio: number; samples: { hawser: number[]; byHand: number[] } };
  rounds: number;
}

const A_UNDERLAY = '192.168.60.1';
const B_UNDERLAY = '192.168.60.2';
const POD_A = '10.10.1.1';
const POD_B = '10.20.1.1';
const REMOTE_VTEP = '241.168.60.2';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function spec(cluster: string, ip: string, subnet: string): EndpointSpec {
  const r = parseEndpointSpec({
    cluster_id: cluster, cable_name: `submariner-cable-${cluster}-${ip.replace(/\./g, '-')}`, hostname: `gw-${cluster}`,
    subnets: [subnet], private_ip: ip, public_ip: ip, nat_enabled: false, backend: 'vxlan', backend_config: {},
  });
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

function ctx(local: EndpointSpec): DriverContext {
  const quiet = new Writable({ write: (_c, _e, cb) => cb() });
  return { config: {} as GatewayConfig, localEndpoint: local, log: createLogger({ level: 'warn', destination: quiet }) };
}

const ip = (ns: string, ...args: string[]): Promise<unknown> => exec('ip', ['-n', ns, ...args]);

const ECHO_PORT = 7777;
const now = (): number => performance.timeOrigin + performance.now();

// Tiny plain-JS UDP programs (no tsx: they start in ~50 ms). ping is no use here: before the cable exists
// it backs off, and below 2 ms intervals its output is block-buffered.
const ECHO_SERVER = `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(${ECHO_PORT},'${POD_B}',()=>console.log('ready'));`;
const PROBER = `const s=require('dgram').createSocket('udp4');s.on('error',()=>{});
s.on('message',()=>{console.log('reply '+(performance.timeOrigin+performance.now()));process.exit(0)});
s.bind(0,'${POD_A}',()=>{console.log('ready');setInterval(()=>s.send('x',${ECHO_PORT},'${POD_B}',()=>{}),1)});`;

/** A child in `ns` running a plain-JS program; `line(prefix)` resolves with the first stdout line starting so. */
function node(ns: string, program: string): { line: (prefix: string, timeoutMs: number) => Promise<string>; stop: () => void } {
  const [file, argv] = netnsArgv(process.execPath, ['-e', program], ns);
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l);
    waiters.splice(0).forEach((w) => w());
  });
  const stop = (): void => {
    try {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  };
  const line = (prefix: string, timeoutMs: number): Promise<string> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${prefix}" line within ${timeoutMs} ms`)), timeoutMs);
    const check = (): void => {
      const hit = lines.find((l) => l.startsWith(prefix));
      if (hit) {
        clearTimeout(timer);
        resolve(hit);
      } else waiters.push(check);
    };
    check();
  });
  return { line, stop };
}

async function iperf(a: string, b: string, seconds: number): Promise<number> {
  const [file, argv] = netnsArgv('iperf3', ['-s', '-1', '-B', POD_B], b);
  const server = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve) => {
      createInterface({ input: server.stdout! }).on('line', (l) => l.includes('Server listening') && resolve());
      setTimeout(resolve, 2000);
    });
    const r = await exec('iperf3', ['-c', POD_B, '-B', POD_A, '-t', String(seconds), '-J'], { netns: a });
    const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 1e9;
  } finally {
    if (server.pid !== undefined && server.exitCode === null) process.kill(server.pid, 'SIGKILL');
  }
}

export async function benchVxlan(opts: { rounds?: number; iperfSeconds?: number; iperfRounds?: number } = {}): Promise<VxlanBenchResult> {
  const rounds = opts.rounds ?? 5;
  const seconds = opts.iperfSeconds ?? 3;
  const iperfRounds = opts.iperfRounds ?? 3;
  const a = uniqueName('hw-bvx');
  const b = uniqueName('hw-bvx');
  try {
    await createNetns(a);
    await createNetns(b);
    await ip(a, 'link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'wan0', 'netns', b);
    await ip(a, 'addr', 'add', `${A_UNDERLAY}/24`, 'dev', 'wan0');
    await ip(b, 'addr', 'add', `${B_UNDERLAY}/24`, 'dev', 'wan0');
    for (const [ns, cidr] of [[a, `${POD_A}/24`], [b, `${POD_B}/24`]] as const) {
      await ip(ns, 'link', 'set', 'wan0', 'up');
      await ip(ns, 'link', 'add', 'cni0', 'type', 'bridge');
      await ip(ns, 'addr', 'add', cidr, 'dev', 'cni0');
      await ip(ns, 'link', 'set', 'cni0', 'up');
    }
    const epA = spec('a', A_UNDERLAY, '10.10.0.0/16');
    const epB = spec('b', B_UNDERLAY, '10.20.0.0/16');
    const da = new VxlanDriver(ctx(epA), { netns: a });
    const db = new VxlanDriver(ctx(epB), { netns: b });
    await da.init();
    await db.init();
    await db.connect(epA, { useIP: A_UNDERLAY, useNAT: false });
    const echo = node(b, ECHO_SERVER);
    await echo.line('ready', 5000);

    const hawserFirst: number[] = [];
    const hawserConnect: number[] = [];
    const handFirst: number[] = [];
    const handConnect: number[] = [];
    // By hand: the two commands a script would run (ip/bridge switch namespaces themselves, as hawser's do).
    const byHandUp = async (): Promise<void> => {
      await exec('bridge', ['-n', a, 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxlan-tunnel', 'dst', B_UNDERLAY]);
      await exec('ip', ['-n', a, 'route', 'add', '10.20.0.0/16', 'via', REMOTE_VTEP, 'dev', 'vxlan-tunnel', 'table', '100']);
    };
    const byHandDown = async (): Promise<void> => {
      await exec('bridge', ['-n', a, 'fdb', 'del', '00:00:00:00:00:00', 'dev', 'vxlan-tunnel', 'dst', B_UNDERLAY]);
      await exec('ip', ['-n', a, 'route', 'del', '10.20.0.0/16', 'table', '100']);
    };
    for (let i = 0; i < rounds; i++) {
      for (const which of ['hawser', 'byHand'] as const) {
        await exec('ip', ['neigh', 'flush', 'dev', 'vxlan-tunnel'], { netns: a });
        await exec('ip', ['neigh', 'flush', 'dev', 'vxlan-tunnel'], { netns: b });
        const prober = node(a, PROBER);
        try {
          await prober.line('ready', 5000);
          const t0 = now();
          if (which === 'hawser') await da.connect(epB, { useIP: B_UNDERLAY, useNAT: false });
          else await byHandUp();
          const t1 = now();
          const t2 = Number((await prober.line('reply', 5000)).split(' ')[1]);
          (which === 'hawser' ? hawserConnect : handConnect).push(t1 - t0);
          (which === 'hawser' ? hawserFirst : handFirst).push(t2 - t0);
        } finally {
          prober.stop();
        }
        if (which === 'hawser') await da.disconnect(epB);
        else await byHandDown();
      }
    }

    // Throughput: hawser's device, then the same by hand, alternating (the machine's load varies).
    const hawserRates: number[] = [];
    const handRates: number[] = [];
    for (let i = 0; i < iperfRounds; i++) {
      await da.connect(epB, { useIP: B_UNDERLAY, useNAT: false });
      hawserRates.push(await iperf(a, b, seconds));
      await da.cleanup();
      await db.cleanup();
      for (const [ns, local, remote, remoteVtep, remoteSubnet] of [
        [a, A_UNDERLAY, B_UNDERLAY, REMOTE_VTEP, '10.20.0.0/16'],
        [b, B_UNDERLAY, A_UNDERLAY, '241.168.60.1', '10.10.0.0/16'],
      ] as const) {
        await exec('ip', ['-batch', '-'], {
          netns: ns,
          input: [
            'link add vxh0 mtu 1450 type vxlan id 1000 dstport 4500',
            `addr add 241.${local.split('.').slice(1).join('.')}/8 dev vxh0`,
            'link set vxh0 up',
            `route add ${remoteSubnet} via ${remoteVtep} dev vxh0 table 100`,
            'rule add pref 100 lookup 100',
          ].join('\n') + '\n',
        });
        await exec('bridge', ['fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxh0', 'dst', remote], { netns: ns });
      }
      handRates.push(await iperf(a, b, seconds));
      for (const ns of [a, b]) await exec('ip', ['-batch', '-'], { netns: ns, input: 'link del vxh0\nrule del pref 100 lookup 100\n' });
      await da.init();
      await db.init();
      await db.connect(epA, { useIP: A_UNDERLAY, useNAT: false });
    }
    echo.stop();
    const mean = (xs: number[]): number => xs.reduce((x, y) => x + y, 0) / xs.length;
    const hawserRate = mean(hawserRates);
    const handRate = mean(handRates);
    return {
      firstPacketMs: { hawser: median(hawserFirst), byHand: median(handFirst), ratio: median(hawserFirst) / median(handFirst) },
      connectMs: { hawser: median(hawserConnect), byHand: median(handConnect) },
      throughputGbps: { hawser: hawserRate, byHand: handRate, ratio: hawserRate / handRate, samples: { hawser: hawserRates, byHand: handRates } },
      rounds,
    };
  } finally {
    for (const ns of [a, b]) {
      for (const pid of await netnsPids(ns)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await deleteNetns(ns);
    }
  }
}
