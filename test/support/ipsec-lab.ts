// A throwaway IPsec lab in network namespaces: a WAN router netns and N gateway netns, each gateway with
// its "pod subnet" addresses on loopback; optionally behind the router's NAT (nft masquerade). The router
// counts what crosses the WAN (ESP-in-UDP, plain ESP, and anything in clear with a pod address).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gatewayConfigFromEnv, type GatewayConfig } from '../../src/config/roles.js';
import { cableName, parseEndpointSpec, type EndpointSpec } from '../../src/k8s/resources.js';
import { createLogger, type Logger } from '../../src/log/index.js';
import { createNetns, deleteNetns, netnsPids, uniqueName } from '../../src/os/netns.js';
import { exec } from '../../src/util/exec.js';
import { waitFor } from '../../src/util/wait.js';

export interface GatewaySpec {
  key: string;
  /** Behind the router's NAT (masquerade). */
  nat?: boolean;
  /** Pod subnets; each gets its first address on the gateway's loopback. */
  subnets: string[];
}

export interface LabGateway {
  key: string;
  ns: string;
  /** The gateway's own address (its Endpoint private_ip). */
  ip: string;
  nat: boolean;
  subnets: string[];
  podIPs: string[];
  /** charon's directory for this gateway. */
  dir: string;
  index: number;
}

export interface WanCounters {
  espInUdp: number;
  esp: number;
  /** Packets with a pod address crossing the WAN unencrypted: must stay 0. */
  clear: number;
}

export interface Lab {
  base: string;
  router: string;
  tmp: string;
  gateways: Record<string, LabGateway>;
  /** Address the router shows for a NATed gateway towards `to` (masquerade uses the egress address). */
  publicIPOf(gw: LabGateway, to: LabGateway): string;
  counters(): Promise<WanCounters>;
  destroy(): Promise<void>;
}

function firstHost(cidr: string): string {
  const [net] = cidr.split('/');
  const o = net!.split('.').map(Number);
  o[3] = o[3]! + 1;
  return o.join('.');
}

