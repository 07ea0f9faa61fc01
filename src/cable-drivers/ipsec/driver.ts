// The IPsec cable driver: hawser's own charon (strongSwan) driven over VICI. One IKE connection per remote
// Endpoint (named by its cable name) with one child SA per subnet pair; state read back from charon.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { backendPort, endpointSpecToWire, type EndpointSpec } from '../../k8s/resources.js';
import { registerSecret, type Logger } from '../../log/index.js';
import { HawserError, errorMessage } from '../../util/errors.js';
import { Debouncer } from '../../util/loop.js';
import { Backoff } from '../../util/wait.js';
import { DeclarativeDriver } from '../declarative.js';
import type { CableDriver, CableOutcome, ConnectionState, DriverContext, NatInfo, SetOptions, WantedCable } from '../types.js';
import { charonPlugins } from './charon-conf.js';
import { Charon, viciAnswers } from './charon.js';
import { parseGoBool, planConn, settingsFromConfig, type ConnPlan, type IpsecConnSettings } from './conn-config.js';
import { BACKEND_KEY } from './libreswan/whack.js';
import { openRtnl, type Rtnl } from '../../os/netlink.js';
import { removeSourceAddresses, syncSourceAddresses } from './source-addresses.js';
import { emptyState, readState, writeState, type IpsecState } from './state-file.js';
import { classifyCharonLog, noteCharonContext, observeConnection, preferFailure, type IkeFailure, type RecentCharonLines } from './state.js';
import { ViciClient, isSection, isViciError, parseUpdown, str, type IkeSa, type ViciSection } from './vici/index.js';

export const PSK_ID = 'hawser-psk';

export interface IpsecDriverOptions {
  /** charon's directory (config, socket, PID file, logs); default `<HAWSER_STATE_DIR>/ipsec`. */
  dir?: string;
  /** Run charon in this network namespace (lab, tests). */
  netns?: string;
  /** charon binary (default /usr/sbin/charon-systemd). */
  binary?: string;
}

interface Managed {
  remote: EndpointSpec;
  nat: NatInfo;
  plan: ConnPlan;
  failure?: IkeFailure;
  nextInitiateMs: number;
  backoffMs: number;
  lastWarned?: string;
  /** When hawser loaded this connection (for the NO_PROPOSAL_CHOSEN grace). */
  loadedAtMs: number;
  /** charon's lines that explain the next failure (proposal lists, peer-config lookup). */
  recent: RecentCharonLines;
  /** Child SAs seen up, from child-updown events and each pass's read-back (is the cable up, without a list). */
  upChildren: Set<string>;
}

/** The charon connections of a cable: its own name (bidirectional) or `<cable>-<i>-<j>` (server/client). */
export function ikeNamesOfCable(cable: string, loaded: readonly string[]): string[] {
  return loaded.filter((n) => n === cable || (n.startsWith(`${cable}-`) && /^\d+-\d+$/.test(n.slice(cable.length + 1))));
}

const IPV4_IN_TEXT = /\b(?:\d{1,3}\.){3}\d{1,3}\b/g;

const INITIATE_BACKOFF_MIN_MS = 2_000;
/** An SA went down: look after a short pause, so charon has finished deleting it and a burst coalesces. */
const SA_DOWN_DELAY_MS = 100;
/** A negotiation that produced no event yet is looked at again after this long. */
const NEGOTIATING_RECHECK_MS = 2_000;
/** More dirty cables than this: one list-sas of everything is cheaper than one per connection. */
const FILTERED_LIST_MAX = 8;
const INITIATE_BACKOFF_MAX_MS = 30_000;
/**
 * A peer that has not yet loaded its connection for us (it learns our Endpoint through the broker a moment
 * after we learn its, e.g. right after a failover) answers NO_PROPOSAL_CHOSEN: not an error until it
 * persists this long after loading; the retries with backoff (2, 4, 8 s) get past it.
 */
export const PROPOSAL_GRACE_MS = 10_000;
const PEER_NOT_READY_RETRY_MS = 1_000;

export class IpsecDriver extends DeclarativeDriver implements CableDriver {
  readonly name = 'libreswan' as const;
  readonly charon: Charon;
  private readonly log: Logger;
  private readonly settings: IpsecConnSettings;
  private vici: ViciClient | undefined;
  private readonly managed = new Map<string, Managed>();
  /** charon's IKE_SA unique id → cable, for log events without a connection name (before a config matched). */
  private readonly saCable = new Map<string, string>();
  private state: IpsecState = emptyState();
  /** charon's connection name (a cable's own, or `<cable>-<i>-<j>`) → cable, for events. */
  private readonly ikeCable = new Map<string, string>();
  private chain: Promise<unknown> = Promise.resolve();
  /** Reconciles the dirty cables (or everything, when a resync is due), coalesced; also at retry deadlines. */
  private reconciler: Debouncer | undefined;
  /** Tells the engine to observe the cables again (coalesced, 100 ms). */
  private notifier: Debouncer | undefined;
  /** Restarts charon and reconnects after its VICI socket closed, with backoff. */
  private recoverer: Debouncer | undefined;
  private readonly recoverBackoff = new Backoff(200, 10_000);
  /** Cables an event, set() or a retry deadline says to look at. */
  private readonly dirty = new Set<string>();
  /** Cables not seen with every child SA up since they were loaded or went down. */
  private readonly notUp = new Set<string>();
  /**
   * charon's log events are followed only while some cable is not up: they explain failures, and with every
   * cable up they are only DPD and packet lines (at N=200 dozens a second, for nothing).
   */
  private logUnsubscribe: (() => void) | undefined;
  private resyncDue = false;
  /** Set while charon's VICI socket is closed: every cable's status says so. */
  private charonDown: { sinceMs: number; why: string } | undefined;
  /** The charon PID the loaded connections live in (a different one after a reconnect = charon restarted). */
  private knownPid: number | undefined;
  private dataPathChanged: (() => void) | undefined;
  private initialized = false;
  private closed = false;
  /** rtnetlink of the node for the source addresses (one per driver: in another netns it is a worker process). */
  private rtnl: Rtnl | undefined;

