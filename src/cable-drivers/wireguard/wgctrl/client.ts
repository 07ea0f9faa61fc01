// One API over both back ends, as wgctrl-go does: the kernel one first when this kernel has WireGuard,
// then userspace. NOT_FOUND from one back end means "try the next"; any other error stops the search.
import { isHawserError } from '../../../util/errors.js';
import { deviceNotFound } from './errors.js';
import { NetlinkClient, openKernelTransport } from './netlink-client.js';
import { UapiClient, type UapiClientOptions } from './uapi-client.js';
import type { Config, Device, WgClient } from './types.js';

export type BackendChoice = 'auto' | 'kernel' | 'userspace';

export interface OpenOptions extends UapiClientOptions {
  backend?: BackendChoice;
}

/** Tries each client in order; NOT_FOUND moves on to the next. */
export class MultiClient implements WgClient {
  constructor(readonly clients: readonly WgClient[]) {}

  get type(): WgClient['type'] {
    return this.clients[0]?.type ?? 'userspace';
  }

  async devices(): Promise<Device[]> {
    const all: Device[] = [];
    for (const c of this.clients) all.push(...(await c.devices()));
    return all;
  }

  private async first<T>(name: string, fn: (c: WgClient) => Promise<T>): Promise<T> {
    for (const c of this.clients) {
      try {
        return await fn(c);
      } catch (err) {
        if (!isHawserError(err, 'NOT_FOUND')) throw err;
      }
    }
    throw deviceNotFound(name, `tried ${this.clients.map((c) => c.type).join(', ') || 'no back end'}`);
  }

  device(name: string): Promise<Device> {
    return this.first(name, (c) => c.device(name));
  }

  configureDevice(name: string, cfg: Config): Promise<void> {
    return this.first(name, (c) => c.configureDevice(name, cfg));
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
  }
}

/** Opens the kernel back end; undefined when this kernel has no WireGuard generic netlink family. */
export async function openKernelClient(): Promise<NetlinkClient | undefined> {
  const k = await openKernelTransport();
  return k ? new NetlinkClient(k.transport, k.familyId) : undefined;
}

/**
 * `userspace`: UAPI sockets only; `kernel`: netlink only (throws NOT_FOUND when the kernel lacks
 * WireGuard); `auto` (default): kernel first when present, then userspace.
 */
export async function openWgClient(opts: OpenOptions = {}): Promise<WgClient> {
  const backend = opts.backend ?? 'auto';
  const uapi = new UapiClient(opts);
  if (backend === 'userspace') return uapi;
  const kernel = await openKernelClient();
  if (backend === 'kernel') {
    if (!kernel) throw deviceNotFound('*', 'this kernel has no WireGuard generic netlink family');
    return kernel;
  }
  return kernel ? new MultiClient([kernel, uapi]) : uapi;
}
