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
 * libreswan's defaults also offer (its order: 19, 20, 21, 31, modp4096, modp3072, modp2048, modp8192), so a
 * Submariner peer and hawser agree without INVALID_KE round trips whichever group it starts with.
 */
export const IKE_PROPOSALS: readonly string[] = [
  'aes256gcm16-aes128gcm16-prfsha256-prfsha384-prfsha512-modp2048-ecp256-modp3072-ecp384-ecp521-curve25519-modp4096',
  'aes256-aes128-sha256-sha384-sha512-modp2048-ecp256-modp3072-ecp384-ecp521-curve25519-modp4096',
];
/**
 * ESP: DH groups in the proposal mean PFS on CHILD_SA rekeying (libreswan's pfs=yes reuses the IKE SA's
 * group, so every IKE group above is here too, or a rekey after landing on it fails); the last has none.
 * strongSwan adds an ESN transform (NO_EXT_SEQ) to each of these whatever the syntax (proposal.c), which
 * libreswan 4.x refuses unless configured with --esn/--no-esn: see libreswan/README.md.
 */
export const ESP_PROPOSALS: readonly string[] = [
  'aes256gcm16-aes128gcm16-modp2048-ecp256-modp3072-ecp384-ecp521-curve25519-modp4096',
  'aes256-aes128-sha256-sha512-modp2048-ecp256-modp3072-ecp384-ecp521-curve25519-modp4096',
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
  /** The IKE connection that carries this child (the cable name, or the child's own name in server/client mode). */
  ike: string;
  localTs: string;
  remoteTs: string;
}

/** One IKE connection: `load-conn { <name> = conn }`. */
export interface IkeConnPlan {
  name: string;
  conn: ViciInputSection;
  children: ChildPlan[];
  /** IKE identities as libreswan writes them (`@fqdn` or an IP). */
  localId: string;
  remoteId: string;
}

/** One (local subnet i, remote subnet j) pair and the identities Submariner uses for it. */
export interface SubnetPair {
  i: number;
  j: number;
  /** `<cable>-<i>-<j>`: the libreswan connection / charon child name. */
  name: string;
  localTs: string;
  remoteTs: string;
  localId: string;
  remoteId: string;
}

/** The pure facts of a cable that both IPsec back ends (charon, pluto) build on. */
export interface CablePairs {
  cable: string;
  mode: IpsecMode;
  /** Whether hawser initiates (bidirectional and client modes). */
  initiate: boolean;
  family: 4 | 6;
  localIP: string;
  /** The peer's private IP (its identity). */
  remotePrivateIP: string;
  /** Where IKE goes (NAT discovery's choice). */
  useIP: string;
  localPort: number;
  remotePort: number;
  encap: boolean;
  pairs: SubnetPair[];
  notes: string[];
  /**
   * Client mode: the server's `preferred-server-timestamp` (it changes when the server restarts). Part of
   * the digest, so a new value replaces the connection (the client reconnects), as a Submariner client does.
   */
  serverRestart?: string;
}

