// GatewayRole driven step by step with scripted events (lease won/lost, renew failure, another holder seen,
// driver start failure then success, 409s on the Gateway write, SIGTERM), against the embedded API server
// with a fake CablesPort and a fake elector. Each step checks the state, the Gateway CR as text and the
// cable calls that step made (table style, like Tailscale's TestRouterStates).
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { gatewayConfigFromEnv } from '../../src/config/roles.js';
import { RestClient, resourcePath, type KubeObject } from '../../src/k8s/rest.js';
import { cableDuty, GatewayRole, TRANSITIONS, type CableDuty, type GatewayState } from '../../src/gateway/role.js';
import type { CablesPort, ElectorPort, LocalBackendConfig } from '../../src/gateway/ports.js';
import type { ConnectionView, Selection } from '../../src/cable-drivers/engine.js';
import { waitFor } from '../../src/util/wait.js';
import { startTestServer, quietLog, type TestServer } from '../support/apiserver.js';
import { kubeConfigFromFile } from '../support/fixtures.js';

const NS = 'submariner-operator';
const SM = (plural: string, name?: string): string => resourcePath('submariner.io', 'v1', plural, NS, name);
const BROKER_NS = 'submariner-k8s-broker';
const OTHER = 'gw-2-submariner-gateway';

/** Records every call; `start` fails while `startFailures` > 0. Connections: every wanted cable connected. */
class FakeCables implements CablesPort {
  calls: string[] = [];
  startFailures = 0;
  private wanted: Selection = { wanted: [], rejected: [] };
  async start(): Promise<LocalBackendConfig> {
    if (this.startFailures > 0) {
      this.startFailures--;
      this.calls.push('start (fails)');
      throw new Error('cannot create vx-submariner: operation not permitted');
    }
    this.calls.push('start');
    return { 'fake-key': 'k1' };
  }
  setWanted(sel: Selection): void {
    this.wanted = sel;
    this.calls.push(`setWanted ${sel.wanted.map((e) => e.clusterId).join(',') || '-'}`);
  }
  async reconcile(): Promise<string> {
    this.calls.push('reconcile');
    return '';
  }
  async connections(): Promise<ConnectionView[]> {
    return this.wanted.wanted.map((e) => ({ cableName: e.cableName, clusterId: e.clusterId, endpoint: e, status: 'connected', statusMessage: '', usingIP: e.privateIP, usingNAT: false }));
  }
  healthChanged(): void {}
  nextRetryAt(): number | undefined {
    return undefined;
  }
  async shutdown(): Promise<void> {
    this.calls.push('shutdown');
  }
  async stop(): Promise<void> {
    this.calls.push('stop');
  }
  take(): string[] {
    const c = this.calls;
    this.calls = [];
    // Level-triggered: each informer event may reconcile again with the same set; one of each run is kept.
    const out: string[] = [];
    for (const x of c) {
      if (x === out.at(-1)) continue;
      out.push(x);
      const l = out.length;
      if (l >= 4 && out[l - 1] === out[l - 3] && out[l - 2] === out[l - 4]) out.splice(l - 2, 2);
    }
    return out;
  }
}

class FakeElector extends EventEmitter implements ElectorPort {
  holder = '';
  leading = false;
  stops: string[] = [];
  constructor(readonly identity: string) {
    super();
  }
  isLeader(): boolean {
    return this.leading;
  }
  start(): void {}
  async stop(o: { release?: boolean; holdForMs?: number } = {}): Promise<void> {
    this.stops.push(o.release ? 'release' : `hold ${o.holdForMs} ms`);
    if (this.leading) this.lose('shutting down');
  }
  seeHolder(h: string): void {
    this.holder = h;
    this.emit('leader', h);
  }
  win(): void {
    this.seeHolder(this.identity);
    this.leading = true;
    this.emit('started');
  }
  lose(why: string): void {
    this.leading = false;
    this.emit('stopped', why);
  }
}

interface Step {
  what: string;
  act: (h: Harness) => Promise<void> | void;
  state: GatewayState;
  /** The Gateway CR: `haStatus connections statusFailure`. */
  gateway: string | RegExp;
  cables: string[];
  /** The step checks something else; a reconcile a late event causes meanwhile is fine (level-triggered). */
  cablesUnchecked?: boolean;
}

interface Harness {
  role: GatewayRole;
  cables: FakeCables;
  elector: () => FakeElector;
  api: RestClient;
  conflictsLeft: () => number;
  /** The next `n` writes of our Gateway lose a race. */
  setConflicts: (n: number) => void;
}

