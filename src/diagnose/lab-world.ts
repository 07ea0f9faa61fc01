// `hawser diagnose all --lab NAME`: the lab's clusters through their host kubeconfigs, and each node's
// netns as the place where its end of a probe and its own checks run (as they would in its hawser pod).
// The lab describes itself (src/lab `Lab.netnsWorld`) and the CLI hands that over: diagnose never imports
// the lab.
import { kubeconfigFileAccess } from '../k8s/access.js';
import { RestClient } from '../k8s/rest.js';
import { Nft } from '../os/nft.js';
import { HawserError } from '../util/errors.js';
import { exec } from '../util/exec.js';
import type { DiagnoseWorld } from './all.js';
import { armScript, parseProbeCounters, PROBE_TABLE } from './probes.js';

/** Clusters whose nodes are network namespaces on this host. */
export interface NetnsClusters {
  /** The hawser binary run inside a node's netns for `diagnose node`. */
  hawserBinary: string;
  clusters: ReadonlyArray<{ id: string; hostKubeconfig: string; nodes: ReadonlyArray<{ name: string; gateway: boolean; netns: string }> }>;
}

export async function labWorld(lab: NetnsClusters, namespace: string): Promise<DiagnoseWorld> {
  const netnsOf = new Map(lab.clusters.flatMap((c) => c.nodes.map((n) => [n.name, n.netns] as const)));
  const netns = (node: string): string => {
    const ns = netnsOf.get(node);
    if (!ns) throw new HawserError('NOT_FOUND', `the lab has no node ${node}`);
    return ns;
  };
  return {
    namespace,
    clusters: await Promise.all(lab.clusters.map(async (c) => ({
      id: c.id,
      client: new RestClient(await kubeconfigFileAccess(c.hostKubeconfig), 10_000),
      nodes: c.nodes.map((n) => ({ name: n.name, gateway: n.gateway })),
    }))),
    // no KUBECONFIG: `all` passes the CIDRs, so the node checks need no API; the node's checks are a
    // process of their own in its netns, as in its pod (util/exec.ts puts it there)
    runNode: (_cluster, node, args) => exec(lab.hawserBinary, ['diagnose', 'node', ...args], { netns: netns(node), allowFailure: true, timeoutMs: 120_000, env: { ...process.env, KUBECONFIG: '' } }),
    arm: async (_cluster, node, expect) => new Nft({ netns: netns(node) }).run(armScript(expect)),
    collect: async (_cluster, node) => {
      const nft = new Nft({ netns: netns(node) });
      const listing = await nft.listTable('inet', PROBE_TABLE);
      await nft.deleteTable('inet', PROBE_TABLE);
      return parseProbeCounters(listing ?? '');
    },
  };
}
