// The three DaemonSet roles, configured exactly from Submariner's environment (plus a few HAWSER_* extras).
import {
  type Cidr, type Env, ErrorCollector, readBool, readCidrList, readEnum, readInt, readPort, readSecondsMs, readString,
} from './parse.js';
import { readFileSync } from 'node:fs';
import { ConfigError } from './parse.js';
import { checkSubmarinerEnv, type EnvRole } from './env-table.js';
import { parseResolverChain } from './public-ip-chain.js';

/** Test hook, like Submariner's RootDir: mounted secrets are read below this directory (default `/`). */
export interface EnvOptions {
  secretsRoot?: string;
}

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
  /** SUBMARINER_UNINSTALL (or --uninstall): run the uninstall path instead of the agent. */
  uninstall: boolean;
  /** Variables that are set but that hawser does not act on, each naming the variable: logged at start. */
  warnings: string[];
}

export interface BrokerConfig {
  /** host[:port] or a URL. */
  apiServer: string;
  token: string;
  remoteNamespace: string;
  /** PEM, decoded from base64. */
  ca?: string;
  insecure: boolean;
  /** Where the token came from (never the token itself): for the start-up log. */
  tokenSource: 'BROKER_K8S_SECRET' | 'BROKER_K8S_APISERVERTOKEN';
}

export interface IpsecConfig {
  /** The PSK text exactly as given (base64 text), used as-is by IPsec and hashed for WireGuard. */
  psk: string;
  /** Which variable gave the PSK (never the PSK itself): for the start-up log. */
  pskSource: 'CE_IPSEC_PSKSECRET' | 'CE_IPSEC_PSK' | 'CE_IPSEC_PSKFILE' | 'none';
  /** Only `psk`: `cert` is rejected at start. */
  authMode: 'psk';
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
  /** SUBMARINER_PUBLICIP: the public-IP resolver chain when the node has no gateway.submariner.io/public-ip. */
  publicIP?: string;
  /** AIR_GAPPED_DEPLOYMENT: only literal ipv4:/ipv6: public-IP resolvers are used. */
  airGapped: boolean;
  /**
   * HAWSER_IPSEC_BACKEND: `strongswan` (charon over VICI, default) or `libreswan` (pluto over whack, for
   * cluster sets with libreswan 4.x gateways: see src/cable-drivers/ipsec/libreswan/).
   */
  ipsecBackend: 'strongswan' | 'libreswan';
  /**
   * HAWSER_RELEASE_ON_STOP: true = SIGTERM always hands the lease over, false = always restarts in place,
   * undefined (unset) = decided from the Node (cordoned or being deleted: hand over).
   */
  releaseOnStop?: boolean;
  /**
   * HAWSER_LEASE_LAPSE_GRACE (seconds, default 0): how long a gateway that missed a lease renewal keeps its
   * cables while no other node is seen holding the lease (gateway/role.ts, state `lapsed`). Default 0: fence at
   * once, so a cut-off gateway has removed its cables before a standby can take the lease
   * (test/election/failover.real.test.ts). A grace trades that for data-path continuity when the renewal
   * failed because the API server restarted or this process stalled: tearing every cable down and rebuilding
   * it a second later turns each such blip into an outage (under CPU starvation at 200 cables, minutes of them).
   */
  leaseLapseGraceMs: number;
}

export interface HealthCheckConfig { enabled: boolean; intervalMs: number; maxPacketLossCount: number }

