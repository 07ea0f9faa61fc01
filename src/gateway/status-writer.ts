// The only writer of this node's Gateway object. Callers mark it dirty; one loop builds the object from the
// state as it is at that moment and writes it (a 409 rebuilds from a fresh read), so a write never carries
// a stale haStatus and writes never race each other. While active and leading it also deletes stale
// Gateways and marks other nodes' "active" ones passive. Every failure lands in `Failures`: counted, logged
// once per distinct message, and shown in the Gateway's statusFailure.
import type { Logger } from '../log/index.js';
import { errorMessage } from '../util/errors.js';
import { metaToWire, SUBMARINER_GROUP, SUBMARINER_VERSION, wireMeta, type WireMeta } from '../k8s/submariner/common.js';
import type { EndpointSpec } from '../k8s/submariner/endpoint.js';
import { isApiError, resourcePath, type KubeObject, type RestClient } from '../k8s/rest.js';
import { gatewayUpdateToWire, isStaleGateway, parseGateway, type Gateway } from '../k8s/submariner/gateway.js';
import type { ConnectionView } from '../cable-drivers/engine.js';
import { buildGatewayObject, type ConnectionHealth } from './status.js';
import type { MetricsPort } from './ports.js';

/**
 * Current problems by key (`driver`, `publish`, `status`, …). `set` counts every occurrence in the metrics
 * and logs only when the message for that key changes; `clear` logs the recovery once.
 */
export class Failures {
  private readonly current = new Map<string, string>();

  constructor(
    private readonly log: Logger,
    private readonly metrics?: MetricsPort,
    private readonly onChange?: () => void,
  ) {}

  set(key: string, message: string, fields: Record<string, unknown> = {}): void {
    this.metrics?.reconcileError('gateway');
    if (this.current.get(key) === message) return;
    this.current.set(key, message);
    this.log.warn({ ...fields, failure: key, err: message }, message);
    this.onChange?.();
  }

  /** Sets a condition shown in the status without counting it as an error (e.g. a degraded health check). */
  note(key: string, message: string | undefined): void {
    if (message === undefined) return this.clear(key);
    if (this.current.get(key) === message) return;
    this.current.set(key, message);
    this.onChange?.();
  }

  clear(key: string): void {
    const had = this.current.get(key);
    if (had === undefined) return;
    this.current.delete(key);
    this.log.info({ failure: key, was: had }, 'recovered');
    this.onChange?.();
  }

  has(key: string): boolean {
    return this.current.has(key);
  }

  get size(): number {
    return this.current.size;
  }

  messages(): string[] {
    return [...this.current.values()];
  }

  text(): string {
    return this.messages().join('; ');
  }
}

/** What a Gateway write is built from, read at the moment of the write. */
export interface GatewaySnapshot {
  haStatus: 'active' | 'passive';
  localEndpoint: EndpointSpec;
  connections: readonly ConnectionView[];
  health: (cableName: string) => ConnectionHealth | undefined;
}

export interface StatusWriterOptions {
  client: RestClient;
  namespace: string;
  nodeName: string;
  version: string;
  log: Logger;
  failures: Failures;
  metrics?: MetricsPort;
  /** The state now; undefined while there is nothing to say yet (nothing is written then). */
  snapshot: () => Promise<GatewaySnapshot | undefined>;
  /** Whether we hold a live lease (stale-Gateway deletion and markPassive only then). */
  leading: () => boolean;
  /** The informer's Gateways of our namespace (for staleness), if it runs. */
  gateways?: () => readonly Gateway[];
  debounceMs?: number;
  /** Rewrite at least this often (the update-timestamp others judge staleness by); 0 = never. */
  refreshMs?: number;
}

export class StatusWriter {
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private refresh: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  /**
   * Our Gateway's metadata as the API server returned it after our last write: the next write builds on it
   * (no GET). Only the metadata: the whole parsed answer (every connection's Endpoint, ~1 MB of objects at
   * 200 cables) kept for 5 s was old-generation garbage on every write.
   */
  private lastMeta: WireMeta | undefined;
  private readonly collection: string;
  private readonly path: string;
  /** Writes done (for tests and diagnostics). */
  writes = 0;

