// The VXLAN cable driver (see constants.ts for the design). Declarative: set(cables) observes the kernel,
// plans every wanted cable and the removal of whatever of ours no wanted cable claims with the pure
// planners, and applies only the difference, so it is idempotent and a restart adopts what is there. The
// driver remembers the cables of the last set() (to name connections), but reports their state from the
// kernel's FDB and routes.
import { isIPv4 } from 'node:net';
import type { Logger } from '../../log/index.js';
import { backendPort, type EndpointSpec } from '../../k8s/resources.js';
import { HawserError } from '../../util/errors.js';
import type { GatewayConfig } from '../../config/roles.js';
import { errorMessage } from '../../util/errors.js';
import { DeclarativeDriver } from '../declarative.js';
import type { CableDriver, CableOutcome, ConnectionState, DriverContext, NatInfo, WantedCable } from '../types.js';
import { UDP_PORT_KEY, VXLAN_DEFAULT_PORT, VXLAN_DRIVER_NAME, VXLAN_IFACE, VXLAN_OVERHEAD, VXLAN_ROUTE_METRIC, ZERO_MAC } from './constants.js';
import { type VxlanKernel, RtnlVxlanKernel } from './kernel.js';
import { type VxlanAction, type VxlanCable, cniAddress, planCable, planCleanup, planDevice, planSweep, planText, vtepFor } from './plan.js';

export interface VxlanDriverOptions {
  /** Operate in this network namespace (tests, the lab); default: the process's own. */
  netns?: string;
  /** The kernel adapter (a fake in unit tests). */
  kernel?: VxlanKernel;
}

interface Connected {
  endpoint: EndpointSpec;
  nat: NatInfo;
  cable: VxlanCable;
}

export class VxlanDriver extends DeclarativeDriver implements CableDriver {
  readonly name = VXLAN_DRIVER_NAME;
  private readonly kernel: VxlanKernel;
  private readonly log: Logger;
  private readonly local: EndpointSpec;
  private readonly port: number;
  private readonly localVtep: string;
  /** Source of our routes: the CNI IP once found, the VTEP until then. */
  private routeSrc: string;
  private cniIP: string | undefined;
  private cables = new Map<string, Connected>();
  private readonly ctxConfig: Partial<Pick<GatewayConfig, 'clusterCidrs'>>;
  private warnedNoCni = false;
  /** Serializes kernel changes: plans are made against state no concurrent call is changing. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Actions of the last apply (tests, diagnose). */
  lastPlan = '';

  constructor(ctx: DriverContext, opts: VxlanDriverOptions = {}) {
    super();
    this.kernel = opts.kernel ?? new RtnlVxlanKernel(opts.netns);
    this.log = ctx.log.child({ driver: VXLAN_DRIVER_NAME });
    this.local = ctx.localEndpoint;
    this.port = backendPort(ctx.localEndpoint, UDP_PORT_KEY, VXLAN_DEFAULT_PORT);
    this.ctxConfig = ctx.config;
    const vtep = vtepFor(ctx.localEndpoint.privateIP);
    if (!vtep) throw new HawserError('INVALID', `the VXLAN driver needs an IPv4 private IP for this gateway, got ${JSON.stringify(ctx.localEndpoint.privateIP)}`);
    this.localVtep = vtep;
    this.routeSrc = vtep;
  }

