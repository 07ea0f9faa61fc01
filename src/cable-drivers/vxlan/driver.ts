// The VXLAN cable driver (see constants.ts for the design). Every call observes the kernel, plans
// with the pure planners and applies only the difference, so connect() is idempotent and a restart
// adopts what is there. The driver remembers which endpoints it connected (to name connections), but
// reports their state from the kernel's FDB and routes.
import { isIPv4 } from 'node:net';
import type { Logger } from '../../log/index.js';
import { backendPort, type EndpointSpec } from '../../k8s/resources.js';
import { HawserError } from '../../util/errors.js';
import type { GatewayConfig } from '../../config/roles.js';
import type { CableDriver, ConnectionState, DriverContext, NatInfo } from '../types.js';
import { UDP_PORT_KEY, VXLAN_DEFAULT_PORT, VXLAN_DRIVER_NAME, VXLAN_IFACE, VXLAN_OVERHEAD, VXLAN_ROUTE_METRIC, ZERO_MAC } from './constants.js';
import { type VxlanKernel, IpVxlanKernel } from './kernel.js';
import { type VxlanAction, type VxlanCable, cniAddress, planCable, planCleanup, planDevice, planDisconnect, planSweep, planText, vtepFor } from './plan.js';

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

export class VxlanDriver implements CableDriver {
  readonly name = VXLAN_DRIVER_NAME;
  private readonly kernel: VxlanKernel;
  private readonly log: Logger;
  private readonly local: EndpointSpec;
  private readonly port: number;
  private readonly localVtep: string;
  /** Source of our routes: the CNI IP once found, the VTEP until then. */
  private routeSrc: string;
  private cniIP: string | undefined;
  private readonly cables = new Map<string, Connected>();
  private readonly ctxConfig: Partial<Pick<GatewayConfig, 'clusterCidrs'>>;
  private warnedNoCni = false;
  /** Serializes kernel changes: plans are made against state no concurrent call is changing. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Actions of the last apply (tests, diagnose). */
  lastPlan = '';

  constructor(ctx: DriverContext, opts: VxlanDriverOptions = {}) {
    this.kernel = opts.kernel ?? new IpVxlanKernel(opts.netns);
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
  private cableFor(remote: EndpointSpec, nat: NatInfo): VxlanCable {
    const remoteVtep = vtepFor(remote.privateIP);
    if (!remoteVtep) throw new HawserError('INVALID', `remote endpoint ${remote.cableName} has no IPv4 private IP (${JSON.stringify(remote.privateIP)}); the VXLAN driver needs one for its VTEP`);
    if (!isIPv4(nat.useIP)) throw new HawserError('INVALID', `cannot reach remote endpoint ${remote.cableName} at ${JSON.stringify(nat.useIP)}: the VXLAN driver needs an IPv4 address`);
    if (remoteVtep === this.localVtep) {
      throw new HawserError('INVALID', `remote endpoint ${remote.cableName} (private IP ${remote.privateIP}) maps to our own VTEP ${remoteVtep} (ours is from ${this.local.privateIP}): VTEPs keep only the last three octets, so gateway private IPs must differ there`);
    }
    for (const other of this.cables.values()) {
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

  private ipsOfOtherCables(cableName: string): Set<string> {
    return new Set([...this.cables.values()].filter((c) => c.endpoint.cableName !== cableName).map((c) => c.nat.useIP));
  }

  connect(remote: EndpointSpec, nat: NatInfo): Promise<void> {
    return this.serial(async () => {
      const log = this.log.child({ cable: remote.cableName, cluster: remote.clusterId });
      if (remote.clusterId === this.local.clusterId) {
        log.debug('not connecting to our own cluster');
        return;
      }
      const cable = this.cableFor(remote, nat);
      const skipped = remote.subnets.filter((s) => !cable.subnets.includes(s));
      if (skipped.length) log.warn({ subnets: skipped }, 'the VXLAN driver routes IPv4 subnets only; skipping these');
      let obs = await this.kernel.observeCables();
      if (!obs.linkPresent) {
        log.warn(`${VXLAN_IFACE} is missing; recreating it`);
        await this.ensureDevice();
        obs = await this.kernel.observeCables();
      } else {
        await this.refreshRouteSrc();
      }
      const actions = planCable(cable, this.routeSrc, { ...obs, rules: [] }, this.ipsOfOtherCables(remote.cableName));
      await this.apply(actions, 'VXLAN cable changes', { cable: remote.cableName });
      const was = this.cables.get(remote.cableName);
      this.cables.set(remote.cableName, { endpoint: remote, nat: { ...nat }, cable });
      if (actions.length || !was) log.info({ useIP: nat.useIP, vtep: cable.remoteVtep, subnets: cable.subnets }, 'VXLAN cable connected');
    });
  }

  disconnect(remote: EndpointSpec): Promise<void> {
    return this.serial(async () => {
      const vtep = vtepFor(remote.privateIP);
      const known = this.cables.get(remote.cableName);
      this.cables.delete(remote.cableName);
      if (!vtep) return;
      const candidates = [remote.privateIP, remote.publicIP, known?.nat.useIP ?? ''].filter((ip) => ip && isIPv4(ip));
      const obs = await this.kernel.observeCables();
      await this.apply(planDisconnect(vtep, candidates, { ...obs, rules: [] }, this.ipsOfOtherCables(remote.cableName)), 'VXLAN cable removal', { cable: remote.cableName });
      this.log.info({ cable: remote.cableName, cluster: remote.clusterId }, 'VXLAN cable disconnected');
    });
  }

  /**
   * Removes kernel state of cables this driver has not been asked to connect since it started (remote
   * clusters gone while hawser was down). Call once the engine has connected everything it wants.
   */
  sweep(): Promise<void> {
    return this.serial(async () => {
      const known = [...this.cables.values()].map((c) => c.cable);
      const obs = await this.kernel.observeCables();
      const actions = planSweep(new Set(known.map((c) => c.remoteVtep)), new Set(known.map((c) => c.useIP)), obs);
      await this.apply(actions, 'VXLAN sweep of unknown cables');
      if (actions.length) this.log.info({ removed: actions.length }, 'removed VXLAN state of cables no longer wanted');
    });
  }

  async connections(): Promise<ConnectionState[]> {
    const obs = await this.kernel.observeCables();
    return [...this.cables.values()].map(({ endpoint, nat, cable }) => {
      const missing: string[] = [];
      if (!obs.linkPresent) missing.push(`device ${VXLAN_IFACE}`);
      else {
        const fdb = obs.fdb.find((e) => e.mac === ZERO_MAC && e.dst === cable.useIP);
        if (!fdb) missing.push(`FDB entry to ${cable.useIP}`);
        for (const s of cable.subnets) {
          if (!obs.routes.some((r) => r.dst === s && r.gateway === cable.remoteVtep && r.dev === VXLAN_IFACE && r.metric === VXLAN_ROUTE_METRIC)) missing.push(`route ${s} via ${cable.remoteVtep}`);
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
      this.log.info('VXLAN cable driver cleaned up');
    });
  }

  async close(): Promise<void> {
    // No loops of our own; the kernel keeps the data path.
  }
}

export function createVxlanDriver(ctx: DriverContext, opts: VxlanDriverOptions = {}): VxlanDriver {
  return new VxlanDriver(ctx, opts);
}
