// The IPsec cable driver's libreswan back end (HAWSER_IPSEC_BACKEND=libreswan): hawser's own pluto, driven
// with the whack commands Submariner's libreswan driver issues. Why it exists: Submariner configures
// libreswan with neither --esn nor --no-esn, so libreswan 4.x proposes ESP without an ESN transform and
// refuses proposals that carry one, while strongSwan (the default back end) always sends one (NO_EXT_SEQ)
// and refuses proposals without one; no strongSwan setting changes that (proposal.c adds it to every ESP
// proposal). Against libreswan 4.x gateways only a libreswan peer negotiates child SAs, so this back end
// is one. It keeps hawser's guarantees: adoption of a running pluto and its connections on restart
// (conns.json + `whack --status`), per-cable status and errors from pluto's log, no reload (no flap)
// when nothing changed, and byte counters from `whack --trafficstatus` for the metrics.
import { join } from 'node:path';
import { endpointSpecToWire, type EndpointSpec } from '../../../k8s/resources.js';
import { registerSecret, type Logger } from '../../../log/index.js';
import { HawserError, errorMessage } from '../../../util/errors.js';
import { Debouncer } from '../../../util/loop.js';
import { DeclarativeDriver } from '../../declarative.js';
import type { CableDriver, CableOutcome, ConnectionState, DriverContext, NatInfo, SetOptions, WantedCable } from '../../types.js';
import { parseGoBool, settingsFromConfig, type IpsecConnSettings } from '../conn-config.js';
import { emptyState, readState, writeState, type IpsecState } from '../state-file.js';
import { preferFailure, type IkeFailure } from '../state.js';
import { Pluto } from './pluto.js';
import { classifyPlutoLog, CHILD_ESTABLISHED, connOfLine, IKE_ESTABLISHED, parseShowStates, parseTrafficStatus } from './status.js';
import { BACKEND_KEY, planWhack, type WhackPlan } from './whack.js';

export interface PlutoDriverOptions {
  /** pluto's directory; default `<HAWSER_STATE_DIR>/pluto`. */
  dir?: string;
  netns?: string;
  /** Root of an unpacked libreswan package ('' = installed; see Pluto). */
  root?: string;
}

interface Managed {
  remote: EndpointSpec;
  nat: NatInfo;
  plan: WhackPlan;
  failure?: IkeFailure;
  lastWarned?: string;
}

const IPV4_IN_TEXT = /\b(?:\d{1,3}\.){3}\d{1,3}\b/g;
/**
 * A cable seen not up when the status is read: its connections are checked (and re-added if pluto lost
 * them) this long after, coalesced. pluto retries negotiations itself; hawser only re-adds what is gone.
 */
const NOT_UP_RECHECK_MS = 2_000;

export class PlutoDriver extends DeclarativeDriver implements CableDriver {
  readonly name = 'libreswan' as const;
  readonly pluto: Pluto;
  private readonly log: Logger;
  private readonly settings: IpsecConnSettings;
  private readonly managed = new Map<string, Managed>();
  private state: IpsecState = emptyState();
  private chain: Promise<unknown> = Promise.resolve();
  /** Reads pluto's log and re-adds missing connections when a cable is seen not up (status reads). */
  private reconciler: Debouncer | undefined;
  private initialized = false;
  private closed = false;

  constructor(
    private readonly ctx: DriverContext,
    private readonly opts: PlutoDriverOptions = {},
  ) {
    super();
    this.log = ctx.log.child({ driver: 'libreswan', backend: 'pluto' });
    this.settings = settingsFromConfig(ctx.config);
    this.pluto = new Pluto({ dir: opts.dir ?? join(ctx.config.stateDir, 'pluto'), netns: opts.netns, root: opts.root ?? '', log: this.log });
  }

  plan(remote: EndpointSpec, nat: NatInfo): WhackPlan {
    return planWhack({ local: this.ctx.localEndpoint, remote, nat, settings: this.settings });
  }

