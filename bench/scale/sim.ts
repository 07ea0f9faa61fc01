// Simulated remote clusters for bench/scale: each is a Cluster + Endpoint on the lab's broker and a real
// remote gateway in its own network namespace (hw-<lab>-r<k>), plugged into the lab's WAN bridge, that
// terminates the cable and answers the health check on its healthCheckIP:
//   WireGuard: one wireguard-go device per remote (a WireGuard device has exactly one private key, so N
//              remotes with their own keys need N devices; they cannot share one), peer = the lab gateway.
//   VXLAN:     one kernel VXLAN device per remote (VNI 1000, UDP 4500, VTEP 241.<private IP minus octet 1>).
//   IPsec:     hawser's own IPsec driver per remote, run by this bench process in the remote's netns: one charon
//              (kernel-libipsec, its own TUN device, VICI socket and config dir) per remote, with the lab
//              gateway's Endpoint as its one cable (bidirectional, PSK = the lab's CE_IPSEC_PSK); the
//              health-check IP sits on the remote's loopback, inside its subnet.
// The simulated remotes stand for 200 other machines, so they must not starve the gateway under test on the
// same cores: each wireguard-go runs with GOMAXPROCS=1 and, by default, at nice 19 (`--remote-sched`;
// `idle` = SCHED_IDLE through chrt, `normal` = as before). What they cost is measured and printed by run.ts.
// Remote k: private IP 198.18.1.k (WAN, on-link next to the routers), subnet = global CIDR 242.(10+k).0.0/16
// (Globalnet labs), health-check IP 242.(10+k).0.1. A netns per remote keeps each one's routing simple
// (replies leave through the device that got the request) and avoids VXLAN head-end replication delivering
// every ARP copy to one device.
import { spawn } from 'node:child_process';
import { closeSync, createWriteStream, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab } from '../../src/lab/index.js';
import { BROKER_NAMESPACE } from '../../src/lab/index.js';
import { RestClient, resourcePath } from '../../src/k8s/rest.js';
import { kubeConfigAccess } from '../../src/k8s/access.js';
import { generatePrivateKey, presharedKeyFromText, publicKeyOf } from '../../src/cable-drivers/wireguard/wgctrl/index.js';
import { netnsPids } from '../../src/os/netns.js';
import { exec } from '../../src/util/exec.js';
import { waitFor } from '../../src/util/wait.js';
import { errorMessage } from '../../src/util/errors.js';
import { isOurProcess } from '../../src/lab/procs.js';
import { createIpsecDriver, type IpsecDriver } from '../../src/cable-drivers/ipsec/index.js';
import { gatewayConfigFromEnv } from '../../src/config/roles.js';
import { parseEndpointSpec, type EndpointSpec } from '../../src/k8s/resources.js';
import { createLogger } from '../../src/log/index.js';

export type SimDriver = 'wireguard' | 'vxlan' | 'libreswan';
/** How the remotes' wireguard-go processes are scheduled: nice 19 (default), SCHED_IDLE, or like everything else. */
export type RemoteSched = 'nice' | 'idle' | 'normal';

/** The command prefix that runs a remote's daemon at the given scheduling class (exec'd: the PID stays the daemon's). */
export function schedPrefix(sched: RemoteSched): string[] {
  if (sched === 'nice') return ['nice', '-n', '19'];
  if (sched === 'idle') return ['chrt', '--idle', '0'];
  return [];
}
export const MAX_REMOTES = 240;

export interface SimRemote {
  index: number;
  clusterId: string;
  netns: string;
  privateIP: string;
  subnet: string;
  healthCheckIP: string;
  cableName: string;
  wgDevice?: string;
  wgPid?: number;
}

/** What the remotes need to know about the one real gateway. */
export interface LocalGateway {
  /** Its LAN address (remote → gateway underlay). */
  ip: string;
  /** Its cluster's router WAN address (next hop to the LAN) and the LAN CIDR. */
  routerWanIp: string;
  lanCidr: string;
  /** CIDRs the health check and pods may come from (pods, services, global CIDR, VTEP). */
  sourceCidrs: string[];
  /** WireGuard: the gateway's public key (from its Endpoint) and the PSK text (CE_IPSEC_PSK). */
  wgPublicKey?: string;
  pskText?: string;
  /** IPsec: the gateway's Endpoint as published (the remotes' one cable). */
  endpoint?: EndpointSpec;
}