export interface RouteAgentConfig extends CommonConfig {
  role: 'route-agent';
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

function common(env: Env, c: ErrorCollector, metricsDefault: number, cidrsRequired: boolean, role: EnvRole): CommonConfig {
  const checked = checkSubmarinerEnv(env, role);
  c.errors.push(...checked.errors);
  return {
    uninstall: c.take(() => readBool(env, 'SUBMARINER_UNINSTALL', false), false),
    warnings: checked.warnings,
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

/**
 * Lease timings. Precedence per value: HAWSER_* (seconds, may be fractional), then Submariner's
 * LEADERSHIP_* (whole seconds, gateway only), then the default. When any LEADERSHIP_* is set, the unset
 * ones take Submariner's defaults (15/10/2 s) rather than hawser's, so a partial set stays consistent.
 */
function election(env: Env, c: ErrorCollector, def: ElectionTimings, submarinerNames: boolean): ElectionTimings {
  const submariner = submarinerNames && ['LEADERSHIP_LEASEDURATION', 'LEADERSHIP_RENEWDEADLINE', 'LEADERSHIP_RETRYPERIOD'].some((n) => (env[n] ?? '').trim() !== '');
  const base = submariner ? { ...SUBMARINER_GATEWAY_ELECTION, releaseOnCancel: def.releaseOnCancel } : def;
  const pick = (hawser: string, sub: string, defMs: number, range: { min: number; max: number }): { ms: number; name: string } => {
    if ((env[hawser] ?? '').trim() !== '' || !submariner || (env[sub] ?? '').trim() === '') {
      return { ms: c.take(() => readSecondsMs(env, hawser, defMs, range), defMs), name: (env[hawser] ?? '').trim() !== '' || !submariner ? hawser : sub };
    }
    return { ms: 1000 * c.take(() => readInt(env, sub, defMs / 1000, { min: Math.ceil(range.min), max: range.max, unit: 'seconds' }), defMs / 1000), name: sub };
  };
  const lease = pick('HAWSER_LEASE_DURATION', 'LEADERSHIP_LEASEDURATION', base.leaseDurationMs, { min: 0.5, max: 300 });
  const renew = pick('HAWSER_RENEW_DEADLINE', 'LEADERSHIP_RENEWDEADLINE', base.renewDeadlineMs, { min: 0.3, max: 300 });
  const retry = pick('HAWSER_RETRY_PERIOD', 'LEADERSHIP_RETRYPERIOD', base.retryPeriodMs, { min: 0.1, max: 60 });
  const t: ElectionTimings = {
    leaseDurationMs: lease.ms,
    renewDeadlineMs: renew.ms,
    retryPeriodMs: retry.ms,
    releaseOnCancel: c.take(() => readBool(env, 'HAWSER_LEASE_RELEASE_ON_SHUTDOWN', def.releaseOnCancel), def.releaseOnCancel),
  };
  if (t.renewDeadlineMs >= t.leaseDurationMs) c.errors.push(new ConfigError(renew.name, `${t.renewDeadlineMs / 1000} s must be shorter than ${lease.name} (${t.leaseDurationMs / 1000} s)`));
  else if (t.retryPeriodMs >= t.renewDeadlineMs) c.errors.push(new ConfigError(retry.name, `${t.retryPeriodMs / 1000} s must be shorter than ${renew.name} (${t.renewDeadlineMs / 1000} s)`));
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

/** Mounted Secret files, as Submariner's pods see them (RootDir-relative for tests). */
export function pskSecretPath(name: string, root = '/'): string {
  return `${root.replace(/\/$/, '')}/var/run/secrets/submariner.io/${name}/psk`;
}

export function brokerSecretDir(name: string, root = '/'): string {
  return `${root.replace(/\/$/, '')}/run/secrets/submariner.io/${name}`;
}

/**
 * The PSK, in Submariner's order: CE_IPSEC_PSKSECRET (the mounted Secret's file, base64-encoded as
 * Submariner does) wins over CE_IPSEC_PSK; hawser's CE_IPSEC_PSKFILE (a file path) comes last.
 */
function readPsk(env: Env, c: ErrorCollector, required: boolean, root: string | undefined, warnings: string[]): { psk: string; source: IpsecConfig['pskSource'] } {
  const secret = readString(env, 'CE_IPSEC_PSKSECRET');
  if (secret) {
    if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(secret)) {
      c.errors.push(new ConfigError('CE_IPSEC_PSKSECRET', `${JSON.stringify(secret)} is not a Secret name`));
      return { psk: '', source: 'none' };
    }
    const file = pskSecretPath(secret, root);
    try {
      const bytes = readFileSync(file);
      if (bytes.length === 0) throw new Error('the file is empty');
      return { psk: Buffer.from(bytes).toString('base64'), source: 'CE_IPSEC_PSKSECRET' };
    } catch (err) {
      c.errors.push(new ConfigError('CE_IPSEC_PSKSECRET', `cannot read the pre-shared key of Secret ${secret} at ${file}: ${(err as Error).message} (mount the Secret there, key "psk")`));
      return { psk: '', source: 'none' };
    }
  }
  const direct = readString(env, 'CE_IPSEC_PSK');
  if (direct) {
    // Submariner uses the variable verbatim (WireGuard hashes it as is); hawser trims it. Say so when that differs.
    if (env.CE_IPSEC_PSK !== direct) warnings.push('CE_IPSEC_PSK has leading or trailing whitespace: hawser ignores it, Submariner\'s WireGuard driver hashes it too, so a Submariner peer would derive another key; remove the whitespace');
    return { psk: direct, source: 'CE_IPSEC_PSK' };
  }
  const file = readString(env, 'CE_IPSEC_PSKFILE');
  if (file) {
    try {
      // A PSK read from a mounted secret file is base64-encoded first, as Submariner does.
      return { psk: Buffer.from(readFileSync(file)).toString('base64'), source: 'CE_IPSEC_PSKFILE' };
    } catch (err) {
      c.errors.push(new ConfigError('CE_IPSEC_PSKFILE', `cannot read ${file}: ${(err as Error).message}`));
      return { psk: '', source: 'none' };
    }
  }
  if (required) c.errors.push(new ConfigError('CE_IPSEC_PSK', 'is required for the IPsec and WireGuard cable drivers but not set (expected the base64 pre-shared key, or CE_IPSEC_PSKSECRET naming the mounted Secret)'));
  return { psk: '', source: 'none' };
}

/**
 * The broker's token and CA: from the mounted Secret named by BROKER_K8S_SECRET (files `token` and
 * `ca.crt`), tried before BROKER_K8S_APISERVERTOKEN / BROKER_K8S_CA as admiral does.
 */
function readBrokerCredentials(env: Env, c: ErrorCollector, root: string | undefined): { token: string; ca?: string; tokenSource: BrokerConfig['tokenSource'] } {
  const secret = readString(env, 'BROKER_K8S_SECRET');
  let token: string | undefined;
  let ca: string | undefined;
  if (secret) {
    const dir = brokerSecretDir(secret, root);
    const read = (f: string): string | undefined => {
      try {
        const v = readFileSync(`${dir}/${f}`, 'utf8').trim();
        return v || undefined;
      } catch {
        return undefined;
      }
    };
    token = read('token');
    ca = read('ca.crt');
    if (ca && !ca.includes('-----BEGIN CERTIFICATE-----')) {
      c.errors.push(new ConfigError('BROKER_K8S_SECRET', `${dir}/ca.crt is not a PEM certificate`));
      ca = undefined;
    }
  }
  const envCa = ca ? undefined : readBrokerCa(env, c);
  if (token) return { token, ca: ca ?? envCa, tokenSource: 'BROKER_K8S_SECRET' };
  const envToken = readString(env, 'BROKER_K8S_APISERVERTOKEN');
  if (envToken) return { token: envToken, ca: ca ?? envCa, tokenSource: 'BROKER_K8S_APISERVERTOKEN' };
  c.errors.push(secret
    ? new ConfigError('BROKER_K8S_SECRET', `no token in ${brokerSecretDir(secret, root)}/token and BROKER_K8S_APISERVERTOKEN is not set (mount the broker Secret there, or set the token variable)`)
    : new ConfigError('BROKER_K8S_APISERVERTOKEN', 'is required but not set (expected the broker ServiceAccount token, or BROKER_K8S_SECRET naming the mounted broker Secret)'));
  return { token: '', tokenSource: 'BROKER_K8S_APISERVERTOKEN' };
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

/** HAWSER_RELEASE_ON_STOP: unset, or a boolean as Go's strconv.ParseBool reads it. */
function readReleaseOnStop(env: Env): boolean | undefined {
  const v = env.HAWSER_RELEASE_ON_STOP;
  if (v === undefined || v === '') return undefined;
  if (/^(1|t|true)$/i.test(v)) return true;
  if (/^(0|f|false)$/i.test(v)) return false;
  throw new ConfigError('HAWSER_RELEASE_ON_STOP', `${JSON.stringify(v)} is not valid: expected true or false (true: SIGTERM always hands the gateway lease to a standby)`);
}

/** HAWSER_LEASE_LAPSE_GRACE: seconds from 0 to 300 (fractions allowed), default 0. */
function readLapseGraceMs(env: Env): number {
  const v = env.HAWSER_LEASE_LAPSE_GRACE;
  if (v === undefined || v === '') return 0;
  const s = Number(v);
  if (!Number.isFinite(s) || s < 0 || s > 300) throw new ConfigError('HAWSER_LEASE_LAPSE_GRACE', `${JSON.stringify(v)} is not valid: expected seconds between 0 and 300 (0: a gateway that misses a lease renewal removes its cables at once)`);
  return Math.round(s * 1000);
}

export function gatewayConfigFromEnv(env: Env, opts: EnvOptions = {}): GatewayConfig {
  const c = new ErrorCollector();
  const base = common(env, c, 32780, true, 'gateway');
  const cableDriver = c.take(() => readEnum<CableDriverName>(env, 'SUBMARINER_CABLEDRIVER', 'libreswan', ['libreswan', 'wireguard', 'vxlan'], DRIVER_ALIASES), 'libreswan');
  const psk = readPsk(env, c, cableDriver !== 'vxlan' && !base.uninstall, opts.secretsRoot, base.warnings);
  const broker = readBrokerCredentials(env, c, opts.secretsRoot);
  const publicIP = readString(env, 'SUBMARINER_PUBLICIP');
  if (publicIP) {
    const chain = parseResolverChain(publicIP);
    if (!chain.ok) c.errors.push(new ConfigError('SUBMARINER_PUBLICIP', chain.error));
  }
  const cfg: GatewayConfig = {
    ...base,
    role: 'gateway',
    cableDriver,
    natEnabled: c.take(() => readBool(env, 'SUBMARINER_NATENABLED', false), false),
    colorCodes: (readString(env, 'SUBMARINER_COLORCODES') ?? 'blue').split(',').map((s) => s.trim()).filter(Boolean),
    healthCheck: healthCheckConfig(env, c),
    ipsec: {
      psk: psk.psk,
      pskSource: psk.source,
      authMode: 'psk',
      debug: c.take(() => readBool(env, 'CE_IPSEC_DEBUG', false), false),
      ikePort: c.take(() => readPort(env, 'CE_IPSEC_IKEPORT', 500), 500),
      nattPort: c.take(() => readPort(env, 'CE_IPSEC_NATTPORT', 4500), 4500),
      forceEncaps: c.take(() => readBool(env, 'CE_IPSEC_FORCEENCAPS', false), false),
      preferredServer: c.take(() => readBool(env, 'CE_IPSEC_PREFERREDSERVER', false), false),
    },
    broker: {
      apiServer: c.take(() => readString(env, 'BROKER_K8S_APISERVER', { required: true, expect: 'the broker API server as host:port or https://host:port' }), ''),
      token: broker.token,
      tokenSource: broker.tokenSource,
      remoteNamespace: c.take(() => readString(env, 'BROKER_K8S_REMOTENAMESPACE', { required: true, pattern: DNS_LABEL, expect: 'the broker namespace, e.g. submariner-k8s-broker' }), ''),
      ca: broker.ca,
      insecure: c.take(() => readBool(env, 'BROKER_K8S_INSECURE', false), false),
    },
    election: election(env, c, GATEWAY_ELECTION_DEFAULTS, true),
    ipsecUserspace: c.take(() => readBool(env, 'HAWSER_IPSEC_USERSPACE', false), false),
    publicIP,
    airGapped: c.take(() => readBool(env, 'AIR_GAPPED_DEPLOYMENT', false), false),
    ipsecBackend: c.take(() => readEnum(env, 'HAWSER_IPSEC_BACKEND', 'strongswan', ['strongswan', 'libreswan'] as const, { charon: 'strongswan', pluto: 'libreswan' }), 'strongswan'),
    leaseLapseGraceMs: c.take(() => readLapseGraceMs(env), 0),
  };
  const releaseOnStop = c.take(() => readReleaseOnStop(env), undefined);
  if (releaseOnStop !== undefined) cfg.releaseOnStop = releaseOnStop;
  c.throwIfAny();
  return cfg;
}

export function routeAgentConfigFromEnv(env: Env, opts: { uninstall?: boolean } = {}): RouteAgentConfig {
  const c = new ErrorCollector();
  // 32782: the gateway holds 32780 on gateway nodes (both use host networking).
  const uninstall = opts.uninstall === true || c.take(() => readBool(env, 'SUBMARINER_UNINSTALL', false), false);
  const base = common(env, c, 32782, !uninstall, 'route-agent');
  const cfg: RouteAgentConfig = { ...base, role: 'route-agent', uninstall, healthCheck: healthCheckConfig(env, c) };
  c.throwIfAny();
  return cfg;
}

export function globalnetConfigFromEnv(env: Env): GlobalnetConfig {
  const c = new ErrorCollector();
  const base = common(env, c, 32781, false, 'globalnet');
  if (base.globalCidrs.length === 0 && !c.errors.some((e) => e.variable === 'SUBMARINER_GLOBALCIDR')) {
    c.errors.push(new ConfigError('SUBMARINER_GLOBALCIDR', "is required for globalnet but not set (expected this cluster's slice of the global CIDR, e.g. 242.0.0.0/16)"));
  }
  const cfg: GlobalnetConfig = { ...base, role: 'globalnet', election: election(env, c, GLOBALNET_ELECTION_DEFAULTS, false) };
  c.throwIfAny();
  return cfg;
}
