// Globalnet data plane at scale: 50,000 address mappings in hawser's nftables maps versus Submariner's
// design of one SNAT rule per address (iptables-legacy-restore and iptables-nft-restore), then adding and
// removing one mapping with 50,000 present. Everything runs in throwaway network namespaces (one per
// back end, so they cannot disturb each other or the host). hawser's own figures are taken by a copy of
// this script started inside its namespace, as the role runs in production (in its pod's netns), so
// libnftables is used in process. Run: npx tsx bench/globalnet/run.ts [count]
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { once } from 'node:events';
import { alwaysLeader, GlobalnetController } from '../../src/nat/controller.js';
import { cloneDataplane, emptyDataplane, NftDataplane, planChanges, renderChanges, renderRuleset, type Dataplane, type SyncResult } from '../../src/nat/nft.js';
import { intToIpv4 as intToIp, ipv4ToInt as ipToInt } from '../../src/net/cidr.js';
import { createLogger } from '../../src/log/index.js';
import type { KubeObject, RestClient, WatchEvent } from '../../src/k8s/rest.js';
import { Nft } from '../../src/os/nft.js';
import { encodeBatch } from '../../src/os/nftables/nfnl.js';
import { createNetns, deleteNetns, uniqueName } from '../../src/os/netns.js';
import { exec } from '../../src/util/exec.js';

const COUNT = Number(process.argv[2] ?? 50_000);
const INSIDE = process.argv[3] === '--inside';
const REPS_LOAD = 3;
/** Loads of the nfnetlink path (the bar's figure): each is ~0.1 s, so more of them make a steadier median. */
const REPS_NFNL_LOAD = 7;
const REPS_ONE = 9;
const CHAIN = 'HAWSER-BENCH';

