// Applying a join overlay and labelling gateway nodes.
import type { RestClient } from '../k8s/rest.js';
import { HawserError } from '../util/errors.js';
import { exec } from '../util/exec.js';
import { core, ensureCrds } from './kube.js';

export const GATEWAY_LABEL = 'submariner.io/gateway';

/** Labels the named nodes (or, with none named and none labelled yet, the first worker) submariner.io/gateway=true. */
export async function labelGateways(client: RestClient, names: readonly string[], o: { dryRun: boolean }): Promise<{ nodes: string[]; message: string }> {
  const nodes = (await client.list(core('nodes'))).items;
  const labelled = nodes.filter((n) => n.metadata.labels?.[GATEWAY_LABEL] === 'true').map((n) => n.metadata.name);
  let want = [...names];
  if (!want.length) {
    if (labelled.length) return { nodes: labelled, message: `✓ gateway node(s) already labelled: ${labelled.join(', ')}` };
    const isControlPlane = (l: Record<string, string> = {}): boolean => 'node-role.kubernetes.io/control-plane' in l || 'node-role.kubernetes.io/master' in l;
    const worker = nodes.map((n) => n) .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)).find((n) => !isControlPlane(n.metadata.labels));
    if (!worker) throw new HawserError('CONFIG', 'no node to label as gateway: pass --gateway-node NODE');
    want = [worker.metadata.name];
  }
  for (const n of want) if (!nodes.some((x) => x.metadata.name === n)) throw new HawserError('CONFIG', `--gateway-node ${n}: no such node`);
  if (o.dryRun) return { nodes: want, message: `next: kubectl label node ${want.join(' ')} ${GATEWAY_LABEL}=true  (or rerun with --apply)` };
  for (const n of want) await client.patch(core('nodes', undefined, n), { metadata: { labels: { [GATEWAY_LABEL]: 'true' } } }, 'merge');
  return { nodes: want, message: `✓ labelled ${want.join(', ')} ${GATEWAY_LABEL}=true` };
}

/** The CRDs (created if missing, never replaced), then `kubectl apply -k <overlay>`. */
export async function applyOverlay(client: RestClient, o: { kubeconfig?: string; deployDir: string; outDir: string; log: (s: string) => void }): Promise<void> {
  const crds = await ensureCrds(client, `${o.deployDir}/crds`);
  if (crds.length) o.log(`✓ created ${crds.length} CRDs`);
  const env = { ...process.env, ...(o.kubeconfig ? { KUBECONFIG: o.kubeconfig } : {}) };
  const r = await exec('kubectl', ['apply', '-k', o.outDir], { env, allowFailure: true, timeoutMs: 120_000 });
  if (r.code !== 0) throw new HawserError('API', `kubectl apply -k ${o.outDir} failed: ${r.stderr.trim() || r.stdout.trim()}`);
  o.log(r.stdout.trim());
}