  constructor(
    private readonly ctx: DriverContext,
    private readonly opts: IpsecDriverOptions = {},
  ) {
    super();
    this.log = ctx.log.child({ driver: 'libreswan' });
    const cfg = ctx.config;
    const nattPort = backendPort(ctx.localEndpoint, 'udp-port', cfg.ipsec.nattPort);
    this.settings = settingsFromConfig(cfg);
    this.charon = new Charon({
      dir: opts.dir ?? join(cfg.stateDir, 'ipsec'),
      netns: opts.netns,
      binary: opts.binary,
      log: this.log,
      conf: { userspace: cfg.ipsecUserspace, ikePort: cfg.ipsec.ikePort, nattPort, debug: cfg.ipsec.debug },
    });
  }

  /** The connection hawser would load for `remote` (pure; for `hawser show` and tests). */
  plan(remote: EndpointSpec, nat: NatInfo): ConnPlan {
    return planConn({ local: this.ctx.localEndpoint, remote, nat, settings: this.settings });
  }

  localBackendConfig(): Record<string, string> {
    // Tells a hawser peer on the libreswan back end to add --no-esn (strongSwan always sends an ESN transform).
    const out: Record<string, string> = { [BACKEND_KEY]: 'strongswan' };
    const local = this.ctx.localEndpoint.backendConfig;
    if (local['udp-port'] === undefined) out['udp-port'] = String(backendPort(this.ctx.localEndpoint, 'udp-port', this.settings.nattPort));
    // Published always, as Submariner does: a peer that sees no key runs bidirectional.
    if (local['preferred-server'] === undefined) out['preferred-server'] = String(this.settings.preferredServer);
    return out;
  }

  async init(): Promise<void> {
    await this.serial(async () => {
      if (this.initialized) return;
      this.closed = false;
      const psk = this.ctx.config.ipsec.psk;
      if (!psk) throw new HawserError('CONFIG', 'CE_IPSEC_PSK is empty: the IPsec cable driver authenticates with the broker\'s pre-shared key; set CE_IPSEC_PSK (or CE_IPSEC_PSKFILE)');
      registerSecret(psk);
      this.vici?.close(); // a previous init() that failed half-way
      this.vici = undefined;
      this.charon.preflight();
      // Before charon starts, so its first address dump already has them (no race with the traps).
      await this.ensureSourceAddresses();
      if (this.charon.writeConfig() && this.charon.pid !== undefined) {
        this.log.info({ conf: this.charon.paths.conf }, 'charon configuration changed; the running charon keeps its settings until it restarts');
      }
      const how = await this.charon.ensure();
      const pid = this.charon.pid;
      this.log.info({ pid, socket: this.charon.paths.socket, userspace: this.settings.userspace }, how === 'adopted' ? 'adopted the running charon' : 'started charon');
      const vici = new ViciClient({
        socketPath: this.charon.paths.socket,
        // A local socket: retry often, so a restarted charon is back in use within a quarter second.
        reconnectMinMs: 50,
        reconnectMaxMs: 250,
        log: (level, msg, fields) => this.log[level]({ ...fields }, msg),
      });
      this.vici = vici;
      this.logUnsubscribe = undefined;
      await vici.connect();
      await this.checkCharon(vici, how);
      await vici.subscribe('ike-updown', (m) => this.onUpdown('IKE_SA', m));
      await vici.subscribe('child-updown', (m) => this.onUpdown('CHILD_SA', m));
      await vici.subscribe('ike-rekey', (m) => this.onRekey('IKE_SA', m));
      await vici.subscribe('child-rekey', (m) => this.onRekey('CHILD_SA', m));
      await this.loadPsk();
      await this.adopt(how, pid);
      this.knownPid = pid;
      this.charonDown = undefined;
      this.startLoops(vici);
      this.initialized = true;
      // What the adopted connections miss is initiated by the first pass (at their retry deadline).
      this.requestResync();
    });
  }

  /**
   * Event-driven loops: charon's updown events and set() mark cables dirty for the reconciler; a closed VICI
   * socket starts the recovery (restart charon if it died, reconnect, full resync). No timer: drift no event
   * reports is found by the engine's resync (set() with `resync`).
   */
  private startLoops(vici: ViciClient): void {
    const onError = (what: string) => (err: unknown): void => this.log.warn({ err }, `${what} failed; retrying`);
    this.reconciler = new Debouncer(() => this.reconcile(), 20, onError('IPsec reconcile'), 1_000, false);
    this.notifier = new Debouncer(async () => {
      if (!this.closed) this.dataPathChanged?.();
    }, 100, onError('IPsec status notification'), 1_000, false);
    this.recoverer = new Debouncer(() => this.recover(), 0, onError('charon recovery'), 1_000, false);
    vici.onConnection((state, err) => this.onViciConnection(vici, state, err));
  }