const podIp = (i: number): string => intToIp(ipToInt('10.40.0.1') + i);
const globalIp = (i: number): string => intToIp(ipToInt('242.0.0.1') + i);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** CPU milliseconds (user + system) this process spent in fn, kernel work in its syscalls included. */
async function cpuOf(fn: () => Promise<unknown>): Promise<number> {
  const c0 = process.cpuUsage();
  await fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

interface Figures {
  load: number;
  add: number;
  remove: number;
}

interface InsideFigures {
  /** NftDataplane with nfnetlink element batches: load into a missing table, a resync diffing an existing one, one-element deltas. */
  nfnl: {
    load: number; loadCpu: number; resync: number; add: number; remove: number;
    /** Every load's wall ms, and its CPU (user, system) ms. */
    loads: number[]; loadUser: number; loadSys: number;
    /** The element batch of one load: bytes in its one sendmsg, messages in it; encoding it (user space alone, median of 5). */
    batchBytes: number; batchMessages: number; encodeMs: number;
    /** The same loads with watch() on, as the role runs: the kernel then builds a notification per element, which hawser reads (and skips as its own). */
    watched: { load: number; loadCpu: number; loads: number[]; driftResyncs: number };
  };
  /** CPU (user + system, this process and its threads) of one libnftables text load. */
  libLoadCpu: number;
  /** libnftables in process: the transaction alone, and NftDataplane.sync (diff + render + transaction). */
  lib: Figures;
  libSync: { add: number; remove: number };
  /** NftDataplane.applyDelta: one element change on top of what was applied (the incremental path). */
  libDelta: { add: number; remove: number };
  /** The whole controller path: pod watch event -> informer delta -> recompute -> element transaction; `plan`: a whole plan with nothing to change. */
  controller: { add: number; remove: number; plan: number };
  /** Whole controller path per object kind (watch event → informers → plan without pods → element transaction, with the controller's own API writes echoed back as watch events). */
  kinds: Record<string, { add: number; remove: number }>;
  /** The previous path: one `nft -f -` process per transaction. */
  proc: Figures;
  procSync: { add: number; remove: number };
}

function bigDataplane(): Dataplane {
  const d = emptyDataplane();
  d.remoteGlobalCidrs.push('242.1.0.0/16');
  for (let i = 0; i < COUNT; i++) d.egressPods.set(podIp(i), `${globalIp(i % 65000)}-${globalIp(i % 65000)}`);
  return d;
}

async function benchPath(run: (script: string) => Promise<void>, mk: () => NftDataplane): Promise<Figures & { syncAdd: number; syncRemove: number; deltaAdd: number; deltaRemove: number }> {
  const d = bigDataplane();
  const loads: number[] = [];
  for (let r = 0; r < REPS_LOAD; r++) loads.push(await timed(() => run(renderRuleset(d))));
  const extra = podIp(COUNT + 10);
  const plus = cloneDataplane(d);
  plus.egressPods.set(extra, '242.0.255.1-242.0.255.1');
  const addScript = renderChanges(planChanges(d, plus));
  const delScript = renderChanges(planChanges(plus, d));
  const adds: number[] = [];
  const removes: number[] = [];
  for (let r = 0; r < REPS_ONE; r++) {
    adds.push(await timed(() => run(addScript)));
    removes.push(await timed(() => run(delScript)));
  }
  const nft = mk();
  await nft.fullResync(d);
  const sAdds: number[] = [];
  const sRemoves: number[] = [];
  for (let r = 0; r < REPS_ONE; r++) {
    sAdds.push(await timed(() => nft.sync(plus)));
    sRemoves.push(await timed(() => nft.sync(d)));
  }
  await nft.fullResync(cloneDataplane(d));
  const dAdds: number[] = [];
  const dRemoves: number[] = [];
  for (let r = 0; r < REPS_ONE; r++) {
    dAdds.push(await timed(() => nft.applyDelta([{ set: 'egress_pods', key: extra, value: '242.0.255.1-242.0.255.1' }])));
    dRemoves.push(await timed(() => nft.applyDelta([{ set: 'egress_pods', key: extra }])));
  }
  nft.close();
  return {
    load: median(loads), add: median(adds), remove: median(removes), syncAdd: median(sAdds), syncRemove: median(sRemoves), deltaAdd: median(dAdds), deltaRemove: median(dRemoves),
  };
}

/**
 * 50,000 pods in one namespace with a namespace-wide GlobalEgressIP: 50,000 egress_ns elements. The
 * controller runs with its informers on a scripted API (list answers, watch events pushed by the bench),
 * so one figure is the whole path: a pod watch event → informer → delta → recompute → nft transaction.
 */
async function benchController(): Promise<InsideFigures['controller']> {
  const meta = (name: string, namespace?: string): KubeObject['metadata'] => ({ name, ...(namespace ? { namespace } : {}), uid: `u-${name}`, creationTimestamp: '2026-01-01T00:00:00Z', resourceVersion: '1' });
  const pods: KubeObject[] = [];
  for (let i = 0; i < COUNT; i++) pods.push({ metadata: meta(`p${i}`, 'app'), spec: {}, status: { podIP: podIp(i), phase: 'Running' } });
  const egress: KubeObject = {
    metadata: meta('ns-wide', 'app'), spec: { numberOfIPs: 1 },
    status: { allocatedIPs: ['242.0.0.200'], conditions: [{ type: 'Allocated', status: 'True', reason: 'Success', message: 'Allocated 1 global IP(s)', lastTransitionTime: '2026-01-01T00:00:00Z' }] },
  };
  const cge: KubeObject = { metadata: meta('cluster-egress.submariner.io'), spec: { numGlobalIPs: 1 }, status: { allocatedIPs: ['242.0.0.254'] } };
  const lists: Record<string, KubeObject[]> = { pods, globalegressips: [egress], clusterglobalegressips: [cge] };
  const writes: string[] = [];
  let podEvent: ((e: WatchEvent) => void) | undefined;
  const client = {
    list: (path: string) => Promise.resolve({ items: lists[path.split('/').pop()!] ?? [], resourceVersion: '1' }),
    watch: (path: string, _q: unknown, onEvent: (e: WatchEvent) => void, signal: AbortSignal) => {
      if (path.endsWith('/pods')) podEvent = onEvent;
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    },
    // Steady state writes nothing; a write would show up here (and fail the figures' premise).
    create: (path: string) => (writes.push(`create ${path}`), Promise.resolve({ metadata: { name: 'x' } })),
    replace: (path: string, body: KubeObject) => (writes.push(`replace ${path}`), Promise.resolve(body)),
    patch: (path: string) => (writes.push(`patch ${path}`), Promise.resolve({ metadata: { name: 'x' } })),
  } as unknown as RestClient;
  const dataplane = new NftDataplane();
  const c = new GlobalnetController({
    client, namespace: 'submariner-operator', clusterId: 'a', globalCidr: '242.0.0.0/16', localCidrs: ['10.40.0.0/16'],
    leader: alwaysLeader(), dataplane, log: createLogger({ level: 'silent' }), now: () => new Date('2026-01-02T00:00:00Z'), resyncIntervalMs: 0,
  });
  await c.start();
  // The start's whole plan (debounced 0 ms) loads the table; wait for it.
  const deadline = Date.now() + 120_000;
  while (dataplane.current?.egressNs.size !== COUNT) {
    if (Date.now() > deadline) throw new Error('the first whole plan did not load the table');
    await new Promise((r) => setTimeout(r, 20));
  }
  await c.reconcile();
  const setup = writes.splice(0);
  const adds: number[] = [];
  const removes: number[] = [];
  const plans: number[] = [];
  let rv = 10;
  const event = async (type: 'ADDED' | 'DELETED', want: number): Promise<number> => {
    const o: KubeObject = { metadata: { ...meta('extra', 'app'), resourceVersion: String(++rv) }, spec: {}, status: { podIP: podIp(COUNT + 10), phase: 'Running' } };
    const applied = once(c, 'podsApplied');
    const t0 = performance.now();
    podEvent!({ type, object: o as unknown as Record<string, unknown> });
    const [r] = (await applied) as [SyncResult];
    const ms = performance.now() - t0;
    if (r.mode !== 'incremental' || r.changes !== 1 || dataplane.current!.egressNs.size !== want) throw new Error(`${type}: ${JSON.stringify(r)}`);
    return ms;
  };
  for (let r = 0; r < REPS_ONE; r++) {
    adds.push(await event('ADDED', COUNT + 1));
    removes.push(await event('DELETED', COUNT));
  }
  // The whole plan (start, resync, non-pod changes): plan and diff all 50,000, nothing to change.
  for (let r = 0; r < 3; r++) plans.push(await timed(() => c.reconcile()));
  await c.stop();
  dataplane.close();
  if (writes.length) throw new Error(`unexpected API writes: ${writes.join(', ')} (setup wrote ${setup.join(', ')})`);
  return { add: median(adds), remove: median(removes), plan: median(plans) };
}

/**
 * The nfnetlink path: a load into a missing table (skeleton as text, point maps declared with a size,
 * elements packed into one batch, one sendmsg), a resync of the full table (dump + diff, nothing to send),
 * one-element deltas; then the same loads with watch() on. The plan each load gets is made before the
 * clock starts (the controller hands over a fresh plan; copying 50,000 entries is the bench's own work).
 */
async function benchNfnl(): Promise<InsideFigures['nfnl']> {
  const d = bigDataplane();
  const dp = new NftDataplane();
  const loads: number[] = [];
  const users: number[] = [];
  const syss: number[] = [];
  const resyncs: number[] = [];
  let batchBytes = 0;
  let batchMessages = 0;
  const loadOnce = async (into: NftDataplane): Promise<{ ms: number; user: number; sys: number }> => {
    await into.remove();
    // the kernel frees the previous load's 50,000 elements after the delete commits (a worker, RCU):
    // that is the previous iteration's work, so it is let finish before the clock starts
    await new Promise((r) => setTimeout(r, 200));
    const plan = cloneDataplane(d);
    const m0 = into.writerStats?.messages ?? 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await into.fullResync(plan);
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (into.lastFull !== 'created') throw new Error(`load went ${into.lastFull}`);
    batchBytes = into.writerStats?.lastBatchBytes ?? 0;
    batchMessages = (into.writerStats?.messages ?? 0) - m0;
    return { ms, user: c.user / 1000, sys: c.system / 1000 };
  };
  for (let r = 0; r < REPS_NFNL_LOAD; r++) {
    const l = await loadOnce(dp);
    loads.push(l.ms);
    users.push(l.user);
    syss.push(l.sys);
    if (r < REPS_LOAD) {
      resyncs.push(await timed(() => dp.fullResync(cloneDataplane(d))));
      if ((dp.lastFull as string) !== 'diff') throw new Error(`resync went ${dp.lastFull}`);
    }
  }
  const extra = podIp(COUNT + 10);
  const adds: number[] = [];
  const removes: number[] = [];
  for (let r = 0; r < REPS_ONE; r++) {
    adds.push(await timed(() => dp.applyDelta([{ set: 'egress_pods', key: extra, value: '242.0.255.1-242.0.255.1' }])));
    removes.push(await timed(() => dp.applyDelta([{ set: 'egress_pods', key: extra }])));
  }
  await dp.remove();
  dp.close();
  // as the role runs: notifications subscribed before the first load
  const wdp = new NftDataplane();
  await wdp.watch();
  const wLoads: number[] = [];
  const wCpus: number[] = [];
  for (let r = 0; r < REPS_NFNL_LOAD; r++) {
    const c0 = process.cpuUsage();
    wLoads.push((await loadOnce(wdp)).ms);
    // the notifications of the load are read after it returns: count their CPU too
    await new Promise((r) => setTimeout(r, 100));
    const c = process.cpuUsage(c0);
    wCpus.push((c.user + c.system) / 1000);
  }
  const driftResyncs = wdp.counters.driftResyncs;
  await wdp.remove();
  wdp.close();
  const cpus = users.map((u, i) => u + syss[i]!);
  // the per-element encoding alone: the texts parsed straight into the batch buffer
  const encodes: number[] = [];
  for (let r = 0; r < 5; r++) {
    const keys = [...d.egressPods.keys()];
    const values = [...d.egressPods.values()];
    encodes.push(await timed(async () => encodeBatch([{ op: 'add', family: 'ip', table: 'hawser-globalnet', set: 'egress_pods', ipv4: { keys, values, range: true } }], 1)));
  }
  return {
    load: median(loads), loadCpu: median(cpus), resync: median(resyncs), add: median(adds), remove: median(removes),
    loads, loadUser: median(users), loadSys: median(syss), batchBytes, batchMessages, encodeMs: median(encodes),
    watched: { load: median(wLoads), loadCpu: median(wCpus), loads: wLoads, driftResyncs },
  };
}

/**
 * An in-memory API for the controller's informers: lists, watches, and writes that come back as watch
 * events (a create, status write or delete by the controller is seen by its own informers, as with an
 * API server), so one figure covers every step an object change takes until its mapping is in the kernel.
 */
class EchoApi {
  private readonly store = new Map<string, Map<string, KubeObject>>();
  private readonly watchers = new Map<string, ((e: WatchEvent) => void)[]>();
  private rv = 1000;

  private static parse(path: string): { plural: string; ns?: string; name?: string } {
    const seg = path.split('?')[0]!.split('/').filter(Boolean);
    const i = seg.indexOf('namespaces');
    const at = i >= 0 && seg.length > i + 2 ? i + 2 : seg[0] === 'api' ? 2 : 3;
    return { plural: seg[at]!, ...(i >= 0 && seg.length > i + 2 ? { ns: seg[i + 1]! } : {}), ...(seg[at + 1] ? { name: seg[at + 1]! } : {}) };
  }

  private bucket(plural: string): Map<string, KubeObject> {
    let b = this.store.get(plural);
    if (!b) this.store.set(plural, (b = new Map()));
    return b;
  }

  put(plural: string, o: KubeObject, type: 'ADDED' | 'MODIFIED' = 'ADDED'): KubeObject {
    const obj: KubeObject = { ...o, metadata: { ...o.metadata, resourceVersion: String(++this.rv), uid: o.metadata.uid ?? `u-${this.rv}`, creationTimestamp: o.metadata.creationTimestamp ?? '2026-01-01T00:00:00Z' } };
    const key = `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
    const b = this.bucket(plural);
    const had = b.has(key);
    b.set(key, obj);
    this.emit(plural, { type: had ? 'MODIFIED' : type, object: obj as unknown as Record<string, unknown> });
    return obj;
  }

  remove(plural: string, ns: string | undefined, name: string): void {
    const b = this.bucket(plural);
    const o = b.get(`${ns ?? ''}/${name}`);
    if (!o) return;
    b.delete(`${ns ?? ''}/${name}`);
    this.emit(plural, { type: 'DELETED', object: o as unknown as Record<string, unknown> });
  }

  private emit(plural: string, e: WatchEvent): void {
    for (const w of this.watchers.get(plural) ?? []) setImmediate(() => w(e));
  }

  client(): RestClient {
    const find = (path: string): KubeObject | undefined => {
      const p = EchoApi.parse(path);
      return this.bucket(p.plural).get(`${p.ns ?? ''}/${p.name}`);
    };
    const body = (o: unknown, path: string): KubeObject => {
      const k = o as KubeObject;
      const p = EchoApi.parse(path);
      return { ...k, metadata: { ...k.metadata, ...(p.ns && !k.metadata.namespace ? { namespace: p.ns } : {}) } };
    };
    return {
      list: (path: string) => Promise.resolve({ items: [...this.bucket(EchoApi.parse(path).plural).values()], resourceVersion: String(this.rv) }),
      watch: (path: string, _q: unknown, onEvent: (e: WatchEvent) => void, signal: AbortSignal) => {
        const plural = EchoApi.parse(path).plural;
        this.watchers.set(plural, [...(this.watchers.get(plural) ?? []), onEvent]);
        return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      },
      get: (path: string) => {
        const o = find(path);
        return o ? Promise.resolve(o) : Promise.reject(new Error(`not found: ${path}`));
      },
      getOrUndefined: (path: string) => Promise.resolve(find(path)),
      create: (path: string, o: unknown) => Promise.resolve(this.put(EchoApi.parse(path).plural, body(o, path))),
      replace: (path: string, o: unknown) => Promise.resolve(this.put(EchoApi.parse(path).plural, body(o, path), 'MODIFIED')),
      patch: (path: string) => Promise.resolve(find(path) ?? { metadata: { name: 'x' } }),
      delete: (path: string) => {
        const p = EchoApi.parse(path);
        this.remove(p.plural, p.ns, p.name!);
        return Promise.resolve(true);
      },
    } as unknown as RestClient;
  }
}

/**
 * Per object kind, with COUNT pods present (one namespace-wide GlobalEgressIP: COUNT egress_ns
 * elements): the time from the watch event of a change to the kernel holding (or no longer holding) the
 * mapping it implies, through informers, the controller's plan without pods, its API writes and their
 * echoes, and the element transaction.
 */
async function benchKinds(): Promise<InsideFigures['kinds']> {
  const api = new EchoApi();
  const meta = (name: string, namespace?: string, creationTimestamp = '2026-01-01T00:00:00Z'): KubeObject['metadata'] => ({ name, ...(namespace ? { namespace } : {}), creationTimestamp });
  for (let i = 0; i < COUNT; i++) api.put('pods', { metadata: meta(`p${i}`, 'app'), spec: {}, status: { podIP: podIp(i), phase: 'Running' } });
  api.put('pods', { metadata: { ...meta('lone', 'small'), labels: { app: 'lone' } }, spec: {}, status: { podIP: '10.41.0.5', phase: 'Running' } });
  api.put('globalegressips', {
    metadata: meta('ns-wide', 'app'), spec: { numberOfIPs: 1 },
    status: { allocatedIPs: ['242.0.0.200'], conditions: [{ type: 'Allocated', status: 'True', reason: 'Success', message: 'Allocated 1 global IP(s)', lastTransitionTime: '2026-01-01T00:00:00Z' }] },
  });
  api.put('clusterglobalegressips', { metadata: meta('cluster-egress.submariner.io'), spec: { numGlobalIPs: 1 }, status: { allocatedIPs: ['242.0.0.254'] } });
  api.put('services', { metadata: meta('ext', 'small'), spec: { type: 'ClusterIP', clusterIP: 'None', ports: [{ port: 80, protocol: 'TCP' }] } });
  api.put('endpoints', { metadata: meta('ext', 'small'), subsets: [{ addresses: [{ ip: '10.41.1.1' }] }] });
  api.put('serviceexports', { metadata: meta('ext', 'small'), spec: {} });
  const dataplane = new NftDataplane();
  const c = new GlobalnetController({
    client: api.client(), namespace: 'submariner-operator', clusterId: 'a', globalCidr: '242.0.0.0/16', localCidrs: ['10.40.0.0/16'],
    leader: alwaysLeader(), dataplane, log: createLogger({ level: 'silent' }), now: () => new Date('2026-01-02T00:00:00Z'), resyncIntervalMs: 0,
  });
  await c.start();
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    const deadline = Date.now() + 60_000;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`${what}: not reached`);
      await Promise.race([once(c, 'objectsApplied'), new Promise((r) => setTimeout(r, 200))]);
    }
  };
  await until('first load', () => dataplane.current?.egressNs.size === COUNT && dataplane.current.egressHdlsEps.size === 1);
  // let the start's writes settle
  await c.reconcile();
  const cur = (): Dataplane => dataplane.current ?? emptyDataplane();
  const out: InsideFigures['kinds'] = {};
  const measure = async (kind: string, add: () => void, added: () => boolean, remove: () => void, removed: () => boolean): Promise<void> => {
    const adds: number[] = [];
    const removes: number[] = [];
    for (let r = 0; r < 5; r++) {
      let t0 = performance.now();
      add();
      await until(`${kind} add`, added);
      adds.push(performance.now() - t0);
      t0 = performance.now();
      remove();
      await until(`${kind} remove`, removed);
      removes.push(performance.now() - t0);
    }
    out[kind] = { add: median(adds), remove: median(removes) };
  };
  await measure(
    'Service export (→ GlobalIngressIP create, status → DNAT)',
    () => {
      api.put('services', { metadata: meta('web', 'small'), spec: { type: 'ClusterIP', clusterIP: '10.43.0.7', selector: { app: 'lone' }, ports: [{ port: 80, protocol: 'TCP' }] } });
      api.put('serviceexports', { metadata: meta('web', 'small'), spec: {} });
    },
    () => [...cur().ingress.values()].includes('10.43.0.7'),
    () => api.remove('serviceexports', 'small', 'web'),
    () => ![...cur().ingress.values()].includes('10.43.0.7'),
  );
  await measure(
    'Endpoints address (→ GlobalIngressIP create, status)',
    () => api.put('endpoints', { metadata: meta('ext', 'small'), subsets: [{ addresses: [{ ip: '10.41.1.1' }, { ip: '10.41.1.2' }] }] }),
    () => cur().egressHdlsEps.has('10.41.1.2'),
    () => api.put('endpoints', { metadata: meta('ext', 'small'), subsets: [{ addresses: [{ ip: '10.41.1.1' }] }] }),
    () => !cur().egressHdlsEps.has('10.41.1.2'),
  );
  await measure(
    'GlobalEgressIP (namespace-wide, one pod)',
    () => api.put('globalegressips', { metadata: meta('small-all', 'small'), spec: {} }),
    () => cur().egressNs.has('10.41.0.5'),
    () => api.remove('globalegressips', 'small', 'small-all'),
    () => !cur().egressNs.has('10.41.0.5'),
  );
  await measure(
    'ClusterGlobalEgressIP (numGlobalIPs 1 → 2 → 1)',
    () => api.put('clusterglobalegressips', { metadata: meta('cluster-egress.submariner.io'), spec: { numGlobalIPs: 2 }, status: { allocatedIPs: ['242.0.0.254'] } }),
    () => [...cur().egressCluster.values()].some((v) => v.split('-')[0] !== v.split('-')[1]),
    () => api.put('clusterglobalegressips', { metadata: meta('cluster-egress.submariner.io'), spec: { numGlobalIPs: 1 }, status: { allocatedIPs: [...cur().egressCluster.values()][0]!.split('-') } }),
    () => [...cur().egressCluster.values()].every((v) => v.split('-')[0] === v.split('-')[1]),
  );
  await c.stop();
  await dataplane.remove();
  dataplane.close();
  return out;
}

async function inside(): Promise<void> {
  const lib = new Nft();
  if (lib.kind !== 'libnftables') throw new Error('libnftables is not loadable here');
  const nfnl = await benchNfnl();
  const libF = await benchPath((s) => lib.run(s), () => new NftDataplane({ nft: new Nft(), elements: 'text' }));
  const libLoadCpu = await cpuOf(() => lib.run(renderRuleset(bigDataplane())));
  lib.close();
  const procRun = async (s: string): Promise<void> => {
    await exec('nft', ['-f', '-'], { input: s, timeoutMs: 120_000 });
  };
  const procF = await benchPath(procRun, () => new NftDataplane({ run: procRun, elements: 'text' }));
  const controller = await benchController();
  const kinds = await benchKinds();
  const out: InsideFigures = {
    nfnl, libLoadCpu, lib: libF, libSync: { add: libF.syncAdd, remove: libF.syncRemove }, libDelta: { add: libF.deltaAdd, remove: libF.deltaRemove },
    proc: procF, procSync: { add: procF.syncAdd, remove: procF.syncRemove },
    controller, kinds,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

async function benchIptables(netns: string, flavour: 'legacy' | 'nft'): Promise<Figures> {
  const restore = `iptables-${flavour}-restore`;
  const ipt = `iptables-${flavour}`;
  const lines = ['*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', `:${CHAIN} - [0:0]`, `-A POSTROUTING -j ${CHAIN}`];
  for (let i = 0; i < COUNT; i++) lines.push(`-A ${CHAIN} -s ${podIp(i)}/32 -j SNAT --to-source ${globalIp(i % 65000)}`);
  lines.push('COMMIT', '');
  const script = lines.join('\n');
  const loads: number[] = [];
  for (let r = 0; r < REPS_LOAD; r++) loads.push(await timed(() => exec(restore, [], { netns, input: script, timeoutMs: 120_000 })));
  const rule = ['-t', 'nat', CHAIN, '-s', `${podIp(COUNT + 10)}/32`, '-j', 'SNAT', '--to-source', '242.0.255.1'];
  const adds: number[] = [];
  const removes: number[] = [];
  for (let r = 0; r < REPS_ONE; r++) {
    adds.push(await timed(() => exec(ipt, ['-w', ...rule.slice(0, 2), '-A', ...rule.slice(2)], { netns })));
    removes.push(await timed(() => exec(ipt, ['-w', ...rule.slice(0, 2), '-D', ...rule.slice(2)], { netns })));
  }
  return { load: median(loads), add: median(adds), remove: median(removes) };
}

/** This script again, inside `netns`, printing InsideFigures as one JSON line. */
function runInside(netns: string): Promise<InsideFigures> {
  const self = fileURLToPath(import.meta.url);
  const loader = self.endsWith('.ts') ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] : [];
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, ...loader, self, String(COUNT), '--inside'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`inside run exited ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as InsideFigures);
    });
  });
}

