// Errors of the VICI client. Self-contained (no hawser imports) so the client can be published alone.

export type ViciErrorCode =
  /** A packet or message violates the wire format (bad type, bad length, unbalanced sections...). */
  | 'MALFORMED'
  /** A packet larger than the protocol's 512 KiB limit (or the configured one). */
  | 'TOO_LARGE'
  /** A message that cannot be encoded (key longer than 255 bytes, value longer than 65535...). */
  | 'ENCODE'
  /** The daemon answered with a packet that does not fit the exchange in progress. */
  | 'PROTOCOL'
  /** The socket could not be opened. */
  | 'CONNECT'
  /** The connection closed (or the client was closed) before the answer arrived. */
  | 'CLOSED'
  /** No answer within the deadline. */
  | 'TIMEOUT'
  /** The daemon has no handler for the command (CMD_UNKNOWN). */
  | 'UNKNOWN_COMMAND'
  /** The daemon has no source for the event (EVENT_UNKNOWN). */
  | 'UNKNOWN_EVENT'
  /** The command ran and answered `success = no`; `errmsg` is in the message. */
  | 'COMMAND_FAILED';

export class ViciError extends Error {
  readonly code: ViciErrorCode;
  /** For COMMAND_FAILED: the daemon's errmsg. */
  readonly errmsg?: string;
  /** For initiate/terminate: the control-log lines streamed before the failure. */
  readonly log?: string[];
  constructor(code: ViciErrorCode, message: string, options?: { cause?: unknown; errmsg?: string; log?: string[] }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'ViciError';
    this.code = code;
    if (options?.errmsg !== undefined) this.errmsg = options.errmsg;
    if (options?.log !== undefined) this.log = options.log;
  }
}

export function isViciError(err: unknown, code?: ViciErrorCode): err is ViciError {
  return err instanceof ViciError && (code === undefined || err.code === code);
}
