// The broker as `hawser show` sees it: which clusters have registered, and whether each has an Endpoint
// there (an active gateway syncing). Pure, from the broker's Cluster and Endpoint objects.
import { parseCluster } from '../k8s/submariner/cluster.js';
import { parseEndpoint } from '../k8s/submariner/endpoint.js';
import type { KubeObject } from '../k8s/rest.js';
import { table } from './model.js';

export interface ShowBrokerEndpoint { cluster: string; endpointIP: string; publicIP: string; cableDriver: string; hostname: string }
export interface ShowBroker {
  server: string;
  namespace: string;
  /** Cluster IDs with a Cluster object on the broker. */
  clusters: string[];
  endpoints: ShowBrokerEndpoint[];
  /** Why the broker could not be read (unreachable, 403). */
  error?: string;
}

export function buildBroker(server: string, namespace: string, input: { clusters: readonly KubeObject[]; endpoints: readonly KubeObject[] } | { error: string }): ShowBroker {
  if ('error' in input) return { server, namespace, clusters: [], endpoints: [], error: input.error };
  const clusters = input.clusters.flatMap((c) => {
    const p = parseCluster(c);
    return p.ok ? [p.value.spec.clusterId] : [];
  }).sort();
  const endpoints = input.endpoints.flatMap((e) => {
    const p = parseEndpoint(e);
    if (!p.ok) return [];
    const s = p.value.spec;
    return [{ cluster: s.clusterId, endpointIP: s.privateIP, publicIP: s.publicIP, cableDriver: s.backend, hostname: s.hostname }];
  }).sort((a, b) => a.cluster.localeCompare(b.cluster));
  return { server, namespace, clusters, endpoints };
}

/** Why the broker section is ✗: unreadable, a registered cluster without an Endpoint, or a shown cluster missing. */
export function brokerProblems(b: ShowBroker, expectClusters: readonly string[] = []): string[] {
  if (b.error) return [`cannot read the broker: ${b.error}`];
  const problems: string[] = [];
  const withEp = new Set(b.endpoints.map((e) => e.cluster));
  for (const c of b.clusters) if (!withEp.has(c)) problems.push(`${c} has a Cluster but no Endpoint on the broker: its active gateway is not syncing (gateway log, broker token)`);
  for (const c of expectClusters) if (c && !b.clusters.includes(c) && !withEp.has(c)) problems.push(`${c} is not registered on the broker: its gateway cannot reach or write to it (BROKER_K8S_* / broker-info)`);
  return problems;
}

export function renderBroker(b: ShowBroker, expectClusters: readonly string[] = []): string {
  const problems = brokerProblems(b, expectClusters);
  const head = `Broker ${b.server} (namespace ${b.namespace})\n ${problems.length ? '✗' : '✓'} Showing Brokers`;
  if (b.error) return `${head}\n${problems.join('\n')}\n`;
  return `${head}\n${table(['CLUSTER', 'ENDPOINT IP', 'PUBLIC IP', 'CABLE DRIVER', 'HOSTNAME'], b.endpoints.map((e) => [e.cluster, e.endpointIP, e.publicIP, e.cableDriver, e.hostname]))}${problems.map((p) => `\n  ${p}`).join('')}\n`;
}
