import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { exec } from '../../src/util/exec.js';
import { createRegistry } from '../../src/metrics/registry.js';
import { GatewayMetrics } from '../../src/metrics/gateway.js';
import { RouteAgentMetrics } from '../../src/metrics/routeagent.js';
import { DEPLOY, filesUnder, parseYamlFile } from './manifests.js';

const RULES = join(DEPLOY, 'prometheus', 'hawser-alerts.yaml');

async function promtool(): Promise<string | undefined> {
  const r = await exec('sh', ['-c', 'command -v promtool'], { allowFailure: true });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** Globalnet's metrics (src/nat), with Submariner's names. */
const GLOBALNET_METRICS = [
  'submariner_global_IP_availability', 'submariner_global_IP_allocated', 'submariner_global_egress_IP_allocated',
  'submariner_cluster_global_egress_IP_allocated', 'submariner_global_ingress_IP_allocated',
];

function metricNamesIn(expr: string): string[] {
  const names = expr.match(/\b(?:submariner|hawser|process|nodejs)_[A-Za-z0-9_]+/g) ?? [];
  return [...new Set(names)];
}

describe('deploy: Prometheus rules and Grafana dashboard', function () {
  this.timeout(30_000);

  it('promtool check rules and promtool test rules pass', async function () {
    const bin = await promtool();
    if (!bin) {
      // scripts/setup.sh installs Debian's prometheus package, which ships promtool.
      console.warn('    promtool not found: run scripts/setup.sh (Debian package prometheus) to check the alert rules');
      this.skip();
    }
    const check = await exec(bin!, ['check', 'rules', RULES], { allowFailure: true });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /SUCCESS: \d+ rules found/);
    const tests = filesUnder(join(DEPLOY, 'prometheus', 'tests'), /\.ya?ml$/);
    assert.ok(tests.length >= 1);
    const run = await exec(bin!, ['test', 'rules', ...tests], { allowFailure: true });
    assert.equal(run.code, 0, run.stdout + run.stderr);
  });

  it('every alert has a test that makes it fire', () => {
    const rules = parseYamlFile(RULES)[0] as { groups: { rules: { alert: string }[] }[] };
    const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert));
    const tested = new Set<string>();
    for (const f of filesUnder(join(DEPLOY, 'prometheus', 'tests'), /\.ya?ml$/)) {
      const t = parseYamlFile(f)[0] as { tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] };
      for (const tc of t.tests) for (const a of tc.alert_rule_test ?? []) if (a.exp_alerts.length > 0) tested.add(a.alertname);
    }
    assert.deepEqual(alerts.filter((a) => !tested.has(a)), []);
  });

  it('alerts and dashboard use only metrics hawser exports', () => {
    const r: Registry = createRegistry({ component: 'test', version: '0' });
    new GatewayMetrics(r);
    new RouteAgentMetrics(r);
    const known = new Set([...r.getMetricsAsArray().map((m) => m.name), ...GLOBALNET_METRICS]);

    const rules = parseYamlFile(RULES)[0] as { groups: { rules: { alert: string; expr: string }[] }[] };
    const exprs: [string, string][] = rules.groups.flatMap((g) => g.rules.map((x) => [`alert ${x.alert}`, x.expr] as [string, string]));
    const dash = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'hawser-dashboard.json'), 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
      templating: { list: { name: string; query?: unknown }[] };
    };
    for (const p of dash.panels) for (const t of p.targets ?? []) exprs.push([`panel ${p.title}`, t.expr]);
    for (const v of dash.templating.list) {
      const q = v.query as { query?: string } | string | undefined;
      const text = typeof q === 'string' ? q : q?.query;
      if (text) exprs.push([`variable ${v.name}`, text]);
    }
    assert.ok(exprs.length > 30, `only ${exprs.length} expressions found`);
    const unknown = exprs.flatMap(([where, e]) => metricNamesIn(e).filter((n) => !known.has(n)).map((n) => `${where}: ${n}`));
    assert.deepEqual(unknown, []);
  });

  it('the dashboard has unique panel ids and a datasource variable every query uses', () => {
    const dash = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'hawser-dashboard.json'), 'utf8')) as {
      uid: string; panels: { id: number; type: string; datasource?: { uid: string }; targets?: { datasource: { uid: string } }[] }[];
    };
    assert.equal(dash.uid, 'hawser-overview');
    const ids = dash.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const p of dash.panels.filter((x) => x.type !== 'row')) {
      assert.equal(p.datasource?.uid, '${datasource}');
      for (const t of p.targets ?? []) assert.equal(t.datasource.uid, '${datasource}');
    }
  });
});
