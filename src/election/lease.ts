// Leader election on a coordination.k8s.io/v1 Lease, written against the API (client-node 1.4 has no helper).
// Expiry is judged from *our* observation of renewals (local monotonic clock), never from the holder's
// timestamps, so clock skew between nodes cannot shorten or stretch a lease.
import { EventEmitter } from 'node:events';
import type { Logger } from '../log/index.js';
import type { ElectionTimings } from '../config/roles.js';
import { Backoff, sleep } from '../util/wait.js';
import { isApiError, resourcePath, type KubeObject, type RestClient } from '../k8s/rest.js';

export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions: number;
}

export type ElectionStep =
  | { kind: 'create' }
  | { kind: 'renew' }
  | { kind: 'acquire'; reason: 'released' | 'expired' | 'preempted' }
  | { kind: 'wait'; holder: string; expiresInMs: number };

export interface Observation {
  /** The record as last seen, serialized (a change restarts the expiry clock). */
  fingerprint: string;
  /** Local monotonic time (ms) when that record was first seen. */
  seenAtMs: number;
}

export function fingerprint(r: LeaseRecord): string {
  return `${r.holderIdentity}|${r.renewTime ?? ''}|${r.leaseTransitions}`;
}

/**
 * The pure core: what to do with the Lease as it is now. A foreign lease is expired only when it has not
 * changed for a whole lease duration of *our* observation (the longer of our configured duration and the
 * one the holder wrote, so a Submariner gateway's 15 s lease is respected). `preempt` says a holder is known
 * to be done by other means (Globalnet: that holder's node is no longer the active gateway), so its lease
 * need not be waited out.
 */
export function decide(current: LeaseRecord | undefined, obs: Observation | undefined, identity: string, nowMs: number, t: ElectionTimings, preempt?: (holder: string) => boolean): ElectionStep {
  if (!current) return { kind: 'create' };
  if (current.holderIdentity === identity) return { kind: 'renew' };
  if (current.holderIdentity === '') return { kind: 'acquire', reason: 'released' };
  if (preempt?.(current.holderIdentity)) return { kind: 'acquire', reason: 'preempted' };
  const duration = Math.max(t.leaseDurationMs, current.leaseDurationSeconds * 1000);
  const seenAt = obs && obs.fingerprint === fingerprint(current) ? obs.seenAtMs : nowMs;
  const expiresInMs = seenAt + duration - nowMs;
  if (expiresInMs <= 0) return { kind: 'acquire', reason: 'expired' };
  return { kind: 'wait', holder: current.holderIdentity, expiresInMs };
}

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function parseRecord(o: KubeObject): LeaseRecord {
  const spec = (typeof o.spec === 'object' && o.spec !== null ? o.spec : {}) as Record<string, unknown>;
  return {
    holderIdentity: typeof spec.holderIdentity === 'string' ? spec.holderIdentity : '',
    leaseDurationSeconds: typeof spec.leaseDurationSeconds === 'number' ? spec.leaseDurationSeconds : 0,
    acquireTime: typeof spec.acquireTime === 'string' ? spec.acquireTime : undefined,
    renewTime: typeof spec.renewTime === 'string' ? spec.renewTime : undefined,
    leaseTransitions: typeof spec.leaseTransitions === 'number' ? spec.leaseTransitions : 0,
  };
}

export interface LeaderElectorOptions {
  client: RestClient;
  namespace: string;
  name: string;
  identity: string;
  timings: ElectionTimings;
  log: Logger;
  /** Monotonic clock in ms (injectable for tests). */
  now?: () => number;
  /** A holder that may be replaced at once, without waiting out its lease (see `decide`). */
  preempt?: (holder: string) => boolean;
}

/**
 * Events: `started` (we lead), `stopped` (we no longer lead: fence now), `leader` (identity seen holding).
 * `isLeader()` is fenced: it turns false as soon as our last successful renewal is older than the renew
 * deadline, even before the loop notices, so an isolated leader stops acting before anyone can take over.
 */
export class LeaderElector extends EventEmitter {
  private leading = false;
  private lastRenewStartMs = -Infinity;
  private obs: Observation | undefined;
  private abort: AbortController | undefined;
  private loopDone: Promise<void> | undefined;
  private currentHolder = '';
  private readonly now: () => number;
  private fenceTimer: NodeJS.Timeout | undefined;
  /** The Lease as our last successful write returned it (for a one-request release). */
  private lastWritten: KubeObject | undefined;
  /** Ends the wait between attempts early (a watched Lease change while we stand by). */
  private wake: (() => void) | undefined;
  private watchDone: Promise<void> | undefined;

  constructor(private readonly o: LeaderElectorOptions) {
    super();
    this.now = o.now ?? (() => performance.now());
  }

  get path(): string {
    return resourcePath('coordination.k8s.io', 'v1', 'leases', this.o.namespace, this.o.name);
  }

  isLeader(): boolean {
    return this.leading && this.now() - this.lastRenewStartMs < this.o.timings.renewDeadlineMs;
  }

  get identity(): string {
    return this.o.identity;
  }

  get holder(): string {
    return this.currentHolder;
  }

