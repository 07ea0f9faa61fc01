// One logger for the process: pino JSON, one event per line, stable field names, secrets redacted
// inside the logger so no call site can leak them. The field schema (docs/operations.md, "Logs") is
// enforced here, not at call sites: no line carries a key twice, `cluster` is always the local cluster,
// `err` is always an object.
import { pino, destination, stdTimeFunctions, type ChildLoggerOptions, type Logger, type DestinationStream, type Level } from 'pino';

type ChildOptions = ChildLoggerOptions;
const BOUND = Symbol('hawser.log.bound');

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
  /** Bound on every line, e.g. `{ cluster: <local cluster id> }`. */
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

/** Keys (any case, any depth) whose values never reach a log line: headers, tokens, PSKs, keys. */
const SECRET_KEYS = new Set([
  'psk', 'presharedkey', 'preshared_key', 'pre_shared_key', 'ipsecpsk', 'ce_ipsec_psk',
  'privatekey', 'private_key', 'key', 'keydata', 'tlskey', 'clientkey', 'client_key', 'client-key-data',
  'token', 'bearertoken', 'bearer_token', 'accesstoken', 'access_token', 'refreshtoken', 'apitoken', 'apiserverToken'.toLowerCase(),
  'broker_k8s_apiservertoken', 'secret', 'secrets', 'password', 'passwd', 'passphrase', 'apikey', 'api_key',
  'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-auth-token',
]);

export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key.toLowerCase());
}

/** A copy with every secret-named value replaced, at any depth; objects without secrets are returned as they are. */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object' || value instanceof Error || Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((v) => {
      const r = redactDeep(v, depth + 1);
      if (r !== v) changed = true;
      return r;
    });
    return changed ? out : value;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value; // class instances (Map, URL, …) stay as pino prints them
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value)) {
    const r = isSecretKey(k) && v !== undefined && v !== null && v !== '' ? CENSOR : redactDeep(v, depth + 1);
    if (r !== v) (out ??= { ...(value as Record<string, unknown>) })[k] = r;
  }
  return out ?? value;
}

/** The one shape of `err` on every line, whatever a call site passed (an Error, a string, anything). */
export interface LoggedError {
  type: string;
  message: string;
  code?: string | number;
  /** Only when the logger is at debug or trace. */
  stack?: string;
}

export function serializeError(v: unknown, withStack: boolean): LoggedError {
  if (v instanceof Error) {
    const code = (v as { code?: unknown }).code;
    return {
      type: v.name && v.name !== 'Error' ? v.name : v.constructor?.name || 'Error',
      message: v.message,
      ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
      ...(withStack && v.stack ? { stack: v.stack } : {}),
    };
  }
  if (v !== null && typeof v === 'object') {
    const o = v as { type?: unknown; message?: unknown; code?: unknown; stack?: unknown };
    return {
      type: typeof o.type === 'string' ? o.type : 'Error',
      message: typeof o.message === 'string' ? o.message : JSON.stringify(v),
      ...(typeof o.code === 'string' || typeof o.code === 'number' ? { code: o.code } : {}),
      ...(withStack && typeof o.stack === 'string' ? { stack: o.stack } : {}),
    };
  }
  return { type: 'Error', message: String(v) };
}

/** What each logger has bound, its ancestors' bindings included: children and calls are checked against it. */
const boundOf = new WeakMap<object, Readonly<Record<string, unknown>>>();

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  try {
    return JSON.stringify(a) === JSON.stringify(b);
  } catch {
    return false;
  }
}

/** Keys pino writes itself: a field of that name would repeat them. */
const RESERVED_KEYS = new Set(['level', 'time', 'msg']);

/**
 * New fields against what is bound already, under the schema's rules: a key bound with the same value
 * is dropped; `localCluster` (older call sites) is `cluster`; a different `cluster` is the remote
 * cluster (`remoteCluster`); a different `component` is the subsystem (`sub`, unless one is bound);
 * `level`/`time`/`msg` become `<key>Field`. Any other key bound with a different value is listed in
 * `conflicts` (with the new value in `add`): the caller decides how it wins.
 */
