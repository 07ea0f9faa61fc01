// This gateway's Endpoint and Cluster, as Submariner publishes them: pure functions of config and node facts.
import type { GatewayConfig } from '../config/roles.js';
import { cableName, type EndpointSpec } from '../k8s/submariner/endpoint.js';
import type { ClusterSpec } from '../k8s/submariner/cluster.js';
import { GATEWAY_CONFIG_PREFIX } from '../k8s/node.js';
import { USING_LOAD_BALANCER_KEY } from './public-ip.js';

const LABEL_KEYS = ['udp-port', 'natt-discovery-port', 'public-ip', 'preferred-server'] as const;

export interface NodeFacts {
  name: string;
  /** InternalIP from the Node object (or the default-route source address). */
  privateIP: string;
  labels: Record<string, string>;
  /** The resolved public IP; '' or absent when none resolved (never defaulted to the private IP). */
  publicIP?: string;
  /** The public IP comes from a LoadBalancer Service (`lb:`): published as `using-loadbalancer=true`. */
  usingLoadBalancer?: boolean;
  /**
   * Unix seconds of this gateway's start: published as `preferred-server-timestamp` in preferred-server
   * mode, so clients see a restarted server as a changed Endpoint and reconnect (Submariner's local_endpoint.go).
   */
  startedAtSeconds?: number;
  /** Address for the health check (a pod-CIDR address on this node), if one exists. */
  healthCheckIP?: string;
}

/** Cluster and service CIDRs hawser does not publish: IPv6 ones, while it has no IPv6 cables. */
export function unpublishedSubnets(cfg: GatewayConfig): string[] {
  return cfg.globalCidrs.length > 0 ? [] : [...cfg.serviceCidrs, ...cfg.clusterCidrs].filter((c) => c.family === 6).map((c) => c.text);
}

export function buildLocalEndpoint(cfg: GatewayConfig, facts: NodeFacts, driverConfig: Record<string, string>): EndpointSpec {
  const backendConfig: Record<string, string> = Object.create(null) as Record<string, string>;
  backendConfig['udp-port'] = String(cfg.ipsec.nattPort);
  backendConfig['natt-discovery-port'] = '4490';
  backendConfig['preferred-server'] = String(cfg.ipsec.preferredServer);
  for (const k of LABEL_KEYS) {
    const v = facts.labels[GATEWAY_CONFIG_PREFIX + k];
    if (v !== undefined) backendConfig[k] = v;
  }
  if (facts.usingLoadBalancer) backendConfig[USING_LOAD_BALANCER_KEY] = 'true';
  if (/^(1|t|true)$/i.test(backendConfig['preferred-server'] ?? '') && facts.startedAtSeconds !== undefined) {
    backendConfig['preferred-server-timestamp'] = String(Math.floor(facts.startedAtSeconds));
  }
  Object.assign(backendConfig, driverConfig);
  // With Globalnet the cluster is reached through its global CIDR, not its (overlapping) pod/service CIDRs.
  // IPv6 CIDRs stay unpublished while hawser has no IPv6 cables: a 2025+ Submariner peer would otherwise
  // see an IPv6 family in our subnets and try an IPv6 cable to an endpoint with no IPv6 address.
  const subnets = cfg.globalCidrs.length > 0 ? cfg.globalCidrs.map((c) => c.text) : [...cfg.serviceCidrs, ...cfg.clusterCidrs].filter((c) => c.family === 4).map((c) => c.text);
  // Never the private IP by default: an unresolved public IP is published empty (the role says so).
  const publicIP = facts.publicIP ?? '';
  return {
    clusterId: cfg.clusterId,
    cableName: cableName(cfg.clusterId, facts.privateIP),
    hostname: facts.name,
    subnets,
    invalidSubnets: [],
    privateIP: facts.privateIP,
    publicIP,
    healthCheckIP: facts.healthCheckIP ?? '',
    privateIPs: [facts.privateIP],
    publicIPs: publicIP ? [publicIP] : [],
    healthCheckIPs: facts.healthCheckIP ? [facts.healthCheckIP] : [],
    natEnabled: cfg.natEnabled,
    backend: cfg.cableDriver,
    backendConfig,
  };
}

export function buildLocalCluster(cfg: GatewayConfig): ClusterSpec {
  return {
    clusterId: cfg.clusterId,
    colorCodes: cfg.colorCodes.length ? cfg.colorCodes : ['blue'],
    serviceCidrs: cfg.serviceCidrs.map((c) => c.text),
    clusterCidrs: cfg.clusterCidrs.map((c) => c.text),
    globalCidrs: cfg.globalCidrs.map((c) => c.text),
  };
}

/** The Endpoint with a re-resolved public IP; the same object when nothing changed. */
export function withPublicIP(ep: EndpointSpec, publicIP: string, usingLoadBalancer: boolean): EndpointSpec {
  const hadLb = ep.backendConfig[USING_LOAD_BALANCER_KEY] === 'true';
  if (publicIP === ep.publicIP && usingLoadBalancer === hadLb) return ep;
  const backendConfig = { ...ep.backendConfig };
  if (usingLoadBalancer) backendConfig[USING_LOAD_BALANCER_KEY] = 'true';
  else delete backendConfig[USING_LOAD_BALANCER_KEY];
  return { ...ep, publicIP, publicIPs: publicIP ? [publicIP] : [], backendConfig };
}

/** The Endpoint with another health-check IP (with Globalnet: the node's global IP once allocated). */
export function withHealthCheckIP(ep: EndpointSpec, ip: string): EndpointSpec {
  return { ...ep, healthCheckIP: ip, healthCheckIPs: ip ? [ip] : [] };
}

/** The config the cable driver runs with: a node label `gateway.submariner.io/udp-port` sets the port it listens on, as in Submariner. */
export function driverConfig(cfg: GatewayConfig, local: EndpointSpec): GatewayConfig {
  const port = Number(local.backendConfig['udp-port']);
  return Number.isInteger(port) && port > 0 && port < 65536 ? { ...cfg, ipsec: { ...cfg.ipsec, nattPort: port } } : cfg;
}