  /** Everything is read back from charon on the next pass (reconnect, init, a failed resync). */
  private requestResync(): void {
    this.resyncDue = true;
    this.reconciler?.trigger(0);
  }

  /** Looks at these cables again after `delayMs` (an event, set(), a retry deadline). */
  private markDirty(cables: Iterable<string>, delayMs?: number): void {
    for (const c of cables) this.dirty.add(c);
    this.reconciler?.trigger(delayMs);
  }

  private onViciConnection(vici: ViciClient, state: 'connected' | 'disconnected', err?: Error): void {
    if (this.closed || this.vici !== vici) return;
    if (state === 'disconnected') {
      if (!this.charonDown) {
        this.charonDown = { sinceMs: Date.now(), why: err?.message ?? 'connection closed' };
        this.log.warn({ pid: this.knownPid, err, log: this.charon.paths.logFile }, 'charon\'s VICI socket closed: charon died or stopped answering; restarting it if it is gone, then re-loading every IPsec connection');
      }
      this.notifier?.trigger();
      this.recoverer?.trigger(0);
      return;
    }
    // Reconnected (charon came back, or a dropped connection was reopened): read everything back.
    this.charonDown = undefined;
    this.recoverBackoff.reset();
    this.requestResync();
    this.notifier?.trigger();
  }

  /**
   * After the VICI socket closed: charon.ensure() adopts a charon that answers, starts one that is gone and
   * replaces one that is alive but does not answer; then reconnects (backoff on failure).
   */
  private async recover(): Promise<void> {
    const vici = this.vici;
    if (this.closed || !vici || vici.connected) return;
    try {
      const pid = this.charon.pid;
      if (pid === undefined) this.log.warn({ previousPid: this.knownPid }, 'charon is not running; starting it');
      const how = await this.charon.ensure();
      if (how === 'started' && pid !== undefined) this.log.warn({ previousPid: pid, pid: this.charon.pid }, 'charon was alive but did not answer on its VICI socket; replaced it');
      await vici.connect();
    } catch (err) {
      if (this.closed) return;
      const delay = this.recoverBackoff.next();
      const why = `${errorMessage(err)}; next attempt in ${Math.round(delay / 100) / 10} s`;
      if (this.charonDown) this.charonDown.why = why;
      this.log.error({ err, attempt: this.recoverBackoff.attempts, retryInMs: delay }, 'could not bring charon back; retrying');
      this.notifier?.trigger();
      this.recoverer?.trigger(delay);
    }
  }

  /**
   * Declarative: observes charon's loaded connections, keeps each wanted cable whose loaded connection is
   * identical (no reload, no SA flap: this is also how a restart adopts them), loads or replaces the others,
   * then unloads every connection no wanted cable claims (left by a previous run, or no longer wanted).
   * `resync` (the engine's resync tick) adds the full pass: the PSK and every connection charon lacks are
   * loaded again, every SA is read back and missing child SAs are initiated.
   */
  set(cables: readonly WantedCable[], opts: SetOptions = {}): Promise<Map<string, CableOutcome>> {
    return this.serial(async () => {
      const vici = this.requireVici();
      this.wantedCables = [...cables];
      const out = new Map<string, CableOutcome>();
      for (const c of cables) {
        try {
          out.set(c.endpoint.cableName, { ok: true, changed: await this.ensureCable(c.endpoint, c.nat) });
        } catch (err) {
          out.set(c.endpoint.cableName, { ok: false, error: errorMessage(err) });
        }
      }
      const wanted = new Set(cables.map((c) => c.endpoint.cableName));
      for (const name of new Set([...this.managed.keys(), ...this.state.conns.keys()])) if (!wanted.has(name)) await this.removeCable(name, await vici.getConns());
      const unclaimed = (await vici.getConns()).filter((n) => ![...wanted].some((w) => ikeNamesOfCable(w, [n]).length > 0));
      for (const n of unclaimed) {
        await this.terminate(n);
        await vici.unloadConn(n).catch((err) => {
          if (!isViciError(err, 'COMMAND_FAILED')) throw err;
        });
      }
      if (unclaimed.length) this.log.info({ connections: unclaimed }, 'IPsec connections no wanted cable claims removed');
      if (opts.resync) {
        // A failed full pass leaves resyncDue set: the reconciler's retry runs it again.
        await this.pass(true).catch((err: unknown) => {
          this.log.warn({ err }, 'IPsec resync failed; retrying');
          this.reconciler?.trigger(1_000);
        });
      }
      // What was (re)loaded is looked at again at its retry deadline, in case no event comes.
      const loaded = [...out.entries()].filter(([, o]) => o.ok && o.changed).map(([name]) => name);
      if (loaded.length) this.markDirty(loaded, INITIATE_BACKOFF_MIN_MS);
      await this.followCharonLog();
      return out;
    });
  }

