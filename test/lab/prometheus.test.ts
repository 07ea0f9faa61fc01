import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { parseQueryResponse, planPrometheus, prometheusConfig, prometheusUrl, scrapeTargets } from '../../src/lab/prometheus.js';
import { planLab, resolveOptions, type LabOptions, type LabSecrets, type LabTopology } from '../../src/lab/topology.js';
import { isHawserError } from '../../src/util/errors.js';

const SECRETS: LabSecrets = {
  psk: 'cHNrLXRleHQtZm9yLXRlc3Rz',
  adminTokens: { 'cluster-a': 'admin-a', 'cluster-b': 'admin-b' },
  brokerTokens: { 'cluster-a': 'broker-a', 'cluster-b': 'broker-b' },
};

function plan(o: Partial<LabOptions> = {}): LabTopology {
  return planLab(resolveOptions({ name: 'p1', repoRoot: '/repo', stateRoot: '/run/l', ...o }), SECRETS);
}

interface Config {
  global: Record<string, unknown>;
  rule_files: string[];
  scrape_configs: { job_name: string; static_configs: { targets: string[]; labels: Record<string, string> }[] }[];
}

describe('lab: Prometheus plan and config', () => {
  it('scrapes every role of every node of its cluster, with the metrics Services\' job names', () => {
    const t = plan({ globalnet: true });
    const c = t.clusters[1]!;
    assert.deepEqual(scrapeTargets(c).map((s) => `${s.job} ${s.address} ${s.labels.pod}`), [
      'submariner-gateway-metrics 172.17.0.11:32780 submariner-gateway-b-gw1',
      'submariner-routeagent-metrics 172.17.0.11:32782 submariner-routeagent-b-gw1',
      'submariner-globalnet-metrics 172.17.0.11:32781 submariner-globalnet-b-gw1',
      'submariner-gateway-metrics 172.17.0.12:32780 submariner-gateway-b-gw2',
      'submariner-routeagent-metrics 172.17.0.12:32782 submariner-routeagent-b-gw2',
      'submariner-globalnet-metrics 172.17.0.12:32781 submariner-globalnet-b-gw2',
      'submariner-routeagent-metrics 172.17.0.13:32782 submariner-routeagent-b-wk1',
    ]);
    const cfg = parse(prometheusConfig(t, c)) as Config;
    assert.deepEqual(cfg.rule_files, ['/repo/deploy/prometheus/hawser-alerts.yaml']);
    assert.deepEqual(cfg.global.external_labels, { lab: 'p1', cluster: 'cluster-b' });
    assert.deepEqual(cfg.scrape_configs.map((j) => `${j.job_name}: ${j.static_configs.flatMap((s) => s.targets).join(' ')}`), [
      'submariner-gateway-metrics: 172.17.0.11:32780 172.17.0.12:32780',
      'submariner-routeagent-metrics: 172.17.0.11:32782 172.17.0.12:32782 172.17.0.13:32782',
      'submariner-globalnet-metrics: 172.17.0.11:32781 172.17.0.12:32781',
    ]);
    assert.deepEqual(cfg.scrape_configs[0]!.static_configs[0]!.labels, { node: 'b-gw1', namespace: 'submariner-operator', pod: 'submariner-gateway-b-gw1' });
  });

  it('plans one process per cluster in its control-plane netns, data and log under the lab state dir', () => {
    const t = plan({ nat: true });
    assert.deepEqual(planPrometheus(t).map((p) => `${p.id} ${p.kind} ${p.netns} ${p.log}`), [
      'cluster-a/prometheus prometheus hw-p1-a-cp /run/l/p1/logs/cluster-a.prometheus.log',
      'cluster-b/prometheus prometheus hw-p1-b-cp /run/l/p1/logs/cluster-b.prometheus.log',
    ]);
    assert.deepEqual(planPrometheus(t)[1]!.argv, [
      '/usr/bin/prometheus', '--config.file=/run/l/p1/prometheus/cluster-b/prometheus.yml', '--storage.tsdb.path=/run/l/p1/prometheus/cluster-b/data',
      '--web.listen-address=172.17.0.2:9090', '--storage.tsdb.retention.time=1d',
    ]);
    assert.equal(prometheusUrl(t.clusters[0]!), 'http://172.16.0.2:9090');
  });

  it('parses query answers into samples and rejects errors and non-vectors', () => {
    const ok = '{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"j"},"value":[1700000000.1,"1"]},{"metric":{},"value":[1,"NaN"]}]}}';
    const s = parseQueryResponse(ok);
    assert.deepEqual(s[0], { metric: { __name__: 'up', job: 'j' }, value: 1 });
    assert.ok(Number.isNaN(s[1]!.value));
    for (const bad of ['not json', '{"status":"error","errorType":"bad_data","error":"parse error"}', '{"status":"success","data":{"resultType":"matrix","result":[]}}', '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1]}]}}']) {
      assert.throws(() => parseQueryResponse(bad), (e: unknown) => isHawserError(e) && e.code === 'INVALID', bad);
    }
    assert.throws(() => parseQueryResponse('{"status":"error","errorType":"bad_data","error":"parse error at char 3"}'), /bad_data parse error at char 3/);
  });
});
