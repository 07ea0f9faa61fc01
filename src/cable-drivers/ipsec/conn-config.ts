// The IPsec connection for one remote Endpoint, as a pure function of (local, remote, NAT, config):
// the VICI load-conn body plus the facts the driver needs (child names, who initiates). Negotiates what
// Submariner's libreswan driver negotiates: IKEv2, PSK = the CE_IPSEC_PSK text, identities = the private
// IPs, IKE sent straight to the NAT-T ports, one child SA per (local subnet, remote subnet) pair.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { backendKind, backendPort, type EndpointSpec } from '../../k8s/resources.js';
import { parseCidr } from '../../config/parse.js';
import { HawserError } from '../../util/errors.js';
import type { NatInfo } from '../types.js';
import type { GatewayConfig } from '../../config/roles.js';
import { messageToText, type ViciInputSection } from './vici/index.js';

/**
 * IKE proposals: AES-GCM first (fast in charon's userspace ESP too), CBC+SHA2 as fallback; DH groups that
 * libreswan's defaults also offer, so a Submariner peer and hawser agree without INVALID_KE round trips.
 */
export const IKE_PROPOSALS: readonly string[] = [
  'aes256gcm16-aes128gcm16-prfsha256-prfsha384-prfsha512-modp2048-ecp256-modp3072-ecp384',
  'aes256-aes128-sha256-sha384-sha512-modp2048-ecp256-modp3072-ecp384',
];
/** ESP: DH groups in the proposal mean PFS on CHILD_SA rekeying (libreswan's pfs=yes); the last has none. */
export const ESP_PROPOSALS: readonly string[] = [
  'aes256gcm16-aes128gcm16-modp2048-ecp256-modp3072',
  'aes256-aes128-sha256-sha512-modp2048-ecp256-modp3072',
  'aes256gcm16-aes128gcm16',
];
export const DPD_DELAY_S = 30;

/** Who initiates, from `preferred-server` (Submariner's operation modes). */
export type IpsecMode = 'bidirectional' | 'server' | 'client';

export interface IpsecConnSettings {
  /** CE_IPSEC_NATTPORT: our NAT-T port unless the local Endpoint's `udp-port` says otherwise. */
  nattPort: number;
  forceEncaps: boolean;
  /** CE_IPSEC_PREFERREDSERVER. */
  preferredServer: boolean;
  /** kernel-libipsec (userspace ESP) rather than the kernel's XFRM. */
  userspace: boolean;
}

/** The settings of a gateway's configuration that shape its IPsec connections. */
export function settingsFromConfig(config: GatewayConfig): IpsecConnSettings {
  return { nattPort: config.ipsec.nattPort, forceEncaps: config.ipsec.forceEncaps, preferredServer: config.ipsec.preferredServer, userspace: config.ipsecUserspace };
}

export interface ConnInput {
  local: EndpointSpec;
  remote: EndpointSpec;
  nat: NatInfo;
  settings: IpsecConnSettings;
}

export interface ChildPlan {
  name: string;
  localTs: string;
  remoteTs: string;
}

export interface ConnPlan {
  /** The IKE connection name: the remote cable name. */
  name: string;
  mode: IpsecMode;
  /** Whether hawser initiates (bidirectional and client modes). */
  initiate: boolean;
  children: ChildPlan[];
  /** Body of `load-conn { <name> = ... }`. */
  conn: ViciInputSection;
  /** Digest of everything above: equal digests mean nothing to change. */
  hash: string;
  /** Why some subnets were left out (invalid, other family, containing the peer's address). */
  notes: string[];
}

const CABLE_NAME = /^[a-zA-Z0-9._-]{1,200}$/;

