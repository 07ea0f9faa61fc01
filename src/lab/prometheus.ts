// Prometheus in the lab: one Debian `prometheus` per cluster, in that cluster's control-plane netns, as a
// cluster's own monitoring would run. The control plane sits on the cluster's LAN, so it reaches every node
// of its cluster whether or not the cluster is behind NAT (no single netns reaches every LAN: a NATed LAN is
// unreachable from outside, as in life). It scrapes every hawser role on every node (gateway :32780,
// Globalnet :32781, route agent :32782) with the job names of deploy/'s metrics Services, and loads
// deploy/prometheus/hawser-alerts.yaml, so the real alert rules run against the real roles.
// Planning and config rendering are pure; querying goes through `curl` inside the control-plane netns.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { HawserError, errorMessage } from '../util/errors.js';
import type { ExecResult } from '../util/exec.js';
import { waitFor } from '../util/wait.js';
import { SUBMARINER_NAMESPACE, rolePodName, type ClusterPlan, type LabRole, type LabTopology, type ProcessPlan } from './topology.js';

/** Where each role serves /metrics (SUBMARINER_METRICSPORT defaults). */
export const ROLE_METRICS_PORTS: Readonly<Record<LabRole, number>> = { gateway: 32780, globalnet: 32781, 'route-agent': 32782 };
/** Job names as deploy/base's and deploy/components' metrics Services name them (the alerts match on them). */
export const ROLE_METRICS_JOBS: Readonly<Record<LabRole, string>> = {
  gateway: 'submariner-gateway-metrics', globalnet: 'submariner-globalnet-metrics', 'route-agent': 'submariner-routeagent-metrics',
};
export const PROMETHEUS_PORT = 9090;
export const PROMETHEUS_BINARY = '/usr/bin/prometheus';
/** Fast enough that a test sees a cable change within seconds. */
export const SCRAPE_INTERVAL = '1s';

export interface ScrapeTarget {
  job: string;
  address: string;
  /** As the ServiceMonitors' relabeling and the Service discovery would set them. */
  labels: { node: string; namespace: string; pod: string };
}

/** Every role on every node of a cluster, as `host:port` targets labelled like a ServiceMonitor would. */
export function scrapeTargets(c: ClusterPlan): ScrapeTarget[] {
  return c.nodes.flatMap((n) => n.roles.map((role) => ({
    job: ROLE_METRICS_JOBS[role],
    address: `${n.ip}:${ROLE_METRICS_PORTS[role]}`,
    labels: { node: n.name, namespace: SUBMARINER_NAMESPACE, pod: rolePodName(n.name, role) },
  })));
}

export function prometheusDir(t: LabTopology, c: ClusterPlan): string {
  return `${t.stateDir}/prometheus/${c.id}`;
}

/** `http://<control-plane IP>:9090`: reachable from any netns of that cluster (and over the WAN if not NATed). */
export function prometheusUrl(c: ClusterPlan): string {
  return `http://${c.controlPlaneIp}:${PROMETHEUS_PORT}`;
}

/** prometheus.yml for one cluster. */
export function prometheusConfig(t: LabTopology, c: ClusterPlan): string {
  const byJob = new Map<string, ScrapeTarget[]>();
  for (const s of scrapeTargets(c)) byJob.set(s.job, [...(byJob.get(s.job) ?? []), s]);
  const config = {
    global: { scrape_interval: SCRAPE_INTERVAL, scrape_timeout: SCRAPE_INTERVAL, evaluation_interval: SCRAPE_INTERVAL, external_labels: { lab: t.name, cluster: c.id } },
    rule_files: [`${t.options.repoRoot}/deploy/prometheus/hawser-alerts.yaml`],
    scrape_configs: [...byJob].map(([job, targets]) => ({
      job_name: job,
      static_configs: targets.map((s) => ({ targets: [s.address], labels: s.labels })),
    })),
  };
  return `# Written by hawser lab for ${c.id} of lab ${t.name}.\n${stringify(config)}`;
}

/** One process plan per cluster: `<cluster>/prometheus` in the control-plane netns, data under the lab state dir. */
export function planPrometheus(t: LabTopology): ProcessPlan[] {
  return t.clusters.map((c) => {
    const dir = prometheusDir(t, c);
    return {
      id: `${c.id}/prometheus`, kind: 'prometheus', cluster: c.id, netns: c.controlPlaneNetns,
      argv: [
        PROMETHEUS_BINARY,
        `--config.file=${dir}/prometheus.yml`,
        `--storage.tsdb.path=${dir}/data`,
        `--web.listen-address=${c.controlPlaneIp}:${PROMETHEUS_PORT}`,
        '--storage.tsdb.retention.time=1d',
      ],
      env: {},
      log: `${t.stateDir}/logs/${c.id}.prometheus.log`,
    };
  });
}

