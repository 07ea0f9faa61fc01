// The WireGuard cable driver (Submariner's `wireguard`): one device `submariner`, one peer per remote
// gateway, routes to remote subnets in table 150. Plan/apply: desired peers and routes (from connect/
// disconnect) vs the device and kernel as observed, every time; the data path is adopted across restarts.
// Cable names of adopted peers come from <stateDir>/<ifname>.cables.json (public data only; see state.ts).
import { mkdirSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../../log/index.js';
import { registerSecret } from '../../log/index.js';
import { backendPort, type EndpointSpec } from '../../k8s/resources.js';
import { errorMessage, HawserError } from '../../util/errors.js';
import { sleep } from '../../util/wait.js';
import type { CableDriver, ConnectionState, DriverContext, NatInfo } from '../types.js';
import {
  DEFAULT_HANDSHAKE_GRACE_MS, DEFAULT_LISTEN_PORT, DEFAULT_PRUNE_AFTER_MS, DEFAULT_RESYNC_MS, INTERFACE_NAME_KEY, KEEPALIVE_SEC, LIVE_HANDSHAKE_MS,
  PUBLIC_KEY_KEY, SUBMARINER_DEFAULT_PSK_TEXT, UDP_PORT_KEY, WIREGUARD_IFNAME, WIREGUARD_ROUTE_PROTO, WIREGUARD_ROUTE_TABLE, WIREGUARD_RULE_PRIORITY,
} from './constants.js';
import { IpNetOps, type NetOps } from './netops.js';
import { planDevice, planNet, planNetCleanup, type DesiredDevice, type DesiredPeer, type NetDesired } from './planner.js';
import { findRouteSrc } from './routesrc.js';
import { formatState, loadState, stateFileName, writeStateFile, type SavedCable } from './state.js';
import { WireGuardGo } from './supervisor.js';
import {
  formatEndpoint, generatePrivateKey, keyProblem, openKernelClient, presharedKeyFromText, publicKeyOf, UapiClient,
  type BackendChoice, type Device, type Peer, type WgClient,
} from './wgctrl/index.js';

export interface WireGuardDriverOptions {
  /** Device name (default `submariner`; tests use unique names: UAPI sockets are shared by all netns). */
  ifname?: string;
  /** Network namespace of the node (tests); default: this process's. */
  netns?: string;
  /** Where wireguard-go's UAPI sockets are (default /var/run/wireguard). */
  socketDir?: string;
  /** PID, log and cable state files (default `<HAWSER_STATE_DIR>/wireguard`). */
  stateDir?: string;
  /** wireguard-go binary (default `wireguard-go` on PATH). */
  wireguardGo?: string;
  /** `auto` (default): kernel WireGuard when present (and no netns given), else wireguard-go. */
  backend?: BackendChoice;
  /** Default: CE_IPSEC_NATTPORT (4500). */
  listenPort?: number;
  routeTable?: number;
  rulePriority?: number;
  routeProto?: number;
  /** Add the `lookup <table>` rule when no rule uses the table yet (default true). */
  manageRule?: boolean;
  /** Preferred source of routes to remote subnets; default: our address inside the cluster CIDRs, if any; null: none. */
  routeSrc?: string | null;
  /** A configured peer without any handshake after this long is an `error` (default 20 s). */
  handshakeGraceMs?: number;
  /** After a restart, peers and routes no cable claims are kept this long, then removed (default 60 s). */
  pruneAfterMs?: number;
  /** How often the daemon's liveness is checked (default 250 ms). */
  watchIntervalMs?: number;
  /** How often the device, routes and rule are re-checked against what is wanted, repairing drift (default 30 s; 0 = never). */
  resyncIntervalMs?: number;
  /** An injected control client (tests). */
  client?: WgClient;
  netOps?: NetOps;
  now?: () => number;
}

interface CableEntry {
  endpoint: EndpointSpec;
  nat: NatInfo;
  /** When this peer config was first wanted (for the handshake grace). */
  sinceMs: number;
  peer?: DesiredPeer;
  /** Why this cable cannot be configured (what to fix). */
  error?: string;
}

export interface WireGuardStats {
  /** configureDevice calls made. */
  deviceWrites: number;
  /** `ip -batch` applications made. */
  netWrites: number;
  daemonRestarts: number;
}

export class WireGuardDriver implements CableDriver {
  readonly name = 'wireguard' as const;
  readonly ifname: string;
  readonly listenPort: number;
  readonly stats: WireGuardStats = { deviceWrites: 0, netWrites: 0, daemonRestarts: 0 };
  private readonly log: Logger;
  private readonly uapi: UapiClient;
  private client: WgClient | undefined;
  private readonly net: NetOps;
  private wgGo: WireGuardGo | undefined;
  private privateKey: string | undefined;
  private readonly psk: string;
  private readonly defaultRemotePort: number;
  private readonly cables = new Map<string, CableEntry>();
  /** Peers a previous run connected (from the state file, still on the device) that no connect() claimed yet. */
  private readonly adopted = new Map<string, SavedCable>();
  private adoptedAtMs = 0;
  private readonly stateDir: string;
  private readonly statePath: string;
  private stateText: string | undefined;
  private readonly appliedEndpoints = new Map<string, string>();
  private readonly pendingRemovals = new Set<string>();
  private readonly pendingRouteRemovals = new Set<string>();
  private routeSrc: { v4?: string; v6?: string } = {};
  private pruning = false;
  private pruneTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private initialized = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;
  private readonly table: number;
  private readonly proto: number;

  constructor(
    private readonly ctx: DriverContext,
    private readonly opts: WireGuardDriverOptions = {},
  ) {
    this.ifname = opts.ifname ?? WIREGUARD_IFNAME;
    this.listenPort = opts.listenPort ?? ctx.config.ipsec.nattPort ?? DEFAULT_LISTEN_PORT;
    this.log = ctx.log.child({ driver: 'wireguard', device: this.ifname });
    this.uapi = new UapiClient({ socketDir: opts.socketDir });
    this.net = opts.netOps ?? new IpNetOps(opts.netns);
    this.now = opts.now ?? Date.now;
    this.table = opts.routeTable ?? WIREGUARD_ROUTE_TABLE;
    this.proto = opts.routeProto ?? WIREGUARD_ROUTE_PROTO;
    this.stateDir = opts.stateDir ?? join(ctx.config.stateDir, 'wireguard');
    this.statePath = join(this.stateDir, stateFileName(this.ifname));
    // Submariner's WireGuard preshared key: SHA-256 of the PSK text. Without one, Submariner's own default
    // text "default psk" (envconfig default of its wireguard driver), so an unset PSK still matches it.
    const pskText = ctx.config.ipsec.psk || SUBMARINER_DEFAULT_PSK_TEXT;
    if (!ctx.config.ipsec.psk) this.log.warn('no pre-shared key configured: using Submariner\'s WireGuard default "default psk"; set CE_IPSEC_PSK or CE_IPSEC_PSKSECRET');
    this.psk = presharedKeyFromText(pskText);
    registerSecret(this.psk);
    // A remote Endpoint without udp-port: Submariner's driver falls back to its own CE_IPSEC_NATTPORT (the role
    // passes a node's udp-port label here as nattPort; Submariner would still use the variable: only matters
    // for a remote that publishes no udp-port, which Submariner's gateways always publish).
    this.defaultRemotePort = ctx.config.ipsec.nattPort ?? DEFAULT_LISTEN_PORT;
  }

  /** The public key published in backend_config (after init). */
  get publicKey(): string | undefined {
    return this.privateKey ? publicKeyOf(this.privateKey) : undefined;
  }

  /** PID of the supervised wireguard-go (userspace back end). */
  get daemonPid(): number | undefined {
    return this.wgGo?.pid;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async chooseClient(): Promise<WgClient> {
    if (this.opts.client) return this.opts.client;
    const backend = this.opts.backend ?? 'auto';
    // our netlink socket lives in this process's netns: a device in another netns goes through wireguard-go
    if (backend === 'userspace' || (backend === 'auto' && this.opts.netns)) return this.uapi;
    const kernel = await openKernelClient();
    if (kernel) return kernel;
    if (backend === 'kernel') throw new HawserError('NOT_FOUND', 'kernel WireGuard was asked for but this kernel has no WireGuard generic netlink family: load the wireguard module or use the userspace back end');
    return this.uapi;
  }

  init(): Promise<void> {
    return this.serial(async () => {
      if (this.initialized) return;
      const t0 = this.now();
      this.client = await this.chooseClient();
      let how: 'adopted' | 'started' | 'created' | 'existing';
      if (this.client.type === 'userspace') {
        mkdirSync(this.stateDir, { recursive: true });
        this.wgGo = new WireGuardGo({ ifname: this.ifname, netns: this.opts.netns, stateDir: this.stateDir, binary: this.opts.wireguardGo, uapi: this.uapi, verbose: this.ctx.config.debug }, this.log);
        how = await this.wgGo.ensure();
      } else if (await this.net.linkExists(this.ifname)) how = 'existing';
      else {
        await this.net.linkAdd(this.ifname, 'wireguard');
        how = 'created';
      }
      const dev = await this.client.device(this.ifname);
      // Keep the running device's key: a new one would make every remote drop the cable until it
      // sees our new Endpoint (Submariner makes a fresh key at every start; we do only for a new device).
      if (dev.privateKey) {
        this.privateKey = dev.privateKey;
        this.log.info({ how, publicKey: dev.publicKey, peers: dev.peers.length }, 'adopted the running WireGuard device and its key');
      } else {
        this.privateKey = generatePrivateKey();
        this.log.info({ how, publicKey: publicKeyOf(this.privateKey) }, 'new WireGuard device with a new key pair');
      }
      registerSecret(this.privateKey);
      this.routeSrc = await this.discoverRouteSrc();
      this.loadAdopted(dev);
      // an adopted device keeps peers and routes of cables not yet reconnected: no flap on restart
      this.pruning = dev.peers.length === 0;
      if (!this.pruning) {
        // the fallback when the engine never calls sweep()
        this.pruneTimer = setTimeout(() => {
          void this.serial(() => this.removeUnclaimed('prune')).catch((err) => this.log.warn({ err }, 'pruning stale WireGuard peers failed; retried on the next change'));
        }, this.opts.pruneAfterMs ?? DEFAULT_PRUNE_AFTER_MS);
        this.pruneTimer.unref();
      }
      await this.reconcileLocked('init');
      this.wgGo?.watch(() => this.onDaemonRestart(), this.opts.watchIntervalMs ?? 250);
      const resync = this.opts.resyncIntervalMs ?? DEFAULT_RESYNC_MS;
      if (resync > 0) {
        // level-triggered repair: a route deleted or a peer changed behind our back comes back
        this.resyncTimer = setInterval(() => void this.reconcile('resync').catch((err) => this.log.warn({ err }, 'WireGuard resync failed; retried on the next tick')), resync);
        this.resyncTimer.unref();
      }
      this.initialized = true;
      this.log.info({ how, ms: this.now() - t0, listenPort: this.listenPort }, 'WireGuard driver ready');
    });
  }

  /** Names the device's peers a previous run connected, from the state file; a bad file only loses the names. */
  private loadAdopted(dev: Device): void {
    try {
      mkdirSync(this.stateDir, { recursive: true });
    } catch (err) {
      this.log.warn({ err, file: this.statePath }, 'cannot create the WireGuard state directory; cable names are not kept across restarts');
    }
    const { cables, problem } = loadState(this.statePath);
    if (problem) this.log.warn({ file: this.statePath, problem }, 'WireGuard cable state file unusable: starting without adopted cable names (peers a previous run left are removed by the sweep)');
    const onDevice = new Set(dev.peers.map((p) => p.publicKey));
    this.adopted.clear();
    this.adoptedAtMs = this.now();
    for (const c of cables) if (onDevice.has(c.publicKey)) this.adopted.set(c.cableName, c);
    this.stateText = problem ? undefined : formatState(cables);
    this.log.debug({ adopted: [...this.adopted.keys()], saved: cables.length }, 'WireGuard cables adopted from the state file');
  }

  /** Saves cable name <-> peer key (+ the remote as last connected) after a change; a write failure is only a warning. */
  private persist(): void {
    const list: SavedCable[] = [];
    const claimed = new Set<string>();
    for (const [cableName, e] of this.cables) {
      if (!e.peer) continue;
      claimed.add(e.peer.publicKey);
      list.push({ cableName, publicKey: e.peer.publicKey, endpoint: e.endpoint, usingIP: e.nat.useIP, usingNAT: e.nat.useNAT });
    }
    for (const [name, c] of this.adopted) if (!this.cables.has(name) && !claimed.has(c.publicKey)) list.push(c);
    const text = formatState(list);
    if (text === this.stateText) return;
    try {
      writeStateFile(this.statePath, text);
      this.stateText = text;
    } catch (err) {
      this.log.warn({ err, file: this.statePath }, 'cannot write the WireGuard cable state file; a restart will not name the current cables');
    }
  }

  /** Removes every peer and route no connect() of this instance claimed (sweep, or the prune timer). */
  private async removeUnclaimed(why: string): Promise<void> {
    if (this.pruneTimer) clearTimeout(this.pruneTimer);
    this.pruneTimer = undefined;
    this.pruning = true;
    const dropped = [...this.adopted.keys()];
    this.adopted.clear();
    await this.reconcileLocked(why);
    this.persist();
    if (dropped.length) this.log.info({ why, cables: dropped }, 'removed WireGuard cables a previous run left that no remote wants any more');
  }

  /** Removes peers and routes no connect() of this instance claimed; the engine calls it after its first full reconcile. */
  sweep(): Promise<void> {
    return this.serial(async () => {
      this.requireInit();
      await this.removeUnclaimed('sweep');
    });
  }

  private async onDaemonRestart(): Promise<void> {
    const t0 = this.now();
    this.stats.daemonRestarts++;
    this.log.warn({ pid: this.wgGo?.pid }, 'wireguard-go had died and was restarted: re-applying the whole config (key, peers, routes)');
    this.appliedEndpoints.clear();
    // the new daemon may still be settling: a few quick tries before the daemon watcher's own retry
    for (let attempt = 1; ; attempt++) {
      try {
        await this.serial(() => this.reconcileLocked('daemon restart'));
        break;
      } catch (err) {
        if (attempt >= 5) throw err;
        this.log.debug({ err, attempt }, 're-applying after the wireguard-go restart failed; retrying');
        await sleep(200);
      }
    }
    this.log.info({ ms: this.now() - t0, cables: this.cables.size }, 'WireGuard cable restored after wireguard-go restart');
  }

  private async discoverRouteSrc(): Promise<{ v4?: string; v6?: string }> {
    if (this.opts.routeSrc === null) return {};
    if (this.opts.routeSrc) return isIP(this.opts.routeSrc) === 6 ? { v6: this.opts.routeSrc } : { v4: this.opts.routeSrc };
    try {
      return findRouteSrc(await this.net.addresses(), this.ctx.config.clusterCidrs.map((c) => c.text), this.ctx.localEndpoint.healthCheckIP);
    } catch (err) {
      this.log.warn({ err }, 'cannot list local addresses; routes get no preferred source');
      return {};
    }
  }

  localBackendConfig(): Record<string, string> {
    const publicKey = this.publicKey;
    if (!publicKey) throw new HawserError('INVALID', 'WireGuard driver: localBackendConfig() called before init()');
    return { [PUBLIC_KEY_KEY]: publicKey, [INTERFACE_NAME_KEY]: this.ifname, [UDP_PORT_KEY]: String(this.listenPort) };
  }

  /** The desired peer for a remote, or the reason it cannot have one. */
  private desiredPeer(remote: EndpointSpec, nat: NatInfo): { peer?: DesiredPeer; error?: string } {
    const who = `remote endpoint ${remote.cableName} (cluster ${remote.clusterId})`;
    const key = remote.backendConfig[PUBLIC_KEY_KEY];
    if (key === undefined || key === '') {
      return { error: `${who} publishes no backend_config.${PUBLIC_KEY_KEY}: its gateway must run the WireGuard cable driver (SUBMARINER_CABLEDRIVER=wireguard), which publishes its public key in its Endpoint` };
    }
    const problem = keyProblem(key);
    if (problem) return { error: `${who} has an invalid backend_config.${PUBLIC_KEY_KEY} ${JSON.stringify(key.slice(0, 60))}: ${problem}; restart that gateway's WireGuard driver so it republishes its key` };
    if (this.privateKey && key === publicKeyOf(this.privateKey)) return { error: `${who} publishes our own public key: two gateways share one WireGuard key; delete the stale Endpoint` };
    for (const [name, e] of this.cables) {
      if (name !== remote.cableName && e.peer?.publicKey === key) return { error: `${who} publishes the same public key as ${name}: one of them is stale; delete the older Endpoint` };
    }
    if (isIP(nat.useIP) === 0) return { error: `${who}: no usable IP to reach it (NAT discovery gave ${JSON.stringify(nat.useIP)})` };
    const subnets = [...remote.subnets];
    if (subnets.length === 0) return { error: `${who} has no valid subnets: fix SUBMARINER_CLUSTERCIDR/SERVICECIDR on cluster ${remote.clusterId}` };
    return {
      peer: {
        cableName: remote.cableName,
        publicKey: key,
        presharedKey: this.psk,
        endpoint: formatEndpoint(nat.useIP, backendPort(remote, UDP_PORT_KEY, this.defaultRemotePort)),
        keepaliveSec: KEEPALIVE_SEC,
        allowedIPs: subnets,
      },
    };
  }

  connect(remote: EndpointSpec, nat: NatInfo): Promise<void> {
    return this.serial(async () => {
      this.requireInit();
      const { peer, error } = this.desiredPeer(remote, nat);
      const prev = this.cables.get(remote.cableName);
      const same = prev?.peer && peer && prev.peer.publicKey === peer.publicKey && prev.peer.endpoint === peer.endpoint;
      const entry: CableEntry = { endpoint: remote, nat, sinceMs: same && prev ? prev.sinceMs : this.now(), ...(peer ? { peer } : {}), ...(error ? { error } : {}) };
      // a key change drops the old peer (the new one takes over its subnets)
      if (prev?.peer && prev.peer.publicKey !== peer?.publicKey) this.pendingRemovals.add(prev.peer.publicKey);
      if (peer) {
        this.pendingRemovals.delete(peer.publicKey);
        for (const d of peer.allowedIPs) this.pendingRouteRemovals.delete(d);
      }
      for (const d of prev?.peer?.allowedIPs ?? []) if (!peer?.allowedIPs.includes(d)) this.pendingRouteRemovals.add(d);
      this.cables.set(remote.cableName, entry);
      this.adopted.delete(remote.cableName);
      for (const [name, c] of this.adopted) if (c.publicKey === peer?.publicKey) this.adopted.delete(name);
      const log = this.log.child({ cable: remote.cableName, cluster: remote.clusterId, endpoint: nat.useIP });
      await this.reconcileLocked(`connect ${remote.cableName}`);
      this.persist();
      if (error) {
        log.error({ reason: error }, 'cannot configure WireGuard cable');
        throw new HawserError('INVALID', error);
      }
      log.debug({ publicKey: peer?.publicKey }, 'WireGuard cable configured');
    });
  }

  disconnect(remote: EndpointSpec): Promise<void> {
    return this.serial(async () => {
      this.requireInit();
      const prev = this.cables.get(remote.cableName);
      const adopted = this.adopted.get(remote.cableName);
      this.cables.delete(remote.cableName);
      this.adopted.delete(remote.cableName);
      // after a restart we may not know the cable yet: the state file or its Endpoint names the key
      const key = prev?.peer?.publicKey ?? adopted?.publicKey ?? remote.backendConfig[PUBLIC_KEY_KEY];
      const claimed = (k: string): boolean => [...this.cables.values()].some((e) => e.peer?.publicKey === k);
      if (!prev && !adopted) {
        const dev = await this.client!.device(this.ifname);
        if (!key || keyProblem(key) || claimed(key) || !dev.peers.some((p) => p.publicKey === key)) {
          // e.g. the engine removing a remote that never got a cable here: nothing of ours to remove
          this.log.debug({ cable: remote.cableName, cluster: remote.clusterId }, 'disconnect of an unknown WireGuard cable without a peer: nothing to do');
          return;
        }
      }
      if (key && !keyProblem(key) && !claimed(key)) this.pendingRemovals.add(key);
      const stillRouted = new Set([...this.cables.values()].flatMap((e) => e.peer?.allowedIPs ?? []));
      for (const d of prev?.peer?.allowedIPs ?? remote.subnets) if (!stillRouted.has(d)) this.pendingRouteRemovals.add(d);
      await this.reconcileLocked(`disconnect ${remote.cableName}`);
      this.persist();
      this.log.info({ cable: remote.cableName, cluster: remote.clusterId }, 'WireGuard cable removed');
    });
  }

  private requireInit(): void {
    if (!this.initialized || !this.client || !this.privateKey) throw new HawserError('INVALID', 'WireGuard driver used before init()');
  }

  private desiredDevice(): DesiredDevice {
    const peers = [...this.cables.values()].flatMap((e) => (e.peer ? [e.peer] : [])).sort((a, b) => a.cableName.localeCompare(b.cableName));
    return { privateKey: this.privateKey ?? '', listenPort: this.listenPort, peers };
  }

  private desiredNet(): NetDesired {
    const routes = this.desiredDevice().peers.flatMap((p) =>
      p.allowedIPs.map((dst) => {
        const src = dst.includes(':') ? this.routeSrc.v6 : this.routeSrc.v4;
        return src ? { dst, src } : { dst };
      }),
    );
    return {
      dev: this.ifname,
      table: this.table,
      proto: this.proto,
      routes,
      ...(this.opts.manageRule === false ? {} : { rule: { priority: this.opts.rulePriority ?? WIREGUARD_RULE_PRIORITY } }),
    };
  }

  /** What reconcile would change now, one line per change (for `hawser show`/`diagnose`). */
  plan(): Promise<string[]> {
    return this.serial(async () => {
      this.requireInit();
      const dev = await this.client!.device(this.ifname);
      const devPlan = planDevice(this.desiredDevice(), dev, this.peerPlanOptions());
      const netLines = planNet(this.desiredNet(), await this.net.observe(this.ifname, this.table), this.netPlanOptions());
      return [...devPlan.lines, ...netLines];
    });
  }

  private peerPlanOptions(): Parameters<typeof planDevice>[2] {
    return { prune: this.pruning, remove: this.pendingRemovals, appliedEndpoints: this.appliedEndpoints, nowMs: this.now(), liveHandshakeMs: LIVE_HANDSHAKE_MS };
  }

  private netPlanOptions(): Parameters<typeof planNet>[2] {
    return { prune: this.pruning, removeDsts: this.pendingRouteRemovals };
  }

  private reconcile(why: string): Promise<void> {
    return this.serial(() => this.reconcileLocked(why));
  }

  /** Observe, plan, apply: the device first (so routes never point at a peer-less device), then routes. */
  private async reconcileLocked(why: string): Promise<void> {
    const client = this.client;
    if (!client || !this.privateKey) return;
    const dev = await client.device(this.ifname);
    const devPlan = planDevice(this.desiredDevice(), dev, this.peerPlanOptions());
    if (devPlan.config) {
      this.log.debug({ why, plan: devPlan.lines }, 'applying WireGuard device plan');
      await client.configureDevice(this.ifname, devPlan.config);
      this.stats.deviceWrites++;
    }
    for (const p of this.desiredDevice().peers) this.appliedEndpoints.set(p.publicKey, p.endpoint);
    this.pendingRemovals.clear();
    const netLines = planNet(this.desiredNet(), await this.net.observe(this.ifname, this.table), this.netPlanOptions());
    if (netLines.length) {
      this.log.debug({ why, plan: netLines }, 'applying WireGuard routes plan');
      await this.net.apply(netLines);
      this.stats.netWrites++;
    }
    this.pendingRouteRemovals.clear();
  }

  connections(): Promise<ConnectionState[]> {
    return this.serial(async () => {
      let dev: Device | undefined;
      let devErr = '';
      try {
        if (!this.client) throw new HawserError('INVALID', 'WireGuard driver not initialized');
        dev = await this.client.device(this.ifname);
      } catch (err) {
        devErr = errorMessage(err);
      }
      const now = this.now();
      const grace = this.opts.handshakeGraceMs ?? DEFAULT_HANDSHAKE_GRACE_MS;
      const out: ConnectionState[] = [];
      for (const [cableName, e] of [...this.cables].sort(([a], [b]) => a.localeCompare(b))) {
        const base = { cableName, endpoint: e.endpoint, usingIP: e.nat.useIP, usingNAT: e.nat.useNAT };
        if (e.error || !e.peer) {
          out.push({ ...base, status: 'error', statusMessage: e.error ?? 'not configured' });
          continue;
        }
        if (!dev) {
          out.push({ ...base, status: 'error', statusMessage: `WireGuard device ${this.ifname} unavailable: ${devErr}` });
          continue;
        }
        const p = dev.peers.find((x) => x.publicKey === e.peer!.publicKey);
        if (!p) {
          out.push({ ...base, status: 'connecting', statusMessage: `peer ${e.peer.publicKey.slice(0, 8)} is missing from ${this.ifname}; it is being re-applied` });
          continue;
        }
        out.push(peerState(base, p, e.peer.endpoint, now - e.sinceMs, grace, now));
      }
      // a previous run's cables, named by the state file, as long as their peer is still on the device
      const claimed = new Set([...this.cables.values()].flatMap((e) => (e.peer ? [e.peer.publicKey] : [])));
      for (const [cableName, c] of this.adopted) {
        const p = dev?.peers.find((x) => x.publicKey === c.publicKey);
        if (!p || this.cables.has(cableName) || claimed.has(c.publicKey)) continue;
        const base = { cableName, endpoint: c.endpoint, usingIP: c.usingIP, usingNAT: c.usingNAT };
        out.push(peerState(base, p, p.endpoint ?? c.usingIP, now - this.adoptedAtMs, grace, now));
      }
      return out.sort((a, b) => a.cableName.localeCompare(b.cableName));
    });
  }

  cleanup(): Promise<void> {
    return this.serial(async () => {
      this.stopLoops();
      const failures: string[] = [];
      try {
        const lines = planNetCleanup({ dev: this.ifname, table: this.table, proto: this.proto }, await this.net.observe(this.ifname, this.table));
        if (lines.length) await this.net.apply(lines);
      } catch (err) {
        failures.push(`routes/rules: ${errorMessage(err)}`);
      }
      try {
        if (this.wgGo || this.client?.type !== 'kernel') {
          this.wgGo ??= new WireGuardGo({ ifname: this.ifname, netns: this.opts.netns, stateDir: this.stateDir, binary: this.opts.wireguardGo, uapi: this.uapi }, this.log);
          await this.wgGo.stop();
        }
        // a kernel device, or a tun left by a daemon we could not find
        if (await this.net.linkExists(this.ifname)) await this.net.linkDel(this.ifname);
      } catch (err) {
        failures.push(`device: ${errorMessage(err)}`);
      }
      try {
        rmSync(this.statePath, { force: true });
      } catch (err) {
        failures.push(`state file: ${errorMessage(err)}`);
      }
      await this.client?.close().catch(() => undefined);
      this.client = undefined;
      this.initialized = false;
      this.cables.clear();
      this.adopted.clear();
      this.stateText = undefined;
      if (failures.length) throw new HawserError('EXEC', `WireGuard cleanup incomplete: ${failures.join('; ')}`);
      this.log.info('WireGuard device, routes and rules removed');
    });
  }

  private stopLoops(): void {
    this.wgGo?.close();
    if (this.pruneTimer) clearTimeout(this.pruneTimer);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.pruneTimer = undefined;
    this.resyncTimer = undefined;
  }

  close(): Promise<void> {
    return this.serial(async () => {
      this.stopLoops();
      await this.client?.close().catch(() => undefined);
      this.initialized = false;
    });
  }
}

type StateBase = Pick<ConnectionState, 'cableName' | 'endpoint' | 'usingIP' | 'usingNAT'>;

/** A configured peer's status from its handshake age; `wantedForMs`: how long it has been wanted (the grace). */
function peerState(base: StateBase, p: Peer, endpoint: string, wantedForMs: number, graceMs: number, now: number): ConnectionState {
  const counters = { rxBytes: p.rxBytes, txBytes: p.txBytes, ...(p.lastHandshakeMs ? { lastHandshakeMs: p.lastHandshakeMs } : {}) };
  const age = now - p.lastHandshakeMs;
  if (p.lastHandshakeMs > 0 && age < LIVE_HANDSHAKE_MS) {
    return { ...base, ...counters, status: 'connected', statusMessage: `handshake ${Math.max(0, Math.round(age / 1000))} s ago; rx ${p.rxBytes} B, tx ${p.txBytes} B` };
  }
  if (p.lastHandshakeMs > 0) return { ...base, ...counters, status: 'connecting', statusMessage: `last handshake ${Math.round(age / 1000)} s ago; waiting for a new one with ${endpoint}` };
  if (wantedForMs < graceMs) return { ...base, ...counters, status: 'connecting', statusMessage: `waiting for the first handshake with ${endpoint}` };
  const port = endpoint.slice(endpoint.lastIndexOf(':') + 1);
  return {
    ...base,
    ...counters,
    status: 'error',
    statusMessage: `no WireGuard handshake with ${endpoint} in ${Math.round(wantedForMs / 1000)} s (sent ${p.txBytes} B, received ${p.rxBytes} B): check that both clusters use the same PSK (CE_IPSEC_PSK), that the remote Endpoint's ${PUBLIC_KEY_KEY} is its gateway's current key, and that UDP ${port} reaches ${base.usingIP}`,
  };
}
