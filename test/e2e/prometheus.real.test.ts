// End to end: a lab with Prometheus (Debian's) in each cluster's control plane scrapes every hawser role,
// sees every cable of every active gateway connected with a latency series, and evaluates the real alert
// rules: a cable cut by a firewall on the router makes HawserCableDown pending.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Lab, randomLabName, readAllGateways, waitForCables, type GatewaySummary, type LabState } from '../../src/lab/index.js';
import { prometheusTargets, queryPrometheus, scrapeTargets, type PromSample } from '../../src/lab/prometheus.js';
import { isOurProcess } from '../../src/lab/procs.js';
import { waitFor } from '../../src/util/wait.js';
import { assertNothingLeft } from '../support/lab.js';

// Slower leader election than the defaults: the suite shares 2 cores with other labs, and a renewal
// missed under load would move the cables while this test looks at them.
const ROLE_ENV = { HAWSER_LEASE_DURATION: '10', HAWSER_RENEW_DEADLINE: '8', HAWSER_RETRY_PERIOD: '1' };

/** The `info` lines of a role's JSON log. */
function infoLines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => o.level === 'info' || o.level === 30);
}

function label(s: PromSample, k: string): string {
  return s.metric[k] ?? '';
}

describe('e2e @real: Prometheus scrapes every role and the alerts see a cut cable', function () {
  this.timeout(120_000);
  let lab: Lab | undefined;
  let state: LabState | undefined;
  let active: GatewaySummary[] = [];

  before(async () => {
    const started = Date.now();
    lab = await Lab.up({ name: randomLabName(), driver: 'wireguard', prometheus: true, workersPerCluster: 1, roleEnv: ROLE_ENV });
    state = lab.state();
    const t0 = Date.now();
    await waitForCables(lab, 60_000);
    console.log(`      lab up in ${((t0 - started) / 1000).toFixed(1)} s, cables connected ${((Date.now() - t0) / 1000).toFixed(1)} s later`);
  });

  after(async () => {
    if (!lab) return;
    const name = lab.name;
    const dir = lab.stateDir;
    await lab.down();
    await assertNothingLeft(name, state, dir);
  });

  it('records each Prometheus in the lab state (by PID, in the control-plane netns)', () => {
    const recs = lab!.state().processes.filter((p) => p.id.endsWith('/prometheus'));
    assert.deepEqual(recs.map((r) => `${r.id} ${r.netns}`).sort(), lab!.topology.clusters.map((c) => `${c.id}/prometheus ${c.controlPlaneNetns}`).sort());
    for (const r of recs) assert.ok(r.pid !== undefined && isOurProcess(r.pid, r.startTime), `${r.id} runs`);
    for (const c of lab!.topology.clusters) assert.ok(existsSync(`${lab!.stateDir}/prometheus/${c.id}/data`), 'data dir under the lab state dir');
  });

  // Globalnet (:32781) is not on here: with Globalnet the health check has no target yet, so a cut cable
  // would never turn `error`. test/lab/prometheus.test.ts checks its targets are planned.
  it('scrapes the gateway (:32780) and route agent (:32782) of every node, all up', async () => {
    for (const c of lab!.topology.clusters) {
      const expected = scrapeTargets(c).map((t) => `${t.job} ${t.address}`).sort();
      assert.equal(expected.length, c.nodes.length + c.nodes.filter((n) => n.gateway).length);
      let seen: string[] = [];
      await waitFor(async () => {
        const targets = await prometheusTargets(lab!, c.id);
        seen = targets.map((t) => `${t.job} ${t.instance} ${t.health}${t.lastError ? ` (${t.lastError})` : ''}`).sort();
        return targets.length === expected.length && targets.every((t) => t.health === 'up');
      }, { timeoutMs: 20_000, intervalMs: 500, what: `every target of ${c.id} up` }).catch(() => assert.fail(`${c.id} targets: ${seen.join('; ')}`));
      assert.deepEqual(seen, expected.map((t) => `${t} up`));
      // The metrics come through with Submariner's names: the route agent's and Globalnet's too.
      const names = new Set((await queryPrometheus(lab!, c.id, 'count by (__name__, job) ({job=~"submariner-.*"})')).map((s) => `${label(s, 'job')} ${label(s, '__name__')}`));
      assert.ok(names.has('submariner-gateway-metrics submariner_gateway_sync_iterations'), [...names].join(', '));
      assert.ok([...names].some((n) => n.startsWith('submariner-routeagent-metrics hawser_')), 'route agent series');
    }
  });

  it('has, for every connection of every active gateway, submariner_connections{status="connected"} = 1 and a latency series', async () => {
    const all = await readAllGateways(lab!);
    active = Object.values(all).flatMap((g) => (typeof g === 'string' ? assert.fail(g) : g.filter((x) => x.haStatus === 'active')));
    assert.equal(active.length, lab!.topology.clusters.length, 'one active gateway per cluster');
    let checked = 0;
    for (const g of active) {
      assert.ok(g.connections.length >= lab!.topology.clusters.length - 1, `${g.name} has a connection per remote cluster`);
      for (const conn of g.connections) {
        const sel = `local_cluster="${g.cluster}",local_hostname="${g.name}",remote_cluster="${conn.cluster}",remote_hostname="${conn.hostname}"`;
        await waitFor(async () => {
          const up = await queryPrometheus(lab!, g.cluster, `submariner_connections{${sel},status="connected"}`);
          const rtt = await queryPrometheus(lab!, g.cluster, `submariner_connection_latency_seconds{${sel}}`);
          return up.length === 1 && up[0]!.value === 1 && rtt.length === 1 && rtt[0]!.value > 0 && rtt[0]!.value < 1;
        }, { timeoutMs: 20_000, intervalMs: 500, what: `connected + latency series for ${g.name} -> ${conn.cluster}` });
        checked++;
      }
    }
    assert.equal(checked, 2);
  });

  it('counts Gateway status syncs on every gateway, passive ones too (else HawserGatewaySyncStalled fires on standbys)', async () => {
    for (const c of lab!.topology.clusters) {
      const gateways = c.nodes.filter((n) => n.gateway).map((n) => n.name).sort();
      let seen: string[] = [];
      await waitFor(async () => {
        const r = await queryPrometheus(lab!, c.id, 'increase(submariner_gateway_sync_iterations[20s]) > 0');
        seen = r.map((x) => label(x, 'node')).sort();
        return seen.length === gateways.length;
      }, { timeoutMs: 25_000, intervalMs: 1000, what: `sync iterations on every gateway of ${c.id}` }).catch(() => assert.fail(`${c.id}: syncs counted on [${seen.join(', ')}] of [${gateways.join(', ')}]`));
    }
  });

  it('a cable cut on the router (UDP dropped) makes the HawserCableDown expression fire (alert pending)', async () => {
    // Drop the cable's UDP where cluster-b meets the WAN: both sides lose health-check replies.
    const b = lab!.cluster('cluster-b');
    await lab!.exec(b.routerNetns, ['nft', '-f', '-'], {
      input: 'table inet hw-cut {\n  chain forward {\n    type filter hook forward priority -10; policy accept;\n    meta l4proto udp drop\n  }\n}\n',
    });
    const t0 = Date.now();
    for (const c of lab!.topology.clusters) {
      const other = c.id === 'cluster-a' ? 'cluster-b' : 'cluster-a';
      let seen = '';
      await waitFor(async () => {
        const alerts = await queryPrometheus(lab!, c.id, `ALERTS{alertname="HawserCableDown",remote_cluster="${other}"}`);
        const conns = await queryPrometheus(lab!, c.id, 'submariner_connections == 1');
        seen = [...alerts, ...conns].map((x) => JSON.stringify(x.metric)).join('\n');
        return alerts.some((a) => label(a, 'alertstate') === 'pending' && label(a, 'local_cluster') === c.id && label(a, 'severity') === 'critical');
      }, { timeoutMs: 30_000, intervalMs: 500, what: `HawserCableDown pending in ${c.id}` }).catch(() => assert.fail(`no HawserCableDown in ${c.id}; last seen:\n${seen}`));
      const errored = await queryPrometheus(lab!, c.id, `submariner_connections{status="error",remote_cluster="${other}"} == 1`);
      assert.ok(errored.length >= 1, `${c.id}: the connection to ${other} is in error`);
    }
    console.log(`      HawserCableDown pending in both clusters ${((Date.now() - t0) / 1000).toFixed(1)} s after the cut`);
  });

  it('logged exactly one info line per state change: leader, NAT decision, cable connected, cable error', async () => {
    for (const g of active) {
      const lines = infoLines(lab!.logFile(`${g.name}/gateway`));
      const leader = lines.filter((l) => /leader|ACTIVE|PASSIVE/.test(String(l.msg)));
      assert.deepEqual(leader.map((l) => l.msg), ['became the leader'], `${g.name}: leader lines`);
      for (const conn of g.connections) {
        const cable = lines.filter((l) => l.cable !== undefined && String(l.cable).includes(conn.cluster));
        const nat = cable.filter((l) => /NAT/.test(String(l.msg)) && (l.useIP !== undefined || l.usingIP !== undefined));
        assert.equal(nat.length, 1, `${g.name}: NAT decision lines: ${JSON.stringify(nat)}`);
        const states = cable.filter((l) => /^cable (connected|error|removed)$/.test(String(l.msg))).map((l) => l.msg);
        // The cut may be seen by the health check first and then by the driver: still one `error` line.
        await waitFor(() => infoLines(lab!.logFile(`${g.name}/gateway`)).some((l) => l.msg === 'cable error'), { timeoutMs: 10_000, what: `${g.name}: cable error logged` });
        const after = infoLines(lab!.logFile(`${g.name}/gateway`)).filter((l) => String(l.cable ?? '').includes(conn.cluster) && /^cable (connected|error|removed)$/.test(String(l.msg))).map((l) => l.msg);
        assert.deepEqual(after, ['cable connected', 'cable error'], `${g.name}: cable state lines (before the check: ${states.join(', ')})`);
        const connected = lines.find((l) => l.msg === 'cable connected')!;
        for (const f of ['cluster', 'endpoint', 'cable', 'node', 'driver']) assert.ok(typeof connected[f] === 'string' && connected[f] !== '', `cable connected line has ${f}`);
      }
    }
  });
});
