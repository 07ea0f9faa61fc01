// One logger for the process: pino JSON, one event per line, stable field names, secrets redacted
// inside the logger so no call site can leak them.
import { pino, destination, stdTimeFunctions, type Logger, type DestinationStream, type Level } from 'pino';

export type { Logger } from 'pino';

/** Field paths whose values are always replaced. Wildcards reach one level down (pino semantics). */
export const REDACT_PATHS: readonly string[] = [
  'psk', '*.psk', 'PSK', '*.PSK',
  'privateKey', '*.privateKey', 'private_key', '*.private_key',
  'presharedKey', '*.presharedKey', 'preshared_key', '*.preshared_key',
  'token', '*.token', 'bearerToken', '*.bearerToken',
  'secret', '*.secret', 'secrets', '*.secrets',
  'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
  'req.headers.authorization',
];

const CENSOR = '[Redacted]';

/**
 * Secret values known to this process (the PSK, private keys, tokens). Whatever path or message
 * they end up in, the serialized line has them replaced: a last line of defence behind REDACT_PATHS.
 */
const secretValues = new Set<string>();

export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 6) secretValues.add(value);
}

export function scrubSecrets(line: string): string {
  let out = line;
  for (const s of secretValues) {
    if (out.includes(s)) out = out.split(s).join(CENSOR);
    // the same value as it appears inside a JSON string
    const esc = JSON.stringify(s).slice(1, -1);
    if (esc !== s && out.includes(esc)) out = out.split(esc).join(CENSOR);
  }
  return out;
}

export interface LoggerOptions {
  level?: string;
  /** Role or tool name, e.g. `gateway`. */
  component?: string;
  destination?: DestinationStream;
  base?: Record<string, unknown>;
}

const LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export function isLevel(s: string): s is Level {
  return (LEVELS as readonly string[]).includes(s);
}

function isLevelOrSilent(s: string): s is Level | 'silent' {
  return s === 'silent' || isLevel(s);
}

/**
 * The level from the environment: LOG_LEVEL wins; else Submariner's SUBMARINER_DEBUG /
 * CE_IPSEC_DEBUG=true or SUBMARINER_VERBOSITY>=3 (klog -v) mean debug; else info.
 */
export function levelFromEnv(env: NodeJS.ProcessEnv): Level {
  const explicit = env.LOG_LEVEL?.trim().toLowerCase();
  if (explicit && isLevel(explicit)) return explicit;
  const truthy = (v: string | undefined): boolean => v !== undefined && /^(1|t|true|yes|on)$/i.test(v.trim());
  if (truthy(env.SUBMARINER_DEBUG) || truthy(env.CE_IPSEC_DEBUG)) return 'debug';
  const v = Number(env.SUBMARINER_VERBOSITY);
  if (Number.isFinite(v) && v >= 4) return 'trace';
  if (Number.isFinite(v) && v >= 3) return 'debug';
  return 'info';
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level && isLevelOrSilent(opts.level) ? opts.level : levelFromEnv(process.env);
  return pino(
    {
      level,
      base: { component: opts.component ?? 'hawser', ...(opts.base ?? {}) },
      timestamp: stdTimeFunctions.isoTime,
      messageKey: 'msg',
      errorKey: 'err',
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACT_PATHS], censor: CENSOR },
      hooks: { streamWrite: scrubSecrets },
    },
    opts.destination ?? destination({ dest: 1, sync: true }),
  );
}

let root: Logger | undefined;

/** The process logger; roles call `initLogger` once at start, libraries take a child of this. */
export function logger(): Logger {
  root ??= createLogger();
  return root;
}

export function initLogger(opts: LoggerOptions): Logger {
  root = createLogger(opts);
  return root;
}
