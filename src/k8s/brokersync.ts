// Broker sync: our cluster's Endpoint and Cluster objects are copied from the local Submariner namespace to
// the broker namespace (labelled submariner-io/clusterID); other clusters' are copied back. Level-triggered:
// a pure plan from both sides' caches, then writes. Only copies we own are ever deleted.
import type { Logger } from '../log/index.js';
import { errorMessage, HawserError } from '../util/errors.js';
import { CLUSTER_ID_LABEL, SUBMARINER_API_VERSION, SUBMARINER_GROUP, SUBMARINER_VERSION } from './submariner/common.js';
import { specClusterId } from './submariner/endpoint.js';
import { Debouncer, Informer } from './informer.js';
import { resourcePath, type KubeObject, type RestClient } from './rest.js';

export type SyncedPlural = 'endpoints' | 'clusters';
const KIND: Record<SyncedPlural, string> = { endpoints: 'Endpoint', clusters: 'Cluster' };

/** JSON with sorted keys, for equality of specs. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

export interface SyncPlan {
  upsertBroker: KubeObject[];
  deleteBroker: string[];
  upsertLocal: KubeObject[];
  deleteLocal: string[];
}

function copyOf(o: KubeObject, clusterId: string, namespace: string, plural: SyncedPlural): KubeObject {
  return {
    apiVersion: SUBMARINER_API_VERSION,
    kind: KIND[plural],
    metadata: { name: o.metadata.name, namespace, labels: { [CLUSTER_ID_LABEL]: clusterId } },
    spec: o.spec,
  };
}

/** Pure: what to write so that the broker has exactly our objects and we have exactly the others'. */
export function planSync(plural: SyncedPlural, localClusterId: string, local: readonly KubeObject[], broker: readonly KubeObject[], localNs: string, brokerNs: string): SyncPlan {
  const plan: SyncPlan = { upsertBroker: [], deleteBroker: [], upsertLocal: [], deleteLocal: [] };
  const brokerByName = new Map(broker.map((o) => [o.metadata.name, o]));
  const localByName = new Map(local.map((o) => [o.metadata.name, o]));
  const ours = local.filter((o) => specClusterId(o) === localClusterId && (o.metadata.labels?.[CLUSTER_ID_LABEL] ?? localClusterId) === localClusterId);
  const ourNames = new Set(ours.map((o) => o.metadata.name));
  for (const o of ours) {
    const b = brokerByName.get(o.metadata.name);
    if (!b || canonical(b.spec) !== canonical(o.spec) || b.metadata.labels?.[CLUSTER_ID_LABEL] !== localClusterId) plan.upsertBroker.push(copyOf(o, localClusterId, brokerNs, plural));
  }
  for (const b of broker) {
    const owner = b.metadata.labels?.[CLUSTER_ID_LABEL];
    if (owner === localClusterId && !ourNames.has(b.metadata.name)) plan.deleteBroker.push(b.metadata.name);
  }
  const theirs = broker.filter((b) => {
    const owner = b.metadata.labels?.[CLUSTER_ID_LABEL];
    return owner !== undefined && owner !== localClusterId && specClusterId(b) === owner;
  });
  const theirNames = new Set(theirs.map((b) => b.metadata.name));
  for (const b of theirs) {
    const l = localByName.get(b.metadata.name);
    if (!l || canonical(l.spec) !== canonical(b.spec) || l.metadata.labels?.[CLUSTER_ID_LABEL] !== b.metadata.labels?.[CLUSTER_ID_LABEL]) {
      plan.upsertLocal.push(copyOf(b, b.metadata.labels![CLUSTER_ID_LABEL]!, localNs, plural));
    }
  }
  for (const l of local) {
    const owner = l.metadata.labels?.[CLUSTER_ID_LABEL];
    // Only labelled copies of other clusters are ours to remove; never an unlabelled object.
    if (owner !== undefined && owner !== localClusterId && !theirNames.has(l.metadata.name)) plan.deleteLocal.push(l.metadata.name);
  }
  return plan;
}

export interface BrokerSyncOptions {
  local: RestClient;
  broker: RestClient;
  localNamespace: string;
  brokerNamespace: string;
  clusterId: string;
  log: Logger;
  resyncMs?: number;
}

