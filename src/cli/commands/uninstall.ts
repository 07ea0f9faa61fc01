// `hawser uninstall node|cluster|all|hold`: remove what hawser made, from the owned-resources registry.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { localAccess } from '../../k8s/access.js';
import { RestClient } from '../../k8s/rest.js';
import { initLogger } from '../../log/index.js';
import { uninstallClusterObjects } from '../../install/cluster.js';
import { defaultDeployDir } from '../../install/kube.js';
import { uninstallNode, uninstallRequested } from '../../install/node.js';
import { HawserError } from '../../util/errors.js';
import { exec } from '../../util/exec.js';
import { UsageError } from '../usage.js';

export const USAGE = `usage: hawser uninstall node [--state-dir /var/run/hawser] [--dry-run]   this node's data path (run on each node)
       hawser uninstall cluster [--kubeconfig FILE] [--namespace submariner-operator] [--keep-manifests]
       hawser uninstall all [--kubeconfig FILE] [--deploy DIR]      DaemonSets → node cleanup on every node → objects
       hawser uninstall hold                                         idle (the uninstall DaemonSet's main container)
Never removes the CRDs or anything hawser did not make.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      kubeconfig: { type: 'string' }, namespace: { type: 'string', default: 'submariner-operator' }, 'state-dir': { type: 'string' },
      'dry-run': { type: 'boolean', default: false }, 'keep-manifests': { type: 'boolean', default: false }, deploy: { type: 'string' },
      'timeout': { type: 'string', default: '300s' }, help: { type: 'boolean', short: 'h' },
    },
  });
  const what = positionals[0] ?? (uninstallRequested(process.env) ? 'node' : undefined);
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (!what) throw new UsageError('missing what to uninstall: node, cluster, all or hold');
  if (!['node', 'cluster', 'all', 'hold'].includes(what)) throw new UsageError(`unknown target ${JSON.stringify(what)}: expected node, cluster, all or hold`);
  const log = initLogger({ component: 'uninstall' });
  if (what === 'hold') {
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    return 0;
  }
  if (what === 'node') {
    const stateDir = values['state-dir'] ?? process.env.HAWSER_STATE_DIR ?? '/var/run/hawser';
    const r = await uninstallNode({ stateDir, log, dryRun: values['dry-run'] });
    for (const s of values['dry-run'] ? r.planned : r.done) process.stdout.write(`${values['dry-run'] ? 'would' : '✓'} ${s}\n`);
    for (const s of r.leftAlone) process.stdout.write(`! ${s}\n`);
    for (const s of r.failures) process.stderr.write(`✗ ${s}\n`);
    log.info({ node: process.env.NODE_NAME, removed: r.done.length, failures: r.failures.length }, r.failures.length ? 'node uninstall incomplete' : 'node uninstalled');
    return r.failures.length ? 1 : 0;
  }
  const client = new RestClient(await localAccess(values.kubeconfig), 30_000);
  const env = { ...process.env, ...(values.kubeconfig ? { KUBECONFIG: values.kubeconfig } : {}) };
  const kubectl = async (args: string[]): Promise<void> => {
    const r = await exec('kubectl', args, { env, allowFailure: true, timeoutMs: 600_000 });
    if (r.code !== 0) throw new HawserError('API', `kubectl ${args.join(' ')}: ${r.stderr.trim() || r.stdout.trim()}`);
    if (r.stdout.trim()) process.stdout.write(r.stdout);
  };
  try {
    const ns = values.namespace!;
    if (what === 'all') {
      const uninstallDir = join(values.deploy ?? defaultDeployDir(), 'uninstall');
      // 1. the agents go (their data path stays), 2. one pod per node removes it, 3. the objects go
      await kubectl(['-n', ns, 'delete', 'daemonsets', '-l', 'app.kubernetes.io/part-of=hawser,app.kubernetes.io/component!=uninstall', '--wait=true', `--timeout=${values.timeout}`]);
      await kubectl(['-n', ns, 'wait', '--for=delete', 'pods', '-l', 'app in (submariner-gateway,submariner-routeagent,submariner-globalnet)', `--timeout=${values.timeout}`]);
      await kubectl(['apply', '-k', uninstallDir]);
      await kubectl(['-n', ns, 'rollout', 'status', 'daemonset/hawser-uninstall', `--timeout=${values.timeout}`]);
      await kubectl(['delete', '-k', uninstallDir, '--wait=true']);
    }
    const r = await uninstallClusterObjects(client, { namespace: ns, manifests: !values['keep-manifests'] });
    for (const s of r.deleted) process.stdout.write(`✓ deleted ${s}\n`);
    for (const s of r.failures) process.stderr.write(`✗ ${s}\n`);
    process.stdout.write('CRDs kept (they belong to the cluster administrator; see deploy/crds/kustomization.yaml)\n');
    return r.failures.length ? 1 : 0;
  } finally {
    client.close();
  }
}
