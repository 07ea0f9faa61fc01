// `hawser join broker-info.subm`: subctl join's flags; writes (and with --apply applies) a kustomize overlay.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { brokerServerUrl, localAccess, staticAccess } from '../../k8s/access.js';
import { RestClient } from '../../k8s/rest.js';
import { decodeBrokerInfo, COMPONENT_GLOBALNET } from '../../install/brokerinfo.js';
import { discoverCluster } from '../../install/discover.js';
import { chooseCidrs, enrolOnBroker, globalCidrFor, renderOverlay, validateClusterId, writeOverlay, type CableDriver } from '../../install/join.js';
import { applyOverlay, labelGateways } from '../../install/apply.js';
import { defaultDeployDir } from '../../install/kube.js';
import { HawserError } from '../../util/errors.js';
import { UsageError } from '../usage.js';

export const USAGE = `usage: hawser join BROKER_INFO --clusterid ID [--kubeconfig FILE] [--cable-driver libreswan|wireguard|vxlan]
         [--natt=false] [--clustercidr CIDR[,CIDR]] [--servicecidr CIDR[,CIDR]] [--globalnet-cidr CIDR]
         [--gateway-node NODE]... [--label-gateway=false] [--preferred-server] [--force-udp-encaps]
         [--health-check=false] [--air-gapped] [--openshift] [--broker-insecure] [--deploy DIR] [--output DIR] [--apply]
Reads subctl's (or hawser deploy-broker's) broker-info.subm, enrols this cluster on the broker, finds the
pod and service CIDRs (saying where from), and writes a kustomize overlay (default ./hawser-<clusterid>).
--apply also applies the CRDs and the overlay and labels the gateway node(s).`;

/** subctl's boolean spelling (`--natt=false`) as parseArgs reads it (`--no-natt`). */
export function normaliseBooleans(argv: readonly string[], booleans: ReadonlySet<string>): string[] {
  return argv.map((a) => {
    const m = /^--([a-z-]+)=(true|false)$/.exec(a);
    if (!m || !booleans.has(m[1]!)) return a;
    return m[2] === 'true' ? `--${m[1]}` : `--no-${m[1]}`;
  });
}

const BOOLEANS = new Set(['natt', 'label-gateway', 'preferred-server', 'force-udp-encaps', 'health-check', 'air-gapped', 'openshift', 'broker-insecure', 'apply']);

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: normaliseBooleans(argv, BOOLEANS), allowPositionals: true, allowNegative: true,
    options: {
      kubeconfig: { type: 'string' }, clusterid: { type: 'string' }, 'cable-driver': { type: 'string', default: 'libreswan' },
      natt: { type: 'boolean', default: true }, clustercidr: { type: 'string' }, servicecidr: { type: 'string' },
      'globalnet-cidr': { type: 'string' }, 'gateway-node': { type: 'string', multiple: true }, 'label-gateway': { type: 'boolean', default: true },
      'preferred-server': { type: 'boolean', default: false }, 'force-udp-encaps': { type: 'boolean', default: false },
      'health-check': { type: 'boolean', default: true }, 'air-gapped': { type: 'boolean', default: false }, openshift: { type: 'boolean', default: false },
      'broker-insecure': { type: 'boolean', default: false }, deploy: { type: 'string' }, output: { type: 'string' }, apply: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `one broker-info file expected, got ${positionals.length} arguments` : 'missing the broker-info file (e.g. broker-info.subm)');
  if (!values.clusterid) throw new UsageError('--clusterid is required');
  const driver = values['cable-driver'] as CableDriver;
  if (!['libreswan', 'wireguard', 'vxlan'].includes(driver)) throw new HawserError('CONFIG', `--cable-driver ${JSON.stringify(driver)}: expected libreswan, wireguard or vxlan`);
  const clusterId = values.clusterid;
  validateClusterId(clusterId);
  const info = decodeBrokerInfo(readFileSync(positionals[0]!, 'utf8'));
  if (!info.ipsecPsk && driver !== 'vxlan') throw new HawserError('CONFIG', `${positionals[0]} has no IPSecPSK; the ${driver} driver needs one (make a new broker-info with deploy-broker)`);
  const local = new RestClient(await localAccess(values.kubeconfig), 30_000);
  const broker = new RestClient(staticAccess({ server: brokerServerUrl(info.brokerURL), token: info.clientToken.token, namespace: info.clientToken.namespace, ...(info.clientToken.caPem ? { caPem: info.clientToken.caPem } : {}), insecure: values['broker-insecure']! }), 30_000);
  const say = (s: string): void => void process.stdout.write(s + '\n');
  try {
    const split = (s?: string): string[] | undefined => s?.split(',').map((x) => x.trim()).filter(Boolean);
    const needDiscovery = !values.clustercidr || !values.servicecidr;
    const discovery = needDiscovery ? await discoverCluster(local, 'default') : { notes: [] };
    const cidrs = chooseCidrs({ clusterCidr: split(values.clustercidr), serviceCidr: split(values.servicecidr) }, discovery);
    for (const s of cidrs.sources) say(`✓ ${s}`);
    for (const n of discovery.notes) say(`! ${n}`);
    const enrolled = await enrolOnBroker(broker, info, clusterId);
    say(`✓ enrolled ${clusterId} on the broker ${info.brokerURL} (ServiceAccount cluster-${clusterId} in ${info.clientToken.namespace})`);
    const wantsGlobalnet = !!values['globalnet-cidr'] || info.components.includes(COMPONENT_GLOBALNET);
    const globalCidr = wantsGlobalnet ? await globalCidrFor(broker, info, clusterId, values['globalnet-cidr']) : undefined;
    if (globalCidr) say(`✓ Globalnet: global CIDR ${globalCidr}`);
    if (values['air-gapped']) say('✓ air-gapped: hawser resolves public IPs only from node annotations/labels and DNS, never external servers; mirror the image to your registry (kustomize images:)');
    const outDir = values.output ?? `hawser-${clusterId}`;
    const deployDir = values.deploy ?? defaultDeployDir();
    const files = renderOverlay({
      outDir, deployDir, info, clusterToken: enrolled.token, caPem: enrolled.caPem ?? info.clientToken.caPem,
      settings: {
        clusterId, cableDriver: driver, natt: values.natt!, preferredServer: values['preferred-server']!, forceUdpEncaps: values['force-udp-encaps']!,
        airGapped: values['air-gapped']!, healthCheck: values['health-check']!, clusterCidrs: cidrs.clusterCidrs, serviceCidrs: cidrs.serviceCidrs,
        ...(globalCidr ? { globalCidr } : {}), openshift: values.openshift!,
      },
    });
    writeOverlay(outDir, files);
    say(`✓ wrote ${join(outDir, 'kustomization.yaml')} and ${join(outDir, 'secrets.yaml')} (mode 0600)`);
    if (values['label-gateway']) {
      const labelled = await labelGateways(local, values['gateway-node'] ?? [], { dryRun: !values.apply });
      say(labelled.message);
    }
    if (values.apply) {
      await applyOverlay(local, { kubeconfig: values.kubeconfig, deployDir, outDir, log: say });
      say(`✓ applied; watch the gateway come up: kubectl -n submariner-operator get pods -l app=submariner-gateway`);
    } else {
      say(`next: kubectl apply --server-side -k ${join(deployDir, 'crds')} && kubectl apply -k ${outDir}`);
    }
    return 0;
  } finally {
    local.close();
    broker.close();
  }
}
