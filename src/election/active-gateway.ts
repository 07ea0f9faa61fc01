// Globalnet's leadership: this node leads only while its Gateway object says `active` and it holds the
// Lease `submariner-globalnet-lock` (as Submariner's globalnet does). Becoming passive leaves the election
// (releasing the Lease) and calls `onInactive`: the data plane moves with the gateway.
import { EventEmitter } from 'node:events';
import type { GlobalnetConfig } from '../config/roles.js';
import type { Informer } from '../k8s/informer.js';
import { gatewayInformer } from '../k8s/informers.js';
import type { RestClient } from '../k8s/rest.js';
import type { Gateway } from '../k8s/submariner/gateway.js';
import type { Logger } from '../log/index.js';
import { LeaderElector } from './lease.js';

export const GLOBALNET_LEASE = 'submariner-globalnet-lock';
const IDENTITY_SUFFIX = '-submariner-globalnet';

/** Whether this process may act, and when that changes. */
export interface LeaderSignal {
  isLeader(): boolean;
  on(event: 'started' | 'stopped', cb: () => void): unknown;
  off(event: 'started' | 'stopped', cb: () => void): unknown;
}

/** A leader signal that always leads (a single instance, tests, the lab without election). */
export function alwaysLeader(): LeaderSignal {
  return Object.assign(new EventEmitter(), { isLeader: () => true });
}

export interface ActiveGatewayElectionOptions {
  client: RestClient;
  namespace: string;
  nodeName: string;
  timings: GlobalnetConfig['election'];
  log: Logger;
  onInactive?: () => Promise<void>;
}

export class ActiveGatewayElection extends EventEmitter implements LeaderSignal {
  private readonly informer: Informer<Gateway>;
  private elector: LeaderElector | undefined;
  private active = false;
  private transition: Promise<void> = Promise.resolve();

  constructor(private readonly o: ActiveGatewayElectionOptions) {
    super();
    this.informer = gatewayInformer({ client: o.client, namespace: o.namespace, log: o.log });
    this.informer.on('change', () => this.check());
  }

  isLeader(): boolean {
    return this.active && (this.elector?.isLeader() ?? false);
  }

  start(): void {
    void this.informer.start().catch(() => undefined);
  }

  async stop(): Promise<void> {
    // Bounded, like the controller's: a watch that ignores its abort must not hang shutdown.
    await Promise.race([this.informer.stop(), new Promise((r) => setTimeout(r, 2000).unref())]);
    await this.transition;
    const e = this.elector;
    this.elector = undefined;
    await e?.stop();
  }

  private check(): void {
    const active = this.informer.get(this.o.namespace, this.o.nodeName)?.status.haStatus === 'active';
    // A holder whose Gateway just turned passive may be preempted: decide now, not a 2 s retry later
    // (on node loss this is most of the gap between the gateway's Lease moving and Globalnet's).
    if (active && this.active) this.elector?.reconsider();
    if (active === this.active) return;
    this.active = active;
    this.transition = this.transition.then(() => (active ? this.becomeActive() : this.becomeInactive())).catch((err: unknown) => {
      this.o.log.warn({ err }, 'Globalnet gateway transition failed');
    });
  }

  private async becomeActive(): Promise<void> {
    this.o.log.info({ node: this.o.nodeName }, 'this node is the active gateway: joining the Globalnet election');
    const e = new LeaderElector({
      client: this.o.client,
      namespace: this.o.namespace,
      name: GLOBALNET_LEASE,
      identity: `${this.o.nodeName}${IDENTITY_SUFFIX}`,
      timings: this.o.timings,
      log: this.o.log,
      // The Lease is 20 s and a lost node's Globalnet cannot release it. Once that node's Gateway no longer
      // says active (the new active gateway marks it passive, or it is gone), its Globalnet has stepped down
      // or is fenced (its renewals fail), so the active gateway's Globalnet takes over without waiting it out.
      preempt: (holder) => this.holderStepsDown(holder),
    });
    e.on('started', () => this.emit('started'));
    e.on('stopped', () => this.emit('stopped'));
    this.elector = e;
    e.start();
  }

  /** The Lease holder's node is known not to be the active gateway (another identity shape is never preempted). */
  private holderStepsDown(holder: string): boolean {
    if (!holder.endsWith(IDENTITY_SUFFIX) || !this.active) return false;
    const node = holder.slice(0, -IDENTITY_SUFFIX.length);
    if (node === this.o.nodeName) return false;
    return this.informer.get(this.o.namespace, node)?.status.haStatus !== 'active';
  }

  private async becomeInactive(): Promise<void> {
    this.o.log.info({ node: this.o.nodeName }, 'this node is no longer the active gateway: leaving the Globalnet election');
    const e = this.elector;
    this.elector = undefined;
    await e?.stop();
    this.emit('stopped');
    await this.o.onInactive?.();
  }
}
