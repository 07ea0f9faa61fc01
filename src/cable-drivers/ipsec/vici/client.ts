// A VICI client: one unix-socket connection to charon, commands queued one at a time (VICI has no request
// IDs, so a connection carries one command at a time), streamed list commands, event subscriptions that
// survive reconnects, and reconnection with backoff when charon restarts.
import { createConnection, type Socket } from 'node:net';
import {
  MAX_PACKET_BYTES, PacketReader, PacketType, encodePacket, packetTypeName,
  type PacketTypeValue, type ViciInputSection, type ViciPacket, type ViciSection,
} from './codec.js';
import { ViciError, isViciError } from './errors.js';

export type ViciLogFn = (level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
export type ViciEventHandler = (message: ViciSection, event: string) => void;
export type ViciConnectionListener = (state: 'connected' | 'disconnected', err?: Error) => void;

export interface ViciClientOptions {
  /** Path of charon's VICI unix socket (`unix://` prefix accepted). */
  socketPath: string;
  /** Deadline per command, counted from when it is queued. Default 15 s. */
  requestTimeoutMs?: number;
  /** Deadline to open the socket. Default 3 s. */
  connectTimeoutMs?: number;
  /** Reconnect backoff bounds (while subscriptions exist or commands wait). Default 100 ms .. 2 s. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  maxPacketBytes?: number;
  log?: ViciLogFn;
}

export interface RequestOptions {
  /** Overrides the client's request deadline for this command. */
  timeoutMs?: number;
  /** True when re-sending after a lost connection is harmless (queries). Default false. */
  idempotent?: boolean;
}

interface Op {
  label: string;
  idempotent: boolean;
  /** The command packet went out: a lost connection now leaves its outcome unknown. */
  started: boolean;
  settled: boolean;
  running: Connection | undefined;
  run: (conn: Connection, markStarted: () => void) => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout | undefined;
}

/** One socket: a single outstanding exchange plus the stream collector of the active command. */
class Connection {
  readonly registered = new Set<string>();
  closed = false;
  private readonly reader: PacketReader;
  private waiter: { expect: readonly PacketTypeValue[]; resolve: (p: ViciPacket) => void; reject: (e: Error) => void } | undefined;
  stream: { event: string; onEvent: (m: ViciSection) => void } | undefined;

  constructor(
    readonly socket: Socket,
    maxPacketBytes: number,
    private readonly onEvent: (name: string, m: ViciSection) => void,
    private readonly onClose: (conn: Connection, err?: Error) => void,
  ) {
    this.reader = new PacketReader(maxPacketBytes);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.close(new ViciError('CLOSED', `VICI socket error: ${err.message}`, { cause: err })));
    socket.on('close', () => this.close(new ViciError('CLOSED', 'VICI connection closed by the daemon')));
  }

  private onData(chunk: Buffer): void {
    let packets: ViciPacket[];
    try {
      packets = this.reader.push(chunk);
    } catch (err) {
      // A bad length or body desynchronizes the stream: the only safe move is to drop the connection.
      this.close(err as Error);
      return;
    }
    for (const p of packets) {
      if (this.closed) return;
      if (p.type === PacketType.EVENT) {
        const name = p.name ?? '';
        const msg = p.message ?? (Object.create(null) as ViciSection);
        if (this.stream && this.stream.event === name) this.stream.onEvent(msg);
        this.onEvent(name, msg);
        continue;
      }
      const w = this.waiter;
      if (!w || !w.expect.includes(p.type)) {
        this.close(new ViciError('PROTOCOL', `unexpected ${packetTypeName(p.type)} from the daemon${w ? ` (waiting for ${w.expect.map(packetTypeName).join(' or ')})` : ' (no request outstanding)'}`));
        return;
      }
      this.waiter = undefined;
      w.resolve(p);
    }
  }

  exchange(packet: Buffer, expect: readonly PacketTypeValue[]): Promise<ViciPacket> {
    if (this.closed) return Promise.reject(new ViciError('CLOSED', 'VICI connection is closed'));
    if (this.waiter) return Promise.reject(new ViciError('PROTOCOL', 'internal: two exchanges at once on one VICI connection'));
    return new Promise((resolve, reject) => {
      this.waiter = { expect, resolve, reject };
      this.socket.write(packet);
    });
  }

  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    const w = this.waiter;
    this.waiter = undefined;
    this.stream = undefined;
    this.socket.destroy();
    w?.reject(err ?? new ViciError('CLOSED', 'VICI connection closed'));
    this.onClose(this, err);
  }
}

