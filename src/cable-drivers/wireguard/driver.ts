// The WireGuard cable driver (Submariner's `wireguard`): one device `submariner`, one peer per remote
// gateway, routes to remote subnets in table 150. Declarative: set(cables) observes the device (UAPI or
// kernel) and the routes (rtnetlink), plans the difference and applies it. A restarted hawser adopts the
// device as it is: a peer whose key, endpoint and allowed IPs already match is left alone (no flap), and
// peers and routes no wanted cable claims are removed by the same plan.
import { mkdirSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../../log/index.js';
import { registerSecret } from '../../log/index.js';
import { backendPort, type EndpointSpec } from '../../k8s/resources.js';
import { addressesIn } from '../../os/addresses.js';
import { describeOp, openRtnl, type Rtnl, type RtnlOp } from '../../os/netlink.js';
import { errorMessage, HawserError } from '../../util/errors.js';
import { sleep } from '../../util/wait.js';
import { DeclarativeDriver } from '../declarative.js';
import type { CableDriver, CableOutcome, ConnectionState, DriverContext, NatInfo, WantedCable } from '../types.js';
import {
  DEFAULT_HANDSHAKE_GRACE_MS, DEFAULT_LISTEN_PORT, INTERFACE_NAME_KEY, KEEPALIVE_SEC, LIVE_HANDSHAKE_MS,
  PUBLIC_KEY_KEY, SUBMARINER_DEFAULT_PSK_TEXT, UDP_PORT_KEY, WIREGUARD_IFNAME, WIREGUARD_ROUTE_PROTO, WIREGUARD_ROUTE_TABLE, WIREGUARD_RULE_PRIORITY,
} from './constants.js';
import { planDevice, planNet, planNetCleanup, type DesiredDevice, type DesiredPeer, type NetDesired, type NetObserved } from './planner.js';
import { findRouteSrc } from './routesrc.js';
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
  /** PID and log files of wireguard-go (default `<HAWSER_STATE_DIR>/wireguard`). */
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
  /** How often the daemon's liveness is checked (default 250 ms). */
  watchIntervalMs?: number;
  /** An injected control client (tests). */
  client?: WgClient;
  /** An injected rtnetlink (tests: the shared fake); default: one opened for `netns`. */
  rtnl?: Rtnl;
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
  /** rtnetlink batches applied (routes, rule, link). */
  netWrites: number;
  daemonRestarts: number;
}

export class WireGuardDriver extends DeclarativeDriver implements CableDriver {
  readonly name = 'wireguard' as const;
  readonly ifname: string;
  readonly listenPort: number;
  readonly stats: WireGuardStats = { deviceWrites: 0, netWrites: 0, daemonRestarts: 0 };
  private readonly log: Logger;
  private readonly uapi: UapiClient;
  private client: WgClient | undefined;
  private rtnl: Rtnl | undefined;
  private wgGo: WireGuardGo | undefined;
  private privateKey: string | undefined;
  private readonly psk: string;
  private readonly defaultRemotePort: number;
  private cables = new Map<string, CableEntry>();
  private readonly stateDir: string;
  /** Endpoint this process last set per peer key: an observed one that differs is the peer's roamed address. */
  private readonly appliedEndpoints = new Map<string, string>();
  private routeSrc: { v4?: string } = {};
  private warnedV6 = false;
  private initialized = false;
  private queue: Promise<unknown> = Promise.resolve();
  private dataPathChanged: (() => void) | undefined;
  private readonly now: () => number;
  private readonly table: number;
  private readonly proto: number;

