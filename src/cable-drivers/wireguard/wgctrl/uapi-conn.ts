// The UAPI transport: one request, one reply over the device's unix socket. `dial` is injectable so
// tests can serve a socket of their own.
import { connect, type Socket } from 'node:net';
import { HawserError } from '../../../util/errors.js';
import { WgProtocolError } from './errors.js';

export type Dial = (path: string) => Socket;

export const defaultDial: Dial = (path) => connect(path);

export interface RoundTripOptions {
  dial?: Dial;
  timeoutMs?: number;
}

// A reply is complete once it ends with `errno=N` and an empty line.
const REPLY_END = /(?:^|\n)errno=-?\d{1,10}\n\n$/;
const MAX_REPLY = 64 << 20;

/** Sends `request` and resolves with the whole reply text. Connection errors: NOT_FOUND when no daemon listens. */
export function uapiRoundTrip(path: string, request: string, opts: RoundTripOptions = {}): Promise<string> {
  const dial = opts.dial ?? defaultDial;
  const timeoutMs = opts.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    let reply = '';
    let done = false;
    const sock = dial(path);
    const finish = (err: Error | undefined, value?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value ?? '');
    };
    const timer = setTimeout(() => finish(new HawserError('TIMEOUT', `UAPI ${path}: no complete reply within ${timeoutMs} ms`)), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      reply += chunk;
      if (reply.length > MAX_REPLY) finish(new WgProtocolError(`UAPI ${path}: reply larger than ${MAX_REPLY} bytes`));
      else if (REPLY_END.test(reply)) finish(undefined, reply);
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        finish(new HawserError('NOT_FOUND', `no WireGuard daemon answers on ${path} (${err.code}): the device is not running`, { cause: err }));
      } else finish(new HawserError('EXEC', `UAPI ${path}: ${err.message}`, { cause: err }));
    });
    sock.on('close', () => finish(new WgProtocolError(`UAPI ${path}: connection closed before a complete reply${reply ? ` (got ${JSON.stringify(reply.slice(0, 80))})` : ''}`)));
    sock.write(request);
  });
}
