// `hawser lab up|down|status|list|exec|stop-role|start-role|demo`: a netns lab of clusters.
// The lab modules are imported lazily: `lab relay` and `lab port-forward` run for the whole life of a lab
// and must start fast, without the Kubernetes client.
import { spawn } from 'node:child_process';
import { resolve as resolvePath } from 'node:path';
import type { CableDriverName } from '../../config/roles.js';
import type { LabStatus } from '../../lab/control.js';
import type { LabUpOptions } from '../../lab/lab.js';
import { listLabs, readState, stateFilePath } from '../../lab/state.js';
import { CABLE_DRIVERS, DEFAULT_STATE_ROOT, LAB_PRESETS, LAB_ROLES, resolveTarget, type LabPreset, type LabRole } from '../../lab/topology.js';
import { HawserError } from '../../util/errors.js';
import { UsageError } from '../usage.js';

export const USAGE = `usage: hawser lab <command> [options]

  up          build a lab and leave it running
                [--name N] [--clusters 2] [--driver libreswan|wireguard|vxlan] [--nat] [--globalnet]
                [--gateways 2] [--workers 1] [--pods-per-node 1] [--no-roles] [--no-apiserver]
                [--log-level info] [--keep-on-failure] [--dry-run]
                [--preset underlay|flannel|calico-bgp]  one of the field's topologies (2 clusters):
                                   macvlan underlay pods, flannel VXLAN across VPCs, Calico with BIRD/BGP
                [--image ARCHIVE]  run the roles from an OCI image archive (\`make image\`): unpacked once,
                                   each role chrooted into it in its node's netns with a pod's mounts
                [--prometheus]  also run Debian's prometheus per cluster (control-plane netns, :9090),
                                scraping every role and evaluating deploy/prometheus/hawser-alerts.yaml
  down        remove a lab (everything it made) [--name N | --all]
  status      namespaces, processes and roles of a lab [--name N] [--json]
  list        labs on this machine
  exec        run a command in a lab netns: exec [--name N] <cluster|node|pod|a-rtr|wan> -- cmd args…
              (KUBECONFIG is set to that cluster's admin kubeconfig)
  stop-role   stop-role [--name N] [--signal SIGTERM|SIGKILL] <node> <gateway|route-agent|globalnet>
  start-role  start-role [--name N] <node> <gateway|route-agent|globalnet>
  prometheus  start (or restart) the per-cluster Prometheus of a running lab [--name N]
  demo        up, wait for cables, show them and a ping matrix, down
                [--keep] [--driver D] [--nat] [--globalnet] [--name N] [--timeout 90] [--image ARCHIVE] [--preset P]

--name defaults to $HAWSER_LAB, else the only lab there is (a new random name for up/demo).
State lives in ${DEFAULT_STATE_ROOT}/<name> (override with --state-root or $HAWSER_LAB_ROOT).`;

interface Parsed {
  flags: Map<string, string | true>;
  positional: string[];
  /** Everything after `--`. */
  rest: string[];
}

const VALUE_FLAGS = new Set(['preset', 'image', 'name', 'clusters', 'driver', 'gateways', 'workers', 'pods-per-node', 'log-level', 'state-root', 'signal', 'timeout', 'unix', 'connect', 'state-file', 'ports-file']);
// A misspelt flag must not be ignored (`lab up --globlnet` would build the wrong lab).
const BOOLEAN_FLAGS = new Set(['all', 'dry-run', 'globalnet', 'json', 'keep', 'keep-on-failure', 'nat', 'no-apiserver', 'no-roles', 'prometheus']);

function parse(argv: string[]): Parsed {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return { flags, positional, rest: argv.slice(i + 1) };
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const key = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (!VALUE_FLAGS.has(key) && !BOOLEAN_FLAGS.has(key)) throw new UsageError(`unknown option --${key}`);
      if (eq > 0) flags.set(key, a.slice(eq + 1));
      else if (VALUE_FLAGS.has(key)) {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`--${key} needs a value`);
        flags.set(key, v);
      } else flags.set(key, true);
    } else positional.push(a);
  }
  return { flags, positional, rest: [] };
}

function str(p: Parsed, key: string): string | undefined {
  const v = p.flags.get(key);
  return typeof v === 'string' ? v : undefined;
}