  /** Looks for the CNI IP (cheap to skip once found: it does not move while the node lives). */
  private async refreshRouteSrc(): Promise<void> {
    if (this.cniIP) return;
    const cidrs = (this.ctxConfig.clusterCidrs ?? []).filter((c) => c.family === 4);
    const ip = cidrs.length ? cniAddress(await this.kernel.localAddresses(), cidrs) : undefined;
    if (ip) {
      this.cniIP = ip;
      this.routeSrc = ip;
      this.log.info({ src: ip }, 'VXLAN cable routes use the CNI IP as source');
    } else if (!this.warnedNoCni) {
      this.warnedNoCni = true;
      this.log.warn({ src: this.localVtep, clusterCidrs: cidrs.map((c) => c.text) }, 'no address from the local cluster CIDR on this node (yet): VXLAN cable routes use the VTEP as source, so host-network traffic to pods on remote non-gateway nodes gets no reply');
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async apply(actions: VxlanAction[], what: string, fields: Record<string, unknown> = {}): Promise<void> {
    if (actions.length === 0) return;
    this.lastPlan = planText(actions);
    this.log.debug({ ...fields, plan: this.lastPlan }, what);
    await this.kernel.apply(actions);
  }

  private async ensureDevice(): Promise<void> {
    const mtu = (await this.kernel.underlayMtu(this.local.privateIP)) - VXLAN_OVERHEAD;
    const obs = await this.kernel.observe();
    const actions = planDevice({ port: this.port, mtu, vtep: this.localVtep }, obs);
    const recreate = actions.find((a) => a.op === 'link-del');
    if (recreate && recreate.op === 'link-del') this.log.warn({ why: recreate.why }, `recreating ${VXLAN_IFACE}`);
    await this.apply(actions, 'VXLAN device changes', { vtep: this.localVtep, port: this.port, mtu });
    await this.refreshRouteSrc();
  }

  init(): Promise<void> {
    return this.serial(async () => {
      await this.ensureDevice();
      this.log.info({ iface: VXLAN_IFACE, vtep: this.localVtep, port: this.port }, 'VXLAN cable driver ready');
    });
  }

  localBackendConfig(): Record<string, string> {
    return {};
  }

  /** The cable for `remote` with NAT decision `nat`, validated. */
  private cableFor(remote: EndpointSpec, nat: NatInfo, others: ReadonlyMap<string, Connected>): VxlanCable {
    const remoteVtep = vtepFor(remote.privateIP);
    if (!remoteVtep) throw new HawserError('INVALID', `remote endpoint ${remote.cableName} has no IPv4 private IP (${JSON.stringify(remote.privateIP)}); the VXLAN driver needs one for its VTEP`);
    if (!isIPv4(nat.useIP)) throw new HawserError('INVALID', `cannot reach remote endpoint ${remote.cableName} at ${JSON.stringify(nat.useIP)}: the VXLAN driver needs an IPv4 address`);
    if (remoteVtep === this.localVtep) {
      throw new HawserError('INVALID', `remote endpoint ${remote.cableName} (private IP ${remote.privateIP}) maps to our own VTEP ${remoteVtep} (ours is from ${this.local.privateIP}): VTEPs keep only the last three octets, so gateway private IPs must differ there`);
    }
    for (const other of others.values()) {
      if (other.endpoint.cableName !== remote.cableName && other.cable.remoteVtep === remoteVtep) {
        throw new HawserError('INVALID', `remote endpoint ${remote.cableName} maps to VTEP ${remoteVtep}, already used by ${other.endpoint.cableName}: gateway private IPs must differ in their last three octets`);
      }
    }
    const remotePort = backendPort(remote, UDP_PORT_KEY, VXLAN_DEFAULT_PORT);
    const subnets = remote.subnets.filter((s) => isIPv4(s.split('/')[0] ?? ''));
    const candidateIPs = [...new Set([remote.privateIP, remote.publicIP, nat.useIP, this.cables.get(remote.cableName)?.nat.useIP ?? ''].filter((ip) => ip && isIPv4(ip)))];
    const cable: VxlanCable = { cableName: remote.cableName, remoteVtep, useIP: nat.useIP, subnets, candidateIPs };
    if (remotePort !== this.port) cable.port = remotePort;
    return cable;
  }

  /**
   * Observe → plan → apply: the device if it went missing, then each wanted cable's FDB entry and routes
   * (an adopted cable whose kernel state matches gets no action), then the removal of FDB entries and
   * routes of ours that no wanted cable claims (remotes gone, or gone while hawser was down).
   */
  set(cables: readonly WantedCable[]): Promise<Map<string, CableOutcome>> {
    return this.serial(async () => {
      this.wantedCables = [...cables];
      const out = new Map<string, CableOutcome>();
      const next = new Map<string, Connected>();
      for (const { endpoint, nat } of cables) {
        if (endpoint.clusterId === this.local.clusterId) {
          this.log.debug({ cable: endpoint.cableName }, 'not connecting to our own cluster');
          out.set(endpoint.cableName, { ok: true, changed: false });
          continue;
        }
        try {
          const prevUseIP = this.cables.get(endpoint.cableName)?.nat.useIP;
          const cable = this.cableFor(endpoint, nat, next);
          if (prevUseIP && isIPv4(prevUseIP) && !cable.candidateIPs.includes(prevUseIP)) cable.candidateIPs.push(prevUseIP);
          const skipped = endpoint.subnets.filter((s) => !cable.subnets.includes(s));
          if (skipped.length) this.log.debug({ cable: endpoint.cableName, subnets: skipped }, 'the VXLAN driver routes IPv4 subnets only; skipping these');
          next.set(endpoint.cableName, { endpoint, nat: { ...nat }, cable });
        } catch (err) {
          out.set(endpoint.cableName, { ok: false, error: errorMessage(err) });
        }
      }
      let obs = await this.kernel.observeCables();
      if (!obs.linkPresent) {
        this.log.warn(`${VXLAN_IFACE} is missing; recreating it`);
        await this.ensureDevice();
        obs = await this.kernel.observeCables();
      } else await this.refreshRouteSrc();
      // planCable asks only about addresses other than the cable's own useIP, and for those "used by another
      // cable" is "used by any cable": one set for all (a set per cable of all the others was O(N²)).
      const usedIPs = new Set([...next.values()].map((c) => c.nat.useIP));
      const perCable = new Map<string, VxlanAction[]>();
      const observed = { ...obs, rules: [] };
      for (const [name, c] of next) perCable.set(name, planCable(c.cable, this.routeSrc, observed, usedIPs));
      const known = [...next.values()].map((c) => c.cable);
      const sweep = planSweep(new Set(known.map((c) => c.remoteVtep)), new Set(known.map((c) => c.useIP)), obs);
      // one action once: a cable's stale entry can also be one that no cable claims
      const seen = new Set<string>();
      const actions = [...[...perCable.values()].flat(), ...sweep].filter((a) => {
        const k = JSON.stringify(a);
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      });
      await this.apply(actions, 'VXLAN cable changes', { cables: [...next.keys()] });
      for (const [name, c] of next) {
        const changed = (perCable.get(name)?.length ?? 0) > 0 || !this.cables.has(name);
        out.set(name, { ok: true, changed });
        if (changed) this.log.info({ cable: name, cluster: c.endpoint.clusterId, useIP: c.nat.useIP, vtep: c.cable.remoteVtep, subnets: c.cable.subnets }, 'VXLAN cable connected');
      }
      for (const [name, c] of this.cables) if (!next.has(name)) this.log.info({ cable: name, cluster: c.endpoint.clusterId }, 'VXLAN cable disconnected');
      if (sweep.length) this.log.info({ removed: sweep.length }, 'removed VXLAN state no wanted cable claims');
      this.cables = next;
      return out;
    });
  }

  async connections(): Promise<ConnectionState[]> {
    const obs = await this.kernel.observeCables();
    // Indexed once: every cable is looked up on every status write (a scan per cable was O(N²) at 200 cables).
    const fdbDsts = new Set(obs.fdb.filter((e) => e.mac === ZERO_MAC).map((e) => e.dst));
    const routeKeys = new Set(obs.routes.filter((r) => r.dev === VXLAN_IFACE && r.metric === VXLAN_ROUTE_METRIC).map((r) => `${r.dst} ${r.gateway}`));
    return [...this.cables.values()].sort((a, b) => a.endpoint.cableName.localeCompare(b.endpoint.cableName)).map(({ endpoint, nat, cable }) => {
      const missing: string[] = [];
      if (!obs.linkPresent) missing.push(`device ${VXLAN_IFACE}`);
      else {
        if (!fdbDsts.has(cable.useIP)) missing.push(`FDB entry to ${cable.useIP}`);
        for (const s of cable.subnets) {
          if (!routeKeys.has(`${s} ${cable.remoteVtep}`)) missing.push(`route ${s} via ${cable.remoteVtep}`);
        }
      }
      const ok = missing.length === 0;
      return {
        cableName: endpoint.cableName,
        endpoint,
        status: ok ? 'connected' : 'error',
        statusMessage: ok ? '' : `VXLAN state missing from the kernel: ${missing.join(', ')} (removed behind hawser's back? the next reconcile restores it)`,
        usingIP: nat.useIP,
        usingNAT: nat.useNAT,
      };
    });
  }

  cleanup(): Promise<void> {
    return this.serial(async () => {
      const obs = await this.kernel.observe();
      await this.apply(planCleanup(obs), 'VXLAN cleanup');
      this.cables.clear();
      this.wantedCables = [];
      await this.kernel.close?.();
      this.log.info('VXLAN cable driver cleaned up');
    });
  }

  async close(): Promise<void> {
    // No loops of our own; the kernel keeps the data path. Only our sockets (or netns worker) go.
    await this.serial(async () => this.kernel.close?.());
  }
}

export function createVxlanDriver(ctx: DriverContext, opts: VxlanDriverOptions = {}): VxlanDriver {
  return new VxlanDriver(ctx, opts);
}
