// Every environment variable Submariner's gateway, route agent and globalnet read, and what hawser does with
// it: the one place that says so (the README's table is written from this one; test/config/env-table.test.ts
// checks it against the list taken from Submariner's source).
//
// Sources: submariner pkg/types/types.go (SubmarinerSpecification, prefix SUBMARINER_), main.go
// (leaderConfig, prefix LEADERSHIP_), pkg/gateway/gateway.go (AIR_GAPPED_DEPLOYMENT), pkg/cable/libreswan and
// pkg/cable/wireguard (prefix CE_IPSEC_), pkg/routeagent_driver/main.go and environment/env.go (route agent),
// handlers/ovn/env.go (OVN_*), pkg/globalnet/controllers/types.go (globalnet), pkg/pod, pkg/node; admiral
// pkg/syncer/broker (prefix BROKER_K8S_). At 0.19 (5b70b1e4) plus what 2026-03 devel added (AUTHMODE,
// INTRAROUTINGDISABLED).
import type { Env } from './parse.js';
import { ConfigError } from './parse.js';

export type EnvRole = 'gateway' | 'route-agent' | 'globalnet';

/**
 * - honoured: read into hawser's configuration with Submariner's meaning;
 * - warned: accepted, but hawser does not act on it: a warning naming it is logged when it is set to
 *   something that would matter;
 * - partly: some values honoured, others warned or rejected (see `check`).
 */
export type EnvHandling = 'honoured' | 'warned' | 'partly';

export interface EnvVarEntry {
  name: string;
  roles: readonly EnvRole[];
  handling: EnvHandling;
  /** What hawser does, for the README and for humans reading this table. */
  note: string;
  /** For warned/partly variables: a warning or an error for a given (non-empty) value, if any. */
  check?: (value: string, role: EnvRole) => { warn: string } | { error: string } | undefined;
}

const ALL: readonly EnvRole[] = ['gateway', 'route-agent', 'globalnet'];
const GW: readonly EnvRole[] = ['gateway'];
const RA: readonly EnvRole[] = ['route-agent'];
const GW_RA: readonly EnvRole[] = ['gateway', 'route-agent'];
const isTrue = (v: string): boolean => /^(1|t|true|yes|on)$/i.test(v.trim());

const ignoredWhenTrue = (why: string) => (v: string): { warn: string } | undefined => (isTrue(v) ? { warn: why } : undefined);