function int(p: Parsed, key: string): number | undefined {
  const v = str(p, key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new HawserError('INVALID', `--${key} must be an integer (got ${v})`);
  return n;
}

function stateRoot(p: Parsed): string {
  return str(p, 'state-root') ?? process.env.HAWSER_LAB_ROOT ?? DEFAULT_STATE_ROOT;
}

/** --name, else $HAWSER_LAB, else the only lab there is. */
function labName(p: Parsed): string {
  const n = str(p, 'name') ?? process.env.HAWSER_LAB;
  if (n) return n;
  const labs = listLabs(stateRoot(p));
  if (labs.length === 1) return labs[0]!;
  if (labs.length === 0) throw new HawserError('NOT_FOUND', 'no lab is up (hawser lab up)');
  throw new HawserError('INVALID', `several labs are up (${labs.join(', ')}): pick one with --name`);
}

function upOptions(p: Parsed): LabUpOptions {
  const driver = str(p, 'driver');
  if (driver !== undefined && !CABLE_DRIVERS.includes(driver as CableDriverName)) throw new HawserError('INVALID', `--driver must be one of ${CABLE_DRIVERS.join(', ')}`);
  const noApi = p.flags.has('no-apiserver');
  const preset = str(p, 'preset');
  if (preset !== undefined && !LAB_PRESETS.includes(preset as LabPreset)) throw new HawserError('INVALID', `--preset must be one of ${LAB_PRESETS.join(', ')}`);
  return {
    preset: preset as LabPreset | undefined,
    name: str(p, 'name'),
    clusters: int(p, 'clusters'),
    driver: driver as CableDriverName | undefined,
    nat: p.flags.has('nat'),
    globalnet: p.flags.has('globalnet'),
    gatewaysPerCluster: int(p, 'gateways'),
    workersPerCluster: int(p, 'workers'),
    podsPerNode: int(p, 'pods-per-node'),
    logLevel: str(p, 'log-level'),
    stateRoot: stateRoot(p),
    apiserver: !noApi,
    roles: !noApi && !p.flags.has('no-roles'),
    keepOnFailure: p.flags.has('keep-on-failure'),
    prometheus: p.flags.has('prometheus'),
    image: str(p, 'image'),
  };
}

function role(s: string | undefined): LabRole {
  if (!s || !LAB_ROLES.includes(s as LabRole)) throw new HawserError('INVALID', `role must be one of ${LAB_ROLES.join(', ')}`);
  return s as LabRole;
}

export function formatStatus(s: LabStatus): string {
  const out = [`lab ${s.name}: ${s.phase}${s.error ? ` (${s.error})` : ''}  state ${s.stateDir}`, '', 'NETNS'];
  for (const n of s.netns) out.push(`  ${n.exists ? '✓' : '✗'} ${n.name}`);
  out.push('', 'PROCESSES');
  for (const p of s.processes) {
    const st = p.alive ? 'running' : p.stopped ? 'stopped' : 'exited';
    out.push(`  ${p.alive ? '✓' : '✗'} ${p.id.padEnd(24)} ${p.kind.padEnd(12)} pid ${String(p.pid ?? '-').padEnd(8)} ${st.padEnd(8)} ${p.log}`);
  }
  out.push('', 'KUBECONFIGS');
  for (const k of s.kubeconfigs) out.push(`  ${k.cluster}: host ${k.host ?? '(none)'}  in-lab ${k.lab}`);
  return out.join('\n') + '\n';
}

async function up(p: Parsed): Promise<number> {
  const opts = upOptions(p);
  const { Lab, findRepoRoot, randomLabName } = await import('../../lab/lab.js');
  const { Progress } = await import('../../lab/progress.js');
  const { formatTopology, planLab, resolveOptions } = await import('../../lab/topology.js');
  const { generateSecrets } = await import('../../lab/credentials.js');
  if (p.flags.has('dry-run')) {
    const { readImage } = await import('../../lab/image.js');
    const image = opts.image === undefined ? undefined : await readImage(resolvePath(opts.image));
    const o = resolveOptions({
      ...opts, name: opts.name ?? randomLabName(), repoRoot: findRepoRoot(),
      image: image && { archive: image.archive, digest: image.digest, env: image.env },
    });
    const ids = Array.from({ length: o.clusters }, (_, i) => `cluster-${String.fromCharCode(97 + i)}`);
    const t = planLab(o, generateSecrets(ids));
    if (opts.prometheus) t.processes.push(...(await import('../../lab/prometheus.js')).planPrometheus(t));
    process.stdout.write(formatTopology(t));
    return 0;
  }
  const progress = new Progress();
  const name = opts.name ?? randomLabName();
  // Interrupted while building: remove the half-built lab rather than leave it to `lab down`.
  const onSignal = (): void => {
    progress.log(`interrupted: removing lab ${name}`);
    void import('../../lab/control.js')
      .then(({ labDown }) => labDown(name, { stateRoot: opts.stateRoot }))
      .catch(() => undefined)
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let lab: Awaited<ReturnType<typeof Lab.up>>;
  try {
    lab = await Lab.up({ ...opts, name, progress: (s) => progress.step(s) });
    progress.done();
  } catch (err) {
    progress.fail();
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const t = lab.topology;
  const lines = [`lab ${t.name} is up (${t.clusters.length} clusters, driver ${t.options.driver}${t.options.preset ? `, preset ${t.options.preset}` : ''}${t.options.nat ? ', NAT' : ''}${t.options.globalnet ? ', globalnet' : ''})`];
  for (const c of t.clusters) {
    lines.push(`  ${c.id}: nodes ${c.nodes.map((n) => n.name).join(' ')}; api ${c.apiServer}; kubeconfig ${c.hostKubeconfig}`);
  }
  if (opts.prometheus) lines.push(...prometheusLines(t.name, t.clusters));
  lines.push(`explore: hawser lab exec --name ${t.name} cluster-a -- kubectl get nodes`, `         kubectl --kubeconfig ${t.clusters[0]!.hostKubeconfig} get gateways -A`, `remove:  hawser lab down --name ${t.name}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

function prometheusLines(name: string, clusters: readonly { id: string; controlPlaneIp: string }[]): string[] {
  return clusters.map((c) => `  ${c.id}: prometheus http://${c.controlPlaneIp}:9090 (hawser lab exec --name ${name} ${c.id} -- curl -s 'http://${c.controlPlaneIp}:9090/api/v1/query?query=submariner_connections')`);
}

async function down(p: Parsed): Promise<number> {
  const names = p.flags.has('all') ? listLabs(stateRoot(p)) : [labName(p)];
  const { labDown } = await import('../../lab/control.js');
  for (const name of names) {
    const r = await labDown(name, { stateRoot: stateRoot(p) });
    process.stdout.write(`lab ${name} removed: ${r.netnsDeleted.length} netns, ${r.killed.length} processes killed, ${r.removed.length} paths removed\n`);
  }
  return 0;
}

async function execIn(p: Parsed): Promise<number> {
  const [target] = p.positional;
  if (!target || p.rest.length === 0) throw new HawserError('INVALID', 'usage: hawser lab exec [--name N] <cluster|node|pod|a-rtr|wan> -- cmd args…');
  const name = labName(p);
  const t = readState(stateFilePath(stateRoot(p), name)).topology;
  const r = resolveTarget(t, target);
  if (!r) throw new HawserError('NOT_FOUND', `lab ${name} has no target ${target}`);
  const env = { ...process.env, ...(r.cluster ? { KUBECONFIG: r.cluster.kubeconfig } : {}) };
  const child = spawn('ip', ['netns', 'exec', r.netns, ...p.rest], { stdio: 'inherit', env });
  return new Promise((resolve) => {
    child.on('error', (err) => {
      process.stderr.write(`hawser lab exec: ${err.message}\n`);
      resolve(127);
    });
    child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : 1)));
  });
}

export async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const p = parse(rest);
  switch (cmd) {
    case 'up':
      return up(p);
    case 'down':
      return down(p);
    case 'status': {
      const { labStatus } = await import('../../lab/control.js');
      const s = await labStatus(labName(p), stateRoot(p));
      process.stdout.write(p.flags.has('json') ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s));
      return 0;
    }
    case 'list':
      for (const n of listLabs(stateRoot(p))) process.stdout.write(n + '\n');
      return 0;
    case 'exec':
      return execIn(p);
    case 'stop-role': {
      const sig = (str(p, 'signal') ?? 'SIGTERM').toUpperCase();
      const signal = (sig.startsWith('SIG') ? sig : `SIG${sig}`) as NodeJS.Signals;
      if (signal !== 'SIGTERM' && signal !== 'SIGKILL') throw new HawserError('INVALID', '--signal must be SIGTERM or SIGKILL');
      const { Lab } = await import('../../lab/lab.js');
      await Lab.open(labName(p), stateRoot(p)).stopRole(p.positional[0] ?? '', role(p.positional[1]), signal);
      return 0;
    }
    case 'start-role': {
      const { Lab } = await import('../../lab/lab.js');
      const pid = await Lab.open(labName(p), stateRoot(p)).startRole(p.positional[0] ?? '', role(p.positional[1]));
      process.stdout.write(`${pid}\n`);
      return 0;
    }
    case 'prometheus': {
      const { Lab } = await import('../../lab/lab.js');
      const lab = Lab.open(labName(p), stateRoot(p));
      await lab.startPrometheus();
      process.stdout.write(prometheusLines(lab.name, lab.topology.clusters).join('\n') + '\n');
      return 0;
    }
    case 'demo': {
      const { runDemo } = await import('../../lab/demo.js');
      return runDemo({ ...upOptions(p), keep: p.flags.has('keep'), timeoutS: int(p, 'timeout') });
    }
    // Internal: the processes that carry the host's loopback port to each API server.
    case 'relay': {
      // Resolves once listening; the server keeps the process alive.
      const { runRelay } = await import('../../lab/forward.js');
      await runRelay(str(p, 'unix') ?? '', str(p, 'connect') ?? '', str(p, 'state-file'));
      return 0;
    }
    case 'port-forward': {
      const targets: Record<string, string> = {};
      for (const t of p.positional) {
        const eq = t.indexOf('=');
        if (eq <= 0) throw new HawserError('INVALID', `port-forward: ${t} is not name=unix-socket`);
        targets[t.slice(0, eq)] = t.slice(eq + 1);
      }
      const { runPortForward } = await import('../../lab/forward.js');
      await runPortForward(targets, str(p, 'ports-file') ?? '', str(p, 'state-file'));
      return 0;
    }
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return 0;
    case undefined:
      throw new UsageError('missing command: up, down, status, list, exec, stop-role, start-role, prometheus or demo');
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  }
}