export function remotePlan(lab: Lab, k: number, driver: SimDriver): SimRemote {
  if (k < 1 || k > MAX_REMOTES) throw new Error(`remote index ${k} out of 1..${MAX_REMOTES}`);
  const privateIP = `198.18.1.${k}`;
  const clusterId = `sim-${k}`;
  return {
    index: k, clusterId, netns: `hw-${lab.name}-r${k}`, privateIP, subnet: `242.${10 + k}.0.0/16`, healthCheckIP: `242.${10 + k}.0.1`,
    cableName: `submariner-cable-${clusterId}-${privateIP.replaceAll('.', '-')}`,
    wgDevice: driver === 'wireguard' ? `s${lab.name}${k}` : undefined,
  };
}

/** The lab's cluster router answers for the remotes' WAN addresses (on-link on its WAN port). */
export async function routeToRemotes(lab: Lab, cluster: string): Promise<void> {
  const c = lab.cluster(cluster);
  await lab.exec(`${c.letter}-rtr`, ['ip', 'route', 'replace', '198.18.1.0/24', 'dev', 'wan']);
}

export class SimRemotes {
  readonly remotes: SimRemote[] = [];
  private readonly keys = new Map<number, string>();
  private readonly dir = mkdtempSync(join(tmpdir(), 'hw-scale-keys-'));
  /** IPsec: each remote's driver (its charon), and one log file for all of them. */
  private readonly ipsec = new Map<number, IpsecDriver>();
  private ipsecLog: WriteStream | undefined;

  /** Where the IPsec remotes' charon directories (charon.log each) and the drivers' log live. */
  get workDir(): string {
    return this.dir;
  }

  /** `verbose`: the remotes' wireguard-go log every handshake step (LOG_LEVEL=verbose) into their log files. */
  constructor(private readonly lab: Lab, readonly driver: SimDriver, private readonly gw: LocalGateway, private readonly verbose = false, private readonly sched: RemoteSched = 'nice') {}

  /** Creates remotes `from`..`to` (namespaces in two ip batches, then each configured). */
  async add(from: number, to: number): Promise<void> {
    const plans = Array.from({ length: to - from + 1 }, (_, i) => remotePlan(this.lab, from + i, this.driver));
    // Recorded before they exist, so cleanup finds half-made ones too.
    this.remotes.push(...plans);
    const wan = this.lab.netns('wan');
    await exec('ip', ['-batch', '-'], { input: plans.map((r) => `netns add ${r.netns}`).join('\n') + '\n' });
    await exec('ip', ['-batch', '-'], { input: plans.map((r) => `link add name r${r.index} netns ${wan} type veth peer name eth0 netns ${r.netns}`).join('\n') + '\n' });
    await exec('ip', ['-batch', '-'], { netns: wan, input: plans.flatMap((r) => [`link set r${r.index} master br-wan`, `link set r${r.index} up`]).join('\n') + '\n' });
    const psk = this.gw.pskText !== undefined ? presharedKeyFromText(this.gw.pskText) : undefined;
    if (psk && this.driver === 'wireguard') writeFileSync(join(this.dir, 'psk'), psk + '\n', { mode: 0o600 });
    // A few at a time: each costs a handful of short processes (150 remotes took 5.5 min 4 at a time at load ~25).
    const batch = this.driver === 'libreswan' ? 4 : 8;
    for (let i = 0; i < plans.length; i += batch) await Promise.all(plans.slice(i, i + batch).map((r) => this.configure(r, psk)));
  }

