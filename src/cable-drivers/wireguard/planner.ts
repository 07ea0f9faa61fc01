// Pure planners of the WireGuard cable: desired peers vs the observed device -> the minimal Config;
// desired routes/rule/link vs observed -> typed rtnetlink ops (describeOp prints them). Plans are plain data.
import { RT_SCOPE_LINK, type RouteInfo, type RtnlOp, type RuleInfo } from '../../os/netlink.js';
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

// ---- routes, rule, link (typed rtnetlink ops) ----

export interface NetRoute {
  /** IPv4 CIDR, canonical. */
  dst: string;
  /** Preferred source (the local pod-network address). */
  src?: string;
}

export interface NetDesired {
  dev: string;
  table: number;
  proto: number;
  routes: NetRoute[];
  /** Add `pref <priority> lookup <table>` unless some rule already looks up the table. */
  rule?: { priority: number };
}

export interface NetObserved {
  /** The device, when it exists. */
  link?: { index: number; up: boolean };
  /** IPv4 routes of every table (the planner picks ours: our table, our device, our protocol). */
  routes: readonly RouteInfo[];
  rules: readonly RuleInfo[];
}

const ours = (want: Pick<NetDesired, 'table' | 'proto'>, ifindex: number | undefined) => (r: RouteInfo): boolean =>
  r.table === want.table && r.protocol === want.proto && r.oif === ifindex;

/** The ops that take the observed link/routes/rule to the desired ones; our routes nobody wants go. Empty when in place. */
export function planNet(want: NetDesired, have: NetObserved): RtnlOp[] {
  const link = have.link;
  // no device yet: routes through it would be refused
  if (!link) return [];
  const ops: RtnlOp[] = [];
  if (!link.up) ops.push({ op: 'link-set', index: link.index, up: true });
  const mine = have.routes.filter(ours(want, link.index));
  const byDst = new Map(mine.map((r) => [r.dst, r]));
  const wanted = new Set<string>();
  for (const r of want.routes) {
    wanted.add(r.dst);
    const cur = byDst.get(r.dst);
    if (cur && (cur.prefsrc ?? '') === (r.src ?? '')) continue;
    ops.push({ op: 'route-replace', route: { table: want.table, dst: r.dst, oif: link.index, protocol: want.proto, scope: RT_SCOPE_LINK, ...(r.src ? { prefsrc: r.src } : {}) } });
  }
  for (const r of mine) {
    if (!wanted.has(r.dst)) ops.push({ op: 'route-del', route: { table: want.table, dst: r.dst, oif: link.index, protocol: want.proto, scope: r.scope } });
  }
  if (want.rule && !have.rules.some((r) => r.family === 4 && r.table === want.table)) {
    ops.push({ op: 'rule-add', rule: { pref: want.rule.priority, table: want.table, protocol: want.proto, family: 4 } });
  }
  return ops;
}

/** Ops removing everything of ours: routes on our device with our protocol, and rules with our protocol for our table. */
export function planNetCleanup(want: Pick<NetDesired, 'table' | 'proto'>, have: NetObserved): RtnlOp[] {
  const ops: RtnlOp[] = [];
  if (have.link) {
    for (const r of have.routes.filter(ours(want, have.link.index))) ops.push({ op: 'route-del', route: { table: want.table, dst: r.dst, oif: r.oif, protocol: want.proto, scope: r.scope } });
  }
  for (const r of have.rules) {
    if (r.protocol === want.proto && r.table === want.table) ops.push({ op: 'rule-del', rule: { pref: r.pref, table: r.table, protocol: r.protocol, family: r.family } });
  }
  return ops;
}
