// `hawser migrate` / `hawser rollback`: replace Submariner in place, and go back.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { localAccess } from '../../k8s/access.js';
import { RestClient } from '../../k8s/rest.js';
import { applyOverlay } from '../../install/apply.js';
import { renderOverlay, writeOverlay } from '../../install/join.js';
import { defaultDeployDir } from '../../install/kube.js';
import { executeMigration, planMigration, readSubmariner, rollback } from '../../install/migrate.js';
import { HawserError } from '../../util/errors.js';
import { exec } from '../../util/exec.js';

export const USAGE = `usage: hawser migrate [--kubeconfig FILE] [--namespace submariner-operator] [--output DIR] [--deploy DIR] [--apply]
       hawser rollback [--kubeconfig FILE] [--namespace submariner-operator] [--deploy DIR] [--skip-node-cleanup]
migrate reads the Submariner CR, writes a hawser overlay with the same settings and prints what it would
change; --apply saves Submariner's objects in ConfigMap hawser-migration-backup, scales its operator to 0,
replaces its DaemonSets, metrics Services and RBAC with hawser's, and leaves Lighthouse alone.
rollback removes hawser's DaemonSets and Services, cleans the nodes, and restores what migrate saved.`;

export async function run(argv: string[]): Promise<number> {
  return runWith('migrate', argv);
}

export async function runWith(cmd: 'migrate' | 'rollback', argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: 'string' }, namespace: { type: 'string', default: 'submariner-operator' }, output: { type: 'string' },
      deploy: { type: 'string' }, apply: { type: 'boolean', default: false }, 'skip-node-cleanup': { type: 'boolean', default: false },
      timeout: { type: 'string', default: '300s' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const ns = values.namespace!;
  const deployDir = values.deploy ?? defaultDeployDir();
  const client = new RestClient(await localAccess(values.kubeconfig), 30_000);
  const say = (t: string): void => void process.stdout.write(t + '\n');
  const env = { ...process.env, ...(values.kubeconfig ? { KUBECONFIG: values.kubeconfig } : {}) };
  const kubectl = async (args: string[]): Promise<void> => {
    const r = await exec('kubectl', args, { env, allowFailure: true, timeoutMs: 600_000 });
    if (r.code !== 0) throw new HawserError('API', `kubectl ${args.join(' ')}: ${r.stderr.trim() || r.stdout.trim()}`);
  };
  try {
    if (cmd === 'rollback') {
      const r = await rollback(client, ns, {
        afterRemoval: values['skip-node-cleanup'] ? undefined : async () => {
          const dir = join(deployDir, 'uninstall');
          await kubectl(['-n', ns, 'wait', '--for=delete', 'pods', '-l', 'app.kubernetes.io/part-of=hawser', `--timeout=${values.timeout}`]);
          await kubectl(['apply', '-k', dir]);
          await kubectl(['-n', ns, 'rollout', 'status', 'daemonset/hawser-uninstall', `--timeout=${values.timeout}`]);
          await kubectl(['delete', '-k', dir, '--wait=true']);
          say('✓ hawser\'s node state removed on every node');
        },
      });
      for (const x of r.removed) say(`✓ removed hawser's ${x}`);
      for (const x of r.restored) say(`✓ restored ${x}`);
      say("Submariner's operator reconciles its DaemonSets again; hawser's ConfigMap, Secrets and RBAC stay until `hawser uninstall cluster`.");
      return 0;
    }
    const facts = await readSubmariner(client, ns);
    const plan = planMigration(facts, ns);
    const outDir = values.output ?? `hawser-${plan.settings.clusterId}`;
    const files = renderOverlay({
      outDir, deployDir, settings: plan.settings, clusterToken: plan.broker.token, ...(plan.broker.ca ? { caPem: plan.broker.ca } : {}),
      info: { brokerURL: plan.broker.server, clientToken: { token: plan.broker.token, namespace: plan.broker.namespace }, ...(plan.psk ? { ipsecPsk: Buffer.from(plan.psk, 'base64') } : {}), serviceDiscovery: false, components: [] },
    });
    writeOverlay(outDir, files);
    say(`✓ wrote ${outDir} from the Submariner CR (cluster ${plan.settings.clusterId}, ${plan.settings.cableDriver}, pods ${plan.settings.clusterCidrs.join(',')}, services ${plan.settings.serviceCidrs.join(',')}${plan.settings.globalCidr ? `, global ${plan.settings.globalCidr}` : ''})`);
    if (plan.operatorReplicas !== undefined) say(`${values.apply ? '→' : 'would'} scale Deployment submariner-operator to 0 (from ${plan.operatorReplicas})`);
    if (plan.crFinalizers.length) say(`${values.apply ? '→' : 'would'} remove finalizer(s) ${plan.crFinalizers.join(', ')} from the Submariner CR`);
    for (const r of plan.removals) say(`${values.apply ? '→' : 'would'} save and delete ${r.what}`);
    for (const l of plan.leftAlone) say(`  left alone: ${l} (Lighthouse; unmanaged while the operator is scaled down)`);
    say('  adopted as they are: Lease submariner-gateway-lock, Endpoints, Clusters, Gateways, Secrets, ServiceAccounts, CRDs');
    if (!values.apply) {
      say('nothing changed; rerun with --apply');
      return 0;
    }
    const res = await executeMigration(client, plan, ns);
    for (const n of res.notes) say(`✓ ${n}`);
    say(`✓ saved ${res.saved.length} objects in ConfigMap ${ns}/hawser-migration-backup`);
    await applyOverlay(client, { kubeconfig: values.kubeconfig, deployDir, outDir, log: say });
    if (res.gatewayGapStartedAt) say(`✓ hawser applied ${((Date.now() - res.gatewayGapStartedAt) / 1000).toFixed(1)} s after Submariner's gateway DaemonSet was deleted (the cable outage is that plus hawser's start-up)`);
    say('roll back with: hawser rollback');
    return 0;
  } finally {
    client.close();
  }
}
