// Typed readers for environment variables. Each failure names the variable, the value and what is expected.
import { isIPv4, isIP } from 'node:net';
import { HawserError } from '../util/errors.js';

export class ConfigError extends HawserError {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super('CONFIG', `${variable}: ${message}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

export interface Cidr {
  /** Canonical text, e.g. `10.0.0.0/16`. */
  text: string;
  address: string;
  prefix: number;
  family: 4 | 6;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** Parses a CIDR; host bits must be zero for IPv4 (as the API expects a network). */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m) return undefined;
  const address = m[1]!;
  const prefix = Number(m[2]);
  const family = isIP(address);
  if (family === 4) {
    if (prefix > 32) return undefined;
    const n = ipv4ToInt(address);
    const size = 2 ** (32 - prefix);
    const net = n - (n % size);
    const canonical = `${intToIpv4(net)}/${prefix}`;
    return { text: canonical, address: intToIpv4(net), prefix, family: 4 };
  }
  if (family === 6) {
    if (prefix > 128) return undefined;
    return { text: `${address.toLowerCase()}/${prefix}`, address: address.toLowerCase(), prefix, family: 6 };
  }
  return undefined;
}

export type Env = Readonly<Record<string, string | undefined>>;

function raw(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

export function readString(env: Env, name: string, opts: { required: true; pattern?: RegExp; expect?: string }): string;
export function readString(env: Env, name: string, opts?: { required?: false; pattern?: RegExp; expect?: string; default?: string }): string | undefined;
export function readString(
  env: Env,
  name: string,
  opts: { required?: boolean; pattern?: RegExp; expect?: string; default?: string } = {},
): string | undefined {
  const v = raw(env, name);
  if (v === undefined) {
    if (opts.required) throw new ConfigError(name, `is required but not set${opts.expect ? ` (expected ${opts.expect})` : ''}`);
    return opts.default;
  }
  if (opts.pattern && !opts.pattern.test(v)) throw new ConfigError(name, `${JSON.stringify(v)} is not valid: expected ${opts.expect ?? opts.pattern.source}`);
  return v;
}

export function readBool(env: Env, name: string, def: boolean): boolean {
  const v = raw(env, name);
  if (v === undefined) return def;
  if (/^(1|t|true|yes|on)$/i.test(v)) return true;
  if (/^(0|f|false|no|off)$/i.test(v)) return false;
  throw new ConfigError(name, `${JSON.stringify(v)} is not valid: expected true or false`);
}

export function readInt(env: Env, name: string, def: number, range: { min: number; max: number; unit?: string }): number {
  const v = raw(env, name);
  if (v === undefined) return def;
  if (!/^-?\d+$/.test(v)) throw new ConfigError(name, `${JSON.stringify(v)} is not valid: expected a whole number${range.unit ? ` of ${range.unit}` : ''} from ${range.min} to ${range.max}`);
  const n = Number(v);
  if (n < range.min || n > range.max) throw new ConfigError(name, `${n} is out of range: expected ${range.min} to ${range.max}${range.unit ? ` ${range.unit}` : ''}`);
  return n;
}

/** Seconds as a decimal (e.g. `1.5`), returned in milliseconds. */
export function readSecondsMs(env: Env, name: string, defMs: number, range: { min: number; max: number }): number {
  const v = raw(env, name);
  if (v === undefined) return defMs;
  if (!/^\d+(\.\d+)?$/.test(v)) throw new ConfigError(name, `${JSON.stringify(v)} is not valid: expected seconds (e.g. 2 or 0.5) from ${range.min} to ${range.max}`);
  const n = Number(v);
  if (n < range.min || n > range.max) throw new ConfigError(name, `${n} is out of range: expected ${range.min} to ${range.max} seconds`);
  return Math.round(n * 1000);
}

export function readPort(env: Env, name: string, def: number): number {
  return readInt(env, name, def, { min: 1, max: 65535, unit: 'port' });
}

export function readCidrList(env: Env, name: string, opts: { required: boolean }): Cidr[] {
  const v = raw(env, name);
  if (v === undefined) {
    if (opts.required) throw new ConfigError(name, 'is required but not set (expected a comma-separated list of CIDRs, e.g. 10.42.0.0/16)');
    return [];
  }
  const out: Cidr[] = [];
  for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const c = parseCidr(part);
    if (!c) throw new ConfigError(name, `${JSON.stringify(part)} is not a CIDR: expected a comma-separated list like 10.42.0.0/16,10.43.0.0/16`);
    out.push(c);
  }
  if (opts.required && out.length === 0) throw new ConfigError(name, 'is empty: expected at least one CIDR');
  return out;
}

export function readEnum<T extends string>(env: Env, name: string, def: T, allowed: readonly T[], aliases: Readonly<Record<string, T>> = {}): T {
  const v = raw(env, name)?.toLowerCase();
  if (v === undefined) return def;
  if ((allowed as readonly string[]).includes(v)) return v as T;
  const alias = aliases[v];
  if (alias) return alias;
  throw new ConfigError(name, `${JSON.stringify(v)} is not valid: expected one of ${[...allowed, ...Object.keys(aliases)].join(', ')}`);
}

export function isValidIPv4(s: string): boolean {
  return isIPv4(s);
}

/** Runs several readers and collects every ConfigError, so the operator sees all bad variables at once. */
export class ErrorCollector {
  readonly errors: ConfigError[] = [];
  take<T>(fn: () => T, fallback: T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ConfigError) {
        this.errors.push(err);
        return fallback;
      }
      throw err;
    }
  }
  throwIfAny(): void {
    if (this.errors.length === 1) throw this.errors[0]!;
    if (this.errors.length > 1) throw new ConfigErrors(this.errors);
  }
}

export class ConfigErrors extends HawserError {
  constructor(readonly errors: ConfigError[]) {
    super('CONFIG', errors.map((e) => e.message).join('; '));
    this.name = 'ConfigErrors';
  }
}
