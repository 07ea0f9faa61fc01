// The gateway's public IP, resolved as Submariner resolves it (pkg/endpoint/public_ip.go, local_endpoint.go):
//
// 1. where the resolver chain comes from: the node label/annotation `gateway.submariner.io/public-ip`, else
//    SUBMARINER_PUBLICIP, else the default chain of public `api:` lookup services (shuffled);
// 2. the chain is comma-separated and tried in order, the first resolver that answers wins:
//    `ipv4:<ip>`, `ipv6:<ip>`, `dns:<name>`, `api:<host/path>` (HTTPS GET, the first IPv4 in the body),
//    `lb:<service>` (the LoadBalancer Service's first ingress IP, or its hostname looked up);
// 3. AIR_GAPPED_DEPLOYMENT: only the literal `ipv4:`/`ipv6:` entries count, otherwise the public IP is empty.
//
// hawser extension (for labs and tests, Submariner rejects it): `api:http://host:port/path` or
// `api:https://...` uses that URL as given, so a resolver can live inside a lab network.
// hawser's cables are IPv4 only: an `ipv6:` entry is accepted but skipped (said in the result).
//
// The chain's syntax is parsed in config/public-ip-chain.ts (the config validates SUBMARINER_PUBLICIP too).
// The resolution is pure apart from the injected I/O (ResolveIO), so each form is unit-tested; the gateway
// role re-resolves periodically (Submariner's PublicIPWatcher: every 60 s) and republishes on change.
import { isIPv4 } from 'node:net';
import { lookup } from 'node:dns/promises';
import { errorMessage } from '../util/errors.js';
import type { Resolver } from '../config/public-ip-chain.js';

export const PUBLIC_IP_KEY = 'public-ip';
export const USING_LOAD_BALANCER_KEY = 'using-loadbalancer';

/** Where the chain came from: said in logs and status, and decides how loudly "public = private" is reported. */
export type ChainSource = 'node' | 'SUBMARINER_PUBLICIP' | 'default';

/** Submariner's default lookup services (public_ip.go getPublicIPResolvers), tried in random order. */
export const DEFAULT_API_RESOLVERS: readonly string[] = [
  'api:ip4.seeip.org', 'api:ipecho.net/plain', 'api:ifconfig.me', 'api:ipinfo.io/ip', 'api:4.ident.me',
  'api:checkip.amazonaws.com', 'api:4.icanhazip.com', 'api:myexternalip.com/raw', 'api:4.tnedi.me', 'api:api.ipify.org',
];

export function defaultResolverChain(random: () => number = Math.random): string {
  const list = [...DEFAULT_API_RESOLVERS];
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list.join(',');
}

/** The chain text to use and where it came from (node label/annotation, then the variable, then the default). */
export function publicIpChainText(nodeConfig: Readonly<Record<string, string>>, envPublicIP: string | undefined, random?: () => number): { text: string; source: ChainSource } {
  const fromNode = nodeConfig[`gateway.submariner.io/${PUBLIC_IP_KEY}`];
  if (fromNode !== undefined) return { text: fromNode, source: 'node' };
  if (envPublicIP) return { text: envPublicIP, source: 'SUBMARINER_PUBLICIP' };
  return { text: defaultResolverChain(random), source: 'default' };
}

/** `api:` value → URL: Submariner's `https://<value>`; hawser also takes a full http(s) URL (labs, tests). */
export function apiUrl(value: string): string {
  return /^https?:\/\//i.test(value) ? value : `https://${value}`;
}

/** The first valid IPv4 address in a text (Submariner: first match of `(?:\d{1,3}\.){3}\d{1,3}`). */
export function firstIPv4(text: string): string | undefined {
  for (const m of text.matchAll(/(?:\d{1,3}\.){3}\d{1,3}/g)) if (isIPv4(m[0])) return m[0];
  return undefined;
}

export interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
}

/** The I/O a resolution needs; the gateway passes real ones, tests fakes. */
export interface ResolveIO {
  /** GET `url`, the body as text; rejects on a network error, a non-2xx status or the timeout. */
  httpGet(url: string, timeoutMs: number): Promise<string>;
  /** IPv4 addresses of a name. */
  lookup4(name: string): Promise<string[]>;
  /** The LoadBalancer Service's first ingress, undefined while it has none (in SUBMARINER_NAMESPACE). */
  loadBalancerIngress(service: string): Promise<LoadBalancerIngress | undefined>;
}

export interface PublicIpResult {
  /** '' when no resolver answered (or air-gapped without a literal address). */
  ip: string;
  /** The resolver that gave `ip`. */
  via?: Resolver;
  /** One line per resolver that failed or was skipped, in order. */
  failures: string[];
}

export interface ResolveOptions {
  airGapped: boolean;
  /** Per `api:` request; Submariner uses 30 s. */
  apiTimeoutMs?: number;
}

