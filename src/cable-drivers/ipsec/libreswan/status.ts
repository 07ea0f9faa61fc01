// Pure readers of what pluto says: `whack --trafficstatus` (installed child SAs and their bytes),
// `whack --showstates` (IKE and child SA states) and pluto's log lines (why a connection does not come up).
import type { IkeFailure, FailureKind } from '../state.js';

export interface TrafficEntry {
  conn: string;
  inBytes: number;
  outBytes: number;
}

/** `006 #2: "c-0-0"[1] 1.2.3.4, type=ESP, add_time=…, inBytes=0, outBytes=0, … id='…'` (prefix optional). */
export function parseTrafficStatus(text: string): TrafficEntry[] {
  const out: TrafficEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /#\d+: "([^"]+)"[^,]*, .*inBytes=(\d+), outBytes=(\d+)/.exec(line);
    if (m) out.push({ conn: m[1]!, inBytes: Number(m[2]), outBytes: Number(m[3]) });
  }
  return out;
}

export interface StateEntry {
  serial: number;
  conn: string;
  state: string;
}

/** `#1: "c-0-0":4500 STATE_V2_ESTABLISHED_IKE_SA (established IKE SA); …`. */
export function parseShowStates(text: string): StateEntry[] {
  const out: StateEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /#(\d+): "([^"]+)".*? (STATE_\S+)/.exec(line);
    if (m) out.push({ serial: Number(m[1]), conn: m[2]!, state: m[3]! });
  }
  return out;
}

export const IKE_ESTABLISHED = /^STATE_V2_ESTABLISHED_IKE_SA$/;
export const CHILD_ESTABLISHED = /^STATE_V2_ESTABLISHED_CHILD_SA$/;

/** The connection a pluto log line is about (`"name"` or `"name"[3]`), if it names one. */
export function connOfLine(line: string): string | undefined {
  return /"([^"]+)"(?:\[\d+\])?(?: [0-9a-fA-F.:]+)?(?: #\d+)?:/.exec(line)?.[1];
}

export interface PlutoFailureContext {
  peer: string;
  port: number;
  localId: string;
  remoteId: string;
  localPreferredServer: boolean;
  remotePreferredServer?: string;
}

function preferredText(ctx: PlutoFailureContext): string {
  const there = ctx.remotePreferredServer === undefined ? 'not published (counts as false)' : ctx.remotePreferredServer;
  return `preferred-server here ${ctx.localPreferredServer}, on the peer ${there}; in server/client mode both sides use @<privateIP>-<i>-<j> identities, bidirectional uses the private IPs`;
}

/** Recognizes the pluto (libreswan 4.x) log lines that explain why a connection does not come up. */
export function classifyPlutoLog(line: string, ctx: PlutoFailureContext, atMs: number): IkeFailure | undefined {
  const mk = (kind: FailureKind, message: string): IkeFailure => ({ kind, message, detail: line.replace(/^\w{3} [ \d]\d [\d:.]+: /, ''), atMs });
  let m: RegExpExecArray | null;
  if ((m = /no local proposal matches remote proposals (.*)$/.exec(line))) {
    const remote = m[1]!;
    if (/ESP:/.test(remote) && /ESN=/.test(remote)) {
      return mk('esn', `no common ESP proposal with ${ctx.peer} because of ESN: the peer proposes ESP with an Extended Sequence Numbers transform (${remote}), as strongSwan always does, and hawser's pluto (libreswan 4.x configured as Submariner does, neither --esn nor --no-esn) proposes and accepts none; use the same IPsec back end on both (a hawser peer should publish hawser-ipsec-backend, then --no-esn is added), or libreswan 5 here`);
    }
    return mk(/IKE:/.test(remote) ? 'ike-proposal' : 'proposal', `no common ${/IKE:/.test(remote) ? 'IKE' : 'ESP'} proposal with ${ctx.peer}: it offers ${remote}; hawser's pluto offers libreswan's defaults (see the "ESP=…"/"IKE=…" lines pluto logged when the connection was added)`);
  }
  if (/NO_PROPOSAL_CHOSEN/.test(line)) {
    return mk('proposal', `${ctx.peer} accepted none of our proposals (NO_PROPOSAL_CHOSEN): it offers other algorithms, has no connection for this gateway yet, or (a strongSwan peer) needs an ESN transform that libreswan 4.x does not send unless --no-esn is given`);
  }
  if (/AUTHENTICATION_FAILED/.test(line)) {
    return mk('auth-rejected', `${ctx.peer} rejected our IKE authentication (AUTHENTICATION_FAILED): either its pre-shared key differs (set the same CE_IPSEC_PSK in both clusters) or it expects another identity: we sent ${ctx.localId} and expect ${ctx.remoteId} (${preferredText(ctx)})`);
  }
  if (/authentication failed|(PSK|pre-shared key) .*(mismatch|failed)|AUTH payload .*fail|failed to authenticate/i.test(line)) {
    return mk('psk-mismatch', `IPsec pre-shared key mismatch with ${ctx.peer}: its PSK differs from ours; set the same CE_IPSEC_PSK (the broker's IPsec PSK) in both clusters`);
  }
  if ((m = /(?:no suitable connection for peer|peer ID|switched to|no connection (?:named|found|has been authorized) .*?)'([^']*)'/.exec(line)) && /no suitable|mismatch|no connection/.test(line)) {
    return mk('identity', `IKE identity mismatch with ${ctx.peer}: it presented identity ${m[1]} but this gateway expects ${ctx.remoteId} (${preferredText(ctx)}); the peer's Endpoint private_ip and preferred-server must match what its IKE daemon uses`);
  }
  if (/TS_UNACCEPTABLE|no acceptable traffic selectors|traffic selectors? .*(unacceptable|mismatch)/i.test(line)) {
    return mk('traffic-selectors', `${ctx.peer} refused the traffic selectors (TS_UNACCEPTABLE): the two Endpoints disagree on the subnets (check both clusters' cluster and service CIDRs), or the peer could not install that child SA (a peer without kernel ESP answers this too)`);
  }
  if (/netlink response for Add SA .*(Function not implemented|errno 38|Protocol not supported|errno 93)/.test(line)) {
    return mk('kernel', `the IPsec child SA with ${ctx.peer} was negotiated but this kernel cannot install it: it has no ESP (XFRM answered ${/errno \d+/.exec(line)?.[0] ?? 'an error'}); libreswan needs the kernel's esp4/esp6 modules (the strongSwan back end with HAWSER_IPSEC_USERSPACE=true does not)`);
  }
  if (/(?:retransmission|retransmitting).*(?:timeout|giving up)|max number of retransmissions|EXPIRE.*IKE_SA_INIT/i.test(line)) {
    return mk('unreachable', `${ctx.peer} does not answer IKE on UDP ${ctx.port}: check that its gateway runs and that UDP ${ctx.port} is open (firewall, NAT, security groups) between the gateways`);
  }
  return undefined;
}