  private async configure(r: SimRemote, psk: string | undefined): Promise<void> {
    const base = [
      'link set lo up', 'link set eth0 up', `addr add ${r.privateIP}/24 dev eth0`, 'route add 198.18.0.0/24 dev eth0',
      `route add ${this.gw.lanCidr} via ${this.gw.routerWanIp}`,
    ];
    if (this.driver === 'vxlan') {
      const vtep = `241.${r.privateIP.split('.').slice(1).join('.')}`;
      const gwVtep = `241.${this.gw.ip.split('.').slice(1).join('.')}`;
      await exec('ip', ['-batch', '-'], {
        netns: r.netns,
        input: [
          ...base,
          'link add vx type vxlan id 1000 dstport 4500 dev eth0 nolearning',
          `addr add ${vtep}/8 dev vx`, `addr add ${r.healthCheckIP}/32 dev vx`, 'link set vx up',
          ...this.gw.sourceCidrs.filter((c) => !c.startsWith('241.')).map((c) => `route add ${c} via ${gwVtep} dev vx`),
        ].join('\n') + '\n',
      });
      await exec('bridge', ['fdb', 'append', '00:00:00:00:00:00', 'dev', 'vx', 'dst', this.gw.ip], { netns: r.netns });
      return;
    }
    if (this.driver === 'libreswan') {
      await exec('ip', ['-batch', '-'], { netns: r.netns, input: [...base, `addr add ${r.healthCheckIP}/32 dev lo`].join('\n') + '\n' });
      await this.configureIpsec(r);
      return;
    }
    await exec('ip', ['-batch', '-'], { netns: r.netns, input: base.join('\n') + '\n' });
    const dev = r.wgDevice!;
    const logFile = join(this.dir, `${dev}.log`);
    const out = openSync(logFile, 'a');
    // GOMAXPROCS=1: at most one thread per remote runs Go code at a time (the default is one per core).
    const child = spawn('ip', ['netns', 'exec', r.netns, ...schedPrefix(this.sched), 'wireguard-go', '-f', dev], {
      detached: true, stdio: ['ignore', out, out], env: { ...process.env, LOG_LEVEL: this.verbose ? 'verbose' : 'error', GOMAXPROCS: '1' },
    });
    closeSync(out);
    child.unref();
    r.wgPid = child.pid;
    await waitFor(async () => (await exec('ip', ['link', 'show', dev], { netns: r.netns, allowFailure: true })).code === 0, { timeoutMs: 60_000, intervalMs: 100, what: `${dev} in ${r.netns}` })
      .catch((err: unknown) => {
        throw new Error(`${errorMessage(err)}; wireguard-go ${child.pid} ${isOurProcess(child.pid ?? 0, undefined) ? 'runs' : 'exited'}; its output: ${readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join(' | ')}`);
      });
    const key = generatePrivateKey();
    this.keys.set(r.index, key);
    const keyFile = join(this.dir, `k${r.index}`);
    writeFileSync(keyFile, key + '\n', { mode: 0o600 });
    const peer = ['peer', this.gw.wgPublicKey!, 'endpoint', `${this.gw.ip}:4500`, 'allowed-ips', this.gw.sourceCidrs.join(','), 'persistent-keepalive', '10'];
    if (psk) peer.push('preshared-key', join(this.dir, 'psk'));
    await exec('wg', ['set', dev, 'private-key', keyFile, 'listen-port', '4500', ...peer], { netns: r.netns });
    await exec('ip', ['-batch', '-'], {
      netns: r.netns,
      input: [`addr add ${r.healthCheckIP}/32 dev ${dev}`, `link set ${dev} up`, ...this.gw.sourceCidrs.map((c) => `route add ${c} dev ${dev}`)].join('\n') + '\n',
    });
  }

  private async configureIpsec(r: SimRemote): Promise<void> {
    if (!this.gw.endpoint || this.gw.pskText === undefined) throw new Error('IPsec remotes need the gateway\'s Endpoint and the PSK');
    this.ipsecLog ??= createWriteStream(join(this.dir, 'ipsec-remotes.log'), { flags: 'a' });
    const dir = join(this.dir, `ipsec-r${r.index}`);
    mkdirSync(dir, { recursive: true });
    const config = gatewayConfigFromEnv({
      SUBMARINER_NAMESPACE: 'submariner-operator', SUBMARINER_CLUSTERID: r.clusterId, NODE_NAME: `${r.clusterId}-gw`,
      SUBMARINER_CLUSTERCIDR: r.subnet, SUBMARINER_SERVICECIDR: '100.64.0.0/16', SUBMARINER_CABLEDRIVER: 'libreswan',
      CE_IPSEC_PSK: this.gw.pskText, BROKER_K8S_APISERVER: '127.0.0.1:6443', BROKER_K8S_APISERVERTOKEN: 'unused',
      BROKER_K8S_REMOTENAMESPACE: 'submariner-k8s-broker', HAWSER_IPSEC_USERSPACE: 'true', HAWSER_STATE_DIR: dir,
    });
    const log = createLogger({ level: 'info', component: `sim-${r.index}`, destination: this.ipsecLog, base: { cluster: r.clusterId } });
    const driver = createIpsecDriver({ config, localEndpoint: this.endpointOf(r), log }, { dir, netns: r.netns });
    this.ipsec.set(r.index, driver);
    await driver.init();
    const out = await driver.set([{ endpoint: this.gw.endpoint, nat: { useIP: this.gw.ip, useNAT: false } }]);
    const bad = [...out.values()].find((o) => !o.ok);
    if (bad && !bad.ok) throw new Error(`IPsec remote ${r.index}: ${bad.error}`);
  }