export function reconcileFields(bound: Readonly<Record<string, unknown>>, fields: Readonly<Record<string, unknown>>): { add: Record<string, unknown>; conflicts: string[] } {
  const add: Record<string, unknown> = {};
  const conflicts: string[] = [];
  const has = (k: string): boolean => k in add || k in bound;
  const current = (k: string): unknown => (k in add ? add[k] : bound[k]);
  const put = (k: string, v: unknown): void => {
    if (v === undefined) return;
    if (RESERVED_KEYS.has(k)) return put(`${k}Field`, v);
    if (!has(k)) {
      add[k] = v;
      return;
    }
    if (sameValue(current(k), v)) return;
    if (k === 'cluster') return put('remoteCluster', v);
    if (k === 'component') {
      if (!has('sub')) add.sub = v;
      return;
    }
    if (k in bound && !conflicts.includes(k)) conflicts.push(k);
    add[k] = v;
  };
  // localCluster first: a `cluster` next to it is then the remote one
  if ('localCluster' in fields) put('cluster', fields.localCluster);
  for (const [k, v] of Object.entries(fields)) if (k !== 'localCluster') put(k, v);
  return { add, conflicts };
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level && isLevelOrSilent(opts.level) ? opts.level : levelFromEnv(process.env);
  let withStack = (): boolean => false;
  // No base in pino itself: the base fields are the first child's bindings, so a later child can
  // replace any of them (pino only ever appends bindings, which is how keys got repeated).
  const bare = pino(
    {
      level,
      base: undefined,
      timestamp: stdTimeFunctions.isoTime,
      messageKey: 'msg',
      errorKey: 'err',
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: (v: unknown) => serializeError(v, withStack()) },
      redact: { paths: [...REDACT_PATHS], censor: CENSOR },
      hooks: { streamWrite: scrubSecrets },
      // Per-call fields against the logger's bindings: the mixin sees the logger, the merge strategy builds the fields.
      mixin: (_obj: object, _level: number, self: Logger) => ({ [BOUND]: boundOf.get(self) ?? {} }),
      mixinMergeStrategy: (mergeObject: object, mixinObject: object) => {
        const bound = (mixinObject as { [BOUND]?: Readonly<Record<string, unknown>> })[BOUND] ?? {};
        const { add, conflicts } = reconcileFields(bound, redactDeep(mergeObject) as Record<string, unknown>);
        // a call that contradicts a binding keeps both values: the call's under <key>Call
        for (const k of conflicts) {
          add[`${k}Call`] = add[k];
          delete add[k];
        }
        return add;
      },
    },
    opts.destination ?? destination({ dest: 1, sync: true }),
  );
  type ChildFn = (this: Logger, bindings: Record<string, unknown>, options?: ChildOptions) => Logger;
  const pinoChild = bare.child as unknown as ChildFn;
  const childOf = (parent: Logger, bindings: Readonly<Record<string, unknown>>, options?: ChildOptions): Logger => {
    const bound = boundOf.get(parent) ?? {};
    const { add, conflicts } = reconcileFields(bound, redactDeep(bindings) as Record<string, unknown>);
    const all = { ...bound, ...add };
    // a child that changes a bound value is rebuilt from the bare logger with every binding once
    const child = conflicts.length
      ? pinoChild.call(bare as unknown as Logger, all, { ...options, level: options?.level ?? parent.level })
      : pinoChild.call(parent, add, options);
    boundOf.set(child, all);
    return child;
  };
  // Children are Object.create(parent), so every descendant inherits this `child`.
  Object.defineProperty(bare, 'child', {
    value: function child(this: Logger, bindings: Readonly<Record<string, unknown>>, options?: ChildOptions): Logger {
      return childOf(this, bindings, options);
    },
    writable: true,
    configurable: true,
  });
  const root = childOf(bare, { component: opts.component ?? 'hawser', ...(opts.base ?? {}) });
  withStack = () => root.isLevelEnabled('debug');
  return root;
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
