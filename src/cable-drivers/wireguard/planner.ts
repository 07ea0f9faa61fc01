// Pure planners of the WireGuard cable: desired peers vs the observed device -> the minimal Config;
// desired routes/rule/link vs observed -> `ip` lines. Plans are plain data that print as text.
import type { Config, Device, Peer, PeerConfig } from './wgctrl/index.js';

export interface DesiredPeer {
  /** The remote Endpoint's cable name (for plan text and logs). */
  cableName: string;
  publicKey: string;
  /** ZERO_KEY when none. */
  presharedKey: string;
  endpoint: string;
  keepaliveSec: number;
  /** Canonical CIDRs. */
  allowedIPs: string[];
}

export interface DesiredDevice {
  privateKey: string;
  listenPort: number;
  peers: DesiredPeer[];
}

export interface PeerPlanOptions {
  /** Remove device peers that no desired peer claims (off during the adoption grace after a restart). */
  prune: boolean;
  /** Peers to remove even when not pruning (cables disconnected in this process). */
  remove?: ReadonlySet<string>;
  /**
   * Endpoint this process last set (or accepted) per peer public key. An observed endpoint that differs
   * from one we set is the peer's roamed address (NAT): it is left alone, or the cable would flap.
   */
  appliedEndpoints?: ReadonlyMap<string, string>;
  nowMs: number;
  /** A handshake younger than this means the peer works as it is (adopted peers keep a roamed endpoint). */
  liveHandshakeMs: number;
}

export interface DevicePlan {
  /** Undefined when nothing needs to change. */
  config?: Config;
  lines: string[];
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
};

const short = (key: string): string => key.slice(0, 8);

function endpointNeedsWrite(want: DesiredPeer, have: Peer, opts: PeerPlanOptions): boolean {
  if (have.endpoint === want.endpoint) return false;
  if (have.endpoint === undefined) return true;
  const applied = opts.appliedEndpoints?.get(want.publicKey);
  if (applied !== undefined) return applied !== want.endpoint;
  // adopted from an earlier process: a live peer has roamed, a dead one needs our endpoint
  const live = have.lastHandshakeMs > 0 && opts.nowMs - have.lastHandshakeMs < opts.liveHandshakeMs;
  return !live;
}

/** The smallest Config that takes `observed` to `desired`; `lines` explains it (keys shown as 8-char public-key prefixes, secrets never). */
export function planDevice(desired: DesiredDevice, observed: Device, opts: PeerPlanOptions): DevicePlan {
  const cfg: Config = {};
  const lines: string[] = [];
  if (observed.privateKey !== desired.privateKey) {
    cfg.privateKey = desired.privateKey;
    lines.push('device set private-key');
  }
  if (observed.listenPort !== desired.listenPort) {
    cfg.listenPort = desired.listenPort;
    lines.push(`device set listen-port ${desired.listenPort} (was ${observed.listenPort})`);
  }
  const peers: PeerConfig[] = [];
  const have = new Map(observed.peers.map((p) => [p.publicKey, p]));
  const wanted = new Set<string>();
  for (const want of desired.peers) {
    wanted.add(want.publicKey);
    const cur = have.get(want.publicKey);
    if (!cur) {
      peers.push({
        publicKey: want.publicKey,
        presharedKey: want.presharedKey,
        endpoint: want.endpoint,
        persistentKeepaliveIntervalSec: want.keepaliveSec,
        replaceAllowedIPs: true,
        allowedIPs: [...want.allowedIPs],
      });
      lines.push(`peer add ${short(want.publicKey)} cable=${want.cableName} endpoint=${want.endpoint} allowed-ips=${want.allowedIPs.join(',')} keepalive=${want.keepaliveSec}`);
      continue;
    }
    const pc: PeerConfig = { publicKey: want.publicKey, updateOnly: true };
    const what: string[] = [];
    if (cur.presharedKey !== want.presharedKey) {
      pc.presharedKey = want.presharedKey;
      what.push('preshared-key');
    }
    if (endpointNeedsWrite(want, cur, opts)) {
      pc.endpoint = want.endpoint;
      what.push(`endpoint ${cur.endpoint ?? '(none)'} -> ${want.endpoint}`);
    }
    if (cur.persistentKeepaliveIntervalSec !== want.keepaliveSec) {
      pc.persistentKeepaliveIntervalSec = want.keepaliveSec;
      what.push(`keepalive ${cur.persistentKeepaliveIntervalSec} -> ${want.keepaliveSec}`);
    }
    if (!sameSet(cur.allowedIPs, want.allowedIPs)) {
      pc.replaceAllowedIPs = true;
      pc.allowedIPs = [...want.allowedIPs];
      what.push(`allowed-ips ${cur.allowedIPs.join(',') || '(none)'} -> ${want.allowedIPs.join(',')}`);
    }
    if (what.length) {
      peers.push(pc);
      lines.push(`peer update ${short(want.publicKey)} cable=${want.cableName}: ${what.join('; ')}`);
    }
  }
  for (const p of observed.peers) {
    if (wanted.has(p.publicKey)) continue;
    if (opts.prune || opts.remove?.has(p.publicKey)) {
      peers.push({ publicKey: p.publicKey, remove: true });
      lines.push(`peer remove ${short(p.publicKey)} (no cable wants it)`);
    }
  }
  if (peers.length) cfg.peers = peers;
  return lines.length ? { config: cfg, lines } : { lines };
}

