// subctl's broker-info.subm: base64 (URL alphabet, padded) of the JSON of subctl's broker.Info. Field
// names are Go's: `brokerURL` has a json tag; ClientToken, IPSecPSK and ServiceDiscovery carry malformed
// tags, so Go names them after the fields; Components and CustomDomains likewise. ClientToken is a whole
// core/v1 Secret (data: token, ca.crt, namespace as base64); IPSecPSK a Secret `submariner-ipsec-psk`
// with data.psk = the raw key (48 random bytes from subctl). Go's decoder matches keys case-insensitively,
// so this reader does too.
import { HawserError } from '../util/errors.js';

export const BROKER_INFO_FILE = 'broker-info.subm';
export const IPSEC_PSK_SECRET = 'submariner-ipsec-psk';
export const BROKER_ADMIN_SA = 'submariner-k8s-broker-admin';
export const COMPONENT_CONNECTIVITY = 'connectivity';
export const COMPONENT_SERVICE_DISCOVERY = 'service-discovery';
export const COMPONENT_GLOBALNET = 'globalnet';

export interface BrokerInfo {
  /** As subctl writes it: the broker API server URL (`https://host:port`). */
  brokerURL: string;
  /** The broker admin ServiceAccount's token, the broker's CA (PEM) and the broker namespace. */
  clientToken: { token: string; caPem?: string; namespace: string; secretName?: string };
  /** The raw pre-shared key; CE_IPSEC_PSK is its standard base64 (what the Submariner CR's ceIPSecPSK holds). */
  ipsecPsk?: Buffer;
  serviceDiscovery: boolean;
  components: string[];
  customDomains?: string[];
}

function b64(s: string | Buffer): string {
  return Buffer.from(s).toString('base64');
}

/** The file's text: byte-compatible with what subctl writes for the same values. */
export function encodeBrokerInfo(info: BrokerInfo): string {
  const secret = (name: string, namespace: string | undefined, type: string | undefined, data: Record<string, string>): Record<string, unknown> => ({
    metadata: { name, ...(namespace ? { namespace } : {}), creationTimestamp: null },
    data,
    ...(type ? { type } : {}),
  });
  const tokenData: Record<string, string> = {};
  if (info.clientToken.caPem !== undefined) tokenData['ca.crt'] = b64(info.clientToken.caPem);
  tokenData.namespace = b64(info.clientToken.namespace);
  tokenData.token = b64(info.clientToken.token);
  const json = {
    brokerURL: info.brokerURL,
    ClientToken: secret(info.clientToken.secretName ?? `${BROKER_ADMIN_SA}-token`, info.clientToken.namespace, 'kubernetes.io/service-account-token', tokenData),
    IPSecPSK: info.ipsecPsk ? secret(IPSEC_PSK_SECRET, undefined, undefined, { psk: info.ipsecPsk.toString('base64') }) : null,
    ServiceDiscovery: info.serviceDiscovery,
    ...(info.components.length ? { Components: info.components } : {}),
    CustomDomains: info.customDomains ?? null,
  };
  return Buffer.from(JSON.stringify(json)).toString('base64url') + '='.repeat((3 - (Buffer.byteLength(JSON.stringify(json)) % 3)) % 3);
}

function field(o: Record<string, unknown>, name: string): unknown {
  const key = Object.keys(o).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : o[key];
}
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function secretData(v: unknown, what: string): Record<string, Buffer> {
  if (!isRecord(v)) throw new HawserError('CONFIG', `broker-info: ${what} is not a Secret object`);
  const data = field(v, 'data');
  if (!isRecord(data)) throw new HawserError('CONFIG', `broker-info: ${what} has no data`);
  const out: Record<string, Buffer> = {};
  for (const [k, val] of Object.entries(data)) {
    if (typeof val !== 'string') throw new HawserError('CONFIG', `broker-info: ${what}.data.${k} is not base64 text`);
    out[k] = Buffer.from(val, 'base64');
  }
  return out;
}

/** Reads broker-info.subm text (either base64 alphabet, padding optional); every problem names the field. */
export function decodeBrokerInfo(text: string): BrokerInfo {
  const raw = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(raw)) throw new HawserError('CONFIG', 'broker-info: not base64 text (is this a broker-info.subm file from subctl deploy-broker or hawser deploy-broker?)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64').toString('utf8'));
  } catch (err) {
    throw new HawserError('CONFIG', `broker-info: the decoded content is not JSON: ${(err as Error).message}`);
  }
  if (!isRecord(parsed)) throw new HawserError('CONFIG', 'broker-info: the decoded JSON is not an object');
  const brokerURL = field(parsed, 'brokerURL');
  if (typeof brokerURL !== 'string' || !brokerURL) throw new HawserError('CONFIG', 'broker-info: brokerURL is missing');
  const tokenSecret = field(parsed, 'ClientToken');
  if (tokenSecret === undefined || tokenSecret === null) throw new HawserError('CONFIG', 'broker-info: ClientToken is missing (the broker admin token)');
  const td = secretData(tokenSecret, 'ClientToken');
  const token = td.token?.toString('utf8');
  const namespace = td.namespace?.toString('utf8');
  if (!token) throw new HawserError('CONFIG', 'broker-info: ClientToken.data.token is missing');
  if (!namespace) throw new HawserError('CONFIG', 'broker-info: ClientToken.data.namespace is missing (the broker namespace)');
  const md = isRecord(tokenSecret) ? field(tokenSecret, 'metadata') : undefined;
  const secretName = isRecord(md) && typeof field(md, 'name') === 'string' ? field(md, 'name') as string : undefined;
  const pskSecret = field(parsed, 'IPSecPSK');
  let ipsecPsk: Buffer | undefined;
  if (pskSecret !== undefined && pskSecret !== null) {
    ipsecPsk = secretData(pskSecret, 'IPSecPSK').psk;
    if (!ipsecPsk?.length) throw new HawserError('CONFIG', 'broker-info: IPSecPSK.data.psk is missing or empty');
  }
  const comps = field(parsed, 'Components');
  const components = Array.isArray(comps) ? comps.filter((c): c is string => typeof c === 'string') : [];
  const domains = field(parsed, 'CustomDomains');
  return {
    brokerURL,
    clientToken: { token, namespace, ...(td['ca.crt']?.length ? { caPem: td['ca.crt'].toString('utf8') } : {}), ...(secretName ? { secretName } : {}) },
    ...(ipsecPsk ? { ipsecPsk } : {}),
    serviceDiscovery: field(parsed, 'ServiceDiscovery') === true,
    components,
    ...(Array.isArray(domains) ? { customDomains: domains.filter((d): d is string => typeof d === 'string') } : {}),
  };
}

/** CE_IPSEC_PSK as subctl join sets the Submariner CR's ceIPSecPSK: standard base64 of the raw key. */
export function pskText(info: BrokerInfo): string | undefined {
  return info.ipsecPsk?.toString('base64');
}

/** BROKER_K8S_APISERVER as subctl join sets it: host[:port], no scheme. */
export function brokerApiServer(info: BrokerInfo): string {
  return info.brokerURL.replace(/^https?:\/\//, '').replace(/\/+$/, '');
}