function gatewayText(o: KubeObject | undefined): string {
  if (!o) return '(none)';
  const st = o.status as { haStatus: string; connections: Array<{ status: string; endpoint: { cluster_id: string } }>; statusFailure: string };
  const conns = st.connections.map((c) => `${c.endpoint.cluster_id}:${c.status}`).join(',') || '-';
  return `${st.haStatus} [${conns}] "${st.statusFailure}"`;
}

describe('gateway role: state machine driven by scripted events', function () {
  this.timeout(30_000);
  let server: TestServer;
  let api: RestClient;
  let n = 0;

  before(async () => {
    server = await startTestServer({ plainHttp: true });
    api = new RestClient(kubeConfigFromFile(server.kubeconfig));
    for (const name of [NS, BROKER_NS]) await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  });

  after(async () => {
    api?.close();
    await server?.close();
  });

  it('the transition table covers SIGTERM from every running state and nothing leaves stopped', () => {
    for (const s of ['starting', 'standby', 'active', 'lapsed'] as const) assert.ok(TRANSITIONS.some((t) => t.from === s && t.on === 'sigterm' && t.to === 'stopping'), s);
    assert.equal(TRANSITIONS.filter((t) => t.from === 'stopped').length, 0);
  });

  it('cable duty: the selection only while active and leading; none for a standby that knows another holder; otherwise the data path is left alone', () => {
    const cases: Array<[GatewayState, boolean, boolean, CableDuty]> = [
      ['active', true, false, 'selection'],
      ['active', false, false, 'leave'],
      ['standby', false, true, 'none'],
      // A restart in place: the holder is unknown or still this node; its cables stay until it renews.
      ['standby', false, false, 'leave'],
      ['lapsed', false, true, 'leave'],
      ['starting', false, true, 'leave'],
      ['stopping', false, true, 'leave'],
    ];
    for (const [state, leading, otherHolder, want] of cases) assert.equal(cableDuty({ state, leading, otherHolder }), want, `${state} leading=${leading} otherHolder=${otherHolder}`);
  });

  /** A fresh cluster id per case: objects of earlier cases do not leak in. */
  async function run(steps: Step[], o: { unschedulable?: boolean; releaseOnStop?: boolean; driverFailures?: number; driverRetryMs?: number; lapseGraceMs?: number } = {}): Promise<Harness> {
    n++;
    const node = `gw-1`;
    const cluster = `a${n}`;
    await api.delete(`/api/v1/nodes/${node}`).catch(() => undefined);
    await api.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: node }, spec: { unschedulable: o.unschedulable ?? false }, status: { addresses: [{ type: 'InternalIP', address: '192.168.1.11' }] } });
    for (const g of (await api.list(SM('gateways'))).items) await api.delete(SM('gateways', g.metadata.name));
    for (const ns of [NS, BROKER_NS]) {
      for (const plural of ['endpoints', 'clusters']) {
        const coll = resourcePath('submariner.io', 'v1', plural, ns);
        for (const e of (await api.list(coll)).items) await api.delete(`${coll}/${e.metadata.name}`);
      }
    }
    // The remote cluster's Endpoint on the broker, and its copy in our namespace (as broker sync makes it).
    const remote = {
      apiVersion: 'submariner.io/v1', kind: 'Endpoint', metadata: { name: `b${n}-cable`, labels: { 'submariner-io/clusterID': `b${n}` } },
      spec: { cluster_id: `b${n}`, cable_name: `submariner-cable-b${n}-192-168-2-11`, hostname: 'b-gw1', subnets: ['10.44.0.0/16'], private_ip: '192.168.2.11', public_ip: '', nat_enabled: false, backend: 'vxlan', backend_config: {} },
    };
    await api.create(SM('endpoints'), remote);
    await api.create(resourcePath('submariner.io', 'v1', 'endpoints', BROKER_NS), remote);
    const cfg = gatewayConfigFromEnv({
      SUBMARINER_NAMESPACE: NS, SUBMARINER_CLUSTERID: cluster, NODE_NAME: node, SUBMARINER_CLUSTERCIDR: '10.42.0.0/16', SUBMARINER_SERVICECIDR: '10.43.0.0/16',
      SUBMARINER_CABLEDRIVER: 'vxlan', SUBMARINER_PUBLICIP: 'ipv4:203.0.113.10', SUBMARINER_HEALTHCHECKENABLED: 'false',
      BROKER_K8S_APISERVER: 'x:1', BROKER_K8S_APISERVERTOKEN: 't', BROKER_K8S_REMOTENAMESPACE: BROKER_NS,
      ...(o.releaseOnStop !== undefined ? { HAWSER_RELEASE_ON_STOP: String(o.releaseOnStop) } : {}),
      ...(o.lapseGraceMs !== undefined ? { HAWSER_LEASE_LAPSE_GRACE: String(o.lapseGraceMs / 1000) } : {}),
    });
    // The API the role sees: writes to our Gateway first lose a race `conflicts` times (someone else writes
    // in between, as the active gateway marking us passive would), so the server answers 409.
    let conflicts = 0;
    const gwPath = SM('gateways', node);
    const local = new RestClient(kubeConfigFromFile(server.kubeconfig));
    const replace = local.replace.bind(local);
    local.replace = async (path: string, obj: unknown): Promise<KubeObject> => {
      if (path === gwPath && conflicts > 0) {
        conflicts--;
        const cur = await api.get(gwPath);
        await api.replace(gwPath, { ...cur, status: { ...(cur.status as object), haStatus: 'passive', statusFailure: 'written by someone else' } });
      }
      return replace(path, obj);
    };
    const cables = new FakeCables();
    cables.startFailures = o.driverFailures ?? 0;
    let elector: FakeElector | undefined;
    const role = new GatewayRole({
      cfg, log: quietLog, local, broker: local, version: 'test', createDriver: () => Promise.reject(new Error('unused')),
      cables: () => cables, elector: (id) => (elector = new FakeElector(id)),
      driverRetryMs: o.driverRetryMs ?? 20, statusDebounceMs: 5, statusRefreshMs: 0,
    });
    const h: Harness = { role, cables, api, elector: () => elector!, conflictsLeft: () => conflicts, setConflicts: (k) => (conflicts = k) };
    const started = role.start();
    try {
      if (!o.driverFailures) await waitFor(() => role.currentState === 'standby' && elector !== undefined, { timeoutMs: 5000, what: 'the role to stand by' });
      for (const [i, s] of steps.entries()) {
        await s.act(h);
        const where = `step ${i + 1} (${s.what})`;
        await waitFor(() => role.currentState === s.state, { timeoutMs: 5000, what: `${where}: state ${s.state} (is ${role.currentState})` });
        let text = '';
        const want = s.gateway;
        await waitFor(async () => {
          text = gatewayText(await api.getOrUndefined(gwPath));
          return typeof want === 'string' ? text === want : want.test(text);
        }, { timeoutMs: 5000, intervalMs: 20, what: `${where}: Gateway ${String(want)}` }).catch((err: unknown) => {
          assert.fail(`${where}: Gateway is ${text}, want ${String(want)} (${String(err)})`);
        });
        await waitFor(() => s.cables.every((c) => cables.calls.includes(c)), { timeoutMs: 5000, what: `${where}: cable calls ${s.cables.join(', ')}` }).catch(() => undefined);
        const calls = cables.take();
        if (!s.cablesUnchecked) assert.deepEqual(calls, s.cables, `${where}: cable calls`);
      }
    } finally {
      await role.stop();
      await started;
      local.close();
    }
    return h;
  }

  it('driver fails then starts; another holder seen (empty wanted set: leftovers removed); lease won; lost; renew failure; SIGTERM of a standby', async () => {
    const h = await run([
      { what: 'driver start fails', act: () => undefined, state: 'starting', gateway: /^passive \[-\] "cable driver vxlan failed to start: cannot create vx-submariner: operation not permitted"$/, cables: ['start (fails)'] },
      { what: 'driver starts on retry', act: () => undefined, state: 'standby', gateway: /^passive \[-\] "cable driver vxlan failed|^\(none\)$/, cables: ['start'] },
      { what: 'another gateway holds the lease', act: (x) => x.elector().seeHolder(OTHER), state: 'standby', gateway: 'passive [-] ""', cables: ['setWanted -', 'reconcile'] },
      { what: 'lease won', act: (x) => x.elector().win(), state: 'active', gateway: 'active [b1:connected] ""', cables: ['setWanted b1', 'reconcile'] },
      { what: 'lease lost', act: (x) => x.elector().lose(`lease is held by ${OTHER}`), state: 'standby', gateway: 'passive [-] ""', cables: ['shutdown'] },
      { what: 'lease won again', act: (x) => x.elector().win(), state: 'active', gateway: 'active [b1:connected] ""', cables: ['setWanted b1', 'reconcile'] },
      { what: 'renew deadline passed (no grace: fenced at once)', act: (x) => x.elector().lose('could not renew the lease within the renew deadline'), state: 'standby', gateway: 'passive [-] ""', cables: ['shutdown'] },
      { what: 'SIGTERM (standby)', act: (x) => x.role.stop(), state: 'stopped', gateway: 'passive [-] ""', cables: ['stop'] },
    ], { driverFailures: 1, driverRetryMs: 1500 });
    assert.deepEqual(h.role.transcript, [
      'starting --driver-start-failed--> starting',
      'starting --driver-started--> standby',
      'standby --lease-acquired--> active',
      'active --lease-lost--> standby',
      'standby --lease-acquired--> active',
      'active --renew-failed--> lapsed',
      'lapsed --lapse-expired--> standby',
      'standby --sigterm--> stopping',
      'stopping --stopped--> stopped',
    ]);
    // Published while active: our Endpoint (with the driver's backend config) and Cluster.
    const eps = (await api.list(SM('endpoints'))).items.filter((e) => (e.spec as { cluster_id: string }).cluster_id === 'a1');
    assert.equal(eps.length, 1);
    assert.equal((eps[0]!.spec as { backend_config: Record<string, string> }).backend_config['fake-key'], 'k1');
    assert.ok(await api.getOrUndefined(SM('clusters', 'a1')));
  });

  it('SIGTERM of the active gateway on a node that stays: restart in place (lease held, cables left, Gateway still active)', async () => {
    const h = await run([
      { what: 'lease won', act: (x) => x.elector().win(), state: 'active', gateway: 'active [b2:connected] ""', cables: ['start', 'setWanted b2', 'reconcile'] },
      { what: 'SIGTERM', act: (x) => x.role.stop(), state: 'stopped', gateway: 'active [b2:connected] ""', cables: ['stop'] },
    ]);
    assert.equal(h.role.stopDecision?.kind, 'restart-in-place');
    assert.deepEqual(h.elector().stops, ['hold 20000 ms']);
  });

  it('SIGTERM of the active gateway on a cordoned node with a live standby: hand over (cables removed, lease released, passive)', async () => {
    const h = await run([
      {
        what: 'lease won; a standby reports', state: 'active', gateway: 'active [b3:connected] ""', cables: ['start', 'setWanted b3', 'reconcile'],
        act: async (x) => {
          await x.api.create(SM('gateways'), { apiVersion: 'submariner.io/v1', kind: 'Gateway', metadata: { name: 'gw-2', annotations: { 'update-timestamp': String(Math.floor(Date.now() / 1000) + 60) } }, status: { haStatus: 'passive', connections: [], statusFailure: '', version: 'test', localEndpoint: { cluster_id: 'a3', cable_name: 'c', hostname: 'gw-2', subnets: [], private_ip: '192.168.1.12', public_ip: '', nat_enabled: false, backend: 'vxlan' } } });
          x.elector().win();
        },
      },
      { what: 'SIGTERM', act: (x) => x.role.stop(), state: 'stopped', gateway: 'passive [-] ""', cables: ['shutdown', 'stop'] },
    ], { unschedulable: true });
    assert.deepEqual(h.role.stopDecision, { kind: 'hand-over', why: 'the Node is cordoned (unschedulable)' });
    assert.deepEqual(h.elector().stops, ['release']);
  });

  it('HAWSER_RELEASE_ON_STOP=true hands over; alone (no live standby) the data path stays for the next start', async () => {
    const h = await run([
      { what: 'lease won', act: (x) => x.elector().win(), state: 'active', gateway: 'active [b4:connected] ""', cables: ['start', 'setWanted b4', 'reconcile'] },
      { what: 'SIGTERM', act: (x) => x.role.stop(), state: 'stopped', gateway: 'passive [-] ""', cables: ['stop'] },
    ], { releaseOnStop: true });
    assert.equal(h.role.stopDecision?.kind, 'hand-over');
    assert.deepEqual(h.elector().stops, ['release']);
  });

  it('409 conflicts on the Gateway write: rebuilt from a fresh read, the CR ends saying what is true, no status failure', async () => {
    const h = await run([
      { what: 'another gateway holds the lease', act: (x) => x.elector().seeHolder(OTHER), state: 'standby', gateway: 'passive [-] ""', cables: ['start', 'setWanted -', 'reconcile'] },
      {
        what: 'lease won under write races', state: 'active', gateway: 'active [b5:connected] ""', cables: ['setWanted b5', 'reconcile'],
        act: (x) => {
          x.setConflicts(2);
          x.elector().win();
        },
      },
    ]);
    assert.equal(h.conflictsLeft(), 0, 'both races happened');
  });

  it('HAWSER_LEASE_LAPSE_GRACE: a missed renewal keeps the cables; winning the lease back resumes without a flap; another holder or the end of the grace removes them', async () => {
    const renewFailed = 'could not renew the lease within the renew deadline';
    const b = `b${n + 1}`; // run() takes the next case number
    const h = await run([
      { what: 'lease won', act: (x) => x.elector().win(), state: 'active', gateway: `active [${b}:connected] ""`, cables: ['start', `setWanted ${b}`, 'reconcile'] },
      { what: 'renew deadline passed', act: (x) => x.elector().lose(renewFailed), state: 'lapsed', gateway: 'passive [-] ""', cables: [] },
      { what: 'lease won back', act: (x) => x.elector().win(), state: 'active', gateway: `active [${b}:connected] ""`, cables: [`setWanted ${b}`, 'reconcile'] },
      { what: 'renew deadline passed again', act: (x) => x.elector().lose(renewFailed), state: 'lapsed', gateway: 'passive [-] ""', cables: [] },
      { what: 'nobody else takes it: the grace ends', act: () => undefined, state: 'standby', gateway: 'passive [-] ""', cables: ['shutdown'] },
      { what: 'lease won a third time', act: (x) => x.elector().win(), state: 'active', gateway: `active [${b}:connected] ""`, cables: [`setWanted ${b}`, 'reconcile'] },
      { what: 'renew deadline passed a third time', act: (x) => x.elector().lose(renewFailed), state: 'lapsed', gateway: 'passive [-] ""', cables: [] },
      { what: 'another holder seen while lapsed', act: (x) => x.elector().seeHolder(OTHER), state: 'standby', gateway: 'passive [-] ""', cables: ['shutdown'] },
    ], { lapseGraceMs: 1500 });
    assert.deepEqual(h.role.transcript, [
      'starting --driver-started--> standby',
      'standby --lease-acquired--> active',
      'active --renew-failed--> lapsed',
      'lapsed --lease-acquired--> active',
      'active --renew-failed--> lapsed',
      'lapsed --lapse-expired--> standby',
      'standby --lease-acquired--> active',
      'active --renew-failed--> lapsed',
      'lapsed --other-holder-seen--> standby',
      'standby --sigterm--> stopping',
      'stopping --stopped--> stopped',
    ]);
  });

  it('as the lease holder: another node\'s Gateway that still says active is marked passive, its own metadata kept', async () => {
    const b = `b${n + 1}`; // run() takes the next case number
    const ts = String(Math.floor(Date.now() / 1000) + 60);
    await run([
      {
        what: 'another node says active; lease won', state: 'active', gateway: `active [${b}:connected] ""`, cables: ['start', `setWanted ${b}`, 'reconcile'],
        act: async (x) => {
          await x.api.create(SM('gateways'), { apiVersion: 'submariner.io/v1', kind: 'Gateway', metadata: { name: 'gw-2', labels: { app: 'old' }, annotations: { 'update-timestamp': ts } }, status: { haStatus: 'active', connections: [], statusFailure: '', version: 'old', localEndpoint: { cluster_id: `a${n}`, cable_name: 'c', hostname: 'gw-2', subnets: [], private_ip: '192.168.1.12', public_ip: '', nat_enabled: false, backend: 'vxlan' } } });
          x.elector().win();
        },
      },
      {
        what: 'gw-2 marked passive', state: 'active', gateway: `active [${b}:connected] ""`, cables: [], cablesUnchecked: true,
        act: async (x) => {
          const gw2 = await waitFor(async () => {
            const o = await x.api.get(SM('gateways', 'gw-2'));
            return (o.status as { haStatus: string }).haStatus === 'passive' ? o : undefined;
          }, { timeoutMs: 5000, intervalMs: 20, what: 'gw-2 passive' });
          const st = gw2.status as { haStatus: string; statusFailure: string; version: string; connections: unknown[]; localEndpoint: { hostname: string } };
          assert.deepEqual([st.haStatus, st.statusFailure, st.version, st.connections, st.localEndpoint.hostname], ['passive', 'not active: the gateway lease is held by gw-1', 'old', [], 'gw-2']);
          assert.deepEqual(gw2.metadata.labels, { app: 'old' });
          assert.equal(gw2.metadata.annotations?.['update-timestamp'], ts, 'its update-timestamp stays its own');
        },
      },
    ]);
  });
});