/** Go's strconv.ParseBool, as Submariner reads `preferred-server`. */
export function parseGoBool(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

/** Submariner's rule: both prefer nothing (or the remote says nothing) → both initiate; ties by cable name. */
export function operationMode(local: EndpointSpec, remote: EndpointSpec, preferredServerEnv: boolean): IpsecMode {
  const left = parseGoBool(local.backendConfig['preferred-server']) ?? preferredServerEnv;
  const right = parseGoBool(remote.backendConfig['preferred-server']);
  if (right === undefined || (!left && !right)) return 'bidirectional';
  if (left && !right) return 'server';
  if (right && !left) return 'client';
  return local.cableName > remote.cableName ? 'server' : 'client';
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  if (!c || c.family !== 4 || isIP(ip) !== 4) return false;
  const size = 2 ** (32 - c.prefix);
  const base = ipv4ToInt(c.address);
  const n = ipv4ToInt(ip);
  return n >= base && n < base + size;
}

/** Subnets of the IKE family, without those containing the peer's address (as Submariner filters). */
function trafficSubnets(subnets: readonly string[], family: number, exclude: string, who: string, notes: string[]): string[] {
  const out: string[] = [];
  for (const s of subnets) {
    const c = parseCidr(s);
    if (!c) notes.push(`${who} subnet ${s} is not a valid CIDR: skipped`);
    else if (c.family !== family) notes.push(`${who} subnet ${s} is IPv${c.family}, the cable is IPv${family}: skipped`);
    else if (cidrContains(c.text, exclude)) notes.push(`${who} subnet ${s} contains the peer address ${exclude}: skipped (IKE must not be tunnelled)`);
    else out.push(c.text);
  }
  return out;
}

export function childName(cableName: string, i: number, j: number): string {
  return `${cableName}-${i}-${j}`;
}

export function planConn(input: ConnInput): ConnPlan {
  const { local, remote, nat, settings } = input;
  const cable = remote.cableName;
  if (!CABLE_NAME.test(cable)) throw new HawserError('INVALID', `remote Endpoint cable_name "${cable}" is not usable as an IPsec connection name (letters, digits, '.', '_', '-', at most 200)`);
  if (backendKind(remote.backend) !== 'libreswan') {
    throw new HawserError('INVALID', `remote Endpoint ${cable} (cluster ${remote.clusterId}) uses the "${remote.backend}" cable driver but this gateway runs IPsec (libreswan): set the same SUBMARINER_CABLEDRIVER in every cluster`);
  }
  const family = isIP(nat.useIP);
  if (family === 0) throw new HawserError('INVALID', `NAT discovery gave no usable address for ${cable} (useIP "${nat.useIP}")`);
  const localIP = (family === 4 ? local.privateIPs.find((ip) => isIP(ip) === 4) : local.privateIPs.find((ip) => isIP(ip) === 6)) ?? local.privateIP;
  if (!localIP || isIP(localIP) !== family) throw new HawserError('INVALID', `the local Endpoint has no IPv${family} private IP to reach ${cable} at ${nat.useIP}`);
  const remoteId = (family === 4 ? remote.privateIPs.find((ip) => isIP(ip) === 4) : remote.privateIPs.find((ip) => isIP(ip) === 6)) ?? remote.privateIP;
  const notes: string[] = [];
  const left = trafficSubnets(local.subnets, family, nat.useIP, 'local', notes);
  const right = trafficSubnets(remote.subnets, family, nat.useIP, `remote (${cable})`, notes);
  for (const s of remote.invalidSubnets) notes.push(`remote (${cable}) subnet ${s} is not a valid CIDR: skipped`);
  if (left.length === 0) throw new HawserError('INVALID', `no local IPv${family} subnet to tunnel to ${cable}: set SUBMARINER_CLUSTERCIDR/SUBMARINER_SERVICECIDR${notes.length ? ` (${notes.join('; ')})` : ''}`);
  if (right.length === 0) throw new HawserError('INVALID', `remote Endpoint ${cable} publishes no usable IPv${family} subnet${notes.length ? ` (${notes.join('; ')})` : ''}`);

  const mode = operationMode(local, remote, settings.preferredServer);
  const initiate = mode !== 'server';
  const localPort = backendPort(local, 'udp-port', settings.nattPort);
  const remotePort = backendPort(remote, 'udp-port', settings.nattPort);
  const encap = nat.useNAT || settings.forceEncaps;
  const children: ChildPlan[] = [];
  const childSections: Record<string, ViciInputSection> = {};
  left.forEach((l, i) => right.forEach((r, j) => {
    const name = childName(cable, i, j);
    children.push({ name, localTs: l, remoteTs: r });
    childSections[name] = {
      mode: 'tunnel',
      local_ts: [l],
      remote_ts: [r],
      esp_proposals: [...ESP_PROPOSALS],
      // "hold": a dead peer leaves the policy (and, with kernel-libipsec, the route into the TUN device)
      // in place, so traffic is dropped rather than sent in the clear; hawser re-initiates.
      dpd_action: initiate ? 'trap' : 'clear',
      start_action: initiate ? 'trap' : 'none',
      close_action: 'none',
    };
  }));
  const conn: ViciInputSection = {
    version: 2,
    local_addrs: [localIP],
    // A preferred server accepts its client from anywhere (the client may sit behind NAT).
    remote_addrs: [mode === 'server' ? '%any' : nat.useIP],
    local_port: localPort,
    remote_port: remotePort,
    proposals: [...IKE_PROPOSALS],
    encap,
    mobike: false,
    fragmentation: 'yes',
    dpd_delay: `${DPD_DELAY_S}s`,
    keyingtries: 1,
    // No INITIAL_CONTACT: with both sides initiating, it makes a peer drop an SA silently; stale SAs
    // after a restart are removed by DPD while the newest SA already carries the traffic.
    unique: 'never',
    send_certreq: false,
    local: { auth: 'psk', id: localIP },
    remote: { auth: 'psk', id: remoteId },
    children: childSections,
  };
  const hash = createHash('sha256').update(JSON.stringify({ mode, conn })).digest('hex').slice(0, 16);
  return { name: cable, mode, initiate, children, conn, hash, notes };
}

/** The plan as text: what `hawser show`/tests print and what an operator reads. */
export function connPlanToText(plan: ConnPlan): string {
  const head = [`# ${plan.name}: mode ${plan.mode}, ${plan.initiate ? 'initiates' : 'waits for the peer'}, ${plan.children.length} child SA(s), digest ${plan.hash}`];
  for (const n of plan.notes) head.push(`# note: ${n}`);
  return `${head.join('\n')}\nload-conn ${plan.name} {\n${messageToText(plan.conn, {}, '  ')}\n}`;
}