  start(): void {
    if (this.loopDone) return;
    this.abort = new AbortController();
    this.loopDone = this.loop(this.abort.signal);
    this.watchDone = this.watchLease(this.abort.signal);
  }

  /**
   * Something the caller watches changed what `preempt` would say (the holder's node stopped being the
   * active gateway): a candidate decides again now instead of at its next retry. A leader ignores it.
   */
  reconsider(): void {
    if (!this.leading) this.wake?.();
  }

  /**
   * Stops the loop. If we lead: `release` (default: the configured release-on-shutdown) hands the lease to a
   * standby at once; otherwise `holdForMs` writes one last renewal that asks the others to wait that long
   * (a restart in place re-takes it before then: `decide` renews a lease held under our identity).
   */
  async stop(o: { release?: boolean; holdForMs?: number } = {}): Promise<void> {
    this.abort?.abort();
    await this.loopDone?.catch(() => undefined);
    await this.watchDone?.catch(() => undefined);
    this.loopDone = undefined;
    this.watchDone = undefined;
    const wasLeading = this.leading;
    this.setLeading(false, 'shutting down');
    if (!wasLeading) return;
    if (o.release ?? this.o.timings.releaseOnCancel) await this.release();
    else if (o.holdForMs !== undefined) await this.hold(o.holdForMs);
  }

  /** One renewal with a longer duration: standbys (which honour the holder's duration) wait that long. */
  private async hold(holdForMs: number): Promise<void> {
    const seconds = Math.max(1, Math.ceil(Math.max(holdForMs, this.o.timings.leaseDurationMs) / 1000));
    const holdFrom = (cur: KubeObject): Promise<KubeObject> => this.o.client.replace(this.path, {
      ...cur,
      spec: { ...(cur.spec as object), leaseDurationSeconds: seconds, renewTime: microTime(new Date()) },
    });
    try {
      const mine = this.lastWritten;
      const done = mine ? await holdFrom(mine).then(() => true, (err: unknown) => {
        if (isApiError(err, 409)) return false;
        throw err;
      }) : false;
      if (!done) {
        const cur = await this.o.client.get(this.path);
        if (parseRecord(cur).holderIdentity !== this.o.identity) return;
        await holdFrom(cur);
      }
      this.o.log.info({ lease: this.o.name, holdSeconds: seconds }, 'kept the leader lease for a restart in place (standbys wait this long)');
    } catch (err) {
      this.o.log.warn({ lease: this.o.name, err }, 'could not extend the leader lease for the restart; a standby takes over when it expires');
    }
  }

  private async release(): Promise<void> {
    const releaseFrom = (cur: KubeObject): Promise<KubeObject> => this.o.client.replace(this.path, {
      ...cur,
      spec: { ...(cur.spec as object), holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(new Date()) },
    });
    try {
      // One round trip: our last write's resourceVersion is current unless someone else wrote since (409).
      const mine = this.lastWritten;
      const done = mine ? await releaseFrom(mine).then(() => true, (err: unknown) => {
        if (isApiError(err, 409)) return false;
        throw err;
      }) : false;
      if (!done) {
        const cur = await this.o.client.get(this.path);
        if (parseRecord(cur).holderIdentity !== this.o.identity) return;
        await releaseFrom(cur);
      }
      this.o.log.info({ lease: this.o.name }, 'released the leader lease so a standby can take over at once');
    } catch (err) {
      this.o.log.warn({ lease: this.o.name, err }, 'could not release the leader lease; a standby takes over when it expires');
    }
  }

  private setLeading(v: boolean, why: string): void {
    if (v === this.leading) return;
    this.leading = v;
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
    this.fenceTimer = undefined;
    this.o.log.info({ lease: this.o.name, identity: this.o.identity, leading: v, why }, v ? 'became the leader' : 'stopped leading');
    this.emit(v ? 'started' : 'stopped', why);
  }

  /** Arms a timer that fences us exactly when the renew deadline passes without a renewal. */
  private armFence(): void {
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
    const left = this.lastRenewStartMs + this.o.timings.renewDeadlineMs - this.now();
    this.fenceTimer = setTimeout(() => {
      this.fenceTimer = undefined;
      if (!this.leading) return;
      // Timers run on the loop's cached millisecond clock and can fire a fraction early: then look again.
      if (this.isLeader()) this.armFence();
      else this.setLeading(false, 'could not renew the lease within the renew deadline');
    }, Math.max(0, Math.ceil(left)) + 1);
    this.fenceTimer.unref();
  }

