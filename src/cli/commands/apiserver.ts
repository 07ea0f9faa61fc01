// `hawser apiserver`: the embedded Kubernetes API server, until SIGTERM/SIGINT.
import { isIP } from 'node:net';
import { ConfigError } from '../../config/parse.js';
import { startApiServer, type ApiServerOptions } from '../../apiserver/index.js';
import { initLogger, levelFromEnv } from '../../log/index.js';
import { isHawserError } from '../../util/errors.js';
import { UsageError } from '../usage.js';

export const USAGE = 'usage: hawser apiserver --listen HOST:PORT [--plain-http] [--tls-dir DIR] [--tls-san NAME]... [--token-file FILE] [--data-dir DIR] [--crds DIR]';

export interface ApiServerFlags {
  host: string;
  port: number;
  plainHttp: boolean;
  tlsDir?: string;
  /** Extra certificate names/addresses (repeatable --tls-san). */
  tlsSans?: string[];
  tokenFile?: string;
  dataDir?: string;
  crdDir?: string;
}

/** Parses the flags; every problem is a UsageError or ConfigError naming the flag (exit 2). */
export function parseFlags(argv: readonly string[]): ApiServerFlags {
  const flags: Partial<ApiServerFlags> & { plainHttp: boolean } = { plainHttp: false };
  const valueFlags: Record<string, keyof ApiServerFlags> = {
    '--tls-dir': 'tlsDir',
    '--token-file': 'tokenFile',
    '--data-dir': 'dataDir',
    '--crds': 'crdDir',
  };
  let listen: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.indexOf('=');
    const name = raw.startsWith('--') && eq > 0 ? raw.slice(0, eq) : raw;
    const inline = raw.startsWith('--') && eq > 0 ? raw.slice(eq + 1) : undefined;
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '' || (inline === undefined && v.startsWith('--'))) throw new UsageError(`${name} needs a value`);
      return v;
    };
    if (name === '--listen') listen = value();
    else if (name === '--plain-http') flags.plainHttp = true;
    else if (name === '--tls-san') (flags.tlsSans ??= []).push(value());
    else if (valueFlags[name]) (flags as Record<string, unknown>)[valueFlags[name]!] = value();
    else throw new UsageError(`unknown flag ${name}`);
  }
  if (!listen) throw new UsageError('--listen HOST:PORT is required');
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
  const host = m ? (m[1] ?? m[2] ?? '') : '';
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError('--listen', `"${listen}" is not HOST:PORT (e.g. 127.0.0.1:6443)`);
  if (host !== '' && host !== 'localhost' && !isIP(host)) throw new ConfigError('--listen', `"${host}" is not an IP address (or localhost)`);
  if (flags.plainHttp && flags.tlsDir) throw new ConfigError('--tls-dir', 'makes no sense with --plain-http');
  if (flags.plainHttp && flags.tlsSans) throw new ConfigError('--tls-san', 'makes no sense with --plain-http');
  return { ...flags, host: host === '' ? '0.0.0.0' : host, port } as ApiServerFlags;
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const flags = parseFlags(argv);
  const log = initLogger({ component: 'apiserver', level: levelFromEnv(process.env) });
  const opts: ApiServerOptions = {
    host: flags.host,
    port: flags.port,
    plainHttp: flags.plainHttp,
    tlsDir: flags.tlsDir,
    tlsSans: flags.tlsSans,
    tokenFile: flags.tokenFile,
    dataDir: flags.dataDir,
    crdDir: flags.crdDir,
    log,
  };
  let server: Awaited<ReturnType<typeof startApiServer>>;
  try {
    server = await startApiServer(opts);
  } catch (err) {
    // a bad token file, CRD directory or listen address is a configuration error: one line, exit 2
    if (isHawserError(err, 'CONFIG')) {
      process.stderr.write(`hawser apiserver: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  log.info({ url: server.url, dataDir: flags.dataDir, tlsDir: flags.tlsDir }, `apiserver serving at ${server.url}`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  log.info('apiserver stopping');
  await server.close();
  return 0;
}