  localBackendConfig(): Record<string, string> {
    const out: Record<string, string> = { [BACKEND_KEY]: 'libreswan' };
    const local = this.ctx.localEndpoint.backendConfig;
    if (local['udp-port'] === undefined) out['udp-port'] = String(this.settings.nattPort);
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
      this.pluto.preflight();
      const changed = this.pluto.writeConfig(psk);
      const how = await this.pluto.ensure();
      if (changed && how === 'adopted') await this.pluto.whack(['--rereadsecrets']);
      await this.pluto.whack(['--listen']);
      this.log.info({ pid: this.pluto.pid, ctl: this.pluto.paths.ctl }, how === 'adopted' ? 'adopted the running pluto' : 'started pluto');
      await this.adopt(how);
      this.pluto.watch(() => this.serial(() => this.onPlutoRestart()));
      // pluto has no event channel: its connections are looked at when a cable is seen not up (status
      // reads), after its restart, and by the engine's resync (set() with `resync`), never on a timer of
      // this driver's (each look is a process).
      this.reconciler = new Debouncer(() => this.reconcile(), 20, (err) => this.log.warn({ err }, 'libreswan reconcile failed; retrying'), 2_000, false);
      this.initialized = true;
    });
  }

  /**
   * Declarative: keeps each wanted cable whose connections pluto already holds with the same settings (no
   * re-add, no flap: also how a restart adopts them), adds or replaces the others, then deletes every
   * connection of ours no wanted cable claims (left by a previous run, or no longer wanted). `resync` (the
   * engine's resync tick) also reads pluto's log and re-adds every connection pluto lost.
   */
  set(cables: readonly WantedCable[], opts: SetOptions = {}): Promise<Map<string, CableOutcome>> {
    return this.serial(async () => {
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
      for (const name of new Set([...this.managed.keys(), ...this.state.conns.keys()])) if (!wanted.has(name)) await this.removeCable(name);
      const claimed = new Set([...this.managed.values()].flatMap((m) => m.plan.conns.map((c) => c.name)));
      const unclaimed = [...(await this.presentConns())].filter((c) => !claimed.has(c) && /-\d+-\d+$/.test(c));
      for (const c of unclaimed) await this.pluto.whack(['--delete', '--name', c]);
      if (unclaimed.length) this.log.info({ connections: unclaimed }, 'libreswan connections no wanted cable claims removed');
      if (opts.resync) await this.pass();
      return out;
    });
  }

  /** One wanted cable in pluto (inside set()): true when it was (re)added, false when already in place. */
  private async ensureCable(remote: EndpointSpec, nat: NatInfo): Promise<boolean> {
    const plan = this.plan(remote, nat);
    const name = plan.cable;
    const loaded = this.state.conns.get(name);
    const m = this.managed.get(name);
    if (m && loaded?.hash === plan.hash) {
      m.remote = remote;
      m.nat = nat;
      if (JSON.stringify(endpointSpecToWire(loaded.remote)) !== JSON.stringify(endpointSpecToWire(remote))) {
        this.state.conns.set(name, { hash: plan.hash, remote, nat });
        this.saveState();
      }
      return false;
    }
    for (const n of plan.notes) this.log.warn({ cable: name }, n);
    const present = await this.presentConns();
    const old = m?.plan.conns.map((c) => c.name) ?? [...present].filter((c) => c.startsWith(`${name}-`) && /^\d+-\d+$/.test(c.slice(name.length + 1)));
    const stale = old.filter((c) => present.has(c));
    if (stale.length) this.log.info({ cable: name, endpoint: remote.hostname }, 'libreswan connection settings changed; replacing its connections');
    for (const c of stale) await this.pluto.whack(['--delete', '--name', c]);
    const entry: Managed = { remote, nat, plan };
    this.managed.set(name, entry);
    // As Submariner does before each connect: pluto picks up addresses that appeared since it started.
    await this.pluto.whack(['--listen']);
    await this.addConns(entry);
    this.state.conns.set(name, { hash: plan.hash, remote, nat });
    this.saveState();
    this.log.info({ cable: name, cluster: remote.clusterId, endpoint: remote.hostname, remoteIP: nat.useIP, nat: nat.useNAT, mode: plan.mode, connections: plan.conns.length, noEsn: plan.noEsn }, 'libreswan connections added');
    return true;
  }

  /** Removes one cable's connections (inside set()). */
  private async removeCable(name: string): Promise<void> {
    const m = this.managed.get(name);
    const cluster = (m ?? this.state.conns.get(name))?.remote.clusterId;
    this.managed.delete(name);
    if (this.state.conns.delete(name)) this.saveState();
    const present = await this.presentConns();
    const ours = m?.plan.conns.map((c) => c.name) ?? [...present].filter((c) => c.startsWith(`${name}-`) && /^\d+-\d+$/.test(c.slice(name.length + 1)));
    for (const c of ours.filter((x) => present.has(x))) await this.pluto.whack(['--delete', '--name', c]);
    this.log.info({ cable: name, cluster }, 'libreswan connections removed');
  }

  async connections(): Promise<ConnectionState[]> {
    if (!this.initialized) return [];
    const [traffic, states] = await Promise.all([this.pluto.whack(['--trafficstatus']), this.pluto.whack(['--showstates'])]);
    if (traffic.code !== 0 && traffic.stdout === '') {
      const why = `cannot read IPsec state from pluto (${traffic.stderr.trim() || `whack exited ${traffic.code}`}); hawser restarts pluto when it dies: see ${this.pluto.paths.logFile}`;
      return [...this.managed.entries()].map(([name, m]) => ({ cableName: name, endpoint: m.remote, status: 'error' as const, statusMessage: why, usingIP: m.nat.useIP, usingNAT: m.nat.useNAT }));
    }
    this.readLog();
    const installed = parseTrafficStatus(traffic.stdout);
    const sas = parseShowStates(states.stdout);
    let notUp = false;
    const out = [...this.managed.entries()].map(([name, m]): ConnectionState => {
      const names = new Set(m.plan.conns.map((c) => c.name));
      let rx = 0;
      let tx = 0;
      const up = new Set<string>();
      for (const t of installed) {
        if (!names.has(t.conn)) continue;
        up.add(t.conn);
        rx += t.inBytes;
        tx += t.outBytes;
      }
      const ike = new Set(sas.filter((s) => names.has(s.conn) && IKE_ESTABLISHED.test(s.state)).map((s) => s.conn));
      const child = new Set(sas.filter((s) => names.has(s.conn) && CHILD_ESTABLISHED.test(s.state)).map((s) => s.conn));
      const missing = [...names].filter((n) => !up.has(n));
      let status: ConnectionState['status'] = 'connected';
      let msg = '';
      if (missing.length > 0) {
        if (m.failure) {
          status = 'error';
          msg = m.failure.message;
        } else {
          status = 'connecting';
          if (up.size > 0 || child.size > 0) msg = `${up.size} of ${names.size} child SAs up; waiting for ${missing.join(', ')}`;
          else if (ike.size > 0) msg = `IKE SA up with ${m.nat.useIP} for ${ike.size} of ${names.size} connections; child SAs not installed yet`;
          else if (!m.plan.initiate) msg = `waiting for ${m.nat.useIP} to initiate (this gateway is the preferred server)`;
          else msg = `initiating IKE to ${m.nat.useIP}:${m.plan.peerPort}`;
        }
      } else m.failure = undefined;
      if (status !== 'connected') notUp = true;
      return { cableName: name, endpoint: m.remote, status, statusMessage: msg, usingIP: m.nat.useIP, usingNAT: m.nat.useNAT, rxBytes: rx, txBytes: tx };
    });
    if (notUp) this.reconciler?.trigger(NOT_UP_RECHECK_MS);
    return out;
  }

  async cleanup(): Promise<void> {
    this.stopLoops();
    await this.serial(async () => {
      const pid = this.pluto.pid;
      if (pid !== undefined) {
        for (const c of await this.presentConns()) await this.pluto.whack(['--delete', '--name', c]);
      }
      await this.pluto.stop();
      this.pluto.removeFiles();
      this.managed.clear();
      this.state = emptyState();
      this.initialized = false;
      this.log.info({ pid }, 'libreswan back end cleaned up: connections deleted, pluto stopped');
    });
  }

  async close(): Promise<void> {
    this.stopLoops();
    await this.serial(async () => {
      this.initialized = false;
    });
  }

  /** One reconcile pass now (tests; status reads, restarts and the engine's resync run it otherwise). */
  async reconcileNow(): Promise<void> {
    await this.reconcile();
  }

  // -------------------------------------------------------------------------------------------

  private stopLoops(): void {
    this.closed = true;
    this.reconciler?.close();
    this.reconciler = undefined;
    this.pluto.close();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private saveState(): void {
    this.state.charonPid = this.pluto.pid;
    writeState(this.pluto.paths.stateFile, this.state);
  }

  /** Connection names pluto holds (`whack --status`: `"name": 10.0.0.1[...]...`). */
  private async presentConns(): Promise<Set<string>> {
    const r = await this.pluto.whack(['--status'], 10_000);
    const out = new Set<string>();
    for (const line of r.stdout.split('\n')) {
      const m = /^(?:\d{3} )?"([^"]+)"(?:\[\d+\])?: \S/.exec(line);
      if (m) out.add(m[1]!);
    }
    return out;
  }

  /** `whack <add>`, then for initiators `--route` and `--initiate --asynchronous` (Submariner's order). */
  private async addConns(m: Managed): Promise<void> {
    for (const c of m.plan.conns) {
      const r = await this.pluto.whack(c.add);
      if (r.code !== 0) throw new HawserError('EXEC', `pluto refused connection ${c.name} (whack exited ${r.code}): ${(r.stdout + r.stderr).trim().split('\n').slice(-3).join(' | ')}`);
      if (!c.initiate) continue;
      // --route fails on a kernel without ESP policies support; pluto still negotiates: log, do not fail.
      const route = await this.pluto.whack(['--route', '--name', c.name]);
      if (route.code !== 0) this.log.warn({ cable: m.plan.cable, conn: c.name, out: route.stdout.trim().split('\n').slice(-1)[0] }, 'whack --route failed; initiating anyway');
      await this.pluto.whack(['--initiate', '--asynchronous', '--name', c.name]);
    }
  }

  private async adopt(how: 'adopted' | 'started'): Promise<void> {
    const saved = readState(this.pluto.paths.stateFile);
    const pid = this.pluto.pid;
    this.state = emptyState(pid);
    if (how === 'adopted' && saved.charonPid === pid) {
      const present = await this.presentConns();
      for (const [name, c] of saved.conns) {
        try {
          const plan = this.plan(c.remote, c.nat);
          if (plan.hash !== c.hash || !plan.conns.every((x) => present.has(x.name))) continue;
          this.state.conns.set(name, c);
          this.managed.set(name, { remote: c.remote, nat: c.nat, plan });
        } catch (err) {
          this.log.warn({ cable: name, err }, 'adopted libreswan connection is no longer valid; it stays until the engine reconnects or removes it');
        }
      }
      if (this.state.conns.size) this.log.info({ connections: [...this.state.conns.keys()] }, 'adopted libreswan connections added by the previous hawser');
    }
    this.saveState();
  }

  private async onPlutoRestart(): Promise<void> {
    if (this.closed) return;
    this.log.warn({ pid: this.pluto.pid, log: this.pluto.paths.logFile }, 'pluto died and was restarted; adding every libreswan connection again');
    this.state = emptyState(this.pluto.pid);
    await this.pluto.whack(['--listen']);
    await this.ensureAdded();
  }

  /** Level-triggered: adds every managed cable whose connections pluto lacks. */
  private async ensureAdded(): Promise<void> {
    const present = await this.presentConns();
    for (const [name, m] of this.managed) {
      if (m.plan.conns.every((c) => present.has(c.name))) continue;
      try {
        await this.addConns(m);
        this.state.conns.set(name, { hash: m.plan.hash, remote: m.remote, nat: m.nat });
        this.saveState();
        this.log.warn({ cable: name }, 'libreswan connections were missing from pluto; added them again');
      } catch (err) {
        this.log.error({ cable: name, err }, 'could not add libreswan connections; retrying on the next check');
      }
    }
  }

  private async reconcile(): Promise<void> {
    if (this.closed || !this.initialized) return;
    await this.serial(() => this.pass());
  }

  /** Reads pluto's log and re-adds what pluto lost (inside `serial`). */
  private async pass(): Promise<void> {
    if (this.closed || this.pluto.pid === undefined) return;
    this.readLog();
    await this.ensureAdded();
  }

  /** The cable a pluto log line is about: by connection name, else by a peer address in it. */
  private cableOfLine(line: string): string | undefined {
    const conn = connOfLine(line);
    for (const [cable, m] of this.managed) {
      if (conn !== undefined && m.plan.conns.some((c) => c.name === conn)) return cable;
    }
    if (conn !== undefined) return undefined;
    const ips = new Set(line.match(IPV4_IN_TEXT) ?? []);
    for (const [cable, m] of this.managed) {
      if ([m.nat.useIP, m.remote.publicIP, ...m.remote.privateIPs].some((ip) => ip && ips.has(ip))) return cable;
    }
    return undefined;
  }

  private readLog(): void {
    const now = Date.now();
    for (const line of this.pluto.readNewLogLines()) {
      const cable = this.cableOfLine(line);
      const m = cable === undefined ? undefined : this.managed.get(cable);
      if (!cable || !m) continue;
      if (/established (Child|IPsec) SA|negotiated connection|IPsec SA established/.test(line)) {
        m.failure = undefined;
        m.lastWarned = undefined;
        continue;
      }
      const first = m.plan.conns[0]?.pair;
      const f = classifyPlutoLog(line, {
        peer: m.nat.useIP, port: m.plan.peerPort, localId: first?.localId ?? '', remoteId: first?.remoteId ?? '',
        localPreferredServer: parseGoBool(this.ctx.localEndpoint.backendConfig['preferred-server']) ?? this.settings.preferredServer,
        remotePreferredServer: m.remote.backendConfig['preferred-server'],
      }, now);
      if (!f) continue;
      m.failure = preferFailure(m.failure, f);
      if (m.lastWarned !== m.failure.message) {
        m.lastWarned = m.failure.message;
        this.log.warn({ cable, endpoint: m.remote.hostname, reason: m.failure.kind, pluto: m.failure.detail }, m.failure.message);
      }
    }
  }
}

export function createPlutoDriver(ctx: DriverContext, opts: PlutoDriverOptions = {}): PlutoDriver {
  return new PlutoDriver(ctx, opts);
}
