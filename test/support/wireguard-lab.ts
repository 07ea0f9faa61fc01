// Test helpers for the WireGuard cable: gateways in throwaway network namespaces, a pcap reader to prove
// what crosses the WAN, background processes tracked by PID. Every address used lives only inside
// namespaces made here (TEST-NET-1 for the WAN, 10.x for "pods", 198.18.x behind the NAT router).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gatewayConfigFromEnv, type GatewayConfig } from '../../src/config/roles.js';
import { cableName, type EndpointSpec } from '../../src/k8s/resources.js';
import { createLogger, type Logger } from '../../src/log/index.js';
import { createNetns, deleteNetns, netnsPids, uniqueName } from '../../src/os/netns.js';
import { exec } from '../../src/util/exec.js';
import { waitFor } from '../../src/util/wait.js';
import { WireGuardDriver, type WireGuardDriverOptions } from '../../src/cable-drivers/wireguard/index.js';
import type { NatInfo } from '../../src/cable-drivers/types.js';

export const PSK_TEXT = 'aGF3c2VyLXRlc3QtcHNr';

export interface Gw {
  name: string;
  ns: string;
  clusterId: string;
  /** The gateway's own address (private IP). */
  ip: string;
  /** What the others see (the NAT router's WAN address when behind NAT). */
  publicIP: string;
  podIP: string;
  podCidr: string;
  /** Interface facing the WAN (for captures), and the netns it is in. */
  wanIf: string;
  wanNs: string;
  ifname: string;
}

/** Every namespace and process a test made, removed in `destroy()` even after a failure. */
export class Lab {
  readonly id = uniqueName('hw-wg', 4);
  readonly namespaces: string[] = [];
  readonly procs = new Set<ChildProcess>();
  readonly stateDir = mkdtempSync(join(tmpdir(), 'hw-wg-state-'));
  readonly logLines: string[] = [];
  readonly log: Logger;
  private n = 0;

  constructor() {
    const sink = new Writable({
      write: (chunk: Buffer | string, _enc, cb) => {
        this.logLines.push(chunk.toString());
        cb();
      },
    });
    this.log = createLogger({ level: 'debug', component: 'test', destination: sink });
  }

  ns(role: string): string {
    const name = `${this.id}-${role}`;
    this.namespaces.push(name);
    return name;
  }

  /** A WAN: a bridge in its own netns. */
  async wan(): Promise<string> {
    const w = this.ns('w');
    await createNetns(w);
    await exec('ip', ['link', 'add', 'br0', 'type', 'bridge'], { netns: w });
    await exec('ip', ['link', 'set', 'br0', 'up'], { netns: w });
    return w;
  }

  /** Joins `ns` to the WAN bridge with `ip/24` on its `ifname`. */
  async plug(w: string, ns: string, ifname: string, ip: string): Promise<void> {
    const peer = `p${this.n++}`;
    await exec('ip', ['link', 'add', ifname, 'netns', ns, 'type', 'veth', 'peer', 'name', peer, 'netns', w]);
    await exec('ip', ['link', 'set', peer, 'master', 'br0', 'up'], { netns: w });
    await exec('ip', ['addr', 'add', `${ip}/24`, 'dev', ifname], { netns: ns });
    await exec('ip', ['link', 'set', ifname, 'up'], { netns: ns });
  }

  private async gwNs(i: number, name: string): Promise<{ ns: string; podIP: string; podCidr: string }> {
    const ns = this.ns(name);
    await createNetns(ns);
    // the "pod network": an address of the cluster CIDR on lo (this kernel has no dummy links)
    const podIP = `10.${i}.0.1`;
    await exec('ip', ['addr', 'add', `${podIP}/32`, 'dev', 'lo'], { netns: ns });
    return { ns, podIP, podCidr: `10.${i}.0.0/16` };
  }

  /** A gateway on the WAN bridge at 192.0.2.<i>. */
  async gateway(w: string, i: number, name: string): Promise<Gw> {
    const { ns, podIP, podCidr } = await this.gwNs(i, name);
    const ip = `192.0.2.${i}`;
    await this.plug(w, ns, 'eth0', ip);
    return { name, ns, clusterId: `c-${name}`, ip, publicIP: ip, podIP, podCidr, wanIf: 'eth0', wanNs: ns, ifname: uniqueName('hwg', 6) };
  }