/** Writes each cluster's prometheus.yml and data dir (idempotent). */
export function writePrometheusFiles(t: LabTopology): void {
  for (const c of t.clusters) {
    const dir = prometheusDir(t, c);
    mkdirSync(`${dir}/data`, { recursive: true, mode: 0o700 });
    writeFileSync(`${dir}/prometheus.yml`, prometheusConfig(t, c), { mode: 0o600 });
  }
}

export function assertPrometheusInstalled(binary = PROMETHEUS_BINARY): void {
  if (!existsSync(binary)) {
    throw new HawserError('NOT_FOUND', `${binary} is missing: install Debian's prometheus package (scripts/setup.sh does: apt-get install prometheus)`);
  }
}

/** The part of a lab prometheus.ts needs: run a command in a cluster's control-plane netns. */
export interface LabExec {
  exec(target: string, argv: readonly string[], opts?: { timeoutMs?: number; allowFailure?: boolean }): Promise<ExecResult>;
  cluster(id: string): ClusterPlan;
}

export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** An /api/v1/query answer into samples; throws HawserError('INVALID') on anything but a vector. */
export function parseQueryResponse(text: string): PromSample[] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HawserError('INVALID', `Prometheus answered something that is not JSON: ${text.slice(0, 200)}`);
  }
  const o = record(body);
  if (o?.status !== 'success') throw new HawserError('INVALID', `Prometheus query failed: ${String(o?.errorType ?? '')} ${String(o?.error ?? text.slice(0, 200))}`.trim());
  const data = record(o.data);
  if (data?.resultType !== 'vector' || !Array.isArray(data.result)) throw new HawserError('INVALID', `Prometheus answered a ${String(data?.resultType)}, not a vector`);
  return data.result.map((r) => {
    const s = record(r);
    const metric: Record<string, string> = {};
    for (const [k, v] of Object.entries(record(s?.metric) ?? {})) if (typeof v === 'string') metric[k] = v;
    const pair = Array.isArray(s?.value) ? s.value : [];
    const value = Number(pair[1]);
    if (pair.length !== 2 || (Number.isNaN(value) && pair[1] !== 'NaN')) throw new HawserError('INVALID', `Prometheus sample without a value: ${JSON.stringify(r)}`);
    return { metric, value };
  });
}

async function curl(lab: LabExec, cluster: string, path: string, args: readonly string[] = []): Promise<ExecResult> {
  const url = `${prometheusUrl(lab.cluster(cluster))}${path}`;
  return lab.exec(cluster, ['curl', '-sS', '--max-time', '5', ...args, url], { timeoutMs: 10_000, allowFailure: true });
}

/** An instant query against a cluster's lab Prometheus (from inside its control-plane netns). */
export async function queryPrometheus(lab: LabExec, cluster: string, expr: string): Promise<PromSample[]> {
  const r = await curl(lab, cluster, '/api/v1/query', ['--get', '--data-urlencode', `query=${expr}`]);
  if (r.code !== 0) throw new HawserError('EXEC', `cannot query the Prometheus of ${cluster} (${prometheusUrl(lab.cluster(cluster))}): ${r.stderr.trim()}`);
  return parseQueryResponse(r.stdout);
}

/** Resolves once the Prometheus of a cluster answers /-/ready. */
export async function waitPrometheusReady(lab: LabExec, cluster: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  let last = '';
  await waitFor(async () => {
    if (!alive()) throw new HawserError('EXEC', `the Prometheus of ${cluster} exited`);
    const r = await curl(lab, cluster, '/-/ready', ['-f']);
    last = (r.stderr || r.stdout).trim();
    return r.code === 0;
  }, { timeoutMs, intervalMs: 200, what: `the Prometheus of ${cluster}` }).catch((err: unknown) => {
    throw new HawserError('TIMEOUT', `${errorMessage(err)} (last answer: ${last})`, { cause: err });
  });
}

export interface TargetHealth {
  job: string;
  instance: string;
  health: string;
  lastError: string;
}

/** The active scrape targets of a cluster's lab Prometheus (/api/v1/targets). */
export async function prometheusTargets(lab: LabExec, cluster: string): Promise<TargetHealth[]> {
  const r = await curl(lab, cluster, '/api/v1/targets?state=active');
  if (r.code !== 0) throw new HawserError('EXEC', `cannot read the targets of the Prometheus of ${cluster}: ${r.stderr.trim()}`);
  let body: unknown;
  try {
    body = JSON.parse(r.stdout);
  } catch {
    throw new HawserError('INVALID', `Prometheus answered something that is not JSON: ${r.stdout.slice(0, 200)}`);
  }
  const active = record(record(body)?.data)?.activeTargets;
  if (!Array.isArray(active)) throw new HawserError('INVALID', 'Prometheus /api/v1/targets has no data.activeTargets');
  return active.map((a) => {
    const o = record(a) ?? {};
    const labels = record(o.labels) ?? {};
    const str = (v: unknown): string => (typeof v === 'string' ? v : '');
    return { job: str(labels.job), instance: str(labels.instance), health: str(o.health), lastError: str(o.lastError) };
  });
}
