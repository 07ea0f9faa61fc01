// What can change in our own Endpoint while the gateway runs, followed on timers independent of the number
// of cables: the public IP (Submariner's PublicIPWatcher: re-resolved every 60 s, every 15 s while it is
// unresolved) and, with Globalnet, the node's global IP as the health-check IP (Globalnet allocates it after
// the gateway starts). A change hands the new Endpoint to `update` (the role republishes it).
import type { Logger } from '../log/index.js';
import type { EndpointSpec } from '../k8s/resources.js';
import { errorMessage } from '../util/errors.js';
import { withHealthCheckIP, withPublicIP } from './local-endpoint.js';
import type { NodeFactsReader } from './node-facts.js';
import type { Failures } from './status-writer.js';

/** Submariner's PublicIPWatcher interval; an unresolved public IP is retried sooner. */
export const PUBLIC_IP_RECHECK_MS = 60_000;
export const PUBLIC_IP_RETRY_MS = 15_000;
/** How often the node's global IP is looked for (Globalnet with health checking only). */
export const GLOBAL_IP_RECHECK_MS = 5_000;

export interface EndpointFollowOptions {
  facts: Pick<NodeFactsReader, 'recheckPublicIP' | 'globalHealthCheckIP'>;
  failures: Failures;
  log: Logger;
  /** Our Endpoint as it is now (undefined before the driver started). */
  current: () => EndpointSpec | undefined;
  /** Our Endpoint changed: keep it, tell NAT discovery, republish. */
  update: (next: EndpointSpec) => Promise<void>;
  /** Public-IP recheck period (default PUBLIC_IP_RECHECK_MS, PUBLIC_IP_RETRY_MS while unresolved). */
  publicIpRecheckMs?: number;
  /** Whether to follow the node's global IP (Globalnet on and health checking enabled). */
  followGlobalIP: boolean;
  globalIpRecheckMs?: number;
}

export class EndpointFollower {
  private readonly timers = new Set<NodeJS.Timeout>();
  private running = false;

  constructor(private readonly o: EndpointFollowOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedulePublicIP();
    if (this.o.followGlobalIP) this.scheduleGlobalIP();
  }

  stop(): void {
    this.running = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private after(ms: number, fn: () => Promise<void>, then: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      void fn().finally(() => {
        if (this.running) then();
      });
    }, ms);
    this.timers.add(t);
  }

  private schedulePublicIP(): void {
    const unresolved = !this.o.current()?.publicIP;
    this.after(this.o.publicIpRecheckMs ?? (unresolved ? PUBLIC_IP_RETRY_MS : PUBLIC_IP_RECHECK_MS), () => this.recheckPublicIP(), () => this.schedulePublicIP());
  }

  private scheduleGlobalIP(): void {
    this.after(this.o.globalIpRecheckMs ?? GLOBAL_IP_RECHECK_MS, () => this.recheckGlobalIP(), () => this.scheduleGlobalIP());
  }

  /** Re-resolves the public IP; a different answer updates our Endpoint. */
  async recheckPublicIP(): Promise<void> {
    const ep = this.o.current();
    if (!ep) return;
    let pub;
    try {
      pub = await this.o.facts.recheckPublicIP(ep.privateIP);
      this.o.failures.clear('public-ip-recheck');
    } catch (err) {
      return this.o.failures.set('public-ip-recheck', `public IP re-resolution failed: ${errorMessage(err)}`);
    }
    const now = this.o.current() ?? ep;
    const next = withPublicIP(now, pub.ip, pub.usingLoadBalancer);
    if (next === now) return;
    this.o.log.info({ endpoint: now.cableName, from: now.publicIP, to: pub.ip }, 'public IP changed: updating the local Endpoint');
    await this.o.update(next);
  }

  /** With Globalnet, the node's global IP becomes our health-check IP once Globalnet has allocated it. */
  async recheckGlobalIP(): Promise<void> {
    if (!this.o.current()) return;
    let ip: string | undefined;
    try {
      ip = await this.o.facts.globalHealthCheckIP();
      this.o.failures.clear('global-ip');
    } catch (err) {
      return this.o.failures.set('global-ip', `cannot read this node's global IP: ${errorMessage(err)}`);
    }
    const now = this.o.current();
    if (!now || ip === undefined || ip === now.healthCheckIP) return;
    this.o.log.info({ healthCheckIP: ip }, 'health-check IP is now this node\'s global IP');
    await this.o.update(withHealthCheckIP(now, ip));
  }
}