async function resolveOne(r: Resolver, io: ResolveIO, apiTimeoutMs: number): Promise<string> {
  switch (r.kind) {
    case 'ipv4':
      return r.value;
    case 'ipv6':
      throw new Error('skipped: hawser publishes IPv4 endpoints only (no IPv6 cables yet)');
    case 'dns': {
      const ips = (await io.lookup4(r.value)).filter((ip) => isIPv4(ip));
      // Submariner sorts the addresses and takes the first: stable when a name has several.
      const first = ips.sort(compareIPv4)[0];
      if (!first) throw new Error(`${r.value} has no IPv4 address`);
      return first;
    }
    case 'api': {
      const url = apiUrl(r.value);
      const body = await io.httpGet(url, apiTimeoutMs);
      const ip = firstIPv4(body);
      if (!ip) throw new Error(`no IPv4 address in the answer of ${url}: ${JSON.stringify(body.slice(0, 80))}`);
      return ip;
    }
    case 'lb': {
      const ing = await io.loadBalancerIngress(r.value);
      if (!ing || (!ing.ip && !ing.hostname)) throw new Error(`Service ${r.value} has no LoadBalancer ingress yet`);
      if (ing.ip) {
        if (!isIPv4(ing.ip)) throw new Error(`Service ${r.value} ingress IP ${ing.ip} is not IPv4`);
        return ing.ip;
      }
      return resolveOne({ kind: 'dns', value: ing.hostname! }, io, apiTimeoutMs);
    }
  }
}

function compareIPv4(a: string, b: string): number {
  const n = (s: string): number => s.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  return n(a) - n(b);
}

export async function resolvePublicIP(chain: readonly Resolver[], io: ResolveIO, opts: ResolveOptions): Promise<PublicIpResult> {
  const failures: string[] = [];
  for (const r of chain) {
    const label = `${r.kind}:${r.value}`;
    // Air-gapped: nothing may leave the cluster, so only literal addresses count (Submariner's
    // resolveIPInAirGappedDeployment).
    if (opts.airGapped && r.kind !== 'ipv4' && r.kind !== 'ipv6') {
      failures.push(`${label}: skipped (AIR_GAPPED_DEPLOYMENT)`);
      continue;
    }
    try {
      return { ip: await resolveOne(r, io, opts.apiTimeoutMs ?? 30_000), via: r, failures };
    } catch (err) {
      failures.push(`${label}: ${errorMessage(err)}`);
    }
  }
  return { ip: '', failures };
}

/**
 * What the gateway says about the outcome. The private IP is never published as the public one silently:
 * - nothing resolved: the public IP is left empty (remote gateways then use the private IP), with a warning
 *   and a Gateway status line that says what to set;
 * - a lookup (api/dns/lb) returned the private IP: published, with a warning and a status line (there is no
 *   NAT between this node and the resolver, so the address may not be reachable from other clusters);
 * - a literal `ipv4:` equal to the private IP: published with an info line (the operator said so).
 */
export interface PublicIpAssessment {
  level: 'info' | 'warn';
  message: string;
  /** Set when the Gateway's statusFailure should carry it. */
  status?: string;
}

export function assessPublicIP(result: PublicIpResult, privateIP: string, source: ChainSource, chainText: string): PublicIpAssessment {
  const from = source === 'node' ? 'node label/annotation gateway.submariner.io/public-ip' : source === 'SUBMARINER_PUBLICIP' ? 'SUBMARINER_PUBLICIP' : 'the default api: lookup services';
  if (!result.ip) {
    const why = result.failures.join('; ') || 'no resolver';
    const message = `public IP not resolved from ${from} (${chainText}): ${why}; publishing an empty public IP (remote clusters will use the private IP ${privateIP}). Set gateway.submariner.io/public-ip or SUBMARINER_PUBLICIP (e.g. ipv4:<address>)`;
    return { level: 'warn', message, status: message };
  }
  const via = result.via ? `${result.via.kind}:${result.via.value}` : chainText;
  if (result.ip === privateIP) {
    if (result.via?.kind === 'ipv4') return { level: 'info', message: `public IP ${result.ip} is this node's private IP, as configured (${from})` };
    const message = `public IP ${result.ip} resolved by ${via} is this node's private IP: nothing translates between this node and the resolver, so other clusters may not reach it; set gateway.submariner.io/public-ip if that is wrong`;
    return { level: 'warn', message, status: message };
  }
  return { level: 'info', message: `public IP ${result.ip} (from ${via}, ${from})` };
}

/** Real I/O for the resolvers; `lb:` reads the Service through `getService`. */
export function systemResolveIO(getService: (name: string) => Promise<unknown>): ResolveIO {
  return {
    async httpGet(url, timeoutMs) {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
      const body = await res.text();
      if (!res.ok) throw new Error(`${url} answered HTTP ${res.status}`);
      return body;
    },
    async lookup4(name) {
      return (await lookup(name, { all: true, family: 4 })).map((a) => a.address);
    },
    async loadBalancerIngress(service) {
      return loadBalancerIngressOf(await getService(service));
    },
  };
}

/** `status.loadBalancer.ingress[0]` of a Service object, validated. */
export function loadBalancerIngressOf(svc: unknown): LoadBalancerIngress | undefined {
  const status = (svc as { status?: { loadBalancer?: { ingress?: unknown } } } | undefined)?.status;
  const list = status?.loadBalancer?.ingress;
  if (!Array.isArray(list) || list.length === 0) return undefined;
  const first = list[0] as { ip?: unknown; hostname?: unknown } | null;
  if (!first || typeof first !== 'object') return undefined;
  return {
    ...(typeof first.ip === 'string' && first.ip ? { ip: first.ip } : {}),
    ...(typeof first.hostname === 'string' && first.hostname ? { hostname: first.hostname } : {}),
  };
}

/** Submariner sets `using-loadbalancer=true` when the public IP comes from a LoadBalancer Service (`lb:`). */
export function usesLoadBalancerChain(chainText: string): boolean {
  return chainText.trim().startsWith('lb:');
}
