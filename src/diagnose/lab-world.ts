// `hawser diagnose all --lab NAME`: the lab's clusters through their host kubeconfigs, and each node's
// netns as the place where its end of a probe and its own checks run (as they would in its hawser pod).
import { join } from 'node:path';
import { kubeconfigFileAccess } from '../k8s/access.js';
import { RestClient } from '../k8s/rest.js';
import { Lab, findRepoRoot } from '../lab/index.js';
import { Nft } from '../os/nft.js';
import { exec } from '../util/exec.js';
import type { DiagnoseWorld } from './all.js';
import { armScript, parseProbeCounters, PROBE_TABLE } from './probes.js';

export async function labWorld(name: string, namespace: string, opts: { stateRoot?: string } = {}): Promise<DiagnoseWorld> {
  const lab = Lab.open(name, opts.stateRoot);
  const topo = lab.state().topology;
  const bin = join(findRepoRoot(), 'bin', 'hawser');
  const netns = (node: string): string => lab.node(node).netns;
  return {
    namespace,
    clusters: await Promise.all(topo.clusters.map(async (c) => ({
      id: c.id,
      client: new RestClient(await kubeconfigFileAccess(c.hostKubeconfig), 10_000),
      nodes: c.nodes.map((n) => ({ name: n.name, gateway: n.gateway })),
    }))),
    // no KUBECONFIG: `all` passes the CIDRs, so the node checks need no API; the node's checks are a
    // process of their own in its netns, as in its pod (util/exec.ts puts it there)
    runNode: (_cluster, node, args) => exec(bin, ['diagnose', 'node', ...args], { netns: netns(node), allowFailure: true, timeoutMs: 120_000, env: { ...process.env, KUBECONFIG: '' } }),
    arm: async (_cluster, node, expect) => new Nft({ netns: netns(node) }).run(armScript(expect)),
    collect: async (_cluster, node) => {
      const nft = new Nft({ netns: netns(node) });
      const listing = await nft.listTable('inet', PROBE_TABLE);
      await nft.deleteTable('inet', PROBE_TABLE);
      return parseProbeCounters(listing ?? '');
    },
  };
}