  /** One wanted cable in charon (inside set()): true when it was (re)loaded, false when already in place. */
  private async ensureCable(remote: EndpointSpec, nat: NatInfo): Promise<boolean> {
    const plan = this.plan(remote, nat);
    const vici = this.requireVici();
    const name = plan.name;
    const loaded = this.state.conns.get(name);
    const m = this.managed.get(name);
    if (m && loaded?.hash === plan.hash) {
      // Identical connection: no reload, no SA flap; only remember the Endpoint as published now.
      m.remote = remote;
      m.nat = nat;
      if (JSON.stringify(endpointSpecToWire(loaded.remote)) !== JSON.stringify(endpointSpecToWire(remote))) {
        this.state.conns.set(name, { hash: plan.hash, remote, nat });
        this.saveState();
      }
      return false;
    }
    for (const n of plan.notes) this.log.warn({ cable: name }, n);
    await this.ensureSourceAddresses();
    const old = ikeNamesOfCable(name, await vici.getConns());
    if (old.length > 0) {
      this.log.info({ cable: name, endpoint: remote.hostname }, 'IPsec connection settings changed; replacing its SAs');
      for (const n of old) await this.terminate(n);
      const keep = new Set(plan.ikeConns.map((c) => c.name));
      for (const n of old.filter((o) => !keep.has(o))) await vici.unloadConn(n).catch(() => undefined);
    }
    for (const c of plan.ikeConns) await vici.loadConn(c.name, c.conn);
    this.state.conns.set(name, { hash: plan.hash, remote, nat });
    this.saveState();
    const entry: Managed = { remote, nat, plan, nextInitiateMs: 0, backoffMs: INITIATE_BACKOFF_MIN_MS, loadedAtMs: Date.now(), recent: {}, upChildren: new Set() };
    this.manage(name, entry);
    await this.followCharonLog();
    this.log.info({ cable: name, cluster: remote.clusterId, endpoint: remote.hostname, remoteIP: nat.useIP, nat: nat.useNAT, mode: plan.mode, children: plan.children.length }, 'IPsec connection loaded');
    if (plan.initiate) await this.initiate(entry, plan.children.map((c) => c.name));
    return true;
  }

  /** Removes one cable's connections (inside set()). */
  private async removeCable(name: string, loadedConns: readonly string[]): Promise<void> {
    const vici = this.requireVici();
    const m = this.managed.get(name) ?? this.state.conns.get(name);
    const wasManaged = this.unmanage(name);
    if (this.state.conns.delete(name)) this.saveState();
    const present = ikeNamesOfCable(name, loadedConns);
    for (const n of present) {
      await this.terminate(n);
      await vici.unloadConn(n).catch((err) => {
        if (!isViciError(err, 'COMMAND_FAILED')) throw err;
      });
    }
    if (present.length) this.log.info({ cable: name, cluster: m?.remote.clusterId, managed: wasManaged }, 'IPsec connection removed');
  }

  async connections(): Promise<ConnectionState[]> {
    const vici = this.vici;
    if (!vici) return [];
    const down = this.charonDown;
    if (down) {
      const why = `charon is not answering: its VICI socket closed ${Math.round((Date.now() - down.sinceMs) / 1000)} s ago (${down.why}); hawser restarts charon and re-loads every connection; charon's log: ${this.charon.paths.logFile}`;
      return [...this.managed.entries()].map(([name, m]) => ({
        cableName: name, endpoint: m.remote, status: 'error' as const, statusMessage: why, usingIP: m.nat.useIP, usingNAT: m.nat.useNAT,
      }));
    }
    let sas: IkeSa[];
    try {
      sas = await vici.listSas({ noblock: true }, { timeoutMs: 5_000 });
    } catch (err) {
      const why = `cannot read IPsec state from charon (${errorMessage(err)}); hawser restarts charon when it dies: see ${this.charon.paths.logFile}`;
      return [...this.managed.entries()].map(([name, m]) => ({
        cableName: name, endpoint: m.remote, status: 'error' as const, statusMessage: why, usingIP: m.nat.useIP, usingNAT: m.nat.useNAT,
      }));
    }
    const now = Date.now();
    return [...this.managed.entries()].map(([name, m]) => {
      const o = observeConnection(this.expectation(m), sas, m.failure, now);
      const s: ConnectionState = {
        cableName: name, endpoint: m.remote, status: o.status, statusMessage: o.statusMessage,
        usingIP: m.nat.useIP, usingNAT: m.nat.useNAT, rxBytes: o.rxBytes, txBytes: o.txBytes,
      };
      if (o.establishedMs !== undefined) s.lastHandshakeMs = o.establishedMs;
      return s;
    });
  }

