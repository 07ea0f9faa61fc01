// The three DaemonSet roles, configured exactly from Submariner's environment (plus a few HAWSER_* extras).
import {
  type Cidr, type Env, ErrorCollector, readBool, readCidrList, readEnum, readInt, readPort, readSecondsMs, readString,
} from './parse.js';
import { readFileSync } from 'node:fs';
import { ConfigError } from './parse.js';

export type CableDriverName = 'libreswan' | 'wireguard' | 'vxlan';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export interface CommonConfig {
  namespace: string;
  clusterId: string;
  nodeName: string;
  podName?: string;
  podNamespace?: string;
  clusterCidrs: Cidr[];
  serviceCidrs: Cidr[];
  globalCidrs: Cidr[];
  debug: boolean;
  metricsPort: number;
  /** Where hawser keeps its sockets and daemon configs. */
  stateDir: string;
}

export interface BrokerConfig {
  /** host[:port] or a URL. */
  apiServer: string;
  token: string;
  remoteNamespace: string;
  /** PEM, decoded from base64. */
  ca?: string;
  insecure: boolean;
}

export interface IpsecConfig {
  /** The PSK text exactly as given (base64 text), used as-is by IPsec and hashed for WireGuard. */
  psk: string;
  debug: boolean;
  ikePort: number;
  nattPort: number;
  forceEncaps: boolean;
  preferredServer: boolean;
}

export interface ElectionTimings {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  releaseOnCancel: boolean;
}

export interface GatewayConfig extends CommonConfig {
  role: 'gateway';
  cableDriver: CableDriverName;
  natEnabled: boolean;
  colorCodes: string[];
  healthCheck: HealthCheckConfig;
  ipsec: IpsecConfig;
  broker: BrokerConfig;
  election: ElectionTimings;
  /** Use kernel-libipsec (userspace ESP) for charon: for kernels without ESP, as in the lab. */
  ipsecUserspace: boolean;
  /**
   * HAWSER_IPSEC_BACKEND: `strongswan` (charon over VICI, default) or `libreswan` (pluto over whack, for
   * cluster sets with libreswan 4.x gateways: see src/cable-drivers/ipsec/libreswan/).
   */
  ipsecBackend: 'strongswan' | 'libreswan';
}

export interface HealthCheckConfig { enabled: boolean; intervalMs: number; maxPacketLossCount: number }

export interface RouteAgentConfig extends CommonConfig {
  role: 'route-agent';
  uninstall: boolean;
  /** Same variables as the gateway's; Submariner's route agent probes every interval × 60 (see routeagent). */
  healthCheck: HealthCheckConfig;
}

export interface GlobalnetConfig extends CommonConfig {
  role: 'globalnet';
  election: ElectionTimings;
}

/** Submariner treats 0 (and unset) as "use the default" for both integers. */
function healthCheckConfig(env: Env, c: ErrorCollector): HealthCheckConfig {
  const interval = c.take(() => readInt(env, 'SUBMARINER_HEALTHCHECKINTERVAL', 1, { min: 0, max: 3600, unit: 'seconds' }), 1);
  const loss = c.take(() => readInt(env, 'SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT', 5, { min: 0, max: 1000 }), 5);
  return {
    enabled: c.take(() => readBool(env, 'SUBMARINER_HEALTHCHECKENABLED', true), true),
    intervalMs: 1000 * (interval === 0 ? 1 : interval),
    maxPacketLossCount: loss === 0 ? 5 : loss,
  };
}

const DRIVER_ALIASES: Readonly<Record<string, CableDriverName>> = { ipsec: 'libreswan', strongswan: 'libreswan' };

