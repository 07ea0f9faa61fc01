// Errors of the WireGuard control module: HawserErrors with stable codes, so callers branch on `code`.
import { HawserError } from '../../../util/errors.js';

const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: 'EPERM', 2: 'ENOENT', 5: 'EIO', 12: 'ENOMEM', 13: 'EACCES', 16: 'EBUSY', 19: 'ENODEV', 22: 'EINVAL',
  71: 'EPROTO', 95: 'EOPNOTSUPP', 98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL',
};

/** Name of a (positive or negative) errno, e.g. `EINVAL`, or `errno N`. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[Math.abs(errno)] ?? `errno ${errno}`;
}

/** The device answered a request with a non-zero errno. */
export class WgErrnoError extends HawserError {
  readonly errno: number;
  constructor(errno: number, what: string) {
    super('UAPI_ERRNO', `${what}: the WireGuard device answered ${errnoName(errno)} (${errno})${errnoHint(errno)}`);
    this.name = 'WgErrnoError';
    this.errno = errno;
  }
}

function errnoHint(errno: number): string {
  switch (Math.abs(errno)) {
    case 22: return '; a key, address or port in the request was rejected';
    case 71: return '; the request was malformed (unknown or out-of-order key)';
    case 98: return '; the listen port is already in use by another socket';
    default: return '';
  }
}

/** A reply that does not follow the protocol (malformed line, bad value, truncated). */
export class WgProtocolError extends HawserError {
  constructor(message: string) {
    super('INVALID', message);
    this.name = 'WgProtocolError';
  }
}

export function deviceNotFound(name: string, where: string): HawserError {
  return new HawserError('NOT_FOUND', `WireGuard device ${JSON.stringify(name)} not found (${where})`);
}