  async cleanup(): Promise<void> {
    this.stopLoops();
    await this.serial(async () => {
      const pid = this.charon.pid;
      if (pid !== undefined && (await viciAnswers(this.charon.paths.socket))) {
        const vici = this.vici ?? new ViciClient({ socketPath: this.charon.paths.socket });
        this.vici = vici;
        try {
          for (const name of await vici.getConns()) {
            await this.terminate(name);
            await vici.unloadConn(name).catch((err) => this.log.warn({ cable: name, err }, 'unload-conn failed during cleanup'));
          }
          for (const id of await vici.getShared()) await vici.unloadShared(id).catch(() => undefined);
        } catch (err) {
          this.log.warn({ err }, 'could not unload connections before stopping charon');
        }
      }
      this.vici?.close();
      this.vici = undefined;
      await this.charon.stop();
      await removeSourceAddresses({ netns: this.opts.netns, ...(this.rtnl ? { rtnl: this.rtnl } : {}), log: this.log }).catch((err) => this.log.warn({ err }, 'could not remove the source addresses lent to charon (lo:hawser)'));
      await this.closeRtnl();
      const p = this.charon.paths;
      for (const f of [p.conf, p.socket, p.pidFile, p.stateFile, `${p.stateFile}.tmp`, p.logFile, p.outFile]) rmSync(f, { force: true });
      try {
        rmSync(p.dir, { recursive: false });
      } catch {
        /* not empty: something not ours lives there */
      }
      this.managed.clear();
      this.ikeCable.clear();
      this.notUp.clear();
      this.state = emptyState();
      this.initialized = false;
      this.log.info({ pid }, 'IPsec cable driver cleaned up: connections unloaded, charon stopped');
    });
  }

  async close(): Promise<void> {
    this.stopLoops();
    await this.serial(async () => {
      this.vici?.close();
      this.vici = undefined;
      await this.closeRtnl();
      this.initialized = false;
    });
  }

  /** Runs one full resync pass now (tests; events and the engine's resync run it otherwise). */
  async reconcileNow(): Promise<void> {
    this.resyncDue = true;
    await this.reconcile();
  }

  // -------------------------------------------------------------------------------------------

  /** charon starts even when a plugin fails or its IKE ports are taken: refuse a charon that cannot work. */
  private async checkCharon(vici: ViciClient, how: 'adopted' | 'started'): Promise<void> {
    const loaded = new Set((await vici.stats()).plugins);
    const missing = charonPlugins(this.settings.userspace).filter((p) => !loaded.has(p));
    const sockets = how === 'started' ? this.charon.startupProblems() : [];
    if (missing.length === 0 && sockets.length === 0) return;
    const ports = `UDP ${this.ctx.config.ipsec.ikePort}/${backendPort(this.ctx.localEndpoint, 'udp-port', this.settings.nattPort)}`;
    const why = sockets.length
      ? `charon cannot open its IKE sockets (${sockets[0]}): ${ports} is probably taken by another IKE daemon (a system strongSwan or libreswan?) in this network namespace`
      : `charon runs without its ${missing.join(', ')} plugin(s)${missing.includes('kernel-libipsec') ? ' (kernel-libipsec needs /dev/net/tun and CAP_NET_ADMIN)' : ''}`;
    if (how === 'started') await this.charon.stop();
    vici.close();
    this.vici = undefined;
    throw new HawserError('EXEC', `${why}; charon's log: ${this.charon.paths.logFile}`);
  }

  /**
   * Userspace ESP routes need a local address in every local traffic selector: lends charon one for each
   * local service CIDR, and with Globalnet for the cluster's global CIDR (only nft holds its addresses),
   * that has none (see source-addresses.ts). Globalnet's IPAM never hands out a CIDR's network address, so
   * lending it is safe. A failure is logged; the affected child SAs then fail with a status that says why.
   */
  private async ensureSourceAddresses(): Promise<void> {
    if (!this.settings.userspace) return;
    const local = new Set(this.ctx.localEndpoint.subnets);
    const services = [...this.ctx.config.serviceCidrs, ...this.ctx.config.globalCidrs].map((c) => c.text).filter((s) => local.has(s));
    try {
      this.rtnl ??= await openRtnl({ netns: this.opts.netns });
      await syncSourceAddresses(services, { rtnl: this.rtnl, log: this.log });
    } catch (err) {
      this.log.warn({ err, subnets: services }, 'could not give charon a source address in the service/global CIDR; child SAs from it cannot be installed with userspace ESP');
    }
  }

  private async closeRtnl(): Promise<void> {
    await this.rtnl?.close().catch(() => undefined);
    this.rtnl = undefined;
  }

  private stopLoops(): void {
    this.closed = true;
    for (const d of [this.reconciler, this.notifier, this.recoverer]) d?.close();
    this.reconciler = this.notifier = this.recoverer = undefined;
    this.dirty.clear();
    this.logUnsubscribe = undefined; // the client's close drops its handlers
  }

  /** Follows charon's log events while some cable is not up, and stops when every one is. */
  private async followCharonLog(): Promise<void> {
    const vici = this.vici;
    if (!vici) return;
    const want = this.notUp.size > 0 && !this.closed;
    if (want && !this.logUnsubscribe) {
      this.logUnsubscribe = await vici.subscribe('log', (m) => this.onCharonLog(m));
      this.log.debug({ notUp: this.notUp.size }, 'following charon\'s log events (a cable is not up)');
    } else if (!want && this.logUnsubscribe) {
      this.logUnsubscribe();
      this.logUnsubscribe = undefined;
      this.log.debug('every IPsec cable is up: no longer following charon\'s log events');
    }
  }

  /** Whether charon's log events are followed now (tests). */
  get followsCharonLog(): boolean {
    return this.logUnsubscribe !== undefined;
  }