  /** A remote's Endpoint spec (also what publish() writes). */
  private endpointOf(r: SimRemote): EndpointSpec {
    const parsed = parseEndpointSpec(this.endpointSpec(r));
    if (!parsed.ok) throw new Error(`remote ${r.index}: ${parsed.error}`);
    return parsed.value;
  }

  private endpointSpec(r: SimRemote): Record<string, unknown> {
    const backendConfig: Record<string, string> = { 'udp-port': '4500', 'public-ip': `ipv4:${r.privateIP}`, 'preferred-server': 'false' };
    if (this.driver === 'wireguard') backendConfig.publicKey = this.publicKey(r.index)!;
    if (this.driver === 'libreswan') backendConfig['natt-discovery-port'] = '4490';
    return {
      cluster_id: r.clusterId, cable_name: r.cableName, hostname: `${r.clusterId}-gw`, backend: this.driver, subnets: [r.subnet],
      private_ip: r.privateIP, privateIPs: [r.privateIP], public_ip: r.privateIP, publicIPs: [r.privateIP], nat_enabled: false,
      healthCheckIP: r.healthCheckIP, healthCheckIPs: [r.healthCheckIP], backend_config: backendConfig,
    };
  }

  /** The IPsec remotes' view: how many of their one cable each sees connected (charon's SAs, not the gateway's). */
  async ipsecConnected(): Promise<number> {
    let n = 0;
    for (const d of this.ipsec.values()) if ((await d.connections().catch(() => [])).some((c) => c.status === 'connected')) n++;
    return n;
  }

  publicKey(k: number): string | undefined {
    const key = this.keys.get(k);
    return key ? publicKeyOf(key) : undefined;
  }

  /** Cluster + Endpoint of remotes `from`..`to` on the broker. */
  async publish(from: number, to: number): Promise<void> {
    const client = new RestClient(kubeConfigAccess(this.lab.kubeConfig(this.lab.topology.brokerCluster)));
    const ns = BROKER_NAMESPACE;
    try {
      const work: Array<Promise<unknown>> = [];
      for (const r of this.remotes.filter((x) => x.index >= from && x.index <= to)) {
        const labels = { 'submariner-io/clusterID': r.clusterId };
        work.push(client.create(resourcePath('submariner.io', 'v1', 'clusters', ns), {
          apiVersion: 'submariner.io/v1', kind: 'Cluster', metadata: { name: r.clusterId, namespace: ns, labels },
          spec: { cluster_id: r.clusterId, cluster_cidr: [r.subnet], service_cidr: [], global_cidr: [r.subnet], color_codes: ['blue'] },
        }));
        work.push(client.create(resourcePath('submariner.io', 'v1', 'endpoints', ns), {
          apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: { name: `${r.clusterId}-${r.cableName}`, namespace: ns, labels },
          spec: this.endpointSpec(r),
        }));
        if (work.length >= 40) await Promise.all(work.splice(0));
      }
      await Promise.all(work);
    } finally {
      client.close();
    }
  }

  /** WireGuard remotes with `verbose`: how often their logs say a handshake was retried or given up. */
  handshakeRetries(): { retried: number; gaveUp: number } {
    let retried = 0;
    let gaveUp = 0;
    for (const r of this.remotes) {
      if (!r.wgDevice) continue;
      let text = '';
      try {
        text = readFileSync(join(this.dir, `${r.wgDevice}.log`), 'utf8');
      } catch {
        continue;
      }
      retried += text.split('retrying (try').length - 1;
      gaveUp += text.split('giving up').length - 1;
    }
    return { retried, gaveUp };
  }

  /** PIDs of everything the remotes run (wireguard-go). */
  pids(): number[] {
    return this.remotes.map((r) => r.wgPid).filter((p): p is number => p !== undefined);
  }

  /** Kills what runs in the remotes' namespaces (by PID), deletes the namespaces and their sockets. */
  async destroy(): Promise<void> {
    // IPsec: each driver stops its charon (by its PID file) and removes what it installed.
    for (const d of this.ipsec.values()) await d.cleanup().catch(() => undefined);
    this.ipsecLog?.end();
    for (const r of this.remotes) {
      let pids: number[] = [];
      try {
        pids = await netnsPids(r.netns);
      } catch {
        continue;
      }
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    await exec('ip', ['-force', '-batch', '-'], { input: this.remotes.map((r) => `netns delete ${r.netns}`).join('\n') + '\n', allowFailure: true });
    for (const r of this.remotes) if (r.wgDevice) rmSync(`/var/run/wireguard/${r.wgDevice}.sock`, { force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