// ---- routes, rule, link ----

export interface RouteSpec {
  dst: string;
  /** Preferred source (the local pod-network address), same family as dst. */
  src?: string;
}

export interface NetDesired {
  dev: string;
  table: number;
  proto: number;
  routes: RouteSpec[];
  /** Add `pref <rulePriority> lookup <table>` per family in use unless some rule already looks up the table. */
  rule?: { priority: number };
}

export interface ObservedRoute {
  dst: string;
  dev?: string;
  protocol?: string;
  prefsrc?: string;
  family: 4 | 6;
}

export interface ObservedRule {
  priority: number;
  table: string;
  protocol?: string;
  family: 4 | 6;
}

export interface NetObserved {
  linkExists: boolean;
  linkUp: boolean;
  /** Routes of `table` (all of them: the planner picks ours by dev and protocol). */
  routes: ObservedRoute[];
  rules: ObservedRule[];
}

export interface NetPlanOptions {
  /** Delete our routes that are not desired (off during the adoption grace, except `removeDsts`). */
  prune: boolean;
  removeDsts?: ReadonlySet<string>;
}

const familyOf = (cidr: string): 4 | 6 => (cidr.includes(':') ? 6 : 4);

/** `ip -batch` lines that take the observed routes/rule/link to the desired ones (empty when in place). */
export function planNet(want: NetDesired, have: NetObserved, opts: NetPlanOptions): string[] {
  const lines: string[] = [];
  if (!have.linkExists) return lines;
  if (!have.linkUp) lines.push(`link set dev ${want.dev} up`);
  const ours = have.routes.filter((r) => r.dev === want.dev && r.protocol === String(want.proto));
  const byDst = new Map(ours.map((r) => [r.dst, r]));
  const wanted = new Set<string>();
  for (const r of want.routes) {
    wanted.add(r.dst);
    const cur = byDst.get(r.dst);
    if (cur && (cur.prefsrc ?? '') === (r.src ?? '')) continue;
    const fam = familyOf(r.dst) === 6 ? '-6 ' : '';
    lines.push(`${fam}route replace ${r.dst} dev ${want.dev} table ${want.table} proto ${want.proto}${r.src ? ` src ${r.src}` : ''}`);
  }
  for (const r of ours) {
    if (wanted.has(r.dst)) continue;
    if (opts.prune || opts.removeDsts?.has(r.dst)) lines.push(`${r.family === 6 ? '-6 ' : ''}route del ${r.dst} dev ${want.dev} table ${want.table} proto ${want.proto}`);
  }
  if (want.rule) {
    const families = new Set(want.routes.map((r) => familyOf(r.dst)));
    families.add(4);
    for (const fam of [...families].sort()) {
      const present = have.rules.some((r) => r.family === fam && r.table === String(want.table));
      if (!present) lines.push(`${fam === 6 ? '-6 ' : ''}rule add pref ${want.rule.priority} lookup ${want.table} protocol ${want.proto}`);
    }
  }
  return lines;
}

/** Lines removing everything of ours: routes on our device with our protocol and rules with our protocol. */
export function planNetCleanup(want: Pick<NetDesired, 'dev' | 'table' | 'proto'>, have: NetObserved): string[] {
  const lines: string[] = [];
  for (const r of have.routes) {
    if (r.dev === want.dev && r.protocol === String(want.proto)) lines.push(`${r.family === 6 ? '-6 ' : ''}route del ${r.dst} dev ${want.dev} table ${want.table} proto ${want.proto}`);
  }
  for (const r of have.rules) {
    if (r.protocol === String(want.proto) && r.table === String(want.table)) lines.push(`${r.family === 6 ? '-6 ' : ''}rule del pref ${r.priority} lookup ${want.table} protocol ${want.proto}`);
  }
  return lines;
}