  constructor(private readonly o: StatusWriterOptions) {
    this.collection = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'gateways', o.namespace);
    this.path = `${this.collection}/${o.nodeName}`;
  }

  start(): void {
    const every = this.o.refreshMs ?? 5000;
    if (every > 0 && !this.refresh) this.refresh = setInterval(() => this.markDirty(), every);
  }

  /** Something the Gateway shows changed: write soon. Never blocks, never throws. */
  markDirty(delayMs = this.o.debounceMs ?? 20): void {
    if (this.closed) return;
    this.dirty = true;
    if (this.running || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.drain().finally(() => {
        this.running = undefined;
        if (this.dirty && !this.closed) this.markDirty();
      });
    }, delayMs);
  }

  /** Stops the loop after the write in flight; with `final`, writes once more (e.g. "passive" on hand-over). */
  async close(o: { final?: boolean } = {}): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.refresh) clearInterval(this.refresh);
    this.timer = undefined;
    await this.running;
    if (o.final) await this.drainOnce();
  }

  private async drain(): Promise<void> {
    while (this.dirty && !this.closed) await this.drainOnce();
  }

  private async drainOnce(): Promise<void> {
    this.dirty = false;
    try {
      const wrote = await this.write();
      if (!wrote) return;
      this.o.failures.clear('status');
    } catch (err) {
      this.o.failures.set('status', `writing the Gateway status failed: ${errorMessage(err)}`);
      // Retried by the refresh timer; the Gateway ages to stale if this persists (the alert watches the metric).
    }
  }

  private async write(): Promise<boolean> {
    let fresh: WireMeta | undefined;
    let wrote: 'active' | 'passive' | undefined;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const snap = await this.o.snapshot();
      if (!snap) return false;
      const conns = snap.haStatus === 'active' ? snap.connections : [];
      this.o.metrics?.update(snap.localEndpoint, conns, snap.health);
      const existing = fresh ?? this.lastMeta ?? (await this.read());
      const obj = buildGatewayObject({
        hostname: this.o.nodeName,
        namespace: this.o.namespace,
        haStatus: snap.haStatus,
        localEndpoint: snap.localEndpoint,
        connections: conns,
        health: snap.health,
        statusFailure: this.o.failures.text(),
        version: this.o.version,
        nowSeconds: Date.now() / 1000,
      });
      try {
        const written = existing
          ? await this.o.client.replace(this.path, { ...obj, metadata: { ...metaToWire(existing), annotations: { ...existing.annotations, ...obj.metadata.annotations } } })
          : await this.o.client.create(this.collection, obj);
        this.lastMeta = wireMeta(written);
        wrote = snap.haStatus;
        this.writes++;
        break;
      } catch (err) {
        this.lastMeta = undefined;
        // Someone wrote since our last write (the active gateway marked us passive) or deleted it (stale):
        // reread, rebuild.
        if (!(isApiError(err, 409) || isApiError(err, 404)) || attempt === 3) throw err;
        this.o.log.debug({ attempt, status: isApiError(err, 404) ? 404 : 409 }, 'Gateway write conflict: rebuilding from a fresh read');
        fresh = await this.read();
      }
    }
    // One Gateway status sync, on every gateway (passive ones too): HawserGatewaySyncStalled watches it.
    this.o.metrics?.syncIteration();
    if (wrote === 'active' && this.o.leading() && this.o.gateways) await this.fenceOthers(this.o.gateways());
    return true;
  }

  /** Our Gateway's metadata as the API has it now (undefined: none, or one without a name to build on). */
  private async read(): Promise<WireMeta | undefined> {
    const raw = await this.o.client.getOrUndefined(this.path);
    return raw ? wireMeta(raw) : undefined;
  }

  /** As the lease holder: stale Gateways go; another node's "active" is its last word before it was cut off. */
  private async fenceOthers(gws: readonly Gateway[]): Promise<void> {
    const now = Date.now() / 1000;
    const others = gws.filter((g) => g.meta.name !== this.o.nodeName);
    const stale = new Set(others.filter((g) => isStaleGateway(g, now)).map((g) => g.meta.name));
    const problems: string[] = [];
    for (const name of stale) {
      try {
        await this.o.client.delete(`${this.collection}/${name}`);
        this.o.log.info({ gateway: name }, 'removed a stale Gateway object (not updated for 15 s)');
      } catch (err) {
        if (!isApiError(err, 404)) problems.push(`deleting stale Gateway ${name}: ${errorMessage(err)}`);
      }
    }
    for (const g of others) {
      if (stale.has(g.meta.name)) continue;
      const problem = await this.markPassive(g);
      if (problem) problems.push(problem);
    }
    if (problems.length) this.o.failures.set('other-gateways', problems.join('; '));
    else this.o.failures.clear('other-gateways');
  }

  private async markPassive(g: Gateway): Promise<string | undefined> {
    if (g.status.haStatus !== 'active') return undefined;
    const name = g.meta.name;
    const path = `${this.collection}/${name}`;
    // Its metadata as read (resourceVersion: a concurrent write is a 409; its update-timestamp stays its own).
    const write = (cur: Gateway): Promise<KubeObject> => this.o.client.replace(path, gatewayUpdateToWire({
      ...cur,
      status: { ...cur.status, haStatus: 'passive', connections: [], statusFailure: `not active: the gateway lease is held by ${this.o.nodeName}` },
    }));
    try {
      await write(g).catch(async (err: unknown) => {
        if (!isApiError(err, 409)) throw err;
        const raw = await this.o.client.getOrUndefined(path);
        const cur = raw ? parseGateway(raw) : undefined;
        if (cur?.ok && cur.value.status.haStatus === 'active' && this.o.leading()) await write(cur.value);
      });
      this.o.log.info({ gateway: name }, 'marked another node\'s Gateway passive: it said active, but this gateway holds the lease');
      return undefined;
    } catch (err) {
      if (isApiError(err, 404)) return undefined;
      return `marking Gateway ${name} passive: ${errorMessage(err)}`;
    }
  }
}
