// `hawser_leader{component, local_cluster, local_hostname}`: 1 on the instance that holds its role's
// Lease, 0 on the others, read from the leader signal at each scrape (no state to keep in sync).
// The "no Globalnet leader" alert is `max by (local_cluster) (hawser_leader{component="globalnet"}) == 0`.
import { Gauge, type Registry } from 'prom-client';

export const LEADER_METRIC = 'hawser_leader';

type LeaderLabels = 'component' | 'local_cluster' | 'local_hostname';

interface Source {
  labels: Record<LeaderLabels, string>;
  isLeader: () => boolean;
}

const sourcesOf = new WeakMap<Registry, Map<string, Source>>();

/** Registers (once per registry) the gauge and this instance's leader signal; a second call with the same labels replaces the first. */
export function trackLeader(registry: Registry, who: { component: string; cluster: string; hostname: string }, isLeader: () => boolean): void {
  let sources = sourcesOf.get(registry);
  if (!sources) {
    const all = new Map<string, Source>();
    sources = all;
    sourcesOf.set(registry, all);
    if (!registry.getSingleMetric(LEADER_METRIC)) {
      new Gauge<LeaderLabels>({
        name: LEADER_METRIC,
        help: '1 when this instance holds its role\'s leader Lease (Globalnet: submariner-globalnet-lock), else 0',
        labelNames: ['component', 'local_cluster', 'local_hostname'],
        registers: [registry],
        collect() {
          this.reset();
          for (const s of all.values()) this.set(s.labels, s.isLeader() ? 1 : 0);
        },
      });
    }
  }
  const labels = { component: who.component, local_cluster: who.cluster, local_hostname: who.hostname };
  sources.set(JSON.stringify(labels), { labels, isLeader });
}
