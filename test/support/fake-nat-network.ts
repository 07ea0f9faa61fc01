// Fakes for NAT discovery's seams: a clock whose time the test moves, and an in-memory UDP network with
// stateful NAT whose hosts are NatTransports. (Endpoints: fixtures.ts natEndpointSpec; loggers: logSink.)
import type { Clock, NatTransport, UdpPeer } from '../../src/cable-drivers/natdiscovery/transport.js';

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

export class FakeClock implements Clock {
  t = 1_000_000;
  private timers = new Set<{ fn: () => void; every: number; next: number }>();
  now(): number {
    return this.t;
  }
  setInterval(fn: () => void, ms: number): unknown {
    const h = { fn, every: ms, next: this.t + ms };
    this.timers.add(h);
    return h;
  }
  clearInterval(h: unknown): void {
    this.timers.delete(h as { fn: () => void; every: number; next: number });
  }
  /** Moves time forward, firing due timers in order and letting promise chains settle in between. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await flush();
    for (;;) {
      let first: { fn: () => void; every: number; next: number } | undefined;
      for (const h of this.timers) if (h.next <= end && (!first || h.next < first.next)) first = h;
      if (!first) break;
      this.t = first.next;
      first.next += first.every;
      first.fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

export type Tuple = { src: UdpPeer; dst: UdpPeer };
/** Routing + NAT of the fake network: the tuple as it arrives, or null when it is dropped. */
export type PathRule = (t: Tuple) => Tuple | null;

const tupleKey = (t: Tuple): string => `${t.src.ip}:${t.src.port}>${t.dst.ip}:${t.dst.port}`;

/** An in-memory UDP network with stateful NAT: replies to a translated flow are translated back. */
export class FakeNet {
  private hosts: Array<{ ips: string[]; port: number; t: FakeTransport }> = [];
  private conntrack = new Map<string, Tuple>();
  delivered = 0;
  /** `direct`: tuples that never cross the NAT box (e.g. LAN traffic), so its conntrack does not see them. */
  constructor(public path: PathRule, private readonly direct: (t: Tuple) => boolean = () => false) {}

  host(ips: string[]): FakeTransport {
    return new FakeTransport(this, ips);
  }

  register(ips: string[], port: number, t: FakeTransport): void {
    this.hosts.push({ ips, port, t });
  }

  unregister(t: FakeTransport): void {
    this.hosts = this.hosts.filter((h) => h.t !== t);
  }

  send(data: Uint8Array, sent: Tuple): void {
    queueMicrotask(() => {
      let arrived = this.direct(sent) ? undefined : this.conntrack.get(tupleKey(sent));
      if (!arrived) {
        const p = this.path(sent);
        if (!p) return;
        arrived = p;
        if (tupleKey(p) !== tupleKey(sent)) this.conntrack.set(tupleKey({ src: p.dst, dst: p.src }), { src: sent.dst, dst: sent.src });
      }
      const to = arrived;
      const h = this.hosts.find((x) => x.ips.includes(to.dst.ip) && x.port === to.dst.port);
      if (!h) return;
      this.delivered++;
      h.t.deliver(data, to.src);
    });
  }
}

export class FakeTransport implements NatTransport {
  private handler: ((data: Uint8Array, from: UdpPeer) => void) | undefined;
  private port = 0;
  constructor(private readonly net: FakeNet, readonly ips: string[]) {}
  async bind(port: number): Promise<number> {
    this.port = port;
    this.net.register(this.ips, port, this);
    return port;
  }
  async send(data: Uint8Array, to: UdpPeer): Promise<void> {
    this.net.send(data, { src: { ip: this.ips[0]!, port: this.port }, dst: to });
  }
  onMessage(handler: (data: Uint8Array, from: UdpPeer) => void): void {
    this.handler = handler;
  }
  async sourceIPFor(): Promise<string | undefined> {
    return this.ips[0];
  }
  deliver(data: Uint8Array, from: UdpPeer): void {
    this.handler?.(data, from);
  }
  async close(): Promise<void> {
    this.net.unregister(this);
  }
}
