// Bearer-token authentication: static tokens (from options or a YAML token file) and the tokens
// of ServiceAccount token Secrets, which the server fills in itself.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { HawserError } from '../util/errors.js';
import type { UserInfo } from './rbac.js';
import { isObject } from './types.js';

export interface TokenEntry {
  token: string;
  user: string;
  uid?: string;
  groups?: string[];
}

/** Reads `tokens: [{token, user, uid?, groups?}]`; every problem names the entry and what to fix. */
export function parseTokenFile(text: string, source = 'token file'): TokenEntry[] {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new HawserError('CONFIG', `${source}: not valid YAML: ${(err as Error).message}`);
  }
  if (!isObject(doc) || !Array.isArray(doc.tokens)) throw new HawserError('CONFIG', `${source}: expected a top-level "tokens:" list of {token, user, uid?, groups?}`);
  return doc.tokens.map((t, i) => validateTokenEntry(t, `${source}: tokens[${i}]`));
}

export function validateTokenEntry(t: unknown, where: string): TokenEntry {
  if (!isObject(t)) throw new HawserError('CONFIG', `${where}: expected an object with token and user`);
  if (typeof t.token !== 'string' || t.token.length < 6) throw new HawserError('CONFIG', `${where}: "token" must be a string of at least 6 characters`);
  if (typeof t.user !== 'string' || t.user === '') throw new HawserError('CONFIG', `${where}: "user" must be a non-empty string`);
  if (t.uid !== undefined && typeof t.uid !== 'string') throw new HawserError('CONFIG', `${where}: "uid" must be a string`);
  if (t.groups !== undefined && (!Array.isArray(t.groups) || t.groups.some((g) => typeof g !== 'string'))) {
    throw new HawserError('CONFIG', `${where}: "groups" must be a list of strings`);
  }
  return { token: t.token, user: t.user, uid: t.uid, groups: t.groups as string[] | undefined };
}

export function readTokenFile(path: string): TokenEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new HawserError('CONFIG', `cannot read token file ${path}: ${(err as Error).message}`);
  }
  return parseTokenFile(text, path);
}

/** The groups Kubernetes gives an authenticated user, service accounts included. */
export function userInfo(name: string, groups: readonly string[] = [], uid?: string): UserInfo {
  const all = new Set(groups);
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(name);
  if (sa) {
    all.add('system:serviceaccounts');
    all.add(`system:serviceaccounts:${sa[1]}`);
  }
  all.add('system:authenticated');
  return { name, uid, groups: [...all] };
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface ServiceAccountRef {
  namespace: string;
  name: string;
  uid?: string;
}

export interface AuthenticatorOptions {
  /** Signs TokenRequest tokens (keep it across restarts and issued tokens stay valid). */
  signingKey?: Buffer;
  /** The uid of a live ServiceAccount, undefined when it does not exist. */
  serviceAccountUid?(namespace: string, name: string): string | undefined;
  /** The token a ServiceAccount token Secret holds now (decoded), undefined when it is gone. */
  secretToken?(namespace: string, secretName: string): string | undefined;
}

const ISSUED_PREFIX = 'hwsa.';
/** Tokens of ServiceAccount token Secrets: signed by the server, bound to the ServiceAccount's uid and the Secret. */
const SECRET_PREFIX = 'hwst.';

export interface SecretTokenClaims {
  namespace: string;
  serviceAccount: string;
  uid: string;
  secret: string;
}

export class Authenticator {
  private readonly signingKey: Buffer;

  constructor(
    private readonly tokens: readonly TokenEntry[],
    private readonly opts: AuthenticatorOptions = {},
  ) {
    this.signingKey = opts.signingKey ?? randomBytes(32);
  }

  /**
   * The token of a ServiceAccount token Secret, made by the server (a client cannot choose it): it
   * names the Secret and the ServiceAccount's uid, and stops working when either is gone.
   */
  issueSecretToken(c: SecretTokenClaims): string {
    const nonce = randomBytes(16).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ ns: c.namespace, sa: c.serviceAccount, uid: c.uid, secret: c.secret, n: nonce })).toString('base64url');
    return `${SECRET_PREFIX}${payload}.${this.sign(payload)}`;
  }

  /** The claims of a Secret token this server signed, or undefined. */
  secretTokenClaims(token: string): SecretTokenClaims | undefined {
    if (!token.startsWith(SECRET_PREFIX)) return undefined;
    const [payload, sig, extra] = token.slice(SECRET_PREFIX.length).split('.');
    if (!payload || !sig || extra !== undefined || !sameToken(sig, this.sign(payload))) return undefined;
    let c: unknown;
    try {
      c = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    if (!isObject(c) || typeof c.ns !== 'string' || typeof c.sa !== 'string' || typeof c.uid !== 'string' || typeof c.secret !== 'string') return undefined;
    return { namespace: c.ns, serviceAccount: c.sa, uid: c.uid, secret: c.secret };
  }

  private verifySecretToken(token: string): UserInfo | undefined {
    const c = this.secretTokenClaims(token);
    if (!c || c.uid === '') return undefined;
    // the ServiceAccount must still be the one the token was made for, and the Secret must still hold it
    if (this.opts.serviceAccountUid?.(c.namespace, c.serviceAccount) !== c.uid) return undefined;
    const held = this.opts.secretToken?.(c.namespace, c.secret);
    if (held === undefined || !sameToken(held, token)) return undefined;
    return userInfo(`system:serviceaccount:${c.namespace}:${c.serviceAccount}`, [], c.uid);
  }

  /** A TokenRequest token: signed, bound to the ServiceAccount's uid, valid until `expires`. */
  issueToken(sa: ServiceAccountRef, expires: Date): string {
    const payload = Buffer.from(JSON.stringify({ ns: sa.namespace, name: sa.name, uid: sa.uid ?? '', exp: Math.floor(expires.getTime() / 1000) })).toString('base64url');
    return `${ISSUED_PREFIX}${payload}.${this.sign(payload)}`;
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.signingKey).update(payload).digest('base64url');
  }

  private verifyIssued(token: string): UserInfo | undefined {
    const [payload, sig] = token.slice(ISSUED_PREFIX.length).split('.');
    if (!payload || !sig || !sameToken(sig, this.sign(payload))) return undefined;
    let claims: unknown;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    if (!isObject(claims) || typeof claims.ns !== 'string' || typeof claims.name !== 'string' || typeof claims.exp !== 'number') return undefined;
    if (claims.exp * 1000 < Date.now()) return undefined;
    const uid = this.opts.serviceAccountUid?.(claims.ns, claims.name);
    // the token dies with its ServiceAccount (a new one of the same name has another uid)
    if (!uid || typeof claims.uid !== 'string' || claims.uid !== uid) return undefined;
    return userInfo(`system:serviceaccount:${claims.ns}:${claims.name}`, [], uid);
  }

  /** The user a bearer token stands for, or undefined (401). */
  authenticate(authorization: string | undefined): UserInfo | undefined {
    if (!authorization) return undefined;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) return undefined;
    const token = m[1]!;
    for (const t of this.tokens) if (sameToken(t.token, token)) return userInfo(t.user, t.groups ?? [], t.uid);
    if (token.startsWith(SECRET_PREFIX)) return this.verifySecretToken(token);
    if (token.startsWith(ISSUED_PREFIX)) return this.verifyIssued(token);
    return undefined;
  }
}
