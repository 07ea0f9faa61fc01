// The metrics endpoint of each role: GET /metrics (every registry merged) and GET /healthz.
import type { IncomingMessage, ServerResponse } from 'node:http';
// Not an ESM import of node:http: that loads Node's bundled undici (+14 MiB RSS per role process).
const { createServer } = process.getBuiltinModule('node:http');
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { HawserError, errorMessage } from '../util/errors.js';

export interface MetricsServerOptions {
  /** 0 picks a free port (tests). */
  port: number;
  /** Default: every address (the pods use host networking, so Prometheus scrapes the node IP). */
  host?: string;
  registries: readonly Registry[];
  /** /healthz answers 503 with the reason while this returns a string; 200 "ok" when it returns undefined. */
  unhealthy?: () => string | undefined | Promise<string | undefined>;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

interface Family {
  header: string[];
  type: string;
  samples: Map<string, string>;
}

/**
 * One exposition text for several registries. A metric family present in more than one registry
 * (process metrics, the shared reconcile-error counter) is emitted once: its samples are joined and a
 * sample already present (same name and labels) keeps the first registry's value.
 */
export async function renderRegistries(registries: readonly Registry[]): Promise<string> {
  const families = new Map<string, Family>();
  for (const registry of registries) {
    for (const metric of registry.getMetricsAsArray()) {
      const name = metric.name;
      const text = await registry.getSingleMetricAsString(name);
      const header: string[] = [];
      const samples: string[] = [];
      for (const line of text.split('\n')) {
        if (line === '') continue;
        (line.startsWith('#') ? header : samples).push(line);
      }
      const type = header.find((l) => l.startsWith('# TYPE'))?.split(' ')[3] ?? 'untyped';
      let family = families.get(name);
      if (!family) {
        family = { header, type, samples: new Map() };
        families.set(name, family);
      } else if (family.type !== type) {
        continue; // same name, other type: not mergeable; the first registry's family stands
      }
      for (const s of samples) {
        const key = s.slice(0, s.lastIndexOf(' '));
        if (!family.samples.has(key)) family.samples.set(key, s);
      }
    }
  }
  const out: string[] = [];
  for (const f of families.values()) out.push(...f.header, ...f.samples.values());
  return out.length ? out.join('\n') + '\n' : '';
}

export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const contentType = opts.registries[0]?.contentType ?? Registry.PROMETHEUS_CONTENT_TYPE;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/metrics') {
      const body = await renderRegistries(opts.registries);
      res.writeHead(200, { 'content-type': contentType }).end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      const reason = opts.unhealthy ? await opts.unhealthy() : undefined;
      if (reason === undefined) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      else res.writeHead(503, { 'content-type': 'text/plain' }).end(`${reason}\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`error: ${errorMessage(err)}\n`);
    });
  });
  // Scrapes are short; idle keep-alive sockets must not hold close() up.
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const where = `${opts.host ?? '*'}:${opts.port}`;
      if (err.code === 'EADDRINUSE') {
        reject(new HawserError('EXISTS', `metrics port ${where} is already in use: set SUBMARINER_METRICSPORT to a free port (gateway 32780, globalnet 32781 by default)`, { cause: err }));
      } else {
        reject(new HawserError('INVALID', `cannot serve metrics on ${where}: ${err.message}`, { cause: err }));
      }
    };
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });

  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