  constructor(
    private readonly ctx: DriverContext,
    private readonly opts: WireGuardDriverOptions = {},
  ) {
    super();
    this.ifname = opts.ifname ?? WIREGUARD_IFNAME;
    this.listenPort = opts.listenPort ?? ctx.config.ipsec.nattPort ?? DEFAULT_LISTEN_PORT;
    this.log = ctx.log.child({ driver: 'wireguard', device: this.ifname });
    this.uapi = new UapiClient({ socketDir: opts.socketDir });
    this.now = opts.now ?? Date.now;
    this.table = opts.routeTable ?? WIREGUARD_ROUTE_TABLE;
    this.proto = opts.routeProto ?? WIREGUARD_ROUTE_PROTO;
    this.stateDir = opts.stateDir ?? join(ctx.config.stateDir, 'wireguard');
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

  private async netlink(): Promise<Rtnl> {
    this.rtnl ??= this.opts.rtnl ?? (await openRtnl({ netns: this.opts.netns }));
    return this.rtnl;
  }

  init(): Promise<void> {
    return this.serial(async () => {
      if (this.initialized) return;
      const t0 = this.now();
      this.client = await this.chooseClient();
      const rtnl = await this.netlink();
      let how: 'adopted' | 'started' | 'created' | 'existing';
      if (this.client.type === 'userspace') {
        mkdirSync(this.stateDir, { recursive: true });
        this.wgGo = new WireGuardGo({ ifname: this.ifname, netns: this.opts.netns, stateDir: this.stateDir, binary: this.opts.wireguardGo, uapi: this.uapi, verbose: this.ctx.config.debug }, this.log);
        how = await this.wgGo.ensure();
      } else if ((await rtnl.links()).some((l) => l.name === this.ifname)) how = 'existing';
      else {
        await this.applyNet([{ op: 'link-add', link: { name: this.ifname, kind: 'wireguard', up: true } }], 'create the device');
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
      // Nothing else is touched here: the first set() keeps the peers and routes it wants (adoption) and
      // removes the rest. Only the key and port go in now, so the device is ready to publish.
      const keyPlan = planDevice({ privateKey: this.privateKey, listenPort: this.listenPort, peers: [] }, dev, { prune: false, nowMs: this.now(), liveHandshakeMs: LIVE_HANDSHAKE_MS });
      if (keyPlan.config) {
        await this.client.configureDevice(this.ifname, keyPlan.config);
        this.stats.deviceWrites++;
      }
      this.wgGo?.watch(() => this.onDaemonRestart(), this.opts.watchIntervalMs ?? 250);
      this.initialized = true;
      this.log.info({ how, ms: this.now() - t0, listenPort: this.listenPort }, 'WireGuard driver ready');
    });
  }

  private async onDaemonRestart(): Promise<void> {
    const t0 = this.now();
    this.stats.daemonRestarts++;
    this.log.warn({ pid: this.wgGo?.pid }, 'wireguard-go had died and was restarted: re-applying the whole config (key, peers, routes)');
    this.appliedEndpoints.clear();
    // Every peer starts over in the new daemon: its handshake grace starts again too (not "no handshake in N s").
    for (const e of this.cables.values()) e.sinceMs = t0;
    try {
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
    } finally {
      // Every peer starts over without a handshake (or is missing): the engine observes them on their way up.
      this.dataPathChanged?.();
    }
  }

  onDataPathChange(cb: () => void): void {
    this.dataPathChanged = cb;
  }

  private async discoverRouteSrc(): Promise<{ v4?: string }> {
    if (this.opts.routeSrc === null) return {};
    if (this.opts.routeSrc) return isIP(this.opts.routeSrc) === 4 ? { v4: this.opts.routeSrc } : {};
    try {
      return findRouteSrc(await addressesIn(await this.netlink(), this.ctx.config.clusterCidrs), this.ctx.localEndpoint.healthCheckIP);
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

  /**
   * The desired peer for a remote, or the reason it cannot have one; `keysTaken`: public key → cable name of
   * the peers planned before it (a Map, not a scan of them: set() plans every remote, so a scan is O(N²)).
   */
  private desiredPeer(remote: EndpointSpec, nat: NatInfo, keysTaken: ReadonlyMap<string, string>): { peer?: DesiredPeer; error?: string } {
    const who = `remote endpoint ${remote.cableName} (cluster ${remote.clusterId})`;
    const key = remote.backendConfig[PUBLIC_KEY_KEY];
    if (key === undefined || key === '') {
      return { error: `${who} publishes no backend_config.${PUBLIC_KEY_KEY}: its gateway must run the WireGuard cable driver (SUBMARINER_CABLEDRIVER=wireguard), which publishes its public key in its Endpoint` };
    }
    const problem = keyProblem(key);
    if (problem) return { error: `${who} has an invalid backend_config.${PUBLIC_KEY_KEY} ${JSON.stringify(key.slice(0, 60))}: ${problem}; restart that gateway's WireGuard driver so it republishes its key` };
    if (this.privateKey && key === publicKeyOf(this.privateKey)) return { error: `${who} publishes our own public key: two gateways share one WireGuard key; delete the stale Endpoint` };
    const taken = keysTaken.get(key);
    if (taken !== undefined && taken !== remote.cableName) return { error: `${who} publishes the same public key as ${taken}: one of them is stale; delete the older Endpoint` };
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

  set(cables: readonly WantedCable[]): Promise<Map<string, CableOutcome>> {
    return this.serial(async () => {
      this.requireInit();
      this.wantedCables = [...cables];
      const next = new Map<string, CableEntry>();
      const keysTaken = new Map<string, string>();
      for (const { endpoint, nat } of [...cables].sort((a, b) => a.endpoint.cableName.localeCompare(b.endpoint.cableName))) {
        const { peer, error } = this.desiredPeer(endpoint, nat, keysTaken);
        if (peer && !keysTaken.has(peer.publicKey)) keysTaken.set(peer.publicKey, endpoint.cableName);
        const prev = this.cables.get(endpoint.cableName);
        const same = prev?.peer && peer && prev.peer.publicKey === peer.publicKey && prev.peer.endpoint === peer.endpoint;
        next.set(endpoint.cableName, { endpoint, nat, sinceMs: same && prev ? prev.sinceMs : this.now(), ...(peer ? { peer } : {}), ...(error ? { error } : {}) });
      }
      this.cables = next;
      const changed = await this.reconcileLocked('set');
      const out = new Map<string, CableOutcome>();
      for (const [name, e] of next) {
        const routeError = changed.routeErrors.get(name);
        if (e.error) this.log.debug({ cable: name, reason: e.error }, 'cannot configure WireGuard cable');
        out.set(name, e.error ? { ok: false, error: e.error } : routeError ? { ok: false, error: routeError } : { ok: true, changed: changed.cables.has(name) });
      }
      return out;
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
      p.allowedIPs.flatMap((dst) => {
        if (isIP(dst.split('/')[0] ?? '') !== 4) {
          if (!this.warnedV6) this.log.warn({ cable: p.cableName, subnet: dst }, 'IPv6 remote subnets are in the peer\'s allowed IPs but get no route (hawser routes IPv4 only)');
          this.warnedV6 = true;
          return [];
        }
        return [this.routeSrc.v4 ? { dst, src: this.routeSrc.v4 } : { dst }];
      }),
    );
    return { dev: this.ifname, table: this.table, proto: this.proto, routes, ...(this.opts.manageRule === false ? {} : { rule: { priority: this.opts.rulePriority ?? WIREGUARD_RULE_PRIORITY } }) };
  }

  private async observeNet(): Promise<NetObserved> {
    const rtnl = await this.netlink();
    const [links, routes, rules] = await Promise.all([rtnl.links(), rtnl.routes(), rtnl.rules()]);
    const link = links.find((l) => l.name === this.ifname);
    return { ...(link ? { link: { index: link.index, up: link.up } } : {}), routes: routes.filter((r) => r.table === this.table), rules };
  }

  /** Applies rtnetlink ops; every failure is collected (the others still run) and returned by op index. */
  private async applyNet(ops: readonly RtnlOp[], why: string): Promise<Map<number, string>> {
    const failures = new Map<number, string>();
    if (ops.length === 0) return failures;
    this.log.debug({ why, plan: ops.map(describeOp) }, 'applying WireGuard routes plan');
    const outcomes = await (await this.netlink()).apply(ops);
    this.stats.netWrites++;
    outcomes.forEach((o, i) => {
      if (!o.ok) failures.set(i, o.error);
    });
    return failures;
  }

  /** What a set() would change now, one line per change (for `hawser show`/`diagnose`). */
  plan(): Promise<string[]> {
    return this.serial(async () => {
      this.requireInit();
      const dev = await this.client!.device(this.ifname);
      const devPlan = planDevice(this.desiredDevice(), dev, this.peerPlanOptions());
      return [...devPlan.lines, ...planNet(this.desiredNet(), await this.observeNet()).map(describeOp)];
    });
  }

  private peerPlanOptions(): Parameters<typeof planDevice>[2] {
    return { prune: true, appliedEndpoints: this.appliedEndpoints, nowMs: this.now(), liveHandshakeMs: LIVE_HANDSHAKE_MS };
  }

  /**
   * Observe, plan, apply: the device first (so routes never point at a peer-less device), then routes.
   * Returns the cables whose peer or routes changed, and route failures by cable.
   */
  private async reconcileLocked(why: string): Promise<{ cables: Set<string>; routeErrors: Map<string, string> }> {
    const client = this.client;
    const changed = new Set<string>();
    const routeErrors = new Map<string, string>();
    if (!client || !this.privateKey) return { cables: changed, routeErrors };
    const dev = await client.device(this.ifname);
    const devPlan = planDevice(this.desiredDevice(), dev, this.peerPlanOptions());
    if (devPlan.config) {
      this.log.debug({ why, plan: devPlan.lines }, 'applying WireGuard device plan');
      await client.configureDevice(this.ifname, devPlan.config);
      this.stats.deviceWrites++;
      const byKey = new Map(this.desiredDevice().peers.map((p) => [p.publicKey, p.cableName]));
      for (const pc of devPlan.config.peers ?? []) {
        const name = byKey.get(pc.publicKey);
        if (name) changed.add(name);
      }
    }
    for (const p of this.desiredDevice().peers) this.appliedEndpoints.set(p.publicKey, p.endpoint);
    const ops = planNet(this.desiredNet(), await this.observeNet());
    const failures = await this.applyNet(ops, why);
    const cableOfDst = new Map(this.desiredDevice().peers.flatMap((p) => p.allowedIPs.map((d) => [d, p.cableName] as const)));
    const global: string[] = [];
    ops.forEach((op, i) => {
      const name = op.op === 'route-replace' || op.op === 'route-del' ? cableOfDst.get(op.route.dst) : undefined;
      if (name) changed.add(name);
      const err = failures.get(i);
      if (err === undefined) return;
      if (name && op.op === 'route-replace') routeErrors.set(name, `cannot route ${op.route.dst} into ${this.ifname}: ${err}`);
      else global.push(err);
    });
    if (global.length) throw new HawserError('NETLINK', `WireGuard routes/rule on ${this.ifname}: ${global.join('; ')}`);
    return { cables: changed, routeErrors };
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
      const peerByKey = new Map(dev?.peers.map((p) => [p.publicKey, p]));
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
        const p = peerByKey.get(e.peer.publicKey);
        if (!p) {
          out.push({ ...base, status: 'connecting', statusMessage: `peer ${e.peer.publicKey.slice(0, 8)} is missing from ${this.ifname}; it is being re-applied` });
          continue;
        }
        out.push(peerState(base, p, e.peer.endpoint, now - e.sinceMs, grace, now));
      }
      return out;
    });
  }

  cleanup(): Promise<void> {
    return this.serial(async () => {
      this.wgGo?.close();
      const failures: string[] = [];
      try {
        const f = await this.applyNet(planNetCleanup({ table: this.table, proto: this.proto }, await this.observeNet()), 'cleanup');
        if (f.size) failures.push(`routes/rules: ${[...f.values()].join('; ')}`);
      } catch (err) {
        failures.push(`routes/rules: ${errorMessage(err)}`);
      }
      try {
        if (this.wgGo || this.client?.type !== 'kernel') {
          this.wgGo ??= new WireGuardGo({ ifname: this.ifname, netns: this.opts.netns, stateDir: this.stateDir, binary: this.opts.wireguardGo, uapi: this.uapi }, this.log);
          await this.wgGo.stop();
        }
        // a kernel device, or a tun left by a daemon we could not find
        const link = (await (await this.netlink()).links()).find((l) => l.name === this.ifname);
        if (link) {
          const f = await this.applyNet([{ op: 'link-del', index: link.index }], 'cleanup');
          if (f.size) failures.push(`device: ${[...f.values()].join('; ')}`);
        }
      } catch (err) {
        failures.push(`device: ${errorMessage(err)}`);
      }
      // the cable-name state file of earlier versions
      rmSync(join(this.stateDir, `${this.ifname}.cables.json`), { force: true });
      await this.client?.close().catch(() => undefined);
      await this.closeRtnl();
      this.client = undefined;
      this.initialized = false;
      this.cables.clear();
      this.wantedCables = [];
      if (failures.length) throw new HawserError('EXEC', `WireGuard cleanup incomplete: ${failures.join('; ')}`);
      this.log.info('WireGuard device, routes and rules removed');
    });
  }

  private async closeRtnl(): Promise<void> {
    // an injected one belongs to the caller
    if (this.rtnl && this.rtnl !== this.opts.rtnl) await this.rtnl.close().catch(() => undefined);
    this.rtnl = undefined;
  }

  close(): Promise<void> {
    return this.serial(async () => {
      this.wgGo?.close();
      await this.client?.close().catch(() => undefined);
      await this.closeRtnl();
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