export const SUBMARINER_ENV: readonly EnvVarEntry[] = [
  // ---- SubmarinerSpecification (gateway; the route agent reads it too) ----
  { name: 'SUBMARINER_NAMESPACE', roles: ALL, handling: 'honoured', note: 'namespace of the Endpoint/Cluster/Gateway objects and the Lease' },
  { name: 'SUBMARINER_CLUSTERID', roles: ALL, handling: 'honoured', note: 'this cluster\'s ID' },
  { name: 'SUBMARINER_CLUSTERCIDR', roles: ALL, handling: 'honoured', note: 'pod CIDRs (comma-separated); IPv6 ones are not published while hawser has no IPv6 cables' },
  { name: 'SUBMARINER_SERVICECIDR', roles: ALL, handling: 'honoured', note: 'service CIDRs (comma-separated); IPv6 ones are not published' },
  { name: 'SUBMARINER_GLOBALCIDR', roles: ALL, handling: 'honoured', note: 'Globalnet CIDR; published instead of the cluster and service CIDRs' },
  { name: 'SUBMARINER_CABLEDRIVER', roles: GW, handling: 'honoured', note: 'libreswan (default), wireguard or vxlan' },
  { name: 'SUBMARINER_NATENABLED', roles: GW, handling: 'honoured', note: 'published as nat_enabled; remote gateways use it when NAT discovery has no answer' },
  { name: 'SUBMARINER_PUBLICIP', roles: GW, handling: 'honoured', note: 'public-IP resolver chain when the node has no gateway.submariner.io/public-ip; lb: also sets using-loadbalancer' },
  { name: 'SUBMARINER_DEBUG', roles: ALL, handling: 'honoured', note: 'debug logging' },
  { name: 'SUBMARINER_HEALTHCHECKENABLED', roles: GW_RA, handling: 'honoured', note: 'default true' },
  { name: 'SUBMARINER_HEALTHCHECKINTERVAL', roles: GW_RA, handling: 'honoured', note: 'seconds, 0 = default 1; the route agent probes every interval × 60 s' },
  { name: 'SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT', roles: GW_RA, handling: 'honoured', note: '0 = default 5' },
  { name: 'SUBMARINER_METRICSPORT', roles: ALL, handling: 'honoured', note: 'gateway 32780, globalnet 32781, hawser\'s route agent 32782' },
  { name: 'SUBMARINER_UNINSTALL', roles: ALL, handling: 'honoured', note: 'gateway and route agent run their uninstall path instead of the agent; globalnet: see hawser globalnet --uninstall' },
  {
    name: 'SUBMARINER_HALT_ON_CERT_ERROR', roles: GW, handling: 'warned', note: 'ignored: hawser uses no certificates (CE_IPSEC_AUTHMODE=psk only)',
    check: ignoredWhenTrue('SUBMARINER_HALT_ON_CERT_ERROR=true is ignored: hawser authenticates with the pre-shared key only and has no certificates to halt on'),
  },
  {
    name: 'SUBMARINER_BROKER', roles: GW, handling: 'partly', note: 'only k8s, Submariner\'s one broker type',
    check: (v) => (v.trim().toLowerCase() === 'k8s' ? undefined : { error: `${JSON.stringify(v)} is not supported: hawser speaks only to a Kubernetes broker (k8s), configured by BROKER_K8S_*` }),
  },
  {
    name: 'SUBMARINER_TOKEN', roles: GW, handling: 'warned', note: 'ignored (Submariner does not use it either); the broker token comes from BROKER_K8S_SECRET or BROKER_K8S_APISERVERTOKEN',
    check: () => ({ warn: 'SUBMARINER_TOKEN is ignored: the broker token comes from BROKER_K8S_SECRET or BROKER_K8S_APISERVERTOKEN' }),
  },
  // ---- leader election (gateway main.go) ----
  { name: 'LEADERSHIP_LEASEDURATION', roles: GW, handling: 'honoured', note: 'seconds; HAWSER_LEASE_DURATION overrides; unset: hawser\'s 2 s' },
  { name: 'LEADERSHIP_RENEWDEADLINE', roles: GW, handling: 'honoured', note: 'seconds; HAWSER_RENEW_DEADLINE overrides; unset: hawser\'s 1.5 s' },
  { name: 'LEADERSHIP_RETRYPERIOD', roles: GW, handling: 'honoured', note: 'seconds; HAWSER_RETRY_PERIOD overrides; unset: hawser\'s 0.25 s' },
  { name: 'AIR_GAPPED_DEPLOYMENT', roles: GW, handling: 'honoured', note: 'only literal ipv4:/ipv6: public-IP resolvers are used, else the public IP is empty' },
  // ---- CE_IPSEC_* (libreswan and wireguard drivers) ----
  { name: 'CE_IPSEC_PSK', roles: GW, handling: 'honoured', note: 'the pre-shared key text (IPsec as is, WireGuard sha256 of it)' },
  { name: 'CE_IPSEC_PSKSECRET', roles: GW, handling: 'honoured', note: 'name of the mounted Secret: base64 of /var/run/secrets/submariner.io/<name>/psk; wins over CE_IPSEC_PSK' },
  { name: 'CE_IPSEC_NATTPORT', roles: GW, handling: 'honoured', note: 'cable UDP port (default 4500) and the default remote port' },
  { name: 'CE_IPSEC_FORCEENCAPS', roles: GW, handling: 'honoured', note: 'UDP-encapsulate ESP even without NAT' },
  { name: 'CE_IPSEC_PREFERREDSERVER', roles: GW, handling: 'honoured', note: 'preferred-server mode; publishes preferred-server-timestamp' },
  { name: 'CE_IPSEC_DEBUG', roles: GW, handling: 'honoured', note: 'debug logging of the IKE daemon' },
  {
    name: 'CE_IPSEC_AUTHMODE', roles: GW, handling: 'partly', note: 'psk (default) honoured; cert rejected',
    check: (v) => {
      const m = v.trim().toLowerCase();
      if (m === 'psk') return undefined;
      if (m === 'cert') return { error: '"cert" is not supported: hawser authenticates IPsec with the pre-shared key only (CE_IPSEC_AUTHMODE=psk and CE_IPSEC_PSK or CE_IPSEC_PSKSECRET); join this cluster set without certificate authentication' };
      return { error: `${JSON.stringify(v)} is not valid: expected psk (cert is not supported by hawser)` };
    },
  },
  {
    name: 'CE_IPSEC_LOGFILE', roles: GW, handling: 'warned', note: 'ignored: the IKE daemon logs into the gateway\'s log',
    check: () => ({ warn: 'CE_IPSEC_LOGFILE is ignored: hawser\'s IKE daemon (charon) logs into the gateway pod log' }),
  },
  // ---- broker (admiral syncer/broker) ----
  { name: 'BROKER_K8S_APISERVER', roles: GW, handling: 'honoured', note: 'host:port or URL of the broker API server' },
  { name: 'BROKER_K8S_APISERVERTOKEN', roles: GW, handling: 'honoured', note: 'broker token, when BROKER_K8S_SECRET gives none' },
  { name: 'BROKER_K8S_REMOTENAMESPACE', roles: GW, handling: 'honoured', note: 'broker namespace' },
  { name: 'BROKER_K8S_INSECURE', roles: GW, handling: 'honoured', note: 'skip TLS verification' },
  { name: 'BROKER_K8S_CA', roles: GW, handling: 'honoured', note: 'base64 PEM CA, when BROKER_K8S_SECRET gives none' },
  { name: 'BROKER_K8S_SECRET', roles: GW, handling: 'honoured', note: 'token and ca.crt read from /run/secrets/submariner.io/<name>/ before the variables' },
  // ---- downward API ----
  { name: 'NODE_NAME', roles: ALL, handling: 'honoured', note: 'this node' },
  { name: 'POD_NAME', roles: ALL, handling: 'honoured', note: 'the gateway pod gets the gateway.submariner.io/status label' },
  // ---- route agent ----
  {
    name: 'SUBMARINER_NETWORKPLUGIN', roles: RA, handling: 'partly', note: 'generic CNIs honoured; OVNKubernetes warned (no OVN handler in hawser)',
    check: (v) => (/ovn/i.test(v) ? { warn: `SUBMARINER_NETWORKPLUGIN=${v}: hawser has no OVN-Kubernetes handler; it programs routes as for a generic CNI, which OVN-Kubernetes does not use` } : undefined),
  },
  {
    name: 'SUBMARINER_INTRAROUTINGDISABLED', roles: RA, handling: 'warned', note: 'ignored: hawser always routes inside the cluster to the gateway',
    check: ignoredWhenTrue('SUBMARINER_INTRAROUTINGDISABLED=true is ignored: hawser\'s route agent always routes remote traffic from every node to the active gateway'),
  },
  {
    name: 'SUBMARINER_PROFILEPORT', roles: RA, handling: 'warned', note: 'ignored: no pprof; hawser\'s route agent serves metrics on SUBMARINER_METRICSPORT (32782)',
    check: () => ({ warn: 'SUBMARINER_PROFILEPORT is ignored: hawser has no profiling endpoint; its route agent serves metrics on SUBMARINER_METRICSPORT (default 32782)' }),
  },
  {
    name: 'SUBMARINER_WAITFORNODE', roles: RA, handling: 'partly', note: 'true rejected: hawser has no await-node-ready step',
    check: (v) => (isTrue(v) ? { error: 'true is not supported: hawser has no await-node-ready step; remove that init container (the route agent itself retries until the node is ready)' } : undefined),
  },
  ...(['OVN_PK', 'OVN_CERT', 'OVN_CA'] as const).map((name): EnvVarEntry => ({
    name, roles: RA, handling: 'warned', note: 'ignored: no OVN-Kubernetes handler',
    check: () => ({ warn: `${name} is ignored: hawser has no OVN-Kubernetes handler` }),
  })),
];

export interface EnvCheck {
  warnings: string[];
  errors: ConfigError[];
}

/** The warnings and errors of the warned/partly variables set for `role`. */
export function checkSubmarinerEnv(env: Env, role: EnvRole): EnvCheck {
  const out: EnvCheck = { warnings: [], errors: [] };
  for (const e of SUBMARINER_ENV) {
    if (!e.check || !e.roles.includes(role)) continue;
    const v = env[e.name];
    if (v === undefined || v.trim() === '') continue;
    const r = e.check(v, role);
    if (!r) continue;
    if ('warn' in r) out.warnings.push(r.warn);
    else out.errors.push(new ConfigError(e.name, r.error));
  }
  return out;
}
