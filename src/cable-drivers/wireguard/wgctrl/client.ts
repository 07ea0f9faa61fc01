// Choosing a WireGuard back end: the kernel's generic netlink family when this kernel has WireGuard, else
// wireguard-go's UAPI sockets (the driver's chooseClient decides, as wgctrl-go does: kernel first).
import { NetlinkClient, openKernelTransport } from './netlink-client.js';

export type BackendChoice = 'auto' | 'kernel' | 'userspace';

/** Opens the kernel back end; undefined when this kernel has no WireGuard generic netlink family. */
export async function openKernelClient(): Promise<NetlinkClient | undefined> {
  const k = await openKernelTransport();
  return k ? new NetlinkClient(k.transport, k.familyId) : undefined;
}
