// rtnetlink notifications as typed values: a socket joined to the link, address (IPv4 and IPv6, as the
// dump has both), IPv4 route, IPv4 rule and neighbour multicast groups, turning each NEW/DEL message into
// the same observed values the dumps of netlink.ts give. Its own socket, never used for requests: the package groups multipart
// replies per socket, so a notification arriving in the middle of a dump would cut that dump short.
import { createRtNetlink, ifla, rt, type RtNetlinkSocket } from 'netlink';
import type { NetlinkMessage } from 'netlink/dist/structs.js';
import { AF_BRIDGE, AF_INET, AF_INET6, bufferToIp, bufferToMac, type AddrInfo, type LinkInfo, type NeighInfo, type RouteInfo, type RuleInfo } from './netlink.js';

const RTNH_F_ONLINK = 4;

export type RtnlEvent =
  | { kind: 'link'; del: boolean; link: LinkInfo }
  | { kind: 'addr'; del: boolean; addr: AddrInfo & { label?: string } }
  | { kind: 'route'; del: boolean; route: RouteInfo }
  | { kind: 'rule'; del: boolean; rule: RuleInfo }
  | { kind: 'neigh'; del: boolean; neigh: NeighInfo };

export interface EventHandlers {
  /** A batch of notifications, in kernel order. */
  events(evs: RtnlEvent[]): void;
  /** Notifications were lost (ENOBUFS, socket error, worker restart): the observer must resync from a dump. */
  lost(why: string): void;
}

/** Where notifications come from: this namespace's socket, or a netns worker relaying its own. */
export interface RtnlEventSource {
  subscribe(h: EventHandlers): Promise<void>;
  /**
   * Resolves once every notification the kernel queued before now has been handed to `events`: the
   * kernel multicasts a change before it acks the request that made it, so a barrier after an ack
   * makes our own writes visible.
   */
  barrier(): Promise<void>;
  close(): Promise<void>;
}

function enumNumber(mapping: unknown, v: unknown): number {
  if (typeof v === 'number') return v;
  const m = mapping as Record<string, unknown>;
  if (typeof v === 'string' && typeof m[v] === 'number') return m[v];
  return 0;
}

function familyOf(n: number | undefined): 4 | 6 {
  return n === AF_INET6 ? 6 : 4;
}

export function linkFromMessage(m: rt.LinkMessage): LinkInfo {
  const info = m.attrs.linkinfo ? ifla.parseInfo(m.attrs.linkinfo) : undefined;
  const link: LinkInfo = { index: m.data.index ?? 0, name: m.attrs.ifname ?? '', mtu: m.attrs.mtu ?? 0, up: m.data.flags?.up === true };
  if (m.attrs.address && m.attrs.address.length === 6) link.mac = bufferToMac(m.attrs.address);
  if (info?.kind) link.kind = info.kind;
  if (info?.kind === 'vxlan' && info.data) {
    const v = ifla.parseVxlan(info.data);
    link.vxlan = { vni: v.id ?? 0, port: v.port && v.port.length === 2 ? v.port.readUInt16BE(0) : 0, learning: v.learning !== 0 };
    if (v.local && v.local.length === 4) link.vxlan.local = bufferToIp(v.local);
    if (v.link) link.vxlan.link = v.link;
  }
  return link;
}

export function addrFromMessage(m: rt.AddressMessage): (AddrInfo & { label?: string }) | undefined {
  const raw = m.attrs.local ?? m.attrs.address;
  if (!raw) return undefined;
  const a: AddrInfo & { label?: string } = { ifindex: m.data.index ?? 0, family: familyOf(m.data.family), address: bufferToIp(raw), prefix: m.data.prefixlen ?? 0 };
  if (typeof m.attrs.label === 'string') a.label = m.attrs.label;
  return a;
}

export function routeFromMessage(m: rt.RouteMessage): RouteInfo {
  const family = familyOf(m.data.family);
  const dst = m.attrs.dst ? bufferToIp(m.attrs.dst) : family === 4 ? '0.0.0.0' : '::';
  const r: RouteInfo = {
    family,
    table: m.attrs.table ?? m.data.table ?? 0,
    dst: `${dst}/${m.data.dstLen ?? 0}`,
    protocol: enumNumber(rt.RouteProtocol, m.data.protocol),
    scope: enumNumber(rt.RouteScope, m.data.scope),
    type: enumNumber(rt.RouteType, m.data.type),
    onlink: ((m.data.flags?.__unknown ?? 0) & RTNH_F_ONLINK) !== 0,
  };
  if (m.attrs.gateway) r.gateway = bufferToIp(m.attrs.gateway);
  if (m.attrs.oif) r.oif = m.attrs.oif;
  if (m.attrs.prefsrc) r.prefsrc = bufferToIp(m.attrs.prefsrc);
  if (m.attrs.priority) r.metric = m.attrs.priority;
  return r;
}