async function main(): Promise<void> {
  const names = { nft: uniqueName('hw-bgn'), legacy: uniqueName('hw-bgl'), inft: uniqueName('hw-bgi') };
  const loadStart = loadavg()[0]!;
  try {
    for (const n of Object.values(names)) await createNetns(n);
    const h = await runInside(names.nft);
    const legacy = await benchIptables(names.legacy, 'legacy');
    const inft = await benchIptables(names.inft, 'nft');
    const f = (x: number | undefined): string => (x === undefined ? '' : x < 10 ? x.toFixed(2) : x.toFixed(1)).padStart(10);
    const row = (name: string, x: Partial<Figures>): string => `${name.padEnd(52)}${f(x.load)}${f(x.add)}${f(x.remove)}`;
    const bar = (x: number, limit: number): string => (x <= limit ? `meets ≤ ${limit} ms` : `MISSES ≤ ${limit} ms`);
    const lines = [
      `Globalnet data plane, ${COUNT} mappings (ms; median of ${REPS_LOAD} loads / ${REPS_ONE} single changes; each in its own throwaway netns)`,
      `${''.padEnd(52)}${'load all'.padStart(10)}${'add one'.padStart(10)}${'del one'.padStart(10)}`,
      row('hawser, nfnetlink element batches (NftDataplane)', h.nfnl),
      row('  same load with watch() on (as the role runs)', { load: h.nfnl.watched.load }),
      row('  full resync of the loaded table (dump + diff)', { load: h.nfnl.resync }),
      row('libnftables text in process (transaction)', h.lib),
      row('  NftDataplane.applyDelta (one element change)', h.libDelta),
      row('  NftDataplane.sync (diff of all 50k + transaction)', h.libSync),
      row('  controller: watch event→informer→delta→nft', h.controller),
      row('  controller: whole plan of all (start/resync)', { add: h.controller.plan }),
      row('previous: one `nft -f -` process (transaction)', h.proc),
      row('  NftDataplane.sync over nft processes', h.procSync),
      row('baseline iptables-legacy, rule/address', legacy),
      row('baseline iptables-nft, rule/address', inft),
      '',
      `one mapping per object kind through the whole controller path, ${COUNT} pods present (watch event → informers → plan without pods → API writes echoed back → element transaction):`,
      ...Object.entries(h.kinds).map(([k, x]) => row(`  ${k}`, x)),
      '',
      'bars (issue #17):',
      `  load ${COUNT}: ${f(h.nfnl.load).trim()} ms (median of ${h.nfnl.loads.length}: ${h.nfnl.loads.map((x) => x.toFixed(1)).join(' / ')}), ${bar(h.nfnl.load, 150)}, aim ≤ 110 ms ${h.nfnl.load <= 110 ? 'met' : 'MISSED'} (libnftables text ${h.lib.load.toFixed(1)}, \`nft -f\` process ${h.proc.load.toFixed(1)}, iptables-legacy ${legacy.load.toFixed(1)})`,
      `    CPU of the load (median): ${h.nfnl.loadCpu.toFixed(1)} ms = user ${h.nfnl.loadUser.toFixed(1)} + system ${h.nfnl.loadSys.toFixed(1)}; elements as one transaction: ${h.nfnl.batchMessages} messages in one sendmsg of ${(h.nfnl.batchBytes / 1024).toFixed(0)} KiB (${(h.nfnl.batchBytes / COUNT).toFixed(0)} bytes per element), encoded in ${h.nfnl.encodeMs.toFixed(1)} ms (${((h.nfnl.encodeMs * 1e6) / COUNT).toFixed(0)} ns per element)`,
      `    with watch() on: ${h.nfnl.watched.load.toFixed(1)} ms (${h.nfnl.watched.loads.map((x) => x.toFixed(1)).join(' / ')}), CPU incl. reading our own notifications ${h.nfnl.watched.loadCpu.toFixed(1)} ms, drift resyncs ${h.nfnl.watched.driftResyncs} (must be 0)`,
      `  one mapping, data plane (applyDelta): add ${h.libDelta.add.toFixed(2)} / del ${h.libDelta.remove.toFixed(2)} ms, ${bar(Math.max(h.libDelta.add, h.libDelta.remove), 1)}`,
      `  one mapping, whole controller path (watch event → nft): add ${h.controller.add.toFixed(2)} / del ${h.controller.remove.toFixed(2)} ms, ${bar(Math.max(h.controller.add, h.controller.remove), 1)}`
        + ` (a whole plan of all, what every change cost before: ${h.controller.plan.toFixed(1)} ms)`,
      `  load ${COUNT}, CPU of the loading process (user + system, kernel work in its syscalls included; less sensitive to the machine's load than wall time): nfnetlink ${h.nfnl.loadCpu.toFixed(1)} ms, libnftables text ${h.libLoadCpu.toFixed(1)} ms`,
      `machine load average (1 min): ${loadStart.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end (figures scale with it; compare rows of the same run)`,
      `ratios: load, libnftables text/nfnetlink ${(h.lib.load / h.nfnl.load).toFixed(2)}x, iptables-legacy/nfnetlink ${(legacy.load / h.nfnl.load).toFixed(2)}x; one-element transaction, previous/libnftables ${(h.proc.add / h.lib.add).toFixed(0)}x; load, previous/libnftables ${(h.proc.load / h.lib.load).toFixed(2)}x, iptables-legacy/libnftables ${(legacy.load / h.lib.load).toFixed(2)}x`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    for (const n of Object.values(names)) await deleteNetns(n);
  }
}

if (INSIDE && process.env.KINDS_ONLY) process.stdout.write(JSON.stringify(await benchKinds()) + '\n');
else if (INSIDE) await inside();
else await main();