export class ViciBaseClient {
  readonly socketPath: string;
  private readonly requestTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly reconnectMinMs: number;
  private readonly reconnectMaxMs: number;
  private readonly maxPacketBytes: number;
  protected readonly log: ViciLogFn;
  private conn: Connection | undefined;
  private connecting: Promise<Connection> | undefined;
  private readonly queue: Op[] = [];
  private pumping = false;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay: number;
  private readonly handlers = new Map<string, Set<ViciEventHandler>>();
  private readonly connectionListeners = new Set<ViciConnectionListener>();

  constructor(opts: ViciClientOptions) {
    this.socketPath = opts.socketPath.replace(/^unix:\/\//, '');
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 15_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 3_000;
    this.reconnectMinMs = opts.reconnectMinMs ?? 100;
    this.reconnectMaxMs = opts.reconnectMaxMs ?? 2_000;
    this.maxPacketBytes = opts.maxPacketBytes ?? MAX_PACKET_BYTES;
    this.log = opts.log ?? (() => undefined);
    this.reconnectDelay = this.reconnectMinMs;
  }

  get connected(): boolean {
    return this.conn !== undefined && !this.conn.closed;
  }

  /** Opens the connection now (commands also connect on demand). Rejects with CONNECT if it cannot. */
  async connect(): Promise<void> {
    if (this.closed) throw new ViciError('CLOSED', 'VICI client is closed');
    await this.ensureConnected();
  }

  /** Closes the connection, stops reconnecting and fails every waiting command with CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    for (const op of this.queue.splice(0)) this.fail(op, new ViciError('CLOSED', `VICI client closed before ${op.label} completed`));
    this.conn?.close(new ViciError('CLOSED', 'VICI client closed'));
    this.conn = undefined;
  }

  /** Called on every connect and disconnect (e.g. to re-apply state after charon restarted). */
  onConnection(listener: ViciConnectionListener): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  /**
   * Subscribes to an event (`ike-updown`, `child-updown`, `log`, ...). The registration is renewed on
   * every reconnect. Resolves once the daemon confirmed it; rejects with UNKNOWN_EVENT (and drops the
   * handler) if the daemon has no such event. Returns the unsubscribe function.
   */
  async subscribe(event: string, handler: ViciEventHandler): Promise<() => void> {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(handler);
    const unsubscribe = (): void => {
      const s = this.handlers.get(event);
      if (!s) return;
      s.delete(handler);
      if (s.size === 0) {
        this.handlers.delete(event);
        const c = this.conn;
        if (c && !c.closed && c.registered.has(event)) {
          this.enqueue(`unregister ${event}`, true, async (conn) => {
            if (this.handlers.has(event) || !conn.registered.has(event)) return;
            await this.register(conn, event, false);
          }).catch(() => undefined);
        }
      }
    };
    try {
      await this.enqueue(`register ${event}`, true, async (conn) => {
        if (!conn.registered.has(event)) await this.register(conn, event, true);
      });
    } catch (err) {
      if (isViciError(err, 'UNKNOWN_EVENT')) unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  /** Sends a command and returns its response message. CMD_UNKNOWN rejects with UNKNOWN_COMMAND. */
  request(command: string, message: ViciInputSection = {}, opts: RequestOptions = {}): Promise<ViciSection> {
    const packet = encodePacket(PacketType.CMD_REQUEST, command, message);
    return this.enqueue(command, opts.idempotent ?? false, async (conn, started) => {
      started();
      return this.command(conn, command, packet);
    }, opts.timeoutMs) as Promise<ViciSection>;
  }

  /**
   * Sends a streaming command (e.g. `list-sas` streaming `list-sa` events): registers the event on this
   * connection if needed, collects the events that arrive before the response, and returns both.
   */
  streamedRequest(
    command: string,
    event: string,
    message: ViciInputSection = {},
    opts: RequestOptions & { onEvent?: (m: ViciSection) => void } = {},
  ): Promise<{ response: ViciSection; events: ViciSection[] }> {
    const packet = encodePacket(PacketType.CMD_REQUEST, command, message);
    return this.enqueue(command, opts.idempotent ?? false, async (conn, started) => {
      if (!conn.registered.has(event)) await this.register(conn, event, true);
      const events: ViciSection[] = [];
      conn.stream = {
        event,
        onEvent: (m) => {
          events.push(m);
          try {
            opts.onEvent?.(m);
          } catch (err) {
            this.log('warn', 'VICI stream handler threw', { event, err: (err as Error).message });
          }
        },
      };
      try {
        started();
        const response = await this.command(conn, command, packet);
        return { response, events };
      } finally {
        if (!conn.closed) conn.stream = undefined;
      }
    }, opts.timeoutMs) as Promise<{ response: ViciSection; events: ViciSection[] }>;
  }

  // -------------------------------------------------------------------------------------------

  private async command(conn: Connection, command: string, packet: Buffer): Promise<ViciSection> {
    const p = await conn.exchange(packet, [PacketType.CMD_RESPONSE, PacketType.CMD_UNKNOWN]);
    if (p.type === PacketType.CMD_UNKNOWN) throw new ViciError('UNKNOWN_COMMAND', `the daemon does not know the VICI command "${command}" (older strongSwan, or the plugin providing it is not loaded)`);
    return p.message ?? (Object.create(null) as ViciSection);
  }

  private async register(conn: Connection, event: string, on: boolean): Promise<void> {
    const packet = encodePacket(on ? PacketType.EVENT_REGISTER : PacketType.EVENT_UNREGISTER, event);
    const p = await conn.exchange(packet, [PacketType.EVENT_CONFIRM, PacketType.EVENT_UNKNOWN]);
    if (p.type === PacketType.EVENT_UNKNOWN) throw new ViciError('UNKNOWN_EVENT', `the daemon has no VICI event "${event}"`);
    if (on) conn.registered.add(event);
    else conn.registered.delete(event);
  }

  private enqueue(label: string, idempotent: boolean, run: Op['run'], timeoutMs?: number): Promise<unknown> {
    if (this.closed) return Promise.reject(new ViciError('CLOSED', `VICI client is closed (${label})`));
    return new Promise((resolve, reject) => {
      const op: Op = { label, idempotent, started: false, settled: false, running: undefined, run, resolve, reject, timer: undefined };
      const ms = timeoutMs ?? this.requestTimeoutMs;
      op.timer = setTimeout(() => {
        const why = this.connected ? 'the daemon did not answer' : `cannot reach the VICI socket ${this.socketPath} (is charon running?)`;
        this.fail(op, new ViciError('TIMEOUT', `VICI ${label}: no answer within ${ms} ms: ${why}`));
        // A late answer would be taken for the next command's: drop the connection to resynchronize.
        op.running?.close(new ViciError('TIMEOUT', `VICI ${label} timed out; connection reset`));
        const i = this.queue.indexOf(op);
        if (i >= 0 && !op.running) this.queue.splice(i, 1);
      }, ms);
      this.queue.push(op);
      void this.pump();
    });
  }

  private fail(op: Op, err: unknown): void {
    if (op.settled) return;
    op.settled = true;
    if (op.timer) clearTimeout(op.timer);
    op.reject(err);
  }

  private settle(op: Op, v: unknown): void {
    if (op.settled) return;
    op.settled = true;
    if (op.timer) clearTimeout(op.timer);
    op.resolve(v);
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const op = this.queue[0]!;
        if (op.settled) {
          this.queue.shift();
          continue;
        }
        let conn: Connection;
        try {
          conn = await this.ensureConnected();
        } catch {
          // Commands wait (until their own deadline) for the daemon to come back.
          await new Promise((r) => setTimeout(r, this.nextDelay()));
          continue;
        }
        if (this.queue[0] !== op || op.settled) continue; // timed out while we were connecting
        op.running = conn;
        try {
          const v = await op.run(conn, () => (op.started = true));
          this.settle(op, v);
          this.queue.shift();
        } catch (err) {
          // Retry only when the connection was lost (not when the daemon's answer itself was bad).
          const lostOnly = isViciError(err, 'CLOSED');
          if (conn.closed && lostOnly && !op.settled && (op.idempotent || !op.started) && !this.closed) {
            op.started = false; // retried on the next connection
          } else {
            const lost = conn.closed && lostOnly && !op.settled && op.started;
            this.fail(op, lost ? new ViciError('CLOSED', `VICI connection lost during ${op.label}; its outcome is unknown`, { cause: err }) : err);
            this.queue.shift();
          }
        } finally {
          op.running = undefined;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private nextDelay(): number {
    const d = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectMaxMs, this.reconnectDelay * 2);
    return d;
  }

  private ensureConnected(): Promise<Connection> {
    if (this.conn && !this.conn.closed) return Promise.resolve(this.conn);
    if (this.closed) return Promise.reject(new ViciError('CLOSED', 'VICI client is closed'));
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private open(): Promise<Connection> {
    return new Promise<Socket>((resolve, reject) => {
      const socket = createConnection(this.socketPath);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ViciError('CONNECT', `cannot connect to the VICI socket ${this.socketPath}: no answer within ${this.connectTimeoutMs} ms`));
      }, this.connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        const hint = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? ' (is charon running with this socket configured?)' : '';
        reject(new ViciError('CONNECT', `cannot connect to the VICI socket ${this.socketPath}: ${err.code ?? err.message}${hint}`, { cause: err }));
      });
    }).then(async (socket) => {
      const conn = new Connection(socket, this.maxPacketBytes, (n, m) => this.dispatch(n, m), (c, err) => this.onClosed(c, err));
      if (this.closed) {
        conn.close(new ViciError('CLOSED', 'VICI client closed'));
        throw new ViciError('CLOSED', 'VICI client is closed');
      }
      // Renew subscriptions before any queued command runs, so no event is missed after a restart.
      for (const event of this.handlers.keys()) {
        try {
          await this.register(conn, event, true);
        } catch (err) {
          if (conn.closed) throw err;
          this.log('warn', 'VICI event registration failed', { event, err: (err as Error).message });
        }
      }
      this.conn = conn;
      this.reconnectDelay = this.reconnectMinMs;
      this.log('debug', 'VICI connected', { socket: this.socketPath });
      this.notify('connected');
      return conn;
    });
  }

  private onClosed(conn: Connection, err?: Error): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    if (this.closed) return;
    this.log('debug', 'VICI connection lost', { socket: this.socketPath, err: err?.message });
    this.notify('disconnected', err);
    this.scheduleReconnect();
  }

  /** Keeps event subscriptions alive: reconnects in the background while anyone listens. */
  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer || this.handlers.size === 0) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed || this.connected) return;
      this.ensureConnected().catch(() => this.scheduleReconnect());
    }, this.nextDelay());
    this.reconnectTimer.unref?.();
  }

  private notify(state: 'connected' | 'disconnected', err?: Error): void {
    for (const l of [...this.connectionListeners]) {
      try {
        l(state, err);
      } catch (e) {
        this.log('warn', 'VICI connection listener threw', { err: (e as Error).message });
      }
    }
  }

  private dispatch(name: string, message: ViciSection): void {
    const set = this.handlers.get(name);
    if (!set) return;
    for (const h of [...set]) {
      try {
        h(message, name);
      } catch (err) {
        this.log('warn', 'VICI event handler threw', { event: name, err: (err as Error).message });
      }
    }
  }
}