  private manage(name: string, m: Managed): void {
    this.unmanage(name);
    this.managed.set(name, m);
    this.notUp.add(name);
    this.ikeCable.set(name, name);
    for (const c of m.plan.ikeConns) this.ikeCable.set(c.name, name);
  }

  private unmanage(name: string): boolean {
    const m = this.managed.get(name);
    if (!m) return false;
    for (const c of m.plan.ikeConns) this.ikeCable.delete(c.name);
    this.ikeCable.delete(name);
    this.notUp.delete(name);
    return this.managed.delete(name);
  }

  private requireVici(): ViciClient {
    if (!this.vici) throw new HawserError('INVALID', 'the IPsec driver is not initialized (call init() first)');
    return this.vici;
  }

  /** Mutations (connect, disconnect, restart handling, reconcile) run one at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private saveState(): void {
    this.state.charonPid = this.charon.pid;
    writeState(this.charon.paths.stateFile, this.state);
  }

  private async loadPsk(): Promise<void> {
    await this.requireVici().loadShared({ id: PSK_ID, type: 'IKE', data: this.ctx.config.ipsec.psk, owners: [] });
  }

  /** Takes over what the previous hawser loaded into this same charon (no reload, no re-initiate). */
  private async adopt(how: 'adopted' | 'started', pid: number | undefined): Promise<void> {
    const saved = readState(this.charon.paths.stateFile);
    this.state = emptyState(pid);
    if (how === 'adopted' && saved.charonPid === pid) {
      const present = new Set(await this.requireVici().getConns());
      for (const [name, c] of saved.conns) {
        if (ikeNamesOfCable(name, [...present]).length === 0) continue;
        this.state.conns.set(name, c);
        try {
          const plan = this.plan(c.remote, c.nat);
          this.manage(name, { remote: c.remote, nat: c.nat, plan, nextInitiateMs: Date.now() + INITIATE_BACKOFF_MIN_MS, backoffMs: INITIATE_BACKOFF_MIN_MS, loadedAtMs: 0, recent: {}, upChildren: new Set() });
        } catch (err) {
          this.log.warn({ cable: name, err }, 'adopted IPsec connection is no longer valid; it stays until the engine reconnects or removes it');
        }
      }
      if (this.state.conns.size) this.log.info({ connections: [...this.state.conns.keys()] }, 'adopted IPsec connections loaded by the previous hawser');
    }
    this.saveState();
  }

  /**
   * Level-triggered: loads every managed connection charon does not have (after a restart, or if someone
   * unloaded it) and initiates it.
   */
  private async ensureLoaded(): Promise<{ present: number; loaded: number }> {
    const vici = this.requireVici();
    // The PSK first: a connection initiated before its key is loaded fails authentication.
    if (!(await vici.getShared()).includes(PSK_ID)) await this.loadPsk();
    const present = new Set(await vici.getConns());
    let n = 0;
    let already = 0;
    for (const [name, m] of this.managed) {
      const missing = m.plan.ikeConns.filter((c) => !present.has(c.name));
      if (missing.length === 0) {
        already++;
        continue;
      }
      try {
        for (const c of missing) await vici.loadConn(c.name, c.conn);
        this.state.conns.set(name, { hash: m.plan.hash, remote: m.remote, nat: m.nat });
        this.saveState();
        n++;
        m.backoffMs = INITIATE_BACKOFF_MIN_MS;
        if (m.plan.initiate) await this.initiate(m, m.plan.children.map((c) => c.name));
      } catch (err) {
        this.log.error({ cable: name, err }, 'could not load IPsec connection into charon; retrying on the next check');
      }
    }
    return { present: already, loaded: n };
  }

  private async initiate(m: Managed, children: readonly string[]): Promise<void> {
    const vici = this.requireVici();
    this.notUp.add(m.plan.name);
    await this.followCharonLog(); // before the negotiation, so its failure lines are seen
    m.nextInitiateMs = Date.now() + m.backoffMs;
    m.backoffMs = Math.min(INITIATE_BACKOFF_MAX_MS, m.backoffMs * 2);
    for (const child of children) {
      const ike = m.plan.children.find((c) => c.name === child)?.ike ?? m.plan.name;
      // Asynchronous (-1): the outcome arrives as updown/log events; a peer that is down must not block.
      await vici.initiate({ child, ike, timeoutMs: -1 }).catch((err) => {
        this.log.warn({ cable: m.plan.name, child, err }, 'IPsec initiate failed');
      });
    }
  }

  private async terminate(name: string): Promise<void> {
    await this.requireVici().terminate({ ike: name, force: true, timeoutMs: 1_000 }).catch((err) => {
      if (!isViciError(err, 'COMMAND_FAILED')) throw err; // "no matching SAs" is fine
    });
  }

  private expectation(m: Managed): { name: string; ikeNames: string[]; children: string[]; initiate: boolean; peer: string; port: number } {
    const port = Number(m.plan.ikeConns[0]?.conn.remote_port);
    return { name: m.plan.name, ikeNames: m.plan.ikeConns.map((c) => c.name), children: m.plan.children.map((c) => c.name), initiate: m.plan.initiate, peer: m.nat.useIP, port };
  }

