// Connection state from what charon reports: pure functions from list-sas (and the last IKE failure seen in
// charon's log events) to status, actionable message and byte counters.
import type { ConnectionStatus } from '../types.js';
import type { IkeSa } from './vici/index.js';

export type FailureKind = 'psk-mismatch' | 'no-psk' | 'identity' | 'proposal' | 'traffic-selectors' | 'unreachable' | 'kernel' | 'route';

export interface IkeFailure {
  kind: FailureKind;
  /** What is wrong and what to fix, for Gateway status. */
  message: string;
  /** charon's own words. */
  detail: string;
  atMs: number;
}

export interface FailureContext {
  cable: string;
  peer: string;
  port: number;
  localId: string;
  /** ESP in userspace (kernel-libipsec): kernel-install failures then have other causes than a missing ESP. */
  userspace?: boolean;
}

/** Recognizes the charon log lines (level <= 1) that explain why a connection does not come up. */
export function classifyCharonLog(msg: string, ctx: FailureContext, atMs: number): IkeFailure | undefined {
  const mk = (kind: FailureKind, message: string): IkeFailure => ({ kind, message, detail: msg, atMs });
  let m: RegExpExecArray | null;
  if ((m = /tried \d+ shared keys? for '([^']*)' - '([^']*)', but MAC mismatched/.exec(msg))) {
    return mk('psk-mismatch', `IPsec pre-shared key mismatch with ${ctx.peer} (identity ${m[2]}): its PSK differs from ours; set the same CE_IPSEC_PSK (the broker's IPsec PSK) in both clusters`);
  }
  if (/received AUTHENTICATION_FAILED notify/.test(msg)) {
    return mk('psk-mismatch', `IPsec pre-shared key mismatch: ${ctx.peer} rejected our authentication (AUTHENTICATION_FAILED); set the same CE_IPSEC_PSK in both clusters (or the peer does not expect our identity ${ctx.localId})`);
  }
  if ((m = /no shared key found for '([^']*)' - '([^']*)'/.exec(msg))) {
    return mk('no-psk', `no IPsec pre-shared key loaded for ${m[1]} - ${m[2]}: CE_IPSEC_PSK is missing on this gateway`);
  }
  if (/no matching peer config found/.test(msg) || /no peer config found/.test(msg)) {
    return mk('identity', `${ctx.peer} presented identities that match no connection here: its Endpoint private_ip must be its IKE identity`);
  }
  if (/NO_PROPOSAL_CHOSEN/.test(msg) || /no acceptable proposal found/.test(msg)) {
    return mk('proposal', `no common IKE/ESP algorithm proposal with ${ctx.peer} (NO_PROPOSAL_CHOSEN): the peer's IPsec implementation offers none of hawser's proposals, or it has no connection for this gateway yet (charon answers NO_PROPOSAL_CHOSEN when no IKE config matches: check that the peer sees this cluster's Endpoint)`);
  }
  if (/TS_UNACCEPTABLE/.test(msg) || /no acceptable traffic selectors/.test(msg)) {
    return mk('traffic-selectors', `${ctx.peer} refused the traffic selectors (TS_UNACCEPTABLE): the two Endpoints disagree on the subnets (check both clusters' cluster and service CIDRs), or the peer could not install that child SA (its Gateway status and charon log say why)`);
  }
  if (/giving up after \d+ retransmits/.test(msg) || /peer not responding/.test(msg)) {
    return mk('unreachable', `${ctx.peer} does not answer IKE on UDP ${ctx.port}: check that its gateway runs and that UDP ${ctx.port} is open (firewall, NAT, security groups) between the gateways`);
  }
  // kernel-libipsec: an outbound policy is installed only with its route into the TUN device, which needs
  // a local address inside the local selector. Logged just before the generic SPD failure below.
  if ((m = /error installing route with policy (\S+) === (\S+)/.exec(msg))) {
    return mk('route', `the IPsec child SA ${m[1]} === ${m[2]} with ${ctx.peer} was negotiated but userspace ESP cannot route it: this gateway has no address inside ${m[1]} (charon needs one as the source of its route into its TUN device); hawser lends one for the service CIDR, so check that ${m[1]} is this cluster's SUBMARINER_SERVICECIDR or give the gateway an address in it`);
  }
  if (/unable to (install|add) (SAD|SPD|policy|inbound|outbound)/i.test(msg) || /unable to install IPsec policies/.test(msg)) {
    const hint = ctx.userspace
      ? `charon runs userspace ESP (HAWSER_IPSEC_USERSPACE=true): see the lines before this one in charon's log for why`
      : 'a kernel without ESP/XFRM needs HAWSER_IPSEC_USERSPACE=true';
    return mk('kernel', `the IPsec SA with ${ctx.peer} was negotiated but could not be installed in the kernel: ${msg} (${hint})`);
  }
  return undefined;
}