export function ruleFromMessage(m: rt.RuleMessage): RuleInfo {
  const r: RuleInfo = { family: familyOf(m.data.family), pref: m.attrs.priority ?? 0, table: m.attrs.table ?? m.data.table ?? 0, action: enumNumber(rt.RuleAction, m.data.action) };
  if (m.attrs.protocol !== undefined) r.protocol = m.attrs.protocol;
  if (m.attrs.src) r.src = `${bufferToIp(m.attrs.src)}/${m.data.srcLen ?? 0}`;
  if (m.attrs.dst) r.dst = `${bufferToIp(m.attrs.dst)}/${m.data.dstLen ?? 0}`;
  if (m.attrs.fwmark) r.fwmark = m.attrs.fwmark;
  if (m.attrs.iifname) r.iifname = m.attrs.iifname;
  if (m.attrs.oifname) r.oifname = m.attrs.oifname;
  return r;
}

export function neighFromMessage(m: rt.NeighborMessage): NeighInfo | undefined {
  const fam = m.data.family;
  if (fam !== AF_BRIDGE && fam !== AF_INET) return undefined;
  const n: NeighInfo = { family: fam === AF_BRIDGE ? 'bridge' : 'inet', ifindex: m.data.ifindex ?? 0, permanent: m.data.state?.permanent === true, self: m.data.flags?.self === true };
  if (m.attrs.lladdr && m.attrs.lladdr.length === 6) n.mac = bufferToMac(m.attrs.lladdr);
  if (m.attrs.dst) n.dst = bufferToIp(m.attrs.dst);
  return n;
}

const T = rt.MessageType;

/** One netlink message to an event; undefined for types and families we do not follow (IPv6 routes...). */
export function eventFromMessage(msg: Pick<NetlinkMessage, 'type' | 'data'>): RtnlEvent | undefined {
  switch (msg.type) {
    case T.NEWLINK:
    case T.DELLINK:
      return { kind: 'link', del: msg.type === T.DELLINK, link: linkFromMessage(rt.parseMessage(msg.type, msg.data) as rt.LinkMessage) };
    case T.NEWADDR:
    case T.DELADDR: {
      const addr = addrFromMessage(rt.parseMessage(msg.type, msg.data) as rt.AddressMessage);
      return addr ? { kind: 'addr', del: msg.type === T.DELADDR, addr } : undefined;
    }
    case T.NEWROUTE:
    case T.DELROUTE: {
      const route = routeFromMessage(rt.parseMessage(msg.type, msg.data) as rt.RouteMessage);
      return route.family === 4 ? { kind: 'route', del: msg.type === T.DELROUTE, route } : undefined;
    }
    case T.NEWRULE:
    case T.DELRULE: {
      const rule = ruleFromMessage(rt.parseMessage(msg.type, msg.data) as rt.RuleMessage);
      return rule.family === 4 ? { kind: 'rule', del: msg.type === T.DELRULE, rule } : undefined;
    }
    case T.NEWNEIGH:
    case T.DELNEIGH: {
      const neigh = neighFromMessage(rt.parseMessage(msg.type, msg.data) as rt.NeighborMessage);
      return neigh ? { kind: 'neigh', del: msg.type === T.DELNEIGH, neigh } : undefined;
    }
    default:
      return undefined;
  }
}

const GROUPS = [rt.MulticastGroups.LINK, rt.MulticastGroups.IPV4_IFADDR, rt.MulticastGroups.IPV6_IFADDR, rt.MulticastGroups.IPV4_ROUTE, rt.MulticastGroups.IPV4_RULE, rt.MulticastGroups.NEIGH];

/** Notifications of the current network namespace, read in-process. */
export class LocalRtnlEvents implements RtnlEventSource {
  private sock: RtNetlinkSocket | undefined;
  private handlers: EventHandlers | undefined;
  private closed = false;

  async subscribe(h: EventHandlers): Promise<void> {
    this.handlers = h;
    this.open();
  }

  private open(): void {
    const sock = createRtNetlink();
    this.sock = sock;
    try {
      sock.socket.setRecvBufferSize(8 * 1024 * 1024);
    } catch {
      // a smaller buffer only makes an ENOBUFS resync likelier
    }
    for (const g of GROUPS) sock.addMembership(g);
    // the raw level keeps the message type (NEW or DEL), which the parsed messages drop
    sock.socket.on('message', (msgs) => {
      const evs: RtnlEvent[] = [];
      for (const m of msgs) {
        try {
          const e = eventFromMessage(m);
          if (e) evs.push(e);
        } catch {
          // an attribute the package cannot parse: the periodic resync covers that object
        }
      }
      if (evs.length) this.handlers?.events(evs);
    });
    sock.socket.on('error', (err: Error & { code?: string }) => {
      if (this.closed) return;
      this.handlers?.lost(err.code === 'ENOBUFS' ? 'notifications overflowed the socket buffer (ENOBUFS)' : `notification socket error: ${err.message}`);
    });
    // the event socket alone must never keep a finished program alive
    sock.socket.unref();
  }

  barrier(): Promise<void> {
    // notifications of a write are queued before its ack; one turn of the loop reads them
    return new Promise((resolve) => setImmediate(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sock?.socket.close();
    this.sock = undefined;
  }
}
