import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  gatewayConfigFromEnv, globalnetConfigFromEnv, routeAgentConfigFromEnv,
} from '../../src/config/roles.js';
import type { Env } from '../../src/config/parse.js';
import { levelFromEnv } from '../../src/log/index.js';
import { SUBMARINER_ENV } from '../../src/config/env-table.js';
import {
  DEPLOY, ROOT, asObjects, crdsReady, filesUnder, find, kustomize, kustomizeWith, parseYamlFile, type KObject,
} from './manifests.js';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
  };
}
interface Container {
  name: string; image: string; command?: string[]; args?: string[]; env: EnvVar[];
  ports: { name: string; containerPort: number; protocol: string }[];
  securityContext?: { capabilities?: { add?: string[] }; privileged?: boolean };
  readinessProbe?: { httpGet?: { port: number; path?: string } };
  livenessProbe?: { httpGet?: { port: number; path?: string } };
}
interface PodSpec {
  serviceAccountName: string; hostNetwork?: boolean; nodeSelector?: Record<string, string>; containers: Container[];
}
interface RbacRule { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }

const podSpec = (ds: KObject): PodSpec => (ds.spec as { template: { spec: PodSpec } }).template.spec;
const container = (ds: KObject): Container => podSpec(ds).containers[0]!;

/** Every environment variable name a config reader looks at, recorded through a Proxy. */
function readsOf(read: (env: Env) => unknown): Set<string> {
  const seen = new Set<string>();
  const env = new Proxy({} as Env, {
    get(_t, key) {
      if (typeof key === 'string') seen.add(key);
      return undefined;
    },
  });
  try {
    read(env);
  } catch {
    // missing required variables: expected, only the reads matter
  }
  return seen;
}

const ROLES = {
  'submariner-gateway': { command: 'gateway', read: (e: Env) => gatewayConfigFromEnv(e), metricsPort: 32780 },
  'submariner-routeagent': { command: 'route-agent', read: (e: Env) => routeAgentConfigFromEnv(e), metricsPort: 32782 },
  'submariner-globalnet': { command: 'globalnet', read: (e: Env) => globalnetConfigFromEnv(e), metricsPort: 32781 },
} as const;
type DsName = keyof typeof ROLES;
// Read for drop-in compatibility with Submariner's operator-made DaemonSets (src/config/env-table.ts), but not
// needed by hawser's own manifests: warned/partly ones, and what the operator wires through mounted Secrets,
// uninstall jobs or LEADERSHIP_* (hawser's manifests use Secrets by key and HAWSER_* timings).
const NOT_WIRED = new Set([
  'CE_IPSEC_PSKFILE',
  ...SUBMARINER_ENV.filter((e) => e.handling !== 'honoured').map((e) => e.name),
  'SUBMARINER_UNINSTALL', 'CE_IPSEC_PSKSECRET', 'BROKER_K8S_SECRET',
  'LEADERSHIP_LEASEDURATION', 'LEADERSHIP_RENEWDEADLINE', 'LEADERSHIP_RETRYPERIOD',
]);
/** Passed through to the process environment, as Submariner's operator does (read by HTTP clients, not roles.ts). */
const PASSTHROUGH = new Set(['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY']);

/** The environment a pod of this DaemonSet would get, from the ConfigMap, the example Secrets and fake downward-API values. */
function resolveEnv(ds: KObject, configData: Record<string, string>, secrets: Record<string, Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  const fields: Record<string, string> = { 'metadata.namespace': 'submariner-operator', 'metadata.name': `${ds.metadata.name}-x7k2p`, 'spec.nodeName': 'node-1' };
  for (const v of container(ds).env) {
    const from = v.valueFrom;
    let value: string | undefined = v.value;
    if (from?.fieldRef) value = fields[from.fieldRef.fieldPath] ?? assert.fail(`${v.name}: unexpected fieldRef ${from.fieldRef.fieldPath}`);
    if (from?.configMapKeyRef) {
      assert.equal(from.configMapKeyRef.name, 'hawser-config', v.name);
      value = configData[from.configMapKeyRef.key];
      if (value === undefined && !from.configMapKeyRef.optional) assert.fail(`${ds.metadata.name}: ${v.name} needs ConfigMap key ${from.configMapKeyRef.key}, which is neither set nor optional`);
    }
    if (from?.secretKeyRef) {
      value = secrets[from.secretKeyRef.name]?.[from.secretKeyRef.key];
      if (value === undefined && !from.secretKeyRef.optional) assert.fail(`${ds.metadata.name}: ${v.name} needs Secret ${from.secretKeyRef.name}/${from.secretKeyRef.key}, missing from deploy/examples/secrets.yaml`);
    }
    if (value !== undefined) env[v.name] = value;
  }
  return env;
}