/** Runs the sync for Endpoints and Clusters while started (on the active gateway only). */
export class BrokerSync {
  private readonly informers: Record<'local' | 'broker', Record<SyncedPlural, Informer>>;
  private readonly debouncer: Debouncer;
  private resyncTimer: NodeJS.Timeout | undefined;
  /** Last error syncing (for status), cleared on a clean pass. */
  lastError: string | undefined;

  constructor(private readonly o: BrokerSyncOptions) {
    const mk = (client: RestClient, ns: string, plural: SyncedPlural): Informer =>
      new Informer({ client, path: resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, plural, ns), log: o.log });
    this.informers = {
      local: { endpoints: mk(o.local, o.localNamespace, 'endpoints'), clusters: mk(o.local, o.localNamespace, 'clusters') },
      broker: { endpoints: mk(o.broker, o.brokerNamespace, 'endpoints'), clusters: mk(o.broker, o.brokerNamespace, 'clusters') },
    };
    this.debouncer = new Debouncer(() => this.syncOnce(), 20, (err) => {
      this.lastError = errorMessage(err);
      o.log.warn({ err: this.lastError }, 'broker sync failed; retrying');
    });
  }

  async start(): Promise<void> {
    for (const side of ['local', 'broker'] as const) {
      for (const p of ['endpoints', 'clusters'] as const) {
        const inf = this.informers[side][p];
        inf.on('change', () => this.debouncer.trigger());
        // Don't block on the broker: an unreachable broker must not stop local work.
        void inf.start().catch(() => undefined);
      }
    }
    this.resyncTimer = setInterval(() => this.debouncer.trigger(), this.o.resyncMs ?? 30_000);
    this.resyncTimer.unref();
  }

  async stop(): Promise<void> {
    this.debouncer.close();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await Promise.all(Object.values(this.informers).flatMap((s) => Object.values(s).map((i) => i.stop())));
  }

  trigger(): void {
    this.debouncer.trigger();
  }

  private async syncOnce(): Promise<void> {
    for (const plural of ['clusters', 'endpoints'] as const) {
      const l = this.informers.local[plural];
      const b = this.informers.broker[plural];
      if (!l.hasSynced || !b.hasSynced) continue;
      const plan = planSync(plural, this.o.clusterId, l.list(), b.list(), this.o.localNamespace, this.o.brokerNamespace);
      await this.apply(plural, plan, l, b);
    }
    this.lastError = undefined;
  }

  private async apply(plural: SyncedPlural, plan: SyncPlan, localInf: Informer, brokerInf: Informer): Promise<void> {
    const errs: string[] = [];
    const upsert = async (client: RestClient, ns: string, inf: Informer, obj: KubeObject, where: string): Promise<void> => {
      const existing = inf.get(ns, obj.metadata.name);
      const path = resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, plural, ns);
      try {
        if (existing) await client.replace(`${path}/${obj.metadata.name}`, { ...obj, metadata: { ...existing.metadata, labels: { ...existing.metadata.labels, ...obj.metadata.labels } } });
        else await client.create(path, obj);
        this.o.log.info({ kind: KIND[plural], name: obj.metadata.name, to: where, cluster: specClusterId(obj) }, `synced ${KIND[plural]} to ${where}`);
      } catch (err) {
        errs.push(`${where} ${KIND[plural]} ${obj.metadata.name}: ${errorMessage(err)}`);
      }
    };
    const del = async (client: RestClient, ns: string, name: string, where: string): Promise<void> => {
      try {
        await client.delete(resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, plural, ns, name));
        this.o.log.info({ kind: KIND[plural], name, from: where }, `removed stale ${KIND[plural]} from ${where}`);
      } catch (err) {
        errs.push(`delete ${where} ${KIND[plural]} ${name}: ${errorMessage(err)}`);
      }
    };
    for (const o of plan.upsertBroker) await upsert(this.o.broker, this.o.brokerNamespace, brokerInf, o, 'broker');
    for (const n of plan.deleteBroker) await del(this.o.broker, this.o.brokerNamespace, n, 'broker');
    for (const o of plan.upsertLocal) await upsert(this.o.local, this.o.localNamespace, localInf, o, 'local');
    for (const n of plan.deleteLocal) await del(this.o.local, this.o.localNamespace, n, 'local');
    if (errs.length) throw new HawserError('API', errs.join('; '));
  }
}