  /** The cable a charon log event is about: by connection name, else by the IKE_SA's id or a peer address in it. */
  private cableOfLog(m: ViciSection): string | undefined {
    // charon names an IKE_SA without a peer config "(unnamed)" (ike_sa.c get_name).
    const raw = str(m, 'ikesa-name');
    const name = raw === '(unnamed)' ? '' : raw;
    const id = str(m, 'ikesa-uniqueid');
    if (name) {
      const cable = this.ikeCable.get(name);
      if (cable !== undefined && id) this.saCable.set(id, cable);
      return cable;
    }
    if (id && this.saCable.has(id)) return this.saCable.get(id);
    // Before a config matched (a responder rejecting the peer), charon names no connection: use the addresses.
    const ips = new Set(str(m, 'msg').match(IPV4_IN_TEXT) ?? []);
    if (ips.size === 0) return undefined;
    for (const [cable, e] of this.managed) {
      const peer = [e.nat.useIP, e.remote.publicIP, ...e.remote.privateIPs, e.remote.privateIP];
      if (peer.some((ip) => ip && ips.has(ip))) {
        if (id) this.saCable.set(id, cable);
        if (this.saCable.size > 1000) this.saCable.delete(this.saCable.keys().next().value as string);
        return cable;
      }
    }
    return undefined;
  }

  /** The reconciler's pass (events, retry deadlines, reconnect), one at a time with set(). */
  private async reconcile(): Promise<void> {
    if (this.closed || !this.initialized) return;
    await this.serial(() => this.pass());
  }

  /**
   * One pass over the dirty cables, or over everything when a resync is due (init, reconnect, the engine's
   * resync: `full`): re-loads connections charon lacks (a full pass), reads back the SAs of the cables looked
   * at, and initiates missing child SAs whose retry deadline has come. Cables still missing children stay
   * dirty, and the pass asks to run again at the earliest of their deadlines: retries while something is
   * missing, nothing at all while every cable is up. Runs inside `serial`.
   */
  private async pass(full = false): Promise<void> {
    const vici = this.vici;
    if (this.closed || !vici) return;
    if (!vici.connected && this.charonDown) return; // the reconnect asks for a full pass
    full ||= this.resyncDue;
    this.resyncDue = false;
    const cables = full ? [...this.managed.keys()] : [...this.dirty].filter((c) => this.managed.has(c));
    this.dirty.clear();
    try {
      if (full) await this.resync();
      const sas = await this.observe(cables, full);
      await this.initiateMissing(cables, sas);
      await this.followCharonLog();
    } catch (err) {
      if (full) this.resyncDue = true;
      for (const c of cables) this.dirty.add(c);
      throw err;
    }
  }

  /** The full pass's first half: a charon with another PID was restarted; every connection it lacks is loaded. */
  private async resync(): Promise<void> {
    const pid = this.charon.pid;
    const restarted = pid !== this.knownPid;
    if (restarted) {
      this.log.warn({ previousPid: this.knownPid, pid, log: this.charon.paths.logFile }, 'charon died and was restarted; re-loading the PSK and every IPsec connection');
      this.state = emptyState(pid);
      this.knownPid = pid;
      this.saCable.clear();
      for (const name of this.managed.keys()) this.notUp.add(name);
    }
    const r = await this.ensureLoaded();
    if (restarted) {
      this.log.info({ pid, connections: r.present + r.loaded }, 'IPsec connections re-loaded into the restarted charon');
      this.changedSoon();
    } else if (r.loaded > 0) {
      this.log.warn({ connections: r.loaded, pid }, 'IPsec connections were missing from charon (unloaded behind hawser\'s back); loaded them again');
    }
  }

  /** The SAs of `cables`: per connection when few, else one list of everything. */
  private async observe(cables: readonly string[], full: boolean): Promise<IkeSa[]> {
    const vici = this.requireVici();
    if (cables.length === 0) return [];
    if (full || cables.length > FILTERED_LIST_MAX) return vici.listSas({ noblock: true });
    const out: IkeSa[] = [];
    for (const cable of cables) {
      for (const c of this.managed.get(cable)?.plan.ikeConns ?? []) out.push(...(await vici.listSas({ ike: c.name, noblock: true })));
    }
    return out;
  }

  private async initiateMissing(cables: readonly string[], sas: readonly IkeSa[]): Promise<void> {
    let now = Date.now();
    let next: number | undefined;
    const later: string[] = [];
    for (const name of cables) {
      const m = this.managed.get(name);
      if (!m) continue;
      const o = observeConnection(this.expectation(m), sas, m.failure, now);
      m.upChildren = new Set(o.upChildren);
      if (o.missingChildren.length === 0) {
        m.failure = undefined;
        m.backoffMs = INITIATE_BACKOFF_MIN_MS;
        this.notUp.delete(name);
        continue;
      }
      this.notUp.add(name);
      if (!m.plan.initiate) continue; // the peer initiates (we are its preferred server)
      later.push(name);
      let due = m.nextInitiateMs;
      if (o.negotiating) due = Math.max(due, now + NEGOTIATING_RECHECK_MS);
      else if (now >= m.nextInitiateMs) {
        this.log.debug({ cable: name, missing: o.missingChildren }, 'initiating missing IPsec child SAs');
        await this.initiate(m, o.missingChildren);
        due = m.nextInitiateMs;
      }
      next = next === undefined ? due : Math.min(next, due);
    }
    now = Date.now();
    if (next !== undefined) this.markDirty(later, Math.max(0, next - now));
  }