/** Root causes first: a peer that failed to install its SA also answers NO_PROPOSAL_CHOSEN, for one. */
const FAILURE_RANK: Readonly<Record<FailureKind, number>> = {
  route: 8, kernel: 7, 'psk-mismatch': 6, 'no-psk': 5, identity: 4, 'traffic-selectors': 3, proposal: 1, unreachable: 0,
};

/** Which failure to show: the new one, unless a more telling one was seen within `windowMs`. */
export function preferFailure(current: IkeFailure | undefined, next: IkeFailure, windowMs = 10_000): IkeFailure {
  if (current && next.atMs - current.atMs < windowMs && FAILURE_RANK[current.kind] > FAILURE_RANK[next.kind]) return current;
  return next;
}

/** States of a CHILD_SA that carry traffic. */
const CHILD_UP = new Set(['INSTALLED', 'REKEYING', 'REKEYED', 'UPDATING']);
/** States of an IKE_SA on its way out. */
const IKE_GONE = new Set(['DELETING', 'DESTROYING']);

export interface ConnExpectation {
  name: string;
  children: readonly string[];
  initiate: boolean;
  peer: string;
  port: number;
}

export interface ObservedConnection {
  status: ConnectionStatus;
  statusMessage: string;
  rxBytes: number;
  txBytes: number;
  /** Unix ms when the newest live IKE_SA was established. */
  establishedMs?: number;
  usingNAT: boolean;
  upChildren: string[];
  missingChildren: string[];
  /** An IKE_SA of this connection is being negotiated (no need to initiate again). */
  negotiating: boolean;
}

/** The state of one connection from all IKE_SAs charon lists (duplicates from both sides initiating are fine). */
export function observeConnection(exp: ConnExpectation, allSas: readonly IkeSa[], failure: IkeFailure | undefined, nowMs: number): ObservedConnection {
  const sas = allSas.filter((s) => s.name === exp.name && !IKE_GONE.has(s.state));
  const up = new Set<string>();
  let rx = 0;
  let tx = 0;
  let newest: number | undefined;
  let nat = false;
  let negotiating = false;
  for (const sa of sas) {
    if (sa.state === 'CONNECTING' || sa.state === 'CREATED') negotiating = true;
    if (sa.state === 'ESTABLISHED' || sa.state === 'REKEYING' || sa.state === 'REKEYED') {
      if (sa.established !== undefined) newest = newest === undefined ? sa.established : Math.min(newest, sa.established);
      if (sa.natAny) nat = true;
    }
    for (const c of sa.children) {
      rx += c.bytesIn;
      tx += c.bytesOut;
      if (CHILD_UP.has(c.state)) up.add(c.name);
      if (c.state === 'CREATED' || c.state === 'INSTALLING') negotiating = true;
    }
  }
  const missing = exp.children.filter((c) => !up.has(c));
  const base = {
    rxBytes: rx,
    txBytes: tx,
    establishedMs: newest === undefined ? undefined : nowMs - newest * 1000,
    usingNAT: nat,
    upChildren: exp.children.filter((c) => up.has(c)),
    missingChildren: missing,
    negotiating,
  };
  if (missing.length === 0) return { ...base, status: 'connected', statusMessage: '' };
  if (failure) return { ...base, status: 'error', statusMessage: failure.message };
  let msg: string;
  if (base.upChildren.length > 0) msg = `${base.upChildren.length} of ${exp.children.length} child SAs up; waiting for ${missing.join(', ')}`;
  else if (negotiating) msg = `IKE negotiation with ${exp.peer}:${exp.port} in progress`;
  else if (!exp.initiate) msg = `waiting for ${exp.peer} to initiate (this gateway is the preferred server)`;
  else msg = `initiating IKE to ${exp.peer}:${exp.port}`;
  return { ...base, status: 'connecting', statusMessage: msg };
}