describe('deploy: manifests', function () {
  this.timeout(30_000);
  let base: KObject[];
  let full: KObject[];

  before(async () => {
    base = await kustomize(join(DEPLOY, 'base'));
    full = await kustomizeWith(['components/globalnet']);
  });

  it('every YAML file under deploy/ parses, and the dashboard is JSON', () => {
    const files = filesUnder(DEPLOY, /\.ya?ml$/);
    assert.ok(files.length >= 15, `only ${files.length} YAML files found`);
    for (const f of files) parseYamlFile(f);
    for (const f of filesUnder(DEPLOY, /\.json$/)) JSON.parse(readFileSync(f, 'utf8'));
  });

  it('kustomize renders the base, the components and the monitoring set', async () => {
    const kinds = (objs: KObject[]): string[] => [...new Set(objs.map((o) => o.kind))].sort();
    assert.deepEqual(kinds(base), ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'Namespace', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']);
    assert.deepEqual(full.filter((o) => o.kind === 'DaemonSet').map((o) => o.metadata.name).sort(), ['submariner-gateway', 'submariner-globalnet', 'submariner-routeagent']);
    const privileged = await kustomizeWith(['components/globalnet', 'components/privileged']);
    for (const ds of privileged.filter((o) => o.kind === 'DaemonSet')) assert.equal(container(ds).securityContext?.privileged, true, ds.metadata.name);
    const monitoring = await kustomize(join(DEPLOY, 'monitoring'));
    assert.deepEqual(kinds(monitoring), ['PrometheusRule', 'ServiceMonitor']);
    // Nothing in the default set needs the Prometheus operator.
    assert.ok(!base.some((o) => o.apiVersion.startsWith('monitoring.coreos.com')));
  });

  it('the CRDs render only from deploy/crds: deploy/, deploy/broker, the examples and deploy/uninstall leave them out', async () => {
    assert.ok(crdsReady());
    const crds = await kustomize(join(DEPLOY, 'crds'));
    assert.deepEqual([...new Set(crds.map((o) => o.kind))], ['CustomResourceDefinition']);
    assert.ok(crds.some((o) => o.metadata.name === 'serviceexports.multicluster.x-k8s.io'));
    for (const dir of ['', 'broker', 'examples/globalnet', 'uninstall']) {
      const objs = await kustomize(join(DEPLOY, dir));
      assert.ok(objs.length > 0, dir);
      assert.ok(!objs.some((o) => o.kind === 'CustomResourceDefinition'), `deploy/${dir} renders CRDs: \`kubectl delete -k\` would delete them`);
    }
  });

  it("DaemonSets set only variables the role's config reads, and wire all of them", () => {
    const logReads = readsOf((e) => levelFromEnv(e as NodeJS.ProcessEnv));
    for (const [name, role] of Object.entries(ROLES) as [DsName, (typeof ROLES)[DsName]][]) {
      const ds = find(full, 'DaemonSet', name);
      const configReads = readsOf(role.read);
      assert.ok(configReads.has('SUBMARINER_NAMESPACE') && configReads.size > 8, `recording ${name}'s reads failed`);
      const names = container(ds).env.map((v) => v.name);
      assert.equal(new Set(names).size, names.length, `${name}: duplicate env names`);
      const unknown = names.filter((n) => !configReads.has(n) && !logReads.has(n) && !PASSTHROUGH.has(n));
      assert.deepEqual(unknown, [], `${name} sets variables roles.ts does not read`);
      const missing = [...configReads].filter((n) => !names.includes(n) && !NOT_WIRED.has(n));
      assert.deepEqual(missing, [], `${name} does not wire variables roles.ts reads`);
    }
  });

  it('the environment a pod gets passes config validation (placeholders, example Secrets)', () => {
    const configData = (find(base, 'ConfigMap', 'hawser-config').data ?? {}) as Record<string, string>;
    const secrets: Record<string, Record<string, string>> = {};
    for (const s of asObjects(parseYamlFile(join(DEPLOY, 'examples', 'secrets.yaml')))) secrets[s.metadata.name] = s.stringData as Record<string, string>;
    // The Globalnet example overlay's ConfigMap values.
    const example = parseYamlFile(join(DEPLOY, 'examples', 'globalnet', 'kustomization.yaml'))[0] as { patches: { patch: string }[] };
    const ops = parseYaml(example.patches[0]!.patch) as { value: Record<string, string> }[];
    const globalnetData = ops[0]!.value;

    const gw = gatewayConfigFromEnv(resolveEnv(find(full, 'DaemonSet', 'submariner-gateway'), configData, secrets));
    assert.equal(gw.clusterId, 'cluster-a');
    assert.equal(gw.metricsPort, 32780);
    assert.equal(gw.namespace, 'submariner-operator');
    assert.equal(gw.broker.remoteNamespace, 'submariner-k8s-broker');
    const ra = routeAgentConfigFromEnv(resolveEnv(find(full, 'DaemonSet', 'submariner-routeagent'), configData, secrets));
    assert.equal(ra.metricsPort, 32782);
    const gn = globalnetConfigFromEnv(resolveEnv(find(full, 'DaemonSet', 'submariner-globalnet'), globalnetData, secrets));
    assert.equal(gn.metricsPort, 32781);
    assert.equal(gn.globalCidrs[0]?.text, '242.0.0.0/16');
    const { SUBMARINER_GLOBALCIDR: _omitted, ...withoutGlobalCidr } = globalnetData;
    assert.throws(() => resolveEnv(find(full, 'DaemonSet', 'submariner-globalnet'), withoutGlobalCidr, secrets), /SUBMARINER_GLOBALCIDR/);
  });

  it('pods: image, command, host network, capabilities, ports, probes and metrics Services agree', () => {
    for (const [name, role] of Object.entries(ROLES) as [DsName, (typeof ROLES)[DsName]][]) {
      const ds = find(full, 'DaemonSet', name);
      const spec = podSpec(ds);
      const c = container(ds);
      assert.equal(c.image, 'quay.io/hawser/hawser:0.1.0', name);
      // args under the image's tini entrypoint, never a command that would replace PID 1
      assert.equal(c.command, undefined, name);
      assert.deepEqual(c.args, ['hawser', role.command], name);
      assert.equal(spec.hostNetwork, true, name);
      assert.equal(c.securityContext?.privileged, true, `${name} is not privileged`);
      assert.equal(c.env.find((v) => v.name === 'SUBMARINER_METRICSPORT')?.value, String(role.metricsPort), name);
      assert.deepEqual(c.ports.filter((p) => p.name === 'metrics').map((p) => p.containerPort), [role.metricsPort], name);
      assert.equal(c.readinessProbe?.httpGet?.port, role.metricsPort, name);
      assert.equal(c.livenessProbe?.httpGet?.port, role.metricsPort, name);
      // src/metrics/server.ts: /readyz runs the readiness checks, /healthz the liveness checks
      assert.equal(c.readinessProbe?.httpGet?.path, '/readyz', name);
      assert.equal(c.livenessProbe?.httpGet?.path, '/healthz', name);
      const svc = full.find((o) => o.kind === 'Service' && (o.spec as { selector?: Record<string, string> }).selector?.app === name);
      assert.ok(svc, `no metrics Service selects ${name}`);
      assert.deepEqual((svc.spec as { ports: { targetPort: number }[] }).ports.map((p) => p.targetPort), [role.metricsPort]);
    }
    const gw = find(full, 'DaemonSet', 'submariner-gateway');
    assert.deepEqual(podSpec(gw).nodeSelector, { 'submariner.io/gateway': 'true' });
    assert.deepEqual(podSpec(find(full, 'DaemonSet', 'submariner-globalnet')).nodeSelector, { 'submariner.io/gateway': 'true' });
    assert.equal(podSpec(find(full, 'DaemonSet', 'submariner-routeagent')).nodeSelector, undefined);
    // Submariner's metrics Services: ClusterIP (clusterIP is immutable: an in-place switch must not flip it) on 8080/8081
    for (const [svcName, port] of [['submariner-gateway-metrics', 8080], ['submariner-globalnet-metrics', 8081]] as const) {
      const spec = find(full, 'Service', svcName).spec as { clusterIP?: string; type?: string; ports: { port: number }[] };
      assert.equal(spec.clusterIP, undefined, svcName);
      assert.equal(spec.type, 'ClusterIP', svcName);
      assert.deepEqual(spec.ports.map((p) => p.port), [port], svcName);
    }
    const udp = container(gw).ports.filter((p) => p.protocol === 'UDP').map((p) => p.containerPort).sort();
    assert.deepEqual(udp, [4490, 4500]);
    const fields = Object.fromEntries(container(gw).env.filter((v) => v.valueFrom?.fieldRef).map((v) => [v.name, v.valueFrom!.fieldRef!.fieldPath]));
    assert.deepEqual(fields, { SUBMARINER_NAMESPACE: 'metadata.namespace', NODE_NAME: 'spec.nodeName', POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace' });
    const fromSecret = container(gw).env.filter((v) => v.valueFrom?.secretKeyRef).map((v) => v.name).sort();
    assert.deepEqual(fromSecret, ['BROKER_K8S_APISERVER', 'BROKER_K8S_APISERVERTOKEN', 'BROKER_K8S_CA', 'BROKER_K8S_REMOTENAMESPACE', 'CE_IPSEC_PSK']);
  });

  it('RBAC: each ServiceAccount is bound, no wildcards, no Secrets, broker limited to Endpoints/Clusters', () => {
    const objs = [...full, ...asObjects(parseYamlFile(join(DEPLOY, 'broker', 'rbac.yaml')))];
    for (const ds of objs.filter((o) => o.kind === 'DaemonSet')) {
      const sa = podSpec(ds).serviceAccountName;
      find(objs, 'ServiceAccount', sa);
      const bindings = objs.filter((o) => (o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')
        && (o.subjects as { name: string; namespace: string }[]).some((s) => s.name === sa && s.namespace === ds.metadata.namespace));
      assert.ok(bindings.length >= 1, `${sa} is not bound`);
      for (const b of bindings) find(objs, (b.roleRef as { kind: string }).kind, (b.roleRef as { name: string }).name);
    }
    for (const r of objs.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')) {
      for (const rule of r.rules as RbacRule[]) {
        for (const list of [rule.apiGroups, rule.resources, rule.verbs]) assert.ok(!list.includes('*'), `${r.metadata.name} uses a wildcard`);
        assert.ok(!rule.resources.includes('secrets'), `${r.metadata.name} can touch Secrets`);
      }
    }
    const broker = find(objs, 'Role', 'hawser-broker-cluster');
    assert.equal(broker.metadata.namespace, 'submariner-k8s-broker');
    assert.deepEqual((broker.rules as RbacRule[]).flatMap((r) => r.resources).sort(), ['clusters', 'endpoints']);
  });

  it('RBAC matches the verb table in docs/operations.md', () => {
    const objs = [...full, ...asObjects(parseYamlFile(join(DEPLOY, 'broker', 'rbac.yaml')))];
    const roleOf: Record<string, string> = { 'hawser-gateway': 'gateway', 'hawser-routeagent': 'route-agent', 'hawser-globalnet': 'globalnet', 'hawser-broker-cluster': 'broker' };
    const fromManifests: string[] = [];
    for (const r of objs.filter((o) => (o.kind === 'Role' || o.kind === 'ClusterRole') && roleOf[o.metadata.name])) {
      for (const rule of r.rules as RbacRule[]) {
        for (const group of rule.apiGroups) {
          fromManifests.push(ruleKey(roleOf[r.metadata.name]!, r.kind === 'Role' ? `namespace ${r.metadata.namespace}` : 'cluster', group === '' ? 'core' : group, rule.resources, rule.verbs, rule.resourceNames ?? []));
        }
      }
    }
    const fromDocs = rbacTableRows(readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8'));
    assert.deepEqual([...fromDocs].sort(), [...fromManifests].sort());
  });

  it('the PrometheusRule carries exactly the groups of the Prometheus rule file', () => {
    const file = parseYamlFile(join(DEPLOY, 'prometheus', 'hawser-alerts.yaml'))[0] as { groups: unknown[] };
    const rule = asObjects(parseYamlFile(join(DEPLOY, 'monitoring', 'prometheusrule.yaml')))[0]!;
    assert.deepEqual((rule.spec as { groups: unknown[] }).groups, file.groups);
  });

});

function ruleKey(role: string, scope: string, group: string, resources: string[], verbs: string[], names: string[]): string {
  return [role, scope, group, [...resources].sort().join(','), [...verbs].sort().join(','), [...names].sort().join(',')].join(' | ');
}

/**
 * Rows of the RBAC table in docs/operations.md:
 * | role | scope | API group | resources | verbs | resource names | needed for |
 * one row per API group of each rule.
 */
function rbacTableRows(md: string): string[] {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => /^\|\s*role\s*\|\s*scope\s*\|\s*API group\s*\|/.test(l));
  assert.ok(start >= 0, 'docs/operations.md has no RBAC table (| role | scope | API group | ...)');
  const out: string[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim().replace(/`/g, ''));
    const list = (s: string): string[] => (s === '' || s === '—' ? [] : s.split(',').map((x) => x.trim()));
    out.push(ruleKey(cells[0]!, cells[1]!, cells[2]!, list(cells[3]!), list(cells[4]!), list(cells[5]!)));
  }
  return out;
}