export interface ConnPlan {
  /** The remote cable name: the key of the cable (and the IKE connection name in bidirectional mode). */
  name: string;
  mode: IpsecMode;
  /** Whether hawser initiates (bidirectional and client modes). */
  initiate: boolean;
  /** Every child SA, over all IKE connections. */
  children: ChildPlan[];
  /** Bidirectional: one IKE connection named by the cable; server/client: one per subnet pair, as libreswan. */
  ikeConns: IkeConnPlan[];
  /** Digest of everything above: equal digests mean nothing to change. */
  hash: string;
  /** Why some subnets were left out (invalid, other family, the peer's own /32 ...). */
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

/**
 * Submariner's rule (preferred_server.go calculateOperationMode): neither prefers → both initiate; one
 * prefers → it serves; both → the greater cable name serves. A remote that publishes no `preferred-server`
 * counts as false, as in current Submariner (devel, per the fidelity review); 0.19 (commit 5b70b1e)
 * treated it as bidirectional. Every Submariner and hawser gateway publishes the key, so they agree.
 */
export function operationMode(local: EndpointSpec, remote: EndpointSpec, preferredServerEnv: boolean): IpsecMode {
  const left = parseGoBool(local.backendConfig['preferred-server']) ?? preferredServerEnv;
  const right = parseGoBool(remote.backendConfig['preferred-server']) ?? false;
  if (!left && !right) return 'bidirectional';
  if (left && !right) return 'server';
  if (right && !left) return 'client';
  return local.cableName > remote.cableName ? 'server' : 'client';
}

/**
 * Subnets of the IKE family, in published order. Like Submariner's ExtractSubnetsExcludingIP (devel) and
 * extractSubnets (0.19), only a subnet whose text starts with `<ip>/` is dropped (the useIP, or the owner's
 * own private IP for 0.19): a peer gateway *inside* a remote CIDR is fine (the route agent routes it via
 * the gateway). The indices must equal the peer's: they are part of the identities in server/client mode.
 */
function trafficSubnets(subnets: readonly string[], family: number, excludePrefixes: readonly string[], who: string, notes: string[]): string[] {
  const out: string[] = [];
  for (const s of subnets) {
    const c = parseCidr(s);
    const dropped = excludePrefixes.find((ip) => ip && s.startsWith(`${ip}/`));
    if (dropped) notes.push(`${who} subnet ${s} is the address ${dropped} itself: skipped (as Submariner does)`);
    else if (!c) notes.push(`${who} subnet ${s} is not a valid CIDR: skipped`);
    else if (c.family !== family) notes.push(`${who} subnet ${s} is IPv${c.family}, the cable is IPv${family}: skipped`);
    else out.push(c.text);
  }
  return out;
}

/** Submariner 0.19's name `<cable>-<i>-<j>` (devel says `<cable>-v4-<i>-<j>`): names never leave the host. */
export function childName(cableName: string, i: number, j: number): string {
  return `${cableName}-${i}-${j}`;
}

/** libreswan's FQDN identity in server/client mode: `@<privateIP>-<own index>-<peer index>`. */
export function pairIdentity(ip: string, own: number, peer: number): string {
  return `@${ip}-${own}-${peer}`;
}

/** The subnet pairs, identities, mode and ports of a cable: what both back ends negotiate. */
export function planPairs(input: ConnInput): CablePairs {
  const { local, remote, nat, settings } = input;
  const cable = remote.cableName;
  if (!CABLE_NAME.test(cable)) throw new HawserError('INVALID', `remote Endpoint cable_name "${cable}" is not usable as an IPsec connection name (letters, digits, '.', '_', '-', at most 200)`);
  if (backendKind(remote.backend) !== 'libreswan') {
    throw new HawserError('INVALID', `remote Endpoint ${cable} (cluster ${remote.clusterId}) uses the "${remote.backend}" cable driver but this gateway runs IPsec (libreswan): set the same SUBMARINER_CABLEDRIVER in every cluster`);
  }
  const fam = isIP(nat.useIP);
  if (fam === 0) throw new HawserError('INVALID', `NAT discovery gave no usable address for ${cable} (useIP "${nat.useIP}")`);
  const family = fam as 4 | 6;
  const localIP = local.privateIPs.find((ip) => isIP(ip) === family) ?? local.privateIP;
  if (!localIP || isIP(localIP) !== family) throw new HawserError('INVALID', `the local Endpoint has no IPv${family} private IP to reach ${cable} at ${nat.useIP}`);
  const remotePrivateIP = remote.privateIPs.find((ip) => isIP(ip) === family) ?? remote.privateIP;
  const notes: string[] = [];
  const left = trafficSubnets(local.subnets, family, [nat.useIP, localIP], 'local', notes);
  const right = trafficSubnets(remote.subnets, family, [nat.useIP, remotePrivateIP], `remote (${cable})`, notes);
  for (const s of remote.invalidSubnets) notes.push(`remote (${cable}) subnet ${s} is not a valid CIDR: skipped`);
  if (left.length === 0) throw new HawserError('INVALID', `no local IPv${family} subnet to tunnel to ${cable}: set SUBMARINER_CLUSTERCIDR/SUBMARINER_SERVICECIDR${notes.length ? ` (${notes.join('; ')})` : ''}`);
  if (right.length === 0) throw new HawserError('INVALID', `remote Endpoint ${cable} publishes no usable IPv${family} subnet${notes.length ? ` (${notes.join('; ')})` : ''}`);
  const mode = operationMode(local, remote, settings.preferredServer);
  const pairs: SubnetPair[] = [];
  left.forEach((l, i) => right.forEach((r, j) => {
    // Bidirectional: the private IPs; server/client: one FQDN pair per subnet pair (libreswan.go).
    const fqdn = mode !== 'bidirectional';
    pairs.push({
      i, j, name: childName(cable, i, j), localTs: l, remoteTs: r,
      localId: fqdn ? pairIdentity(localIP, i, j) : localIP,
      remoteId: fqdn ? pairIdentity(remotePrivateIP, j, i) : remotePrivateIP,
    });
  }));
  return {
    cable, mode, initiate: mode !== 'server', family, localIP, remotePrivateIP, useIP: nat.useIP,
    localPort: backendPort(local, 'udp-port', settings.nattPort),
    remotePort: backendPort(remote, 'udp-port', settings.nattPort),
    encap: nat.useNAT || settings.forceEncaps,
    pairs, notes,
    serverRestart: mode === 'client' ? remote.backendConfig['preferred-server-timestamp'] : undefined,
  };
}

function childSection(initiate: boolean, c: { localTs: string; remoteTs: string }): ViciInputSection {
  return {
    mode: 'tunnel',
    local_ts: [c.localTs],
    remote_ts: [c.remoteTs],
    esp_proposals: [...ESP_PROPOSALS],
    // "hold": a dead peer leaves the policy (and, with kernel-libipsec, the route into the TUN device)
    // in place, so traffic is dropped rather than sent in the clear; hawser re-initiates.
    dpd_action: initiate ? 'trap' : 'clear',
    start_action: initiate ? 'trap' : 'none',
    close_action: 'none',
  };
}

function ikeSection(p: CablePairs, localId: string, remoteId: string, children: Record<string, ViciInputSection>): ViciInputSection {
  return {
    version: 2,
    local_addrs: [p.localIP],
    // A preferred server accepts its client from anywhere (the client may sit behind NAT).
    remote_addrs: [p.mode === 'server' ? '%any' : p.useIP],
    local_port: p.localPort,
    remote_port: p.remotePort,
    proposals: [...IKE_PROPOSALS],
    encap: p.encap,
    mobike: false,
    fragmentation: 'yes',
    dpd_delay: `${DPD_DELAY_S}s`,
    keyingtries: 1,
    // No INITIAL_CONTACT: with both sides initiating, it makes a peer drop an SA silently; stale SAs
    // after a restart are removed by DPD while the newest SA already carries the traffic.
    unique: 'never',
    send_certreq: false,
    local: { auth: 'psk', id: localId },
    remote: { auth: 'psk', id: remoteId },
    children,
  };
}

export function planConn(input: ConnInput): ConnPlan {
  const p = planPairs(input);
  const ikeConns: IkeConnPlan[] = [];
  if (p.mode === 'bidirectional') {
    const children: ChildPlan[] = p.pairs.map((x) => ({ name: x.name, ike: p.cable, localTs: x.localTs, remoteTs: x.remoteTs }));
    const sections = Object.fromEntries(children.map((c) => [c.name, childSection(p.initiate, c)]));
    ikeConns.push({ name: p.cable, conn: ikeSection(p, p.localIP, p.remotePrivateIP, sections), children, localId: p.localIP, remoteId: p.remotePrivateIP });
  } else {
    // libreswan: one connection (so one IKE SA and one identity pair) per subnet pair; strongSwan strips
    // the leading '@' and sends an FQDN identity, as libreswan does.
    for (const x of p.pairs) {
      const child: ChildPlan = { name: x.name, ike: x.name, localTs: x.localTs, remoteTs: x.remoteTs };
      ikeConns.push({ name: x.name, conn: ikeSection(p, x.localId, x.remoteId, { [x.name]: childSection(p.initiate, child) }), children: [child], localId: x.localId, remoteId: x.remoteId });
    }
  }
  const children = ikeConns.flatMap((c) => c.children);
  const hash = createHash('sha256').update(JSON.stringify({ mode: p.mode, restart: p.serverRestart, conns: ikeConns.map((c) => [c.name, c.conn]) })).digest('hex').slice(0, 16);
  return { name: p.cable, mode: p.mode, initiate: p.initiate, children, ikeConns, hash, notes: p.notes };
}

/** The plan as text: what `hawser show`/tests print and what an operator reads. */
export function connPlanToText(plan: ConnPlan): string {
  const head = [`# ${plan.name}: mode ${plan.mode}, ${plan.initiate ? 'initiates' : 'waits for the peer'}, ${plan.children.length} child SA(s), digest ${plan.hash}`];
  for (const n of plan.notes) head.push(`# note: ${n}`);
  const conns = plan.ikeConns.map((c) => `load-conn ${c.name} {\n${messageToText(c.conn, {}, '  ')}\n}`);
  return [head.join('\n'), ...conns].join('\n');
}