  /** Two gateways joined by one veth (no bridge). */
  async directPair(): Promise<[Gw, Gw]> {
    const a = await this.gwNs(1, 'a');
    const b = await this.gwNs(2, 'b');
    await exec('ip', ['link', 'add', 'eth0', 'netns', a.ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b.ns]);
    for (const [g, ip] of [[a, '192.0.2.1'], [b, '192.0.2.2']] as const) {
      await exec('ip', ['addr', 'add', `${ip}/24`, 'dev', 'eth0'], { netns: g.ns });
      await exec('ip', ['link', 'set', 'eth0', 'up'], { netns: g.ns });
    }
    const mk = (g: typeof a, name: string, ip: string): Gw => ({ name, ns: g.ns, clusterId: `c-${name}`, ip, publicIP: ip, podIP: g.podIP, podCidr: g.podCidr, wanIf: 'eth0', wanNs: g.ns, ifname: uniqueName('hwg', 6) });
    return [mk(a, 'a', '192.0.2.1'), mk(b, 'b', '192.0.2.2')];
  }

  /** A gateway at 198.18.<i>.2 behind a NAT router whose WAN address is 192.0.2.<i> (nft masquerade). */
  async natGateway(w: string, i: number, name: string): Promise<Gw> {
    const { ns, podIP, podCidr } = await this.gwNs(i, name);
    const r = this.ns(`${name}r`);
    await createNetns(r);
    await this.plug(w, r, 'wan0', `192.0.2.${i}`);
    await exec('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', 'lan0', 'netns', r]);
    await exec('ip', ['addr', 'add', `198.18.${i}.1/24`, 'dev', 'lan0'], { netns: r });
    await exec('ip', ['link', 'set', 'lan0', 'up'], { netns: r });
    await exec('ip', ['addr', 'add', `198.18.${i}.2/24`, 'dev', 'eth0'], { netns: ns });
    await exec('ip', ['link', 'set', 'eth0', 'up'], { netns: ns });
    await exec('ip', ['route', 'add', 'default', 'via', `198.18.${i}.1`], { netns: ns });
    await exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1'], { netns: r });
    await exec('nft', ['-f', '-'], { netns: r, input: 'table ip nat {\n chain post {\n  type nat hook postrouting priority srcnat;\n  oifname "wan0" masquerade\n }\n}\n' });
    return { name, ns, clusterId: `c-${name}`, ip: `198.18.${i}.2`, publicIP: `192.0.2.${i}`, podIP, podCidr, wanIf: 'wan0', wanNs: r, ifname: uniqueName('hwg', 6) };
  }

  config(g: Gw, psk = PSK_TEXT): GatewayConfig {
    return gatewayConfigFromEnv({
      SUBMARINER_NAMESPACE: 'submariner-operator',
      SUBMARINER_CLUSTERID: g.clusterId,
      NODE_NAME: `${g.name}-gw`,
      SUBMARINER_CLUSTERCIDR: g.podCidr,
      SUBMARINER_SERVICECIDR: `100.${g.podCidr.split('.')[1]}.0.0/16`,
      SUBMARINER_CABLEDRIVER: 'wireguard',
      CE_IPSEC_PSK: psk,
      BROKER_K8S_APISERVER: '127.0.0.1:1',
      BROKER_K8S_APISERVERTOKEN: 'x',
      BROKER_K8S_REMOTENAMESPACE: 'submariner-k8s-broker',
      HAWSER_STATE_DIR: this.stateDir,
    });
  }

  localEndpoint(g: Gw, backendConfig: Record<string, string> = {}): EndpointSpec {
    return {
      clusterId: g.clusterId,
      cableName: cableName(g.clusterId, g.ip),
      hostname: `${g.name}-gw`,
      subnets: [g.podCidr],
      invalidSubnets: [],
      privateIP: g.ip,
      publicIP: g.publicIP,
      healthCheckIP: g.podIP,
      privateIPs: [g.ip],
      publicIPs: [g.publicIP],
      healthCheckIPs: [g.podIP],
      natEnabled: g.ip !== g.publicIP,
      backend: 'wireguard',
      backendConfig,
    };
  }

  driver(g: Gw, opts: WireGuardDriverOptions = {}, psk = PSK_TEXT): WireGuardDriver {
    return new WireGuardDriver(
      { config: this.config(g, psk), localEndpoint: this.localEndpoint(g), log: this.log.child({ gw: g.name }) },
      { ifname: g.ifname, netns: g.ns, stateDir: this.stateDir, ...opts },
    );
  }

  /** The Endpoint `g` publishes with its driver's backend_config. */
  endpointOf(g: Gw, d: WireGuardDriver): EndpointSpec {
    return this.localEndpoint(g, d.localBackendConfig());
  }

  /** How `from` reaches `to` (NAT discovery's answer). */
  nat(from: Gw, to: Gw): NatInfo {
    const sameLan = from.publicIP === from.ip && to.publicIP === to.ip;
    return sameLan ? { useIP: to.ip, useNAT: false } : { useIP: to.publicIP, useNAT: true };
  }

  spawn(ns: string, cmd: string, args: string[]): { child: ChildProcess; out: () => string; exited: Promise<number> } {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.add(child);
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number>((resolve) => child.on('close', (code) => { this.procs.delete(child); resolve(code ?? 128); }));
    return { child, out: () => out, exited };
  }

  /** Starts tcpdump on `g`'s WAN interface; resolves once it listens. stop() flushes and returns the pcap. */
  async capture(ns: string, ifname: string): Promise<{ stop: () => Promise<Buffer> }> {
    const file = join(this.stateDir, `${uniqueName('cap', 4)}.pcap`);
    const p = this.spawn(ns, 'tcpdump', ['-i', ifname, '-n', '-U', '-s', '128', '-w', file]);
    await waitFor(() => /listening on/.test(p.out()), { timeoutMs: 5000, what: 'tcpdump to listen' });
    return {
      stop: async () => {
        p.child.kill('SIGINT');
        await p.exited;
        return readFileSync(file);
      },
    };
  }

  async ping(g: Gw, dst: string, args: string[] = ['-c', '1', '-W', '1']): Promise<boolean> {
    const r = await exec('ping', ['-n', '-I', g.podIP, ...args, dst], { netns: g.ns, allowFailure: true });
    return r.code === 0;
  }

  async destroy(): Promise<void> {
    for (const c of this.procs) c.kill('SIGKILL');
    for (const ns of this.namespaces) {
      for (const pid of await netnsPids(ns)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    for (const ns of this.namespaces) await deleteNetns(ns);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

export interface WirePacket {
  proto: number;
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  /** WireGuard message type (1 initiation, 2 response, 3 cookie, 4 data) for UDP payloads that look like one. */
  wgType?: number;
}

/** Reads a pcap (Ethernet) into IPv4 packets. */
export function readPcap(buf: Buffer): WirePacket[] {
  if (buf.length < 24) return [];
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linkType = u32(20);
  if (linkType !== 1) throw new Error(`pcap link type ${linkType} is not Ethernet`);
  const out: WirePacket[] = [];
  for (let off = 24; off + 16 <= buf.length; ) {
    const incl = u32(off + 8);
    const pkt = buf.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    if (pkt.length < 34 || pkt.readUInt16BE(12) !== 0x0800) continue;
    const ip = pkt.subarray(14);
    const ihl = (ip[0]! & 0x0f) * 4;
    const proto = ip[9]!;
    const src = [...ip.subarray(12, 16)].join('.');
    const dst = [...ip.subarray(16, 20)].join('.');
    const p: WirePacket = { proto, src, dst };
    if ((proto === 17 || proto === 6) && ip.length >= ihl + 4) {
      p.sport = ip.readUInt16BE(ihl);
      p.dport = ip.readUInt16BE(ihl + 2);
    }
    if (proto === 17 && ip.length >= ihl + 12) {
      const payload = ip.subarray(ihl + 8);
      const t = payload[0]!;
      if (t >= 1 && t <= 4 && payload[1] === 0 && payload[2] === 0 && payload[3] === 0) p.wgType = t;
    }
    out.push(p);
  }
  return out;
}
