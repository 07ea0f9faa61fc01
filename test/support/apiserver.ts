// The embedded-API-server helper for every test: a server on an ephemeral loopback port with known tokens, a
// kubeconfig for it, raw HTTP requests, and kubectl runs with a private HOME.
import * as k8s from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quietLog } from './fixtures.js';
import { startApiServer, writeKubeconfig, type ApiServerOptions, type RunningApiServer } from '../../src/apiserver/index.js';

export const ADMIN_TOKEN = 'admin-token-0123456789';
export const ALICE_TOKEN = 'alice-token-0123456789';
export const CRD_DIR = new URL('../../deploy/crds', import.meta.url).pathname;

export interface TestServer {
  srv: RunningApiServer;
  dir: string;
  kubeconfig: string;
  kc: k8s.KubeConfig;
  close(): Promise<void>;
}

export { quietLog };

export async function startTestServer(opts: Partial<ApiServerOptions> = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-apiserver-test-'));
  const srv = await startApiServer({
    port: 0,
    tlsDir: opts.plainHttp ? undefined : join(dir, 'tls'),
    tokens: [
      { token: ADMIN_TOKEN, user: 'admin', groups: ['system:masters'] },
      { token: ALICE_TOKEN, user: 'alice', uid: 'alice-uid', groups: ['developers'] },
    ],
    crdDir: CRD_DIR,
    log: quietLog,
    ...opts,
  });
  const kubeconfig = join(dir, 'kubeconfig');
  writeKubeconfig(kubeconfig, { server: srv.url, token: ADMIN_TOKEN, caPem: srv.caPem, namespace: 'default' });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  return {
    srv,
    dir,
    kubeconfig,
    kc,
    async close() {
      await srv.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): Record<string, unknown>;
}

/** One HTTP request to the server (token optional), for what client libraries would hide. */
export function raw(srv: RunningApiServer, method: string, path: string, opts: { token?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const url = new URL(path, srv.url);
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined && !headers['Content-Type']) headers['Content-Type'] = 'application/json';
  // node sends DELETE bodies without framing unless told the length
  if (opts.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(opts.body));
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method, headers, ca: srv.caPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs /usr/bin/kubectl against the test server with a private HOME (no shared discovery cache). */
export function kubectl(ts: TestServer, args: string[], opts: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(ts.dir, 'home'), KUBECONFIG: ts.kubeconfig, ...(opts.env ?? {}) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** kubectl that must succeed; its stderr is in the failure message. */
export async function kubectlOk(ts: TestServer, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<string> {
  const r = await kubectl(ts, args, opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}