  private onCharonLog(m: ViciSection): void {
    const name = this.cableOfLog(m);
    const entry = name ? this.managed.get(name) : undefined;
    if (!name || !entry) return;
    const msg = str(m, 'msg');
    if (noteCharonContext(msg, entry.recent)) return;
    const first = entry.plan.ikeConns[0];
    const ctx = {
      cable: name, peer: entry.nat.useIP, port: Number(first?.conn.remote_port), localId: first?.localId ?? '',
      remoteIds: entry.plan.ikeConns.map((c) => c.remoteId), userspace: this.settings.userspace, recent: entry.recent,
      localPreferredServer: parseGoBool(this.ctx.localEndpoint.backendConfig['preferred-server']) ?? this.settings.preferredServer,
      remotePreferredServer: entry.remote.backendConfig['preferred-server'],
    };
    const now = Date.now();
    const next = classifyCharonLog(msg, ctx, now);
    if (!next) return;
    // What a peer answers while it has no connection for us yet: NO_PROPOSAL_CHOSEN (no IKE config for our
    // address) or AUTHENTICATION_FAILED (no peer config for our identity, e.g. the standby that just took
    // over behind the same NAT). Our own MAC check failing stays an immediate error.
    const peerNotReady = next.kind === 'proposal' || /received AUTHENTICATION_FAILED/.test(next.detail);
    if (peerNotReady && now - entry.loadedAtMs < PROPOSAL_GRACE_MS) {
      this.log.debug({ cable: name, charon: next.detail }, 'right after loading: the peer has probably not loaded its connection for us yet; retrying in 1 s');
      entry.backoffMs = INITIATE_BACKOFF_MIN_MS;
      entry.nextInitiateMs = Math.min(entry.nextInitiateMs, now + PEER_NOT_READY_RETRY_MS);
      this.markDirty([name], PEER_NOT_READY_RETRY_MS + 20);
      return;
    }
    const f = preferFailure(entry.failure, next);
    entry.failure = f;
    if (entry.lastWarned !== f.message) {
      entry.lastWarned = f.message;
      this.log.warn({ cable: name, endpoint: entry.remote.hostname, reason: f.kind, charon: f.detail }, f.message);
      this.changedSoon();
    }
    // A failed negotiation need not end in an updown event (a half-open IKE_SA was never up): retry at the deadline.
    if (entry.plan.initiate) this.markDirty([name], Math.max(0, entry.nextInitiateMs - now));
  }

  onDataPathChange(cb: () => void): void {
    this.dataPathChanged = cb;
  }

  /** An SA came up or went down, or a cable got a new failure: the engine looks again (coalesced, 100 ms). */
  private changedSoon(): void {
    if (this.closed || !this.dataPathChanged) return;
    this.notifier?.trigger();
  }

  private onUpdown(what: 'IKE_SA' | 'CHILD_SA', m: ViciSection): void {
    const u = parseUpdown(m);
    if (!u) return;
    const cable = this.ikeCable.get(u.sa.name);
    const entry = cable === undefined ? undefined : this.managed.get(cable);
    if (cable === undefined || !entry) return;
    this.changedSoon();
    if (u.up) {
      entry.failure = undefined;
      entry.lastWarned = undefined;
      if (what === 'IKE_SA') this.log.info({ cable, ike: u.sa.name, endpoint: entry.remote.hostname, remote: `${u.sa.remoteHost}:${u.sa.remotePort ?? ''}`, initiator: u.sa.initiator, nat: u.sa.natAny }, 'IPsec IKE_SA established');
      else {
        // A child up may complete the cable; with every cable up, charon's log is no longer followed.
        for (const c of u.sa.children) entry.upChildren.add(c.name);
        if (entry.plan.children.every((c) => entry.upChildren.has(c.name)) && this.notUp.delete(cable) && this.notUp.size === 0) {
          void this.followCharonLog().catch((err) => this.log.debug({ err }, 'could not stop following charon\'s log events'));
        }
      }
    } else {
      if (what === 'IKE_SA') this.log.info({ cable, ike: u.sa.name, endpoint: entry.remote.hostname, state: u.sa.state }, 'IPsec IKE_SA down');
      else this.log.debug({ cable, ike: u.sa.name, children: u.sa.children.map((c) => c.name) }, 'IPsec CHILD_SA down');
      for (const c of u.sa.children) entry.upChildren.delete(c.name);
      if (what === 'IKE_SA') entry.upChildren.clear();
      this.notUp.add(cable);
      this.markDirty([cable], SA_DOWN_DELAY_MS);
    }
  }

  /** A rekeyed SA replaces the old one (make-before-break): nothing to repair, but the status changes. */
  private onRekey(what: 'IKE_SA' | 'CHILD_SA', m: ViciSection): void {
    const name = Object.keys(m).find((k) => isSection(m[k]));
    const cable = name === undefined ? undefined : this.ikeCable.get(name);
    if (cable === undefined) return;
    this.log.debug({ cable, ike: name, sa: what }, 'IPsec SA rekeyed');
    this.changedSoon();
  }
}

export function createIpsecDriver(ctx: DriverContext, opts: IpsecDriverOptions = {}): IpsecDriver {
  return new IpsecDriver(ctx, opts);
}