  private async tryOnce(): Promise<void> {
    const started = this.now();
    if (this.leading && (await this.renewFast(started))) return;
    const existing = await this.o.client.getOrUndefined(this.path);
    // A record is seen when the answer arrives, not when we asked: a read that hung through a partition
    // must not date a foreign renewal back to before the partition (we would take a live lease).
    const seenAt = this.now();
    const rec = existing ? parseRecord(existing) : undefined;
    if (rec) {
      const fp = fingerprint(rec);
      if (!this.obs || this.obs.fingerprint !== fp) this.obs = { fingerprint: fp, seenAtMs: seenAt };
      if (rec.holderIdentity !== this.currentHolder) {
        this.currentHolder = rec.holderIdentity;
        this.emit('leader', rec.holderIdentity);
      }
    }
    const step = decide(rec, this.obs, this.o.identity, seenAt, this.o.timings, this.o.preempt);
    const nowIso = microTime(new Date());
    const leaseSeconds = Math.max(1, Math.ceil(this.o.timings.leaseDurationMs / 1000));
    if (step.kind === 'wait') {
      if (this.leading) this.setLeading(false, `lease is held by ${step.holder}`);
      return;
    }
    if (step.kind === 'create') {
      this.lastWritten = await this.o.client.create(resourcePath('coordination.k8s.io', 'v1', 'leases', this.o.namespace), {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.o.name, namespace: this.o.namespace },
        spec: { holderIdentity: this.o.identity, leaseDurationSeconds: leaseSeconds, acquireTime: nowIso, renewTime: nowIso, leaseTransitions: 0 },
      });
    } else {
      const cur = existing!;
      const r = rec!;
      const acquiring = step.kind === 'acquire';
      this.lastWritten = await this.o.client.replace(this.path, {
        ...cur,
        // resourceVersion from our read: a concurrent writer makes this a 409 and we lose cleanly.
        metadata: { ...cur.metadata },
        spec: {
          ...(cur.spec as object),
          holderIdentity: this.o.identity,
          leaseDurationSeconds: leaseSeconds,
          acquireTime: acquiring ? nowIso : (r.acquireTime ?? nowIso),
          renewTime: nowIso,
          leaseTransitions: acquiring ? r.leaseTransitions + 1 : r.leaseTransitions,
        },
      });
      if (acquiring) this.o.log.debug({ lease: this.o.name, previous: r.holderIdentity, reason: step.reason }, 'acquiring the leader lease');
    }
    this.lastRenewStartMs = started;
    if (this.currentHolder !== this.o.identity) {
      this.currentHolder = this.o.identity;
      this.emit('leader', this.o.identity);
    }
    this.setLeading(true, step.kind);
    this.armFence();
  }

  /**
   * A leader renews with one PUT on the resourceVersion of its own last write: it succeeds only if nobody
   * wrote since, so it needs no read first (half the round trips, half the chance to miss the deadline).
   * False on 409: someone else wrote, so read and decide as usual.
   */
  private async renewFast(started: number): Promise<boolean> {
    const mine = this.lastWritten;
    if (!mine || parseRecord(mine).holderIdentity !== this.o.identity) return false;
    try {
      this.lastWritten = await this.o.client.replace(this.path, {
        ...mine,
        spec: { ...(mine.spec as object), renewTime: microTime(new Date()), leaseDurationSeconds: Math.max(1, Math.ceil(this.o.timings.leaseDurationMs / 1000)) },
      });
    } catch (err) {
      if (isApiError(err, 409)) return false;
      throw err;
    }
    this.lastRenewStartMs = started;
    this.armFence();
    return true;
  }

  private async loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.tryOnce();
      } catch (err) {
        if (isApiError(err, 409)) this.o.log.debug({ lease: this.o.name }, 'lease changed under us (409)');
        else this.o.log.warn({ lease: this.o.name, err }, 'leader election API call failed');
        // Leadership is kept only while renewals succeed: the fence timer ends it at the renew deadline.
        if (this.leading && !this.isLeader()) this.setLeading(false, 'could not renew the lease');
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          this.wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, this.o.timings.retryPeriodMs);
        signal.addEventListener('abort', done, { once: true });
        this.wake = done;
      });
    }
  }

  /**
   * Watches the Lease so a standby acts on a release (or a new holder) at once instead of at its next
   * retry: a graceful handover then costs one round trip, not up to a retry period. Polling stays the
   * source of truth; the watch only wakes it.
   */
  private async watchLease(signal: AbortSignal): Promise<void> {
    const collection = resourcePath('coordination.k8s.io', 'v1', 'leases', this.o.namespace);
    const backoff = new Backoff(Math.max(100, this.o.timings.retryPeriodMs), 10_000);
    while (!signal.aborted) {
      try {
        await this.o.client.watch(collection, { fieldSelector: `metadata.name=${this.o.name}`, timeoutSeconds: 300 }, (ev) => {
          backoff.reset();
          if (this.leading || (ev.type !== 'ADDED' && ev.type !== 'MODIFIED')) return;
          const rec = parseRecord(ev.object as KubeObject);
          // A renewal seen here starts the expiry clock as a poll would, only sooner (never later).
          const fp = fingerprint(rec);
          if (!this.obs || this.obs.fingerprint !== fp) this.obs = { fingerprint: fp, seenAtMs: this.now() };
          if (rec.holderIdentity === '' || rec.holderIdentity !== this.currentHolder) this.wake?.();
        }, signal);
      } catch (err) {
        this.o.log.debug({ lease: this.o.name, err }, 'watching the lease failed; polling meanwhile');
      }
      if (signal.aborted) break;
      await sleep(backoff.next(), signal).catch(() => undefined);
    }
  }
}
