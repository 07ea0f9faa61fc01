// Typed errors with stable codes: callers branch on `code`, never on message text.
export type ErrorCode =
  | 'CONFIG'
  | 'NOT_FOUND'
  | 'EXISTS'
  | 'EXEC'
  | 'TIMEOUT'
  | 'INVALID'
  | 'UAPI_ERRNO'
  | 'VICI'
  | 'NETLINK'
  | 'NFT'
  | 'API';

export class HawserError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HawserError';
    this.code = code;
  }
}

export function isHawserError(err: unknown, code?: ErrorCode): err is HawserError {
  return err instanceof HawserError && (code === undefined || err.code === code);
}

/** The message of anything thrown, for status fields and logs. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
