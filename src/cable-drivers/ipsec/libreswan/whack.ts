// The whack commands for one cable, as a pure function of the cable's subnet pairs: the same arguments,
// in the same order, that Submariner's libreswan driver (pkg/cable/libreswan/libreswan.go) issues, so a
// libreswan peer configured by Submariner and hawser's pluto negotiate exactly what two Submariner
// gateways negotiate. One libreswan connection per subnet pair, named `<cable>-<i>-<j>`.
import { createHash } from 'node:crypto';
import { DPD_DELAY_S, planPairs, type CablePairs, type ConnInput, type IpsecMode, type SubnetPair } from '../conn-config.js';

/** backend_config key both hawser IPsec back ends publish, so a hawser peer knows which ESN rule applies. */
export const BACKEND_KEY = 'hawser-ipsec-backend';

export interface WhackConn {
  /** `<cable>-<i>-<j>`. */
  name: string;
  pair: SubnetPair;
  /** `whack <add...>`: adds (or replaces) the connection. */
  add: string[];
  /** Bidirectional and client: `--route` then `--initiate --asynchronous`; a server only waits. */
  initiate: boolean;
}

export interface WhackPlan {
  cable: string;
  mode: IpsecMode;
  initiate: boolean;
  peer: string;
  peerPort: number;
  conns: WhackConn[];
  /** Whether `--no-esn` was added (the peer is hawser's strongSwan back end, which always sends an ESN transform). */
  noEsn: boolean;
  notes: string[];
  hash: string;
}

/**
 * Submariner passes neither --esn nor --no-esn: libreswan 4.x then proposes ESP without an ESN transform
 * and refuses proposals that carry one. That is what a Submariner peer needs, so hawser does the same,
 * except towards a hawser peer that publishes `hawser-ipsec-backend=strongswan`: strongSwan always adds
 * an ESN transform (NO_EXT_SEQ) and refuses proposals without one, so there `--no-esn` makes both agree.
 */
function wantsNoEsn(input: ConnInput): boolean {
  return input.remote.backendConfig[BACKEND_KEY] === 'strongswan';
}

function argsFor(p: CablePairs, x: SubnetPair, noEsn: boolean): string[] {
  const args = ['--psk', '--encrypt'];
  if (p.encap) args.push('--forceencaps');
  if (noEsn) args.push('--no-esn');
  args.push('--name', x.name, '--id', x.localId, '--host', p.localIP, '--client', x.localTs);
  // The client end has no local --ikeport (libreswan.go clientConnectToEndpoint).
  if (p.mode !== 'client') args.push('--ikeport', String(p.localPort));
  args.push('--to', '--id', x.remoteId);
  if (p.mode === 'server') args.push('--host', '%any', '--client', x.remoteTs);
  else args.push('--host', p.useIP, '--client', x.remoteTs, '--ikeport', String(p.remotePort));
  args.push('--dpdaction=hold', '--dpddelay', String(DPD_DELAY_S));
  return args;
}

export function planWhack(input: ConnInput): WhackPlan {
  const p = planPairs(input);
  const noEsn = wantsNoEsn(input);
  const conns = p.pairs.map((x) => ({ name: x.name, pair: x, add: argsFor(p, x, noEsn), initiate: p.initiate }));
  const hash = createHash('sha256').update(JSON.stringify({ mode: p.mode, restart: p.serverRestart, conns: conns.map((c) => c.add) })).digest('hex').slice(0, 16);
  return { cable: p.cable, mode: p.mode, initiate: p.initiate, peer: p.useIP, peerPort: p.remotePort, conns, noEsn, notes: p.notes, hash };
}

/** The plan as the whack command lines an operator can paste (`ipsec whack ...`). */
export function whackPlanToText(plan: WhackPlan): string {
  const out = [`# ${plan.cable}: mode ${plan.mode}, ${plan.initiate ? 'initiates' : 'waits for the peer'}, ${plan.conns.length} connection(s)${plan.noEsn ? ', --no-esn (hawser strongSwan peer)' : ''}`];
  for (const n of plan.notes) out.push(`# note: ${n}`);
  for (const c of plan.conns) {
    out.push(`ipsec whack ${c.add.join(' ')}`);
    if (c.initiate) out.push(`ipsec whack --route --name ${c.name}`, `ipsec whack --initiate --asynchronous --name ${c.name}`);
  }
  return out.join('\n');
}
