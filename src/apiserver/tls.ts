// Serving certificates: a self-signed CA and a server certificate signed by it, made with the
// openssl CLI into a directory and reused from there while they still fit (same CA, names
// covered, not about to expire).
import { X509Certificate, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync, chmodSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { HawserError } from '../util/errors.js';
import { exec } from '../util/exec.js';

export interface TlsMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
}

const CA_CERT = 'ca.crt';
const CA_KEY = 'ca.key';
const SERVER_CERT = 'server.crt';
const SERVER_KEY = 'server.key';
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;

/**
 * The SAN list for these host names/addresses, always with 127.0.0.1 and localhost; a wildcard
 * listen address (0.0.0.0, ::) stands for every address of this host's interfaces.
 */
export function subjectAltNames(hosts: readonly string[]): string[] {
  const all = new Set(['127.0.0.1', 'localhost']);
  for (const h of hosts) {
    if (h === '0.0.0.0' || h === '::' || h === '') {
      for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) if (!a.address.startsWith('fe80')) all.add(a.address);
    } else all.add(h);
  }
  return [...all].map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`));
}

function coveredNames(cert: X509Certificate): Set<string> {
  const out = new Set<string>();
  for (const part of (cert.subjectAltName ?? '').split(',')) {
    const p = part.trim();
    if (p.startsWith('DNS:')) out.add(`DNS:${p.slice(4)}`);
    else if (p.startsWith('IP Address:')) out.add(`IP:${p.slice(11)}`);
  }
  return out;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await exec('openssl', args, { timeoutMs: 30_000 });
  } catch (err) {
    throw new HawserError('EXEC', `generating TLS certificates needs the openssl CLI (Debian package "openssl"): ${(err as Error).message}`, { cause: err });
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Reads the CA and server certificate from `dir`, creating or renewing what is missing or unfit. */
export async function ensureTls(dir: string, hosts: readonly string[]): Promise<TlsMaterial> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const p = (f: string): string => join(dir, f);
  if (!existsSync(p(CA_CERT)) || !existsSync(p(CA_KEY))) {
    await openssl([
      'req', '-x509', ...EC_KEY, '-keyout', p(CA_KEY), '-out', p(CA_CERT), '-days', '3650', '-subj', '/CN=hawser-apiserver-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    chmodSync(p(CA_KEY), 0o600);
    rmSync(p(SERVER_CERT), { force: true });
  }
  const caPem = readFileSync(p(CA_CERT), 'utf8');
  const ca = new X509Certificate(caPem);
  const sans = subjectAltNames(hosts);
  if (!serverCertFits(p(SERVER_CERT), p(SERVER_KEY), ca, sans)) {
    const csr = p('server.csr');
    const ext = p('server.ext');
    writeFileSync(ext, [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${sans.join(',')}`,
      '',
    ].join('\n'));
    await openssl(['req', ...EC_KEY, '-keyout', p(SERVER_KEY), '-out', csr, '-subj', '/CN=hawser-apiserver']);
    await openssl([
      'x509', '-req', '-in', csr, '-CA', p(CA_CERT), '-CAkey', p(CA_KEY), '-set_serial', `0x${randomBytes(12).toString('hex')}`,
      '-out', p(SERVER_CERT), '-days', '825', '-extfile', ext,
    ]);
    chmodSync(p(SERVER_KEY), 0o600);
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
  return { caPem, certPem: readFileSync(p(SERVER_CERT), 'utf8'), keyPem: readFileSync(p(SERVER_KEY), 'utf8') };
}

function serverCertFits(certPath: string, keyPath: string, ca: X509Certificate, sans: string[]): boolean {
  if (!existsSync(certPath) || !existsSync(keyPath)) return false;
  try {
    const cert = new X509Certificate(readFileSync(certPath));
    if (!cert.verify(ca.publicKey)) return false;
    if (Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_MS) return false;
    const have = coveredNames(cert);
    return sans.every((s) => have.has(s));
  } catch {
    return false;
  }
}
