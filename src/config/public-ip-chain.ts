// The public-IP resolver chain as Submariner reads it (SUBMARINER_PUBLICIP, or the node's
// `gateway.submariner.io/public-ip`): `kind:value[,kind:value...]`. Parsed here because the configuration
// validates SUBMARINER_PUBLICIP at start; the gateway (src/gateway/public-ip.ts) resolves the parsed chain.
import { isIPv4, isIPv6 } from 'node:net';

export type ResolverKind = 'ipv4' | 'ipv6' | 'dns' | 'api' | 'lb';
const KINDS: readonly ResolverKind[] = ['ipv4', 'ipv6', 'dns', 'api', 'lb'];

export interface Resolver {
  kind: ResolverKind;
  value: string;
}

/** Parses `kind:value[,kind:value...]`; any bad entry fails the whole chain (as in Submariner) with its text. */
export function parseResolverChain(text: string): { ok: true; resolvers: Resolver[] } | { ok: false; error: string } {
  const resolvers: Resolver[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const colon = entry.indexOf(':');
    const kind = colon > 0 ? entry.slice(0, colon) : '';
    const value = colon > 0 ? entry.slice(colon + 1).trim() : '';
    if (!(KINDS as readonly string[]).includes(kind) || !value) {
      return { ok: false, error: `public-ip ${JSON.stringify(entry)} is not one of ipv4:<ip>, ipv6:<ip>, dns:<name>, api:<host/path>, lb:<service>` };
    }
    if (kind === 'ipv4' && !isIPv4(value)) return { ok: false, error: `public-ip ${JSON.stringify(entry)}: ${value} is not an IPv4 address` };
    if (kind === 'ipv6' && !isIPv6(value)) return { ok: false, error: `public-ip ${JSON.stringify(entry)}: ${value} is not an IPv6 address` };
    resolvers.push({ kind: kind as ResolverKind, value });
  }
  if (resolvers.length === 0) return { ok: false, error: `public-ip ${JSON.stringify(text)} has no resolver` };
  return { ok: true, resolvers };
}
