// The one binding of libc in hawser (through koffi, loaded lazily and once): the raw ICMP socket
// (icmp.ts) and the nfnetlink socket (nftables/nfnl-socket.ts) both call it through here, with the
// Linux ABI constants they share and the one way to create a socket in another network namespace.
import { createRequire } from 'node:module';
import { getSystemErrorMessage, getSystemErrorName } from 'node:util';
import { HawserError } from '../util/errors.js';

// Linux ABI constants (generic: x86-64 and arm64 share them)
export const AF_INET = 2;
export const AF_NETLINK = 16;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const IPPROTO_ICMP = 1;
export const SOL_SOCKET = 1;
export const SO_RCVBUF = 8;
export const SO_RCVTIMEO = 20;
export const SO_ATTACH_FILTER = 26;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const SO_TIMESTAMPNS = 35;
export const SOL_NETLINK = 270;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const MSG_DONTWAIT = 0x40;
export const O_RDONLY = 0;
export const O_CLOEXEC = 0o2000000;
export const CLOCK_REALTIME = 0;
export const CLONE_NEWNET = 0x40000000;
export const EINTR = 4;
export const EBADF = 9;
export const EAGAIN = 11;

/** A bound libc function; `async` runs it on koffi's worker thread. */
export type Fn = ((...args: unknown[]) => unknown) & { async: (...args: unknown[]) => void };

interface Koffi {
  load(path: string): { func(signature: string): Fn };
  address(ptr: unknown): bigint;
  view(ptr: unknown, len: number): ArrayBuffer;
  errno(): number;
}

export interface Libc {
  socket: Fn;
  setsockopt: Fn;
  bind: Fn;
  send: Fn;
  sendto: Fn;
  recv: Fn;
  recvmmsg: Fn;
  close: Fn;
  open: Fn;
  setns: Fn;
  clockGettime: Fn;
  malloc: Fn;
  free: Fn;
  /** The errno of this thread's last failed call. */
  errno(): number;
  /** The address of a native pointer. */
  address(ptr: unknown): bigint;
  /** Native memory seen as an ArrayBuffer (no copy). */
  view(ptr: unknown, len: number): ArrayBuffer;
}

let cache: Libc | HawserError | undefined;

/** libc, loaded on first use; throws HawserError UAPI_ERRNO (the same one every time) when it cannot be. */
export function libc(): Libc {
  cache ??= load();
  if (cache instanceof HawserError) throw cache;
  return cache;
}

function load(): Libc | HawserError {
  try {
    // koffi is CommonJS with a native addon; createRequire keeps this module loadable as ESM and under tsx
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    const lib = koffi.load('libc.so.6');
    return {
      socket: lib.func('int socket(int domain, int type, int protocol)'),
      setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
      bind: lib.func('int bind(int fd, const void *addr, uint32_t len)'),
      send: lib.func('long send(int fd, const void *buf, size_t len, int flags)'),
      sendto: lib.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)'),
      recv: lib.func('long recv(int fd, void *buf, size_t len, int flags)'),
      recvmmsg: lib.func('int recvmmsg(int fd, void *msgvec, unsigned int vlen, int flags, void *timeout)'),
      close: lib.func('int close(int fd)'),
      open: lib.func('int open(const char *path, int flags)'),
      setns: lib.func('int setns(int fd, int nstype)'),
      clockGettime: lib.func('int clock_gettime(int clock, void *ts)'),
      malloc: lib.func('void *malloc(size_t size)'),
      free: lib.func('void free(void *ptr)'),
      errno: () => koffi.errno(),
      address: (ptr) => koffi.address(ptr),
      view: (ptr, len) => koffi.view(ptr, len),
    };
  } catch (err) {
    return new HawserError('UAPI_ERRNO', `cannot load libc through koffi: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** `ENOENT`-style name of an errno (either sign). */
export function errnoName(n: number): string {
  try {
    return getSystemErrorName(-Math.abs(n));
  } catch {
    return `errno ${Math.abs(n)}`;
  }
}

/** `ENETUNREACH (Network is unreachable)`-style text of an errno. */
export function errnoText(errno: number): string {
  try {
    return `${getSystemErrorMessage(-errno)} (${getSystemErrorName(-errno)})`;
  } catch {
    return `errno ${errno}`;
  }
}

/**
 * Runs `create` (a socket() call) with this thread inside the named network namespace (/run/netns/NAME)
 * and always returns to the original one: a socket stays in the namespace it was created in, while the
 * thread must not (every later socket of this process would be made there). `create` reads its own errno
 * before returning, since the setns back overwrites it. Throws HawserError when the namespace cannot be
 * entered, and loudly when the way back fails (the process is then in a bad state).
 */
export function socketInNetns<T>(netns: string, create: () => T): T {
  if (!/^[A-Za-z0-9_.-]+$/.test(netns)) throw new HawserError('INVALID', `not a netns name: ${JSON.stringify(netns)}`);
  const c = libc();
  const target = c.open(`/run/netns/${netns}`, O_RDONLY | O_CLOEXEC) as number;
  if (target < 0) throw new HawserError('NOT_FOUND', `cannot open netns ${netns}: ${errnoName(c.errno())}`);
  const home = c.open('/proc/thread-self/ns/net', O_RDONLY | O_CLOEXEC) as number;
  if (home < 0) {
    const errno = c.errno();
    c.close(target);
    throw new HawserError('EXEC', `cannot open this thread's netns: ${errnoName(errno)}`);
  }
  try {
    if ((c.setns(target, CLONE_NEWNET) as number) !== 0) throw new HawserError('EXEC', `setns into ${netns}: ${errnoName(c.errno())}`);
    const back = (): void => {
      if ((c.setns(home, CLONE_NEWNET) as number) !== 0) {
        throw new HawserError('EXEC', `setns back from ${netns} failed (${errnoName(c.errno())}); this process is in a bad state`);
      }
    };
    let result: T;
    try {
      result = create();
    } catch (err) {
      // a failed way back replaces create's error: it is the worse one
      back();
      throw err;
    }
    back();
    return result;
  } finally {
    c.close(target);
    c.close(home);
  }
}
