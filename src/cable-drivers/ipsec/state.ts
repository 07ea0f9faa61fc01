// Connection state from what charon reports: pure functions from list-sas (and the last IKE failure seen in
// charon's log events) to status, actionable message and byte counters.
import type { ConnectionStatus } from '../types.js';
import type { IkeSa } from './vici/index.js';

export type FailureKind = 'psk-mismatch' | 'auth-rejected' | 'no-psk' | 'identity' | 'esn' | 'proposal' | 'ike-proposal' | 'traffic-selectors' | 'unreachable' | 'kernel' | 'route';

export interface IkeFailure {
  kind: FailureKind;
  /** What is wrong and what to fix, for Gateway status. */
  message: string;
  /** charon's own words. */
  detail: string;
  atMs: number;
}

/** What charon said just before a failure about the same IKE_SA (proposal lists, the peer-config lookup). */
export interface RecentCharonLines {
  receivedProposals?: string;
  configuredProposals?: string;
  /** `looking for peer configs matching <local>[<id>]...<remote>[<id>]`. */
  peerConfigLookup?: string;
}

export interface FailureContext {
  cable: string;
  peer: string;
  port: number;
  localId: string;
  /** The identity (or identities, one per subnet pair in server/client mode) we expect from the peer. */
  remoteIds?: readonly string[];
  /** Our preferred-server setting and what the peer publishes (undefined: it publishes nothing = false). */
  localPreferredServer?: boolean;
  remotePreferredServer?: string;
  /** ESP in userspace (kernel-libipsec): kernel-install failures then have other causes than a missing ESP. */
  userspace?: boolean;
  recent?: RecentCharonLines;
}

/** Remembers the charon lines that explain the failure that follows them; true when the line was one. */
export function noteCharonContext(msg: string, recent: RecentCharonLines): boolean {
  let m: RegExpExecArray | null;
  if ((m = /^received proposals: (.*)$/.exec(msg))) recent.receivedProposals = m[1];
  else if ((m = /^configured proposals: (.*)$/.exec(msg))) recent.configuredProposals = m[1];
  else if (/^looking for peer configs matching /.test(msg)) recent.peerConfigLookup = msg;
  else return false;
  return true;
}

/** ESP proposals without any ESN transform (libreswan 4.x with neither --esn nor --no-esn). */
function lacksEsn(proposals: string | undefined): boolean {
  return proposals !== undefined && /\bESP:/.test(proposals) && !/EXT_SEQ/.test(proposals);
}

const ESN_FIX = 'run libreswan 5 or later on the peer (an unset ESN there means either), or give its connections --no-esn, or run this cluster\'s gateways with HAWSER_IPSEC_BACKEND=libreswan (hawser drives pluto, which proposes what libreswan 4.x proposes)';

function preferredText(ctx: FailureContext): string {
  const here = ctx.localPreferredServer === undefined ? 'unknown' : String(ctx.localPreferredServer);
  const there = ctx.remotePreferredServer === undefined ? 'not published (counts as false)' : ctx.remotePreferredServer;
  return `preferred-server here ${here}, on the peer ${there}; in server/client mode both sides use @<privateIP>-<i>-<j> identities, bidirectional uses the private IPs`;
}