function common(env: Env, c: ErrorCollector, metricsDefault: number, cidrsRequired: boolean): CommonConfig {
  return {
    namespace: c.take(() => readString(env, 'SUBMARINER_NAMESPACE', { required: true, pattern: DNS_LABEL, expect: 'a Kubernetes namespace name' }), ''),
    clusterId: c.take(() => readString(env, 'SUBMARINER_CLUSTERID', { required: true, pattern: DNS_LABEL, expect: 'a DNS label of 1-63 lower-case letters, digits or dashes' }), ''),
    nodeName: c.take(() => readString(env, 'NODE_NAME', { required: true, pattern: DNS_SUBDOMAIN, expect: 'the node name (set from spec.nodeName)' }), ''),
    podName: readString(env, 'POD_NAME'),
    podNamespace: readString(env, 'POD_NAMESPACE'),
    clusterCidrs: c.take(() => readCidrList(env, 'SUBMARINER_CLUSTERCIDR', { required: cidrsRequired }), []),
    serviceCidrs: c.take(() => readCidrList(env, 'SUBMARINER_SERVICECIDR', { required: cidrsRequired }), []),
    globalCidrs: c.take(() => readCidrList(env, 'SUBMARINER_GLOBALCIDR', { required: false }), []),
    debug: c.take(() => readBool(env, 'SUBMARINER_DEBUG', false), false),
    metricsPort: c.take(() => readPort(env, 'SUBMARINER_METRICSPORT', metricsDefault), metricsDefault),
    stateDir: readString(env, 'HAWSER_STATE_DIR', { default: '/var/run/hawser' }) ?? '/var/run/hawser',
  };
}

function election(env: Env, c: ErrorCollector, def: ElectionTimings): ElectionTimings {
  const t: ElectionTimings = {
    leaseDurationMs: c.take(() => readSecondsMs(env, 'HAWSER_LEASE_DURATION', def.leaseDurationMs, { min: 0.5, max: 300 }), def.leaseDurationMs),
    renewDeadlineMs: c.take(() => readSecondsMs(env, 'HAWSER_RENEW_DEADLINE', def.renewDeadlineMs, { min: 0.3, max: 300 }), def.renewDeadlineMs),
    retryPeriodMs: c.take(() => readSecondsMs(env, 'HAWSER_RETRY_PERIOD', def.retryPeriodMs, { min: 0.1, max: 60 }), def.retryPeriodMs),
    releaseOnCancel: c.take(() => readBool(env, 'HAWSER_LEASE_RELEASE_ON_SHUTDOWN', def.releaseOnCancel), def.releaseOnCancel),
  };
  if (t.renewDeadlineMs >= t.leaseDurationMs) c.errors.push(new ConfigError('HAWSER_RENEW_DEADLINE', `${t.renewDeadlineMs / 1000} s must be shorter than HAWSER_LEASE_DURATION (${t.leaseDurationMs / 1000} s)`));
  else if (t.retryPeriodMs >= t.renewDeadlineMs) c.errors.push(new ConfigError('HAWSER_RETRY_PERIOD', `${t.retryPeriodMs / 1000} s must be shorter than HAWSER_RENEW_DEADLINE (${t.renewDeadlineMs / 1000} s)`));
  return t;
}

/**
 * hawser's default gateway timings: a crashed active gateway's lease expires 2 s after a standby last saw
 * it renewed, and standbys look every 0.25 s, so takeover starts within ~2.25 s; a graceful shutdown
 * releases the lease and a standby takes over within one retry period.
 * API cost per cluster: the active gateway writes the Lease 4 times/s, each standby reads it 4 times/s
 * (Submariner's 15 s / 10 s / 2 s: 0.5 writes/s and 0.5 reads/s per standby, with ≥ 15 s outages).
 */
export const GATEWAY_ELECTION_DEFAULTS: ElectionTimings = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250, releaseOnCancel: true };
export const SUBMARINER_GATEWAY_ELECTION: ElectionTimings = { leaseDurationMs: 15000, renewDeadlineMs: 10000, retryPeriodMs: 2000, releaseOnCancel: false };
export const GLOBALNET_ELECTION_DEFAULTS: ElectionTimings = { leaseDurationMs: 20000, renewDeadlineMs: 15000, retryPeriodMs: 2000, releaseOnCancel: true };

function readPsk(env: Env, c: ErrorCollector, required: boolean): string {
  const direct = readString(env, 'CE_IPSEC_PSK');
  if (direct) return direct;
  const file = readString(env, 'CE_IPSEC_PSKFILE');
  if (file) {
    try {
      // A PSK read from a mounted secret file is base64-encoded first, as Submariner does.
      return Buffer.from(readFileSync(file)).toString('base64');
    } catch (err) {
      c.errors.push(new ConfigError('CE_IPSEC_PSKFILE', `cannot read ${file}: ${(err as Error).message}`));
      return '';
    }
  }
  if (required) c.errors.push(new ConfigError('CE_IPSEC_PSK', 'is required for the IPsec and WireGuard cable drivers but not set (expected the base64 pre-shared key from the broker secret)'));
  return '';
}

