import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { exec } from '../../src/util/exec.js';
import { createRegistry } from '../../src/metrics/registry.js';
import { GatewayMetrics } from '../../src/metrics/gateway.js';
import { RouteAgentMetrics } from '../../src/metrics/routeagent.js';
import { trackLeader } from '../../src/metrics/leader.js';
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
    trackLeader(r, { component: 'globalnet', cluster: 'c', hostname: 'h' }, () => true);
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

  it('every alert has an absolute runbook_url, one base for all, pointing at a section of docs/operations.md', () => {
    const rules = parseYamlFile(RULES)[0] as { groups: { rules: { alert: string; annotations: Record<string, string> }[] }[] };
    const anchors = new Set(readFileSync(join(DEPLOY, '..', 'docs', 'operations.md'), 'utf8').split('\n')
      .filter((l) => l.startsWith('#')).map((l) => l.replace(/^#+\s*/, '').toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')));
    const bases = new Set<string>();
    for (const r of rules.groups.flatMap((g) => g.rules)) {
      assert.equal(r.annotations.runbook, undefined, `${r.alert}: runbook_url, not runbook`);
      const m = /^(https?:\/\/[^#\s]+)#([a-z0-9-]+)$/.exec(r.annotations.runbook_url ?? '');
      assert.ok(m, `${r.alert}: runbook_url ${r.annotations.runbook_url} is not <absolute base>#<section>`);
      bases.add(m[1]!);
      assert.ok(anchors.has(m[2]!), `${r.alert}: docs/operations.md has no section #${m[2]}`);
      assert.doesNotMatch(JSON.stringify(r.annotations), /\$labels\.pod\b/, `${r.alert}: pod is not a label of plain scrapes`);
    }
    assert.equal(bases.size, 1, [...bases].join(' '));
  });

  it('set-runbook-base.sh re-bases both rule files alike', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hw-runbook-'));
    try {
      cpSync(join(DEPLOY, 'prometheus'), join(dir, 'prometheus'), { recursive: true });
      cpSync(join(DEPLOY, 'monitoring'), join(dir, 'monitoring'), { recursive: true });
      const r = await exec(join(dir, 'prometheus', 'set-runbook-base.sh'), ['https://wiki.example.com/hawser/ops'], { allowFailure: true });
      assert.equal(r.code, 0, r.stderr);
      const file = parseYamlFile(join(dir, 'prometheus', 'hawser-alerts.yaml'))[0] as { groups: { rules: { annotations: Record<string, string> }[] }[] };
      const urls = file.groups.flatMap((g) => g.rules.map((x) => x.annotations.runbook_url!));
      assert.ok(urls.every((u) => u.startsWith('https://wiki.example.com/hawser/ops#')), urls.join(' '));
      const rule = parseYamlFile(join(dir, 'monitoring', 'prometheusrule.yaml'))[0] as { spec: { groups: unknown[] } };
      assert.deepEqual(rule.spec.groups, file.groups);
      const bad = await exec(join(dir, 'prometheus', 'set-runbook-base.sh'), ['wiki/ops'], { allowFailure: true });
      assert.equal(bad.code, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every dashboard query honours the $local_cluster variable (series without the label join on their target)', () => {
    const dash = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'hawser-dashboard.json'), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
    const ignoring = dash.panels.flatMap((p) => (p.targets ?? []).filter((t) => !t.expr.includes('$local_cluster')).map((t) => `${p.title}: ${t.expr}`));
    assert.deepEqual(ignoring, []);
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
