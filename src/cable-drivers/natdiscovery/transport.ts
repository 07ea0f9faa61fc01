// The UDP socket NAT discovery talks through (one socket: requests leave from the listening port, as
// Submariner's do, so NAT mappings and DNAT rules for that port serve both directions), and a clock.
// Both are seams: unit tests use an in-memory network and a fake clock.
import { createSocket, type Socket } from 'node:dgram';
import { HawserError } from '../../util/errors.js';

export interface UdpPeer {
  ip: string;
  port: number;
}

export interface NatTransport {
  /** Binds and returns the bound port (useful with port 0). */
  bind(port: number, address: string): Promise<number>;
  send(data: Uint8Array, to: UdpPeer): Promise<void>;
  onMessage(handler: (data: Uint8Array, from: UdpPeer) => void): void;
  /** The local address datagrams to `target` leave from (a route lookup), if known. */
  sourceIPFor(target: string): Promise<string | undefined>;
  close(): Promise<void>;
}

export interface Clock {
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

/** Asks the kernel which source address it would use for `target` (connecting a UDP socket sends nothing). */
export function routeSourceIP(target: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const done = (ip: string | undefined): void => {
      try {
        s.close();
      } catch {
        // already closed
      }
      resolve(ip);
    };
    s.on('error', () => done(undefined));
    try {
      s.connect(9, target, () => {
        try {
          done(s.address().address);
        } catch {
          done(undefined);
        }
      });
    } catch {
      done(undefined);
    }
  });
}

export class UdpTransport implements NatTransport {
  private socket: Socket | undefined;
  private handler: ((data: Uint8Array, from: UdpPeer) => void) | undefined;
  private boundAddress = '0.0.0.0';

  async bind(port: number, address: string): Promise<number> {
    const s = createSocket({ type: 'udp4', reuseAddr: false });
    this.boundAddress = address;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        s.close();
        const why = err.code === 'EADDRINUSE'
          ? 'the port is in use (is another gateway agent, e.g. Submariner, running on this node?)'
          : err.code === 'EADDRNOTAVAIL' ? `${address} is not an address of this node` : err.message;
        reject(new HawserError(err.code === 'EADDRINUSE' ? 'EXISTS' : 'INVALID', `cannot listen for NAT discovery on UDP ${address}:${port}: ${why}`, { cause: err }));
      };
      s.once('error', onError);
      s.bind(port, address, () => {
        s.off('error', onError);
        resolve();
      });
    });
    // Errors after bind (e.g. ICMP-induced ECONNREFUSED on some kernels) must not crash the process.
    s.on('error', () => undefined);
    s.on('message', (msg, rinfo) => this.handler?.(msg, { ip: rinfo.address, port: rinfo.port }));
    this.socket = s;
    return s.address().port;
  }

  send(data: Uint8Array, to: UdpPeer): Promise<void> {
    const s = this.socket;
    if (!s) return Promise.reject(new HawserError('INVALID', 'NAT discovery socket is not bound'));
    return new Promise((resolve, reject) => {
      s.send(data, to.port, to.ip, (err) => (err ? reject(err) : resolve()));
    });
  }

  onMessage(handler: (data: Uint8Array, from: UdpPeer) => void): void {
    this.handler = handler;
  }

  sourceIPFor(target: string): Promise<string | undefined> {
    if (this.boundAddress !== '0.0.0.0') return Promise.resolve(this.boundAddress);
    return routeSourceIP(target);
  }

  async close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
