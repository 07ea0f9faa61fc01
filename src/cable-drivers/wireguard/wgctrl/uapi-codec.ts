// The cross-platform UAPI as pure string functions (wireguard.com/xplatform): parse a `get=1` reply into
// a Device, render a Config as a `set=1` request, read a set reply's errno. No I/O here.
import { isIP } from 'node:net';
import { WgErrnoError, WgProtocolError } from './errors.js';
import { keyFromHex, keyToHex, parseKey, publicKeyOf, ZERO_KEY } from './keys.js';
import type { Config, Device, Peer, PeerConfig } from './types.js';

const DIGITS = /^\d{1,20}$/;

/** `ip:port` or `[ip6]:port` with a literal address; undefined when malformed. */
export function parseEndpoint(text: string): { ip: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.%a-zA-Z0-9]+)\]|([0-9.]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const ip = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  const fam = isIP(ip.split('%')[0] ?? '');
  if (fam === 0 || (m[1] !== undefined && fam !== 6) || (m[2] !== undefined && fam !== 4)) return undefined;
  if (port < 1 || port > 65535) return undefined;
  return { ip, port };
}

export function formatEndpoint(ip: string, port: number): string {
  return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Whether `text` is `address/prefix` with a literal address and a prefix in range. */
export function isCidr(text: string): boolean {
  const slash = text.lastIndexOf('/');
  if (slash < 0) return false;
  const fam = isIP(text.slice(0, slash));
  const bits = text.slice(slash + 1);
  if (fam === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (fam === 4 ? 32 : 128);
}

/**
 * Parses the reply to `get=1`: key=value lines ending with `errno=N` and an empty line. The first
 * problem wins (later lines are still read, as wgctrl-go does); unknown keys are ignored so newer
 * daemons stay readable; a line without `=`, a bad value or a peer key before `public_key` is an error;
 * `errno` other than 0 throws WgErrnoError.
 */
export function parseUapiGet(text: string, name = ''): Device {
  // Read on every status write and every look at connecting cables (at 200 peers ~2,000 lines): no
  // per-line closures or splits, and BigInt only for numbers too long for a double.
  const dev: Device = { name, type: 'userspace', listenPort: 0, fwmark: 0, peers: [] };
  let peer: Peer | undefined;
  let hsSec = 0;
  let hsNsec = 0;
  let err: Error | undefined;
  let errno: number | undefined;
  const fail = (e: Error): void => {
    err ??= e;
  };
  const endPeer = (): void => {
    if (peer) peer.lastHandshakeMs = hsSec * 1000 + Math.floor(hsNsec / 1_000_000);
    hsSec = 0;
    hsNsec = 0;
  };
  const uint = (key: string, value: string, max: bigint): number => {
    if (!DIGITS.test(value) || (value.length > 15 ? BigInt(value) > max : Number(value) > max)) {
      fail(new WgProtocolError(`UAPI get: invalid ${key} ${JSON.stringify(value)}: expected an integer 0-${max}`));
      return 0;
    }
    return Number(value);
  };
  const hexKey = (key: string, value: string): string => {
    try {
      return keyFromHex(value);
    } catch {
      fail(new WgProtocolError(`UAPI get: invalid ${key}: expected 64 hex digits, got ${value.length} characters`));
      return ZERO_KEY;
    }
  };
  const lines = text.split('\n');
  // the final newline ends the last line; it is not an empty line of its own
  if (lines[lines.length - 1] === '') lines.pop();
  let ended = false;
  let key = '';
  const needPeer = (): Peer | undefined => {
    if (!peer) fail(new WgProtocolError(`UAPI get: ${key} before any public_key`));
    return peer;
  };
  for (const line of lines) {
    if (line === '') {
      ended = errno !== undefined;
      if (ended) break;
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0 || line.includes('=', eq + 1)) {
      fail(new WgProtocolError(`UAPI get: malformed line ${JSON.stringify(line.slice(0, 80))}: expected key=value`));
      continue;
    }
    key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (errno !== undefined) {
      fail(new WgProtocolError(`UAPI get: line ${JSON.stringify(key)} after errno`));
      continue;
    }
    switch (key) {
      case 'private_key': {
        const k = hexKey(key, value);
        if (k !== ZERO_KEY) {
          dev.privateKey = k;
          dev.publicKey = publicKeyOf(k);
        }
        break;
      }
      case 'listen_port':
        dev.listenPort = uint(key, value, 65535n);
        break;
      case 'fwmark':
        dev.fwmark = uint(key, value, 0xffffffffn);
        break;
      case 'public_key':
        endPeer();
        peer = { publicKey: hexKey(key, value), presharedKey: ZERO_KEY, persistentKeepaliveIntervalSec: 0, lastHandshakeMs: 0, rxBytes: 0, txBytes: 0, allowedIPs: [], protocolVersion: 0 };
        dev.peers.push(peer);
        break;
      case 'preshared_key': {
        const p = needPeer();
        if (p) p.presharedKey = hexKey(key, value);
        break;
      }
      case 'endpoint': {
        const p = needPeer();
        if (!p) break;
        if (parseEndpoint(value)) p.endpoint = value;
        else fail(new WgProtocolError(`UAPI get: invalid endpoint ${JSON.stringify(value)}: expected ip:port or [ip6]:port`));
        break;
      }
      case 'persistent_keepalive_interval': {
        const p = needPeer();
        if (p) p.persistentKeepaliveIntervalSec = uint(key, value, 65535n);
        break;
      }
      case 'last_handshake_time_sec':
        if (needPeer()) hsSec = uint(key, value, 0xffffffffffffffffn);
        break;
      case 'last_handshake_time_nsec':
        if (needPeer()) hsNsec = uint(key, value, 999_999_999n);
        break;
      case 'rx_bytes': {
        const p = needPeer();
        if (p) p.rxBytes = uint(key, value, 0xffffffffffffffffn);
        break;
      }
      case 'tx_bytes': {
        const p = needPeer();
        if (p) p.txBytes = uint(key, value, 0xffffffffffffffffn);
        break;
      }
      case 'allowed_ip': {
        const p = needPeer();
        if (!p) break;
        if (isCidr(value)) p.allowedIPs.push(value);
        else fail(new WgProtocolError(`UAPI get: invalid allowed_ip ${JSON.stringify(value)}: expected address/prefix`));
        break;
      }
      case 'protocol_version': {
        const p = needPeer();
        if (p) p.protocolVersion = uint(key, value, 0xffffffffn);
        break;
      }
      case 'errno':
        if (/^-?\d{1,10}$/.test(value)) errno = Number(value);
        else {
          fail(new WgProtocolError(`UAPI get: invalid errno ${JSON.stringify(value)}`));
          errno = -1;
        }
        break;
      default:
        // newer daemons may add keys: ignore them
        break;
    }
  }
  endPeer();
  if (err) throw err;
  if (errno === undefined || !ended) throw new WgProtocolError('UAPI get: reply ended without "errno=N" and an empty line (truncated reply)');
  if (errno !== 0) throw new WgErrnoError(errno, `UAPI get${name ? ` on ${name}` : ''}`);
  return dev;
}

function renderPeer(p: PeerConfig, out: string[]): void {
  out.push(`public_key=${keyToHex(p.publicKey)}`);
  if (p.remove) {
    // nothing else matters for a peer being removed
    out.push('remove=true');
    return;
  }
  if (p.updateOnly) out.push('update_only=true');
  if (p.presharedKey !== undefined) out.push(`preshared_key=${keyToHex(p.presharedKey)}`);
  if (p.endpoint !== undefined) {
    if (!parseEndpoint(p.endpoint)) throw new WgProtocolError(`invalid endpoint ${JSON.stringify(p.endpoint)} for peer ${p.publicKey}: expected ip:port or [ip6]:port`);
    out.push(`endpoint=${p.endpoint}`);
  }
  if (p.persistentKeepaliveIntervalSec !== undefined) out.push(`persistent_keepalive_interval=${uint16(p.persistentKeepaliveIntervalSec, 'persistent keepalive interval')}`);
  if (p.replaceAllowedIPs) out.push('replace_allowed_ips=true');
  for (const ip of p.allowedIPs ?? []) {
    if (!isCidr(ip)) throw new WgProtocolError(`invalid allowed IP ${JSON.stringify(ip)} for peer ${p.publicKey}: expected address/prefix`);
    out.push(`allowed_ip=${ip}`);
  }
}

function uint16(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new WgProtocolError(`invalid ${what} ${n}: expected 0-65535`);
  return n;
}

/** The `set=1` request for `cfg`: only the fields that are set, in protocol order, ending with an empty line. */
export function renderUapiSet(cfg: Config): string {
  const out = ['set=1'];
  if (cfg.privateKey !== undefined) out.push(`private_key=${keyToHex(parseKey(cfg.privateKey, 'private key'))}`);
  if (cfg.listenPort !== undefined) out.push(`listen_port=${uint16(cfg.listenPort, 'listen port')}`);
  if (cfg.fwmark !== undefined) {
    if (!Number.isInteger(cfg.fwmark) || cfg.fwmark < 0 || cfg.fwmark > 0xffffffff) throw new WgProtocolError(`invalid fwmark ${cfg.fwmark}`);
    out.push(`fwmark=${cfg.fwmark}`);
  }
  if (cfg.replacePeers) out.push('replace_peers=true');
  for (const p of cfg.peers ?? []) renderPeer(p, out);
  return out.join('\n') + '\n\n';
}

/** Reads the reply to a set: exactly `errno=0` is success; anything else throws. */
export function parseUapiSetReply(text: string, name = ''): void {
  const m = /^errno=(-?\d{1,10})\n\n$/.exec(text);
  if (!m) throw new WgProtocolError(`UAPI set${name ? ` on ${name}` : ''}: unexpected reply ${JSON.stringify(text.slice(0, 80))}`);
  const errno = Number(m[1]);
  if (errno !== 0) throw new WgErrnoError(errno, `UAPI set${name ? ` on ${name}` : ''}`);
}
