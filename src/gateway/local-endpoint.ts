// This gateway's Endpoint and Cluster, as Submariner publishes them: pure functions of config and node facts.
import { isIPv4 } from 'node:net';
import type { GatewayConfig } from '../config/roles.js';
import { cableName, type ClusterSpec, type EndpointSpec } from '../k8s/resources.js';
import type { KubeObject } from '../k8s/rest.js';

/** Node labels that override backend_config keys (Submariner's `gateway.submariner.io/<key>`). */
export const GATEWAY_LABEL_PREFIX = 'gateway.submariner.io/';
const LABEL_KEYS = ['udp-port', 'natt-discovery-port', 'public-ip', 'preferred-server'] as const;

export interface NodeFacts {
  name: string;
  /** InternalIP from the Node object (or the default-route source address). */
  privateIP: string;
  labels: Record<string, string>;
  /** Resolved public IP (from the `public-ip` label resolver), if any. */
  publicIP?: string;
  /** Address for the health check (a pod-CIDR address on this node), if one exists. */
  healthCheckIP?: string;
}

export function nodeInternalIP(node: KubeObject): string | undefined {
  const st = node.status as { addresses?: Array<{ type?: unknown; address?: unknown }> } | undefined;
  const a = st?.addresses?.find((x) => x.type === 'InternalIP' && typeof x.address === 'string' && isIPv4(x.address));
  return typeof a?.address === 'string' ? a.address : undefined;
}

/** `public-ip` label/config value: `ipv4:1.2.3.4` resolves here; `dns:`/`lb:`/`api:` need I/O (resolved by the caller). */
export function parsePublicIpResolver(v: string): { kind: 'ipv4' | 'dns' | 'lb' | 'api'; value: string } | { error: string } {
  const m = /^(ipv4|dns|lb|api):(.+)$/.exec(v.trim());
  if (!m) return { error: `public-ip ${JSON.stringify(v)} is not one of ipv4:<ip>, dns:<name>, lb:<service>, api:<host>` };
  const kind = m[1] as 'ipv4' | 'dns' | 'lb' | 'api';
  if (kind === 'ipv4' && !isIPv4(m[2]!)) return { error: `public-ip ${JSON.stringify(v)}: ${m[2]} is not an IPv4 address` };
  return { kind, value: m[2]! };
}

export function buildLocalEndpoint(cfg: GatewayConfig, facts: NodeFacts, driverConfig: Record<string, string>): EndpointSpec {
  const backendConfig: Record<string, string> = Object.create(null) as Record<string, string>;
  backendConfig['udp-port'] = String(cfg.ipsec.nattPort);
  backendConfig['natt-discovery-port'] = '4490';
  backendConfig['preferred-server'] = String(cfg.ipsec.preferredServer);
  for (const k of LABEL_KEYS) {
    const v = facts.labels[GATEWAY_LABEL_PREFIX + k];
    if (v !== undefined) backendConfig[k] = v;
  }
  Object.assign(backendConfig, driverConfig);
  // With Globalnet the cluster is reached through its global CIDR, not its (overlapping) pod/service CIDRs.
  const subnets = cfg.globalCidrs.length > 0 ? cfg.globalCidrs.map((c) => c.text) : [...cfg.serviceCidrs, ...cfg.clusterCidrs].map((c) => c.text);
  const publicIP = facts.publicIP ?? facts.privateIP;
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
    publicIPs: [publicIP],
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
