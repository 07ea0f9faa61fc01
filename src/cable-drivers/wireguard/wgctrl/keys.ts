// WireGuard keys: 32 bytes, base64 at our API (as `wg` prints them), hex on the UAPI wire.
import { createHash, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { HawserError } from '../../../util/errors.js';

export const KEY_LEN = 32;
/** The all-zero key: "no key" on both wires (clears a preshared or private key when set). */
export const ZERO_KEY = Buffer.alloc(KEY_LEN).toString('base64');

const BASE64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const HEX_KEY = /^[0-9a-f]{64}$/;
// PKCS#8 wrapping of a raw X25519 private key (RFC 8410), so node:crypto can derive its public key.
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** Why `text` is not a WireGuard key, or undefined when it is one (44 base64 characters, 32 bytes). */
export function keyProblem(text: string): string | undefined {
  if (text.length !== 44) return `a WireGuard key is 44 base64 characters (32 bytes), got ${text.length} characters`;
  if (!BASE64_KEY.test(text)) return 'a WireGuard key is 32 bytes of standard base64 ending in "=", this is not';
  return undefined;
}

/** Validates a base64 key; throws HawserError INVALID saying what is wrong. */
export function parseKey(text: string, what = 'key'): string {
  const problem = keyProblem(text);
  if (problem) throw new HawserError('INVALID', `invalid ${what}: ${problem}`);
  return text;
}

export function isZeroKey(key: string): boolean {
  return key === ZERO_KEY;
}

export function keyToHex(key: string): string {
  return Buffer.from(parseKey(key), 'base64').toString('hex');
}

export function keyFromHex(hex: string): string {
  if (!HEX_KEY.test(hex)) throw new HawserError('INVALID', `invalid hex key: expected 64 lower-case hex digits, got ${hex.length} characters`);
  return Buffer.from(hex, 'hex').toString('base64');
}

export function keyToBytes(key: string): Buffer {
  return Buffer.from(parseKey(key), 'base64');
}

export function keyFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== KEY_LEN) throw new HawserError('INVALID', `invalid key: expected ${KEY_LEN} bytes, got ${bytes.length}`);
  return Buffer.from(bytes).toString('base64');
}

/** A new private key, clamped as WireGuard (and `wg genkey`) does. */
export function generatePrivateKey(): string {
  const k = randomBytes(KEY_LEN);
  k[0] &= 248;
  k[31] &= 127;
  k[31] |= 64;
  return k.toString('base64');
}

/** Random 32 bytes (`wg genpsk`). */
export function generatePresharedKey(): string {
  return randomBytes(KEY_LEN).toString('base64');
}

let lastPublic: { digest: string; publicKey: string } | undefined;

export function publicKeyOf(privateKey: string): string {
  // One X25519 multiplication through two KeyObjects: about 0.2 ms of CPU on an idle core. The driver asks for
  // its own public key once per remote on every set() and the UAPI parser on every device read (200 remotes:
  // hundreds per minute). The last answer is kept, under a digest of the private key so no secret is held.
  const digest = createHash('sha256').update(privateKey).digest('base64');
  if (lastPublic?.digest === digest) return lastPublic.publicKey;
  const der = Buffer.concat([X25519_PKCS8_PREFIX, keyToBytes(privateKey)]);
  const spki = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
  const publicKey = spki.subarray(spki.length - KEY_LEN).toString('base64');
  lastPublic = { digest, publicKey };
  return publicKey;
}

/** Submariner's WireGuard preshared key: SHA-256 of the PSK text exactly as configured. */
export function presharedKeyFromText(pskText: string): string {
  return createHash('sha256').update(pskText, 'utf8').digest('base64');
}