/** Recognizes the charon log lines (level <= 1) that explain why a connection does not come up. */
export function classifyCharonLog(msg: string, ctx: FailureContext, atMs: number): IkeFailure | undefined {
  const mk = (kind: FailureKind, message: string): IkeFailure => ({ kind, message, detail: msg, atMs });
  const recent = ctx.recent ?? {};
  const expected = ctx.remoteIds?.length ? ctx.remoteIds.join(' or ') : 'its private IP';
  let m: RegExpExecArray | null;
  if ((m = /tried \d+ shared keys? for '([^']*)' - '([^']*)', but MAC mismatched/.exec(msg))) {
    return mk('psk-mismatch', `IPsec pre-shared key mismatch with ${ctx.peer} (identity ${m[2]}): its PSK differs from ours; set the same CE_IPSEC_PSK (the broker's IPsec PSK) in both clusters`);
  }
  if (/received AUTHENTICATION_FAILED notify/.test(msg)) {
    return mk('auth-rejected', `${ctx.peer} rejected our IKE authentication (AUTHENTICATION_FAILED): either its pre-shared key differs (set the same CE_IPSEC_PSK in both clusters) or it expects another identity: we sent ${ctx.localId} and expect ${expected} (${preferredText(ctx)})`);
  }
  if ((m = /no shared key found for '([^']*)' - '([^']*)'/.exec(msg))) {
    return mk('no-psk', `no IPsec pre-shared key loaded for ${m[1]} - ${m[2]}: CE_IPSEC_PSK is missing on this gateway`);
  }
  if (/no matching peer config found/.test(msg) || /no peer config found/.test(msg)) {
    const lookup = recent.peerConfigLookup ? /\.\.\.[^[]*\[([^\]]*)\]/.exec(recent.peerConfigLookup) : null;
    const got = lookup?.[1] ? `it presented identity ${lookup[1]}` : 'it presented an identity';
    return mk('identity', `IKE identity mismatch with ${ctx.peer}: ${got} but this gateway expects ${expected} (${preferredText(ctx)}); the peer's Endpoint private_ip and preferred-server must match what its IKE daemon uses`);
  }
  if (/NO_PROPOSAL_CHOSEN/.test(msg) || /no acceptable proposal found|received proposals unacceptable/.test(msg)) {
    if (/no acceptable proposal found/.test(msg) && lacksEsn(recent.receivedProposals) && /NO_EXT_SEQ|EXT_SEQ/.test(recent.configuredProposals ?? '')) {
      return mk('esn', `no common ESP proposal with ${ctx.peer} because of ESN: the peer proposes ESP without an Extended Sequence Numbers transform (${recent.receivedProposals}), as libreswan 4.x does when Submariner passes neither --esn nor --no-esn, and refuses ours, which strongSwan always sends with one (${recent.configuredProposals}); ${ESN_FIX}`);
    }
    // As responder charon lists both sides' proposals; as initiator, the peer's are known if it initiated too.
    if (/no acceptable proposal found|received proposals unacceptable|received NO_PROPOSAL_CHOSEN notify error/.test(msg) && /\bIKE:/.test(recent.receivedProposals ?? '')) {
      return mk('ike-proposal', `no common IKE proposal with ${ctx.peer}: it offers ${recent.receivedProposals}; hawser offers ${recent.configuredProposals ?? 'its IKE proposals'}`);
    }
    if (/received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built/.test(msg)) {
      return mk('esn', `no common ESP proposal with ${ctx.peer}: IKE is up but the peer refused all of hawser's ESP proposals; a libreswan 4.x peer (Submariner's libreswan driver) does this because of ESN: it lacks the Extended Sequence Numbers transform strongSwan always sends; ${ESN_FIX}`);
    }
    return mk('proposal', `no common IKE/ESP algorithm proposal with ${ctx.peer} (NO_PROPOSAL_CHOSEN): the peer's IPsec implementation offers none of hawser's proposals, or it has no connection for this gateway yet (charon answers NO_PROPOSAL_CHOSEN when no IKE config matches: check that the peer sees this cluster's Endpoint)`);
  }
  if (/TS_UNACCEPTABLE/.test(msg) || /no acceptable traffic selectors/.test(msg)) {
    return mk('traffic-selectors', `${ctx.peer} refused the traffic selectors (TS_UNACCEPTABLE): the two Endpoints disagree on the subnets (check both clusters' cluster and service CIDRs), or the peer could not install that child SA (its Gateway status and IKE daemon log say why; a libreswan peer without kernel ESP answers this too)`);
  }
  if (/giving up after \d+ retransmits/.test(msg) || /peer not responding/.test(msg)) {
    return mk('unreachable', `${ctx.peer} does not answer IKE on UDP ${ctx.port}: check that its gateway runs and that UDP ${ctx.port} is open (firewall, NAT, security groups) between the gateways`);
  }
  // kernel-libipsec: an outbound policy is installed only with its route into the TUN device, which needs
  // a local address inside the local selector. Logged just before the generic SPD failure below.
  if ((m = /error installing route with policy (\S+) === (\S+)/.exec(msg))) {
    return mk('route', `the IPsec child SA ${m[1]} === ${m[2]} with ${ctx.peer} was negotiated but userspace ESP cannot route it: this gateway has no address inside ${m[1]} (charon needs one as the source of its route into its TUN device); hawser lends one for the service and global CIDRs, so check that ${m[1]} is this cluster's SUBMARINER_SERVICECIDR or SUBMARINER_GLOBALCIDR or give the gateway an address in it`);
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
  route: 8, kernel: 7, 'psk-mismatch': 6, 'no-psk': 5, identity: 4, esn: 4, 'ike-proposal': 4, 'auth-rejected': 3, 'traffic-selectors': 3, proposal: 1, unreachable: 0,
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
  /** The cable name. */
  name: string;
  /** The IKE connections of the cable (its own name, or one per subnet pair in server/client mode). */
  ikeNames?: readonly string[];
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
  const names = new Set(exp.ikeNames ?? [exp.name]);
  const sas = allSas.filter((s) => names.has(s.name) && !IKE_GONE.has(s.state));
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
