// `hawser deploy-broker`: the broker on the cluster of --kubeconfig, and broker-info.subm for `join`.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { localAccess } from '../../k8s/access.js';
import { RestClient } from '../../k8s/rest.js';
import { BROKER_INFO_FILE, decodeBrokerInfo, encodeBrokerInfo } from '../../install/brokerinfo.js';
import { DEFAULT_BROKER_NAMESPACE, DEFAULT_GLOBALNET_CIDR_RANGE, DEFAULT_GLOBALNET_CLUSTER_SIZE, deployBroker } from '../../install/broker.js';
import { defaultDeployDir } from '../../install/kube.js';

export const USAGE = `usage: hawser deploy-broker [--kubeconfig FILE] [--namespace submariner-k8s-broker] [--globalnet]
         [--globalnet-cidr-range 242.0.0.0/8] [--globalnet-cluster-size 65536] [--ipsec-psk-from broker-info.subm]
         [--broker-url https://host:port] [--crds DIR] [--output broker-info.subm]
Creates the broker (CRDs, namespace, admin and cluster RBAC, Globalnet info) and writes broker-info.subm
in subctl's format (subctl join accepts it too). An existing output file is kept as <file>.<time>.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: 'string' }, namespace: { type: 'string', default: DEFAULT_BROKER_NAMESPACE },
      globalnet: { type: 'boolean', default: false }, 'globalnet-cidr-range': { type: 'string', default: DEFAULT_GLOBALNET_CIDR_RANGE },
      'globalnet-cluster-size': { type: 'string', default: String(DEFAULT_GLOBALNET_CLUSTER_SIZE) },
      'ipsec-psk-from': { type: 'string' }, 'broker-url': { type: 'string' }, crds: { type: 'string' },
      output: { type: 'string', default: BROKER_INFO_FILE }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const access = await localAccess(values.kubeconfig);
  const client = new RestClient(access, 30_000);
  try {
    const psk = values['ipsec-psk-from'] ? decodeBrokerInfo(readFileSync(values['ipsec-psk-from'], 'utf8')).ipsecPsk : undefined;
    const size = Number(values['globalnet-cluster-size']);
    const { info, created } = await deployBroker(client, {
      namespace: values.namespace,
      crdDir: values.crds ?? join(defaultDeployDir(), 'crds'),
      brokerURL: values['broker-url'] ?? client.server,
      ...(values.globalnet ? { globalnet: { cidrRange: values['globalnet-cidr-range']!, clusterSize: size } } : {}),
      ...(psk ? { psk } : {}),
    });
    // the token Secret carries the CA on real clusters; otherwise the kubeconfig's
    if (!info.clientToken.caPem) {
      const { ca } = await access.tls();
      if (ca) info.clientToken.caPem = ca.toString('utf8');
    }
    const out = values.output!;
    if (existsSync(out)) {
      const backup = `${out}.${new Date().toISOString().replace(/:/g, '_')}`;
      renameSync(out, backup);
      process.stdout.write(`✓ kept the previous ${out} as ${backup}\n`);
    }
    writeFileSync(out, encodeBrokerInfo(info), { mode: 0o600 });
    for (const c of created) process.stdout.write(`✓ created ${c}\n`);
    process.stdout.write(`✓ broker in namespace ${values.namespace} at ${info.brokerURL}; wrote ${out} (keep it private: it holds the broker admin token and the IPsec PSK)\n`);
    return 0;
  } finally {
    client.close();
  }
}
