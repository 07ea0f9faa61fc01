// The metrics endpoint of each role: GET /metrics (every registry merged), GET /healthz (liveness) and
// GET /readyz (readiness) from the process's health checks (health.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
// Not an ESM import of node:http: that loads Node's bundled undici (+14 MiB RSS per role process).
const { createServer } = process.getBuiltinModule('node:http');
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { HawserError, errorMessage } from '../util/errors.js';
import { defaultHealth, type HealthChecks, type Probe } from './health.js';

export interface MetricsServerOptions {
  /** 0 picks a free port (tests). */
  port: number;
  /** Default: every address (the pods use host networking, so Prometheus scrapes the node IP). */
  host?: string;
  registries: readonly Registry[];
  /** An extra check for both probes: a string is why the process is unhealthy. */
  unhealthy?: () => string | undefined | Promise<string | undefined>;
  /** The checks /healthz and /readyz run; default: the process's registry (defaultHealth()). */
  health?: HealthChecks;
  /** Watch the event loop for stalls while the server runs (default true). */
  watchEventLoop?: boolean;
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
  const health = opts.health ?? defaultHealth();
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
    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      const probe: Probe = path === '/readyz' ? 'ready' : 'live';
      const report = health.run(probe);
      const extra = opts.unhealthy ? await opts.unhealthy() : undefined;
      if (extra !== undefined) report.results.push({ name: 'role', reason: extra });
      const failed = report.results.filter((r) => r.reason !== undefined);
      // kube-apiserver's style: one line per failing check (all checks with ?verbose)
      const verbose = /[?&]verbose\b/.test(req.url ?? '');
      const lines = (verbose ? report.results : failed).map((r) => (r.reason === undefined ? `[+]${r.name} ok` : `[-]${r.name} failed: ${r.reason}`));
      const body = failed.length ? `${lines.join('\n')}\n${probe === 'live' ? 'healthz' : 'readyz'} check failed\n` : `${verbose ? lines.join('\n') + '\n' : ''}ok\n`;
      res.writeHead(failed.length ? 500 : 200, { 'content-type': 'text/plain' }).end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
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
  const stopWatching = opts.watchEventLoop === false ? () => undefined : health.watchEventLoop();
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      stopWatching();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
