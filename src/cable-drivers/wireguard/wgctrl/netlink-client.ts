// The kernel back end: WireGuard's generic netlink family. Requests are encoded with the `netlink`
// package's `wg` structs; two things of that package do not match <linux/wireguard.h>, so we do them here:
// - its WireGuardSocket numbers the commands 1/2, the kernel has WG_CMD_GET_DEVICE = 0, SET_DEVICE = 1;
// - its parsers insist that nested array items are numbered 1, 2, ...; the kernel numbers every peer
//   and allowed IP 0. We decode replies ourselves, ignoring item numbers as the kernel does on input.
import { readdir, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { AttrStream, FlagsGet, createGenericNetlink, genl, parseAttributes, wg } from 'netlink';
import { HawserError } from '../../../util/errors.js';
import { deviceNotFound, WgErrnoError, WgProtocolError } from './errors.js';
import { keyFromBytes, keyToBytes, ZERO_KEY } from './keys.js';
import { formatEndpoint, isCidr, parseEndpoint } from './uapi-codec.js';
import type { Config, Device, Peer, PeerConfig, WgClient } from './types.js';

export const WG_GENL_NAME = 'wireguard';
export const WG_GENL_VERSION = 1;
export const WG_CMD_GET_DEVICE = 0;
export const WG_CMD_SET_DEVICE = 1;
const AF_INET = 2;
const AF_INET6 = 10;
/** Allowed IPs per SET_DEVICE message, to stay well inside one netlink message. */
const MAX_IPS_PER_MESSAGE = 200;

export interface GenlReply {
  cmd: number;
  version: number;
  data: Buffer;
}

/** The seam to the kernel: a generic netlink socket (the real one, or a fake in tests). */
export interface GenlTransport {
  request(family: number, cmd: number, version: number, data: Uint8Array[], options?: { flags?: number }): Promise<[GenlReply[], unknown]>;
  close(): void;
}

/** Opens the real socket and resolves the family; undefined when this kernel has no WireGuard. */
export async function openKernelTransport(): Promise<{ transport: GenlTransport; familyId: number } | undefined> {
  const sock = createGenericNetlink();
  try {
    const families = await sock.ctrlRequest(genl.Commands.GET_FAMILY, {}, { flags: FlagsGet.DUMP });
    const fam = families.find((f) => f.familyName === WG_GENL_NAME);
    if (fam?.familyId === undefined) {
      sock.socket.close();
      return undefined;
    }
    return { transport: { request: (f, c, v, d, o) => sock.request(f, c, v, d, o), close: () => sock.socket.close() }, familyId: fam.familyId };
  } catch {
    sock.socket.close();
    return undefined;
  }
}

function encodeSockaddr(endpoint: string): Buffer {
  const ep = parseEndpoint(endpoint);
  if (!ep) throw new WgProtocolError(`invalid endpoint ${JSON.stringify(endpoint)}: expected ip:port or [ip6]:port`);
  const ip = ep.ip.split('%')[0] ?? '';
  if (isIP(ip) === 4) {
    const b = Buffer.alloc(16);
    b.writeUInt16LE(AF_INET, 0);
    b.writeUInt16BE(ep.port, 2);
    ip.split('.').forEach((o, i) => b.writeUInt8(Number(o), 4 + i));
    return b;
  }
  const b = Buffer.alloc(28);
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(ep.port, 2);
  ipv6Bytes(ip).copy(b, 8);
  return b;
}

function decodeSockaddr(b: Buffer): string | undefined {
  if (b.length < 2) return undefined;
  const fam = b.readUInt16LE(0);
  if (fam === AF_INET && b.length >= 8) return formatEndpoint([...b.subarray(4, 8)].join('.'), b.readUInt16BE(2));
  if (fam === AF_INET6 && b.length >= 24) return formatEndpoint(ipv6Text(b.subarray(8, 24)), b.readUInt16BE(2));
  return undefined;
}

function ipv6Bytes(ip: string): Buffer {
  const [head, tail] = ip.includes('::') ? ip.split('::') as [string, string] : [ip, undefined];
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').flatMap((g) => (g.includes('.') ? ipv4Groups(g) : [parseInt(g, 16)])));
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const groups = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
}

function ipv4Groups(v4: string): number[] {
  const o = v4.split('.').map(Number);
  return [((o[0] ?? 0) << 8) | (o[1] ?? 0), ((o[2] ?? 0) << 8) | (o[3] ?? 0)];
}

function ipv6Text(b: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  // compress the longest run of zero groups, as inet_ntop does
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function encodeAllowedIp(cidr: string): wg.AllowedIp {
  if (!isCidr(cidr)) throw new WgProtocolError(`invalid allowed IP ${JSON.stringify(cidr)}: expected address/prefix`);
  const slash = cidr.lastIndexOf('/');
  const ip = cidr.slice(0, slash);
  const v4 = isIP(ip) === 4;
  return {
    family: v4 ? AF_INET : AF_INET6,
    ipaddr: v4 ? Buffer.from(ip.split('.').map(Number)) : ipv6Bytes(ip),
    cidrMask: Number(cidr.slice(slash + 1)),
  };
}

function decodeAllowedIp(a: wg.AllowedIp): string | undefined {
  if (!a.ipaddr || a.cidrMask === undefined) return undefined;
  if (a.family === AF_INET && a.ipaddr.length === 4) return `${[...a.ipaddr].join('.')}/${a.cidrMask}`;
  if (a.family === AF_INET6 && a.ipaddr.length === 16) return `${ipv6Text(a.ipaddr)}/${a.cidrMask}`;
  return undefined;
}

const u16 = (b: Buffer): number => (b.length >= 2 ? b.readUInt16LE(0) : 0);
const u32 = (b: Buffer): number => (b.length >= 4 ? b.readUInt32LE(0) : 0);
const u64 = (b: Buffer): bigint => (b.length >= 8 ? b.readBigUInt64LE(0) : 0n);

/** Items of a nested array, whatever their numbers. */
function items(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  parseAttributes(b, (a) => out.push(a.data));
  return out;
}

function attrsAllowedIp(b: Buffer): wg.AllowedIp {
  const a: wg.AllowedIp = {};
  parseAttributes(b, (x) => {
    if (x.type === 1) a.family = u16(x.data);
    else if (x.type === 2) a.ipaddr = x.data;
    else if (x.type === 3) a.cidrMask = x.data.length ? x.data.readUInt8(0) : 0;
  });
  return a;
}

function attrsPeer(b: Buffer): wg.Peer {
  const p: wg.Peer = {};
  parseAttributes(b, (x) => {
    switch (x.type) {
      case 1: p.publicKey = x.data; break;
      case 2: p.presharedKey = x.data; break;
      case 4: p.endpoint = x.data; break;
      case 5: p.persistentKeepaliveInterval = u16(x.data); break;
      case 6: p.lastHandshakeTime = x.data; break;
      case 7: p.rxBytes = u64(x.data); break;
      case 8: p.txBytes = u64(x.data); break;
      case 9: p.allowedIps = items(x.data).map(attrsAllowedIp); break;
      case 10: p.protocolVersion = u32(x.data); break;
      default: break;
    }
  });
  return p;
}

/** Decodes one GET_DEVICE reply message's attributes. */
export function decodeDeviceAttrs(b: Buffer): wg.Device {
  const d: wg.Device = {};
  parseAttributes(b, (x) => {
    switch (x.type) {
      case 1: d.ifindex = u32(x.data); break;
      case 2: d.ifname = x.data.toString('utf8').replace(/\0.*$/s, ''); break;
      case 3: d.privateKey = x.data; break;
      case 4: d.publicKey = x.data; break;
      case 6: d.listenPort = u16(x.data); break;
      case 7: d.fwmark = u32(x.data); break;
      case 8: d.peers = items(x.data).map(attrsPeer); break;
      default: break;
    }
  });
  return d;
}

function decodePeer(p: wg.Peer): Peer {
  if (!p.publicKey) throw new WgProtocolError('kernel WireGuard: a peer without a public key');
  let lastHandshakeMs = 0;
  if (p.lastHandshakeTime && p.lastHandshakeTime.length >= 16) {
    const sec = p.lastHandshakeTime.readBigInt64LE(0);
    const nsec = p.lastHandshakeTime.readBigInt64LE(8);
    lastHandshakeMs = Number(sec * 1000n + nsec / 1_000_000n);
  }
  const allowedIPs: string[] = [];
  for (const a of p.allowedIps ?? []) {
    const c = decodeAllowedIp(a);
    if (c) allowedIPs.push(c);
  }
  const endpoint = p.endpoint ? decodeSockaddr(p.endpoint) : undefined;
  return {
    publicKey: keyFromBytes(p.publicKey),
    presharedKey: p.presharedKey ? keyFromBytes(p.presharedKey) : ZERO_KEY,
    ...(endpoint ? { endpoint } : {}),
    persistentKeepaliveIntervalSec: p.persistentKeepaliveInterval ?? 0,
    lastHandshakeMs,
    rxBytes: Number(p.rxBytes ?? 0n),
    txBytes: Number(p.txBytes ?? 0n),
    allowedIPs,
    protocolVersion: p.protocolVersion ?? 0,
  };
}

/** Merges the parts of a GET_DEVICE dump: a peer may continue in the next message with more allowed IPs. */
export function decodeDeviceDump(name: string, parts: readonly wg.Device[]): Device {
  const first = parts[0];
  if (!first) throw deviceNotFound(name, 'empty kernel reply');
  const privateKey = first.privateKey && keyFromBytes(first.privateKey) !== ZERO_KEY ? keyFromBytes(first.privateKey) : undefined;
  const dev: Device = {
    name: first.ifname ?? name,
    type: 'kernel',
    ...(privateKey ? { privateKey } : {}),
    ...(privateKey && first.publicKey ? { publicKey: keyFromBytes(first.publicKey) } : {}),
    listenPort: first.listenPort ?? 0,
    fwmark: first.fwmark ?? 0,
    peers: [],
  };
  for (const part of parts) {
    for (const raw of part.peers ?? []) {
      const p = decodePeer(raw);
      const last = dev.peers[dev.peers.length - 1];
      if (last && last.publicKey === p.publicKey) last.allowedIPs.push(...p.allowedIPs);
      else dev.peers.push(p);
    }
  }
  return dev;
}

function encodePeer(p: PeerConfig, allowedIPs: readonly string[], continuation: boolean): wg.Peer {
  const out: wg.Peer = { publicKey: keyToBytes(p.publicKey) };
  if (p.remove) return { ...out, flags: { removeMe: true } };
  const flags: wg.PeerFlags = {};
  if (p.updateOnly) flags.updateOnly = true;
  if (p.replaceAllowedIPs && !continuation) flags.replaceAllowedIps = true;
  if (Object.keys(flags).length) out.flags = flags;
  if (!continuation) {
    if (p.presharedKey !== undefined) out.presharedKey = keyToBytes(p.presharedKey);
    if (p.endpoint !== undefined) out.endpoint = encodeSockaddr(p.endpoint);
    if (p.persistentKeepaliveIntervalSec !== undefined) out.persistentKeepaliveInterval = p.persistentKeepaliveIntervalSec;
  }
  if (allowedIPs.length) out.allowedIps = allowedIPs.map(encodeAllowedIp);
  return out;
}

/** Splits a Config into SET_DEVICE messages of bounded size (device fields and replacePeers in the first only). */
export function encodeConfig(name: string, cfg: Config): wg.Device[] {
  const head: wg.Device = { ifname: name };
  if (cfg.privateKey !== undefined) head.privateKey = keyToBytes(cfg.privateKey);
  if (cfg.listenPort !== undefined) head.listenPort = cfg.listenPort;
  if (cfg.fwmark !== undefined) head.fwmark = cfg.fwmark;
  if (cfg.replacePeers) head.flags = { replacePeers: true };
  const msgs: wg.Device[] = [head];
  let cur = head;
  let budget = MAX_IPS_PER_MESSAGE;
  const push = (peer: wg.Peer): void => {
    cur.peers = [...(cur.peers ?? []), peer];
  };
  for (const p of cfg.peers ?? []) {
    const ips = p.remove ? [] : [...(p.allowedIPs ?? [])];
    let continuation = false;
    do {
      if (budget === 0) {
        cur = { ifname: name };
        msgs.push(cur);
        budget = MAX_IPS_PER_MESSAGE;
      }
      const take = ips.splice(0, budget);
      budget -= Math.max(take.length, 1);
      if (budget < 0) budget = 0;
      push(encodePeer(p, take, continuation));
      continuation = true;
    } while (ips.length > 0);
  }
  return msgs;
}

function translate(err: unknown, name: string): Error {
  const msg = err instanceof Error ? err.message : String(err);
  const code = /Request rejected: (\w+)/.exec(msg)?.[1];
  if (code === 'ENODEV' || code === 'ENOENT') return deviceNotFound(name, 'kernel');
  if (code === 'EOPNOTSUPP' || code === 'ENOTSUP') return deviceNotFound(name, 'not a kernel WireGuard device');
  if (code) {
    const errno = { EPERM: 1, EINVAL: 22, EADDRINUSE: 98, EBUSY: 16, ENOMEM: 12 }[code] ?? 0;
    if (errno) return new WgErrnoError(-errno, `kernel WireGuard on ${name}`);
  }
  return new HawserError('NETLINK', `kernel WireGuard on ${name}: ${msg}`, { cause: err });
}

export class NetlinkClient implements WgClient {
  readonly type = 'kernel' as const;

  constructor(
    private readonly transport: GenlTransport,
    private readonly familyId: number,
  ) {}

  private async send(cmd: number, msg: wg.Device, flags?: number): Promise<wg.Device[]> {
    const attrs = new AttrStream();
    attrs.emit(wg.formatDevice(msg));
    const [replies] = await this.transport.request(this.familyId, cmd, WG_GENL_VERSION, attrs.bufs, flags === undefined ? {} : { flags });
    return replies.map((r) => decodeDeviceAttrs(r.data));
  }

  async devices(): Promise<Device[]> {
    const out: Device[] = [];
    let names: string[] = [];
    try {
      names = await readdir('/sys/class/net');
    } catch {
      return out;
    }
    for (const n of names.sort()) {
      const uevent = await readFile(`/sys/class/net/${n}/uevent`, 'utf8').catch(() => '');
      if (/^DEVTYPE=wireguard$/m.test(uevent)) out.push(await this.device(n));
    }
    return out;
  }

  async device(name: string): Promise<Device> {
    try {
      return decodeDeviceDump(name, await this.send(WG_CMD_GET_DEVICE, { ifname: name }, FlagsGet.DUMP));
    } catch (err) {
      if (err instanceof HawserError) throw err;
      throw translate(err, name);
    }
  }

  async configureDevice(name: string, cfg: Config): Promise<void> {
    for (const msg of encodeConfig(name, cfg)) {
      try {
        await this.send(WG_CMD_SET_DEVICE, msg);
      } catch (err) {
        if (err instanceof HawserError) throw err;
        throw translate(err, name);
      }
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}