export async function buildLab(specs: readonly GatewaySpec[]): Promise<Lab> {
  const base = uniqueName('hw-ip');
  const router = `${base}-wan`;
  const tmp = mkdtempSync(join(tmpdir(), `${base}-`));
  const gateways: Record<string, LabGateway> = {};
  const created: string[] = [];
  const lab: Lab = {
    base,
    router,
    tmp,
    gateways,
    publicIPOf: (gw, to) => (gw.nat ? `198.18.${to.index}.1` : gw.ip),
    counters: () => readCounters(router),
    destroy: async () => {
      for (const ns of [...created].reverse()) {
        for (const pid of await netnsPids(ns)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        await deleteNetns(ns);
      }
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  try {
    await createNetns(router);
    created.push(router);
    await exec('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { netns: router });
    const nftRules: string[] = [];
    let i = 0;
    for (const s of specs) {
      i++;
      const ns = `${base}-${s.key}`;
      await createNetns(ns);
      created.push(ns);
      const nat = s.nat ?? false;
      const net = nat ? `192.168.${i}` : `198.18.${i}`;
      const ip = `${net}.2`;
      await exec('ip', ['-n', router, 'link', 'add', `g-${s.key}`, 'type', 'veth', 'peer', 'name', 'wan0', 'netns', ns]);
      await exec('ip', ['-n', router, 'addr', 'add', `${net}.1/24`, 'dev', `g-${s.key}`]);
      await exec('ip', ['-n', router, 'link', 'set', `g-${s.key}`, 'up']);
      await exec('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'wan0']);
      await exec('ip', ['-n', ns, 'link', 'set', 'wan0', 'up']);
      await exec('ip', ['-n', ns, 'route', 'add', 'default', 'via', `${net}.1`]);
      const podIPs = s.subnets.map(firstHost);
      for (const p of podIPs) await exec('ip', ['-n', ns, 'addr', 'add', `${p}/32`, 'dev', 'lo']);
      if (nat) {
        nftRules.push(`add rule inet hwlab postrouting oifname != "g-${s.key}" ip saddr ${net}.0/24 masquerade`);
        nftRules.push(`add rule inet hwlab filter oifname "g-${s.key}" ct state != { established, related } drop comment "nat_inbound_drop"`);
      }
      gateways[s.key] = { key: s.key, ns, ip, nat, subnets: [...s.subnets], podIPs, dir: join(tmp, s.key), index: i };
    }
    const table = [
      'add table inet hwlab',
      'add chain inet hwlab count { type filter hook forward priority -10; policy accept; }',
      'add chain inet hwlab filter { type filter hook forward priority 0; policy accept; }',
      'add chain inet hwlab postrouting { type nat hook postrouting priority 100; policy accept; }',
      'add rule inet hwlab count udp dport 4500 @th,64,32 != 0 counter comment "esp_in_udp"',
      'add rule inet hwlab count udp sport 4500 udp dport != 4500 @th,64,32 != 0 counter comment "esp_in_udp"',
      'add rule inet hwlab count meta l4proto esp counter comment "esp"',
      'add rule inet hwlab count ip saddr 10.0.0.0/8 counter comment "clear"',
      'add rule inet hwlab count ip daddr 10.0.0.0/8 ip saddr != 10.0.0.0/8 counter comment "clear"',
      ...nftRules,
    ];
    await exec('nft', ['-f', '-'], { netns: router, input: table.join('\n') + '\n' });
  } catch (err) {
    await lab.destroy();
    throw err;
  }
  return lab;
}

async function readCounters(router: string): Promise<WanCounters> {
  const r = await exec('nft', ['-j', 'list', 'table', 'inet', 'hwlab'], { netns: router });
  const out: WanCounters = { espInUdp: 0, esp: 0, clear: 0 };
  const doc = JSON.parse(r.stdout) as { nftables: Array<{ rule?: { comment?: string; expr?: Array<{ counter?: { packets: number } }> } }> };
  for (const item of doc.nftables) {
    const rule = item.rule;
    if (!rule?.comment || !rule.expr) continue;
    const packets = rule.expr.reduce((n, e) => n + (e.counter?.packets ?? 0), 0);
    if (rule.comment === 'esp_in_udp') out.espInUdp += packets;
    else if (rule.comment === 'esp') out.esp += packets;
    else if (rule.comment === 'clear') out.clear += packets;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

export function endpointOf(gw: LabGateway, opts: { publicIP?: string; backendConfig?: Record<string, string>; backend?: string } = {}): EndpointSpec {
  const clusterId = `cluster-${gw.key}`;
  const r = parseEndpointSpec({
    cluster_id: clusterId,
    cable_name: cableName(clusterId, gw.ip),
    hostname: `gw-${gw.key}`,
    subnets: gw.subnets,
    private_ip: gw.ip,
    public_ip: opts.publicIP ?? gw.ip,
    nat_enabled: gw.nat,
    backend: opts.backend ?? 'libreswan',
    backend_config: opts.backendConfig ?? {},
  });
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

export function gatewayConfigOf(gw: LabGateway, psk: string, extra: Record<string, string> = {}): GatewayConfig {
  return gatewayConfigFromEnv({
    SUBMARINER_NAMESPACE: 'submariner-operator',
    SUBMARINER_CLUSTERID: `cluster-${gw.key}`,
    NODE_NAME: `gw-${gw.key}`,
    SUBMARINER_CLUSTERCIDR: gw.subnets.join(','),
    SUBMARINER_SERVICECIDR: '100.64.0.0/16',
    SUBMARINER_CABLEDRIVER: 'libreswan',
    CE_IPSEC_PSK: psk,
    BROKER_K8S_APISERVER: '127.0.0.1:6443',
    BROKER_K8S_APISERVERTOKEN: 'lab-token',
    BROKER_K8S_REMOTENAMESPACE: 'submariner-k8s-broker',
    HAWSER_IPSEC_USERSPACE: 'true',
    HAWSER_STATE_DIR: gw.dir,
    ...extra,
  });
}

/** A logger whose JSON lines are kept in memory (and printed with HAWSER_TEST_LOG=1). */
export function memoryLogger(component: string): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const echo = process.env.HAWSER_TEST_LOG === '1';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const s = chunk.toString('utf8');
      lines.push(...s.split('\n').filter(Boolean));
      if (echo) process.stdout.write(s);
      cb();
    },
  });
  return { log: createLogger({ component, level: process.env.LOG_LEVEL ?? 'info', destination: sink }), lines };
}

/** One echo through the lab; `timeoutS` may be fractional (iputils). */
export async function ping(gw: LabGateway, src: string, dst: string, timeoutS = 1): Promise<boolean> {
  const r = await exec('ping', ['-c', '1', '-W', String(timeoutS), '-I', src, dst], { netns: gw.ns, allowFailure: true });
  return r.code === 0;
}

export function waitPing(gw: LabGateway, src: string, dst: string, timeoutMs: number): Promise<true> {
  return waitFor(() => ping(gw, src, dst), { timeoutMs, intervalMs: 50, what: `ping ${src} -> ${dst} in ${gw.ns}` });
}

/** Runs iperf3 (server in `to`, client in `from`) over the pod addresses; returns Mbit/s. */
export async function iperf(from: LabGateway, src: string, to: LabGateway, dst: string, seconds = 1): Promise<number> {
  const server: ChildProcess = spawn('ip', ['netns', 'exec', to.ns, 'iperf3', '-s', '-1', '-B', dst, '-p', '5201'], { stdio: 'ignore' });
  try {
    const r = await waitFor(async () => {
      const c = await exec('iperf3', ['-c', dst, '-B', src, '-p', '5201', '-t', String(seconds), '-J'], { netns: from.ns, allowFailure: true, timeoutMs: (seconds + 10) * 1000 });
      // iperf3 -J may exit 0 with an `error` (server not listening yet): try again.
      return c.code === 0 && !c.stdout.includes('"error"') ? c : undefined;
    }, { timeoutMs: 5_000 + seconds * 1000, intervalMs: 100, what: `iperf3 ${src} -> ${dst}` });
    const j = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
    const bps = j.end?.sum_received?.bits_per_second ?? 0;
    if (bps === 0) throw new Error(`iperf3 ${src} -> ${dst} moved no data: ${j.error ?? r.stdout.slice(0, 400)}`);
    return bps / 1e6;
  } finally {
    if (server.exitCode === null && server.pid !== undefined) {
      try {
        process.kill(server.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

export interface PlainCharon {
  pid: number;
  socket: string;
  dir: string;
  stop(): Promise<void>;
}

/**
 * A charon configured by hand, without hawser code: its own strongswan.conf and a swanctl.conf loaded with
 * `swanctl --load-all` against its VICI socket.
 */
export async function startPlainCharon(gw: LabGateway, dir: string, swanctlConf: string): Promise<PlainCharon> {
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'strongswan.conf');
  const socket = join(dir, 'charon.vici');
  writeFileSync(conf, `charon {
  load_modular = no
  load = random nonce openssl aes sha1 sha2 hmac gcm kdf gmp kernel-libipsec kernel-netlink socket-default vici
  port = 500
  port_nat_t = 4500
  plugins {
    vici {
      socket = unix://${socket}
    }
  }
  filelog {
    plain {
      path = ${dir}/charon.log
      default = 1
    }
  }
}
charon-systemd {
  journal {
    default = -1
  }
}
`);
  writeFileSync(join(dir, 'swanctl.conf'), swanctlConf);
  const child = spawn('ip', ['netns', 'exec', gw.ns, '/usr/sbin/charon-systemd'], { env: { ...process.env, STRONGSWAN_CONF: conf }, detached: true, stdio: 'ignore' });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error('cannot start charon-systemd');
  const stop = async (): Promise<void> => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    await waitFor(() => child.exitCode !== null || child.signalCode !== null, { timeoutMs: 3_000 }).catch(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    });
  };
  try {
    await waitFor(() => exec('swanctl', ['--version', '--daemon', '--uri', `unix://${socket}`], { allowFailure: true }).then((r) => r.code === 0), { timeoutMs: 10_000, intervalMs: 50, what: `plain charon in ${gw.ns}` });
    await exec('swanctl', ['--load-all', '--noprompt', '--file', join(dir, 'swanctl.conf'), '--uri', `unix://${socket}`]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid, socket, dir, stop };
}

/** swanctl.conf for one side of a hand-made cable: IKEv2, PSK (as hex of the text), private-IP ids, NAT-T ports. */
export function handSwanctlConf(o: { name: string; localIP: string; remoteIP: string; children: Array<{ name: string; local: string; remote: string; start?: boolean }>; psk: string }): string {
  const children = o.children.map((c) => `      ${c.name} {
        local_ts = ${c.local}
        remote_ts = ${c.remote}
        mode = tunnel
        esp_proposals = aes256gcm16-aes128gcm16-modp2048, aes256-sha256-modp2048
        dpd_action = trap
        start_action = ${c.start === false ? 'none' : 'start'}
      }`).join('\n');
  return `connections {
  ${o.name} {
    version = 2
    local_addrs = ${o.localIP}
    remote_addrs = ${o.remoteIP}
    local_port = 4500
    remote_port = 4500
    proposals = aes256gcm16-prfsha256-modp2048, aes256-sha256-modp2048
    dpd_delay = 30s
    local {
      auth = psk
      id = ${o.localIP}
    }
    remote {
      auth = psk
      id = ${o.remoteIP}
    }
    children {
${children}
    }
  }
}
secrets {
  ike-submariner {
    secret = 0x${Buffer.from(o.psk, 'utf8').toString('hex')}
  }
}
`;
}
