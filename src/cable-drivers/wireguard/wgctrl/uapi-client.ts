// The userspace back end: devices run by wireguard-go (or any xplatform daemon), one unix socket each.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isHawserError } from '../../../util/errors.js';
import { deviceNotFound } from './errors.js';
import { parseUapiGet, parseUapiSetReply, renderUapiSet } from './uapi-codec.js';
import { uapiRoundTrip, type Dial } from './uapi-conn.js';
import type { Config, Device, WgClient } from './types.js';

export const DEFAULT_SOCKET_DIR = '/var/run/wireguard';

export interface UapiClientOptions {
  /** Where the daemons put `<ifname>.sock` (default /var/run/wireguard). */
  socketDir?: string;
  /** Overridden for tests. */
  dial?: Dial;
  timeoutMs?: number;
}

export class UapiClient implements WgClient {
  readonly type = 'userspace' as const;
  readonly socketDir: string;

  constructor(private readonly opts: UapiClientOptions = {}) {
    this.socketDir = opts.socketDir ?? DEFAULT_SOCKET_DIR;
  }

  socketPath(name: string): string {
    return join(this.socketDir, `${name}.sock`);
  }

  private roundTrip(name: string, request: string): Promise<string> {
    return uapiRoundTrip(this.socketPath(name), request, { dial: this.opts.dial, timeoutMs: this.opts.timeoutMs });
  }

  async devices(): Promise<Device[]> {
    let entries: string[];
    try {
      entries = await readdir(this.socketDir);
    } catch {
      return [];
    }
    const out: Device[] = [];
    for (const e of entries.filter((f) => f.endsWith('.sock')).sort()) {
      try {
        out.push(await this.device(e.slice(0, -'.sock'.length)));
      } catch (err) {
        // a stale socket of a dead daemon is not a device
        if (!isHawserError(err, 'NOT_FOUND')) throw err;
      }
    }
    return out;
  }

  async device(name: string): Promise<Device> {
    try {
      return parseUapiGet(await this.roundTrip(name, 'get=1\n\n'), name);
    } catch (err) {
      if (isHawserError(err, 'NOT_FOUND')) throw deviceNotFound(name, `no daemon answers on ${this.socketPath(name)}`);
      throw err;
    }
  }

  /** True when a daemon answers a get on the device's socket. */
  async answers(name: string): Promise<boolean> {
    try {
      await this.device(name);
      return true;
    } catch {
      return false;
    }
  }

  async configureDevice(name: string, cfg: Config): Promise<void> {
    const request = renderUapiSet(cfg);
    try {
      parseUapiSetReply(await this.roundTrip(name, request), name);
    } catch (err) {
      if (isHawserError(err, 'NOT_FOUND')) throw deviceNotFound(name, `no daemon answers on ${this.socketPath(name)}`);
      throw err;
    }
  }

  async close(): Promise<void> {
    // one connection per request: nothing held open
  }
}