function readBrokerCa(env: Env, c: ErrorCollector): string | undefined {
  const v = readString(env, 'BROKER_K8S_CA');
  if (!v) return undefined;
  if (v.includes('-----BEGIN')) return v;
  const pem = Buffer.from(v, 'base64').toString('utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    c.errors.push(new ConfigError('BROKER_K8S_CA', 'is not a base64-encoded PEM certificate'));
    return undefined;
  }
  return pem;
}

export function gatewayConfigFromEnv(env: Env): GatewayConfig {
  const c = new ErrorCollector();
  const base = common(env, c, 32780, true);
  const cableDriver = c.take(() => readEnum<CableDriverName>(env, 'SUBMARINER_CABLEDRIVER', 'libreswan', ['libreswan', 'wireguard', 'vxlan'], DRIVER_ALIASES), 'libreswan');
  const cfg: GatewayConfig = {
    ...base,
    role: 'gateway',
    cableDriver,
    natEnabled: c.take(() => readBool(env, 'SUBMARINER_NATENABLED', false), false),
    colorCodes: (readString(env, 'SUBMARINER_COLORCODES') ?? 'blue').split(',').map((s) => s.trim()).filter(Boolean),
    healthCheck: healthCheckConfig(env, c),
    ipsec: {
      psk: readPsk(env, c, cableDriver !== 'vxlan'),
      debug: c.take(() => readBool(env, 'CE_IPSEC_DEBUG', false), false),
      ikePort: c.take(() => readPort(env, 'CE_IPSEC_IKEPORT', 500), 500),
      nattPort: c.take(() => readPort(env, 'CE_IPSEC_NATTPORT', 4500), 4500),
      forceEncaps: c.take(() => readBool(env, 'CE_IPSEC_FORCEENCAPS', false), false),
      preferredServer: c.take(() => readBool(env, 'CE_IPSEC_PREFERREDSERVER', false), false),
    },
    broker: {
      apiServer: c.take(() => readString(env, 'BROKER_K8S_APISERVER', { required: true, expect: 'the broker API server as host:port or https://host:port' }), ''),
      token: c.take(() => readString(env, 'BROKER_K8S_APISERVERTOKEN', { required: true, expect: 'the broker ServiceAccount token' }), ''),
      remoteNamespace: c.take(() => readString(env, 'BROKER_K8S_REMOTENAMESPACE', { required: true, pattern: DNS_LABEL, expect: 'the broker namespace, e.g. submariner-k8s-broker' }), ''),
      ca: readBrokerCa(env, c),
      insecure: c.take(() => readBool(env, 'BROKER_K8S_INSECURE', false), false),
    },
    election: election(env, c, GATEWAY_ELECTION_DEFAULTS),
    ipsecUserspace: c.take(() => readBool(env, 'HAWSER_IPSEC_USERSPACE', false), false),
    ipsecBackend: c.take(() => readEnum(env, 'HAWSER_IPSEC_BACKEND', 'strongswan', ['strongswan', 'libreswan'] as const, { charon: 'strongswan', pluto: 'libreswan' }), 'strongswan'),
  };
  c.throwIfAny();
  return cfg;
}

export function routeAgentConfigFromEnv(env: Env, opts: { uninstall?: boolean } = {}): RouteAgentConfig {
  const c = new ErrorCollector();
  // 32782: the gateway holds 32780 on gateway nodes (both use host networking).
  const base = common(env, c, 32782, !opts.uninstall);
  const cfg: RouteAgentConfig = { ...base, role: 'route-agent', uninstall: opts.uninstall ?? false, healthCheck: healthCheckConfig(env, c) };
  c.throwIfAny();
  return cfg;
}

export function globalnetConfigFromEnv(env: Env): GlobalnetConfig {
  const c = new ErrorCollector();
  const base = common(env, c, 32781, false);
  if (base.globalCidrs.length === 0 && !c.errors.some((e) => e.variable === 'SUBMARINER_GLOBALCIDR')) {
    c.errors.push(new ConfigError('SUBMARINER_GLOBALCIDR', "is required for globalnet but not set (expected this cluster's slice of the global CIDR, e.g. 242.0.0.0/16)"));
  }
  const cfg: GlobalnetConfig = { ...base, role: 'globalnet', election: election(env, c, GLOBALNET_ELECTION_DEFAULTS) };
  c.throwIfAny();
  return cfg;
}
