// `hawser diagnose [--kubeconfig F] [--driver D] [--cluster-cidr C]`: what commonly breaks cables, and what to do.
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { exec } from '../../util/exec.js';
import { errorMessage } from '../../util/errors.js';
import { localAccess } from '../../k8s/access.js';
import { RestClient, resourcePath } from '../../k8s/rest.js';
import { CLUSTER_ID_LABEL, parseClusterSpec, SUBMARINER_GROUP, SUBMARINER_VERSION } from '../../k8s/resources.js';
import { renderChecks, runChecks, type NodeFactsForDiagnose } from '../../diagnose/checks.js';

export const USAGE = `usage: hawser diagnose [--kubeconfig FILE] [--driver libreswan|wireguard|vxlan] [--cluster-cidr CIDR[,CIDR]]
         [-n|--namespace submariner-operator]
Checks this node for what commonly breaks cables (binaries, kernel modules, ip_forward, MTU, nftables
default-drop, CIDR overlaps, API clock skew) and says what to do. Exit code 1 when any check fails.`;

async function which(bin: string): Promise<boolean> {
  return (await exec('sh', ['-c', `command -v ${bin}`], { allowFailure: true })).code === 0;
}

function moduleAvailable(name: string): boolean {
  if (existsSync(`/sys/module/${name}`)) return true;
  try {
    const rel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
    const dep = readFileSync(`/lib/modules/${rel}/modules.dep`, 'utf8');
    return new RegExp(`/${name}\\.ko`).test(dep);
  } catch {
    return false;
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { kubeconfig: { type: 'string' }, driver: { type: 'string' }, 'cluster-cidr': { type: 'string' }, namespace: { type: 'string', short: 'n', default: 'submariner-operator' } } });
  const env = process.env;
  const facts: NodeFactsForDiagnose = {
    binaries: {},
    kernel: { wireguard: moduleAvailable('wireguard'), esp: moduleAvailable('esp4'), vxlan: moduleAvailable('vxlan'), tun: existsSync('/dev/net/tun') },
    ipForward: readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() === '1',
    addresses: [],
    clusterCidrs: (values['cluster-cidr'] ?? env.SUBMARINER_CLUSTERCIDR ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    globalnet: Boolean(env.SUBMARINER_GLOBALCIDR),
    cableDriver: values.driver ?? env.SUBMARINER_CABLEDRIVER,
  };
  for (const b of ['ip', 'nft', 'fping', 'wireguard-go', 'charon-systemd', 'swanctl']) facts.binaries[b] = await which(b);
  try {
    const addrs = JSON.parse((await exec('ip', ['-j', '-4', 'addr', 'show'])).stdout) as Array<{ ifname: string; addr_info?: Array<{ local: string; prefixlen: number }> }>;
    facts.addresses = addrs.flatMap((l) => (l.addr_info ?? []).map((a) => ({ ifname: l.ifname, ip: a.local, prefix: a.prefixlen })));
    const routes = JSON.parse((await exec('ip', ['-j', 'route', 'show', 'default'])).stdout) as Array<{ dev?: string }>;
    const dev = routes[0]?.dev;
    if (dev) facts.defaultRouteMtu = Number(readFileSync(`/sys/class/net/${dev}/mtu`, 'utf8'));
  } catch {
    /* reported through missing facts */
  }
  const nft = await exec('nft', ['list', 'ruleset'], { allowFailure: true }).catch(() => undefined);
  if (nft?.code === 0) facts.nftRuleset = nft.stdout;
  if (values.kubeconfig || env.KUBECONFIG || env.KUBERNETES_SERVICE_HOST) {
    try {
      const client = new RestClient(await localAccess(values.kubeconfig), 5000);
      const { items } = await client.list(resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'clusters', values.namespace));
      facts.remoteClusters = items.filter((c) => c.metadata.labels?.[CLUSTER_ID_LABEL]).flatMap((c) => {
        const p = parseClusterSpec(c.spec);
        return p.ok ? [{ clusterId: p.value.clusterId, cidrs: [...p.value.clusterCidrs, ...p.value.serviceCidrs] }] : [];
      });
      facts.apiClockSkewMs = await clockSkew(client);
    } catch (err) {
      facts.apiError = errorMessage(err);
    }
  }
  const results = runChecks(facts);
  process.stdout.write(renderChecks(results));
  return results.some((r) => r.verdict === 'fail') ? 1 : 0;
}

/** Skew from the API server's Date header (second resolution), measured around one request. */
async function clockSkew(client: RestClient): Promise<number | undefined> {
  const before = Date.now();
  const res = await client.raw('GET', '/version');
  const after = Date.now();
  const date = res.headers.date;
  if (!date) return undefined;
  return Date.parse(date) + 500 - (before + after) / 2;
}
