// Globalnet's Prometheus metrics, with Submariner's names and its one label (`cidr`). Gauges are set from
// each plan's totals (level-triggered), so they never drift from the statuses they describe. The role's
// registry is made like the other roles' (metrics/registry.ts): process metrics and hawser_build_info.
import { Gauge, Registry } from 'prom-client';
import { createRegistry } from './registry.js';

/** The Globalnet pool's totals, as each plan counts them (nat/desired.ts `summarize`) and the gauges show them. */
export interface IpStats {
  cidr: string;
  /** Usable addresses in the CIDR. */
  size: number;
  available: number;
  allocated: number;
  egress: number;
  clusterEgress: number;
  ingress: number;
}

/** Port Submariner's globalnet serves metrics on (SUBMARINER_METRICSPORT overrides it). */
export const GLOBALNET_METRICS_PORT = 32781;

export class GlobalnetMetrics {
  readonly registry: Registry;
  private readonly availability: Gauge<'cidr'>;
  private readonly allocated: Gauge<'cidr'>;
  private readonly egress: Gauge<'cidr'>;
  private readonly clusterEgress: Gauge<'cidr'>;
  private readonly ingress: Gauge<'cidr'>;
  private cidr: string | undefined;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const gauge = (name: string, help: string): Gauge<'cidr'> => new Gauge({ name, help, labelNames: ['cidr'], registers: [registry] });
    this.availability = gauge('submariner_global_IP_availability', 'Count of available global IPs per CIDR');
    this.allocated = gauge('submariner_global_IP_allocated', 'Count of global IPs allocated for Pods/Services per CIDR');
    this.egress = gauge('submariner_global_egress_IP_allocated', 'Count of global Egress IPs allocated for Pods/Services per CIDR');
    this.clusterEgress = gauge('submariner_cluster_global_egress_IP_allocated', 'Count of global Egress IPs allocated for clusters per CIDR');
    this.ingress = gauge('submariner_global_ingress_IP_allocated', 'Count of global ingress IPs allocated for Pods/Services per CIDR');
  }

  record(s: IpStats): void {
    if (this.cidr !== undefined && this.cidr !== s.cidr) {
      // A new global CIDR: the old series would otherwise stay forever.
      for (const g of [this.availability, this.allocated, this.egress, this.clusterEgress, this.ingress]) g.remove(this.cidr);
    }
    this.cidr = s.cidr;
    this.availability.set({ cidr: s.cidr }, s.available);
    this.allocated.set({ cidr: s.cidr }, s.allocated);
    this.egress.set({ cidr: s.cidr }, s.egress);
    this.clusterEgress.set({ cidr: s.cidr }, s.clusterEgress);
    this.ingress.set({ cidr: s.cidr }, s.ingress);
  }
}

/** The role's metrics in a registry of their own, with process metrics and `hawser_build_info{component="globalnet"}`. */
export function createGlobalnetMetrics(version?: string): GlobalnetMetrics {
  return new GlobalnetMetrics(createRegistry({ component: 'globalnet', ...(version !== undefined ? { version } : {}) }));
}
