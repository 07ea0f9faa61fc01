// Test fixtures shared by every folder: loggers (silent, or capturing JSON lines), builders for the
// submariner.io objects (Endpoint, Cluster, Gateway) in their wire shape and as typed values, and the
// KubeConfig / watch-stop helpers for tests against the embedded API server.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { createLogger, type Logger } from '../../src/log/index.js';
import type { KubeObject } from '../../src/k8s/rest.js';
import { CLUSTER_ID_LABEL, SUBMARINER_API_VERSION } from '../../src/k8s/submariner/common.js';
import { cableName, endpointObjectName, endpointSpecToWire, parseEndpointSpec, type EndpointSpec } from '../../src/k8s/submariner/endpoint.js';
import { clusterSpecToWire, type ClusterSpec } from '../../src/k8s/submariner/cluster.js';
import { gatewayToWire, type GatewayStatus } from '../../src/k8s/submariner/gateway.js';

/** Silent unless HAWSER_TEST_LOG names a level. */
export const quietLog: Logger = createLogger({ level: process.env.HAWSER_TEST_LOG ?? 'silent', component: 'test' });

export interface LogSink {
  log: Logger;
  /** Every line written so far, parsed. */
  lines(): Array<Record<string, unknown>>;
  /** Lines whose `msg` matches. */
  matching(msg: string | RegExp): Array<Record<string, unknown>>;
}

/** A logger at `level` (default debug) whose JSON lines the test can read back. */
export function logSink(level = 'debug'): LogSink {
  let buf = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString();
      cb();
    },
  });
  const log = createLogger({ level, destination: stream });
  const lines = (): Array<Record<string, unknown>> => buf.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { log, lines, matching: (m) => lines().filter((l) => (typeof m === 'string' ? l.msg === m : m.test(String(l.msg)))) };
}

export interface EndpointFixture {
  cluster: string;
  privateIP: string;
  publicIP?: string;
  hostname?: string;
  subnets?: string[];
  backend?: string;
  nat?: boolean;
  healthCheckIP?: string;
  backendConfig?: Record<string, string>;
}

/** The wire spec of an Endpoint (snake_case, as Submariner writes it). */
export function endpointWireSpec(o: EndpointFixture): Record<string, unknown> {
  return {
    cluster_id: o.cluster,
    cable_name: cableName(o.cluster, o.privateIP),
    hostname: o.hostname ?? `gw-${o.cluster}`,
    subnets: o.subnets ?? ['10.0.0.0/16'],
    private_ip: o.privateIP,
    public_ip: o.publicIP ?? '',
    nat_enabled: o.nat ?? false,
    backend: o.backend ?? 'vxlan',
    ...(o.healthCheckIP ? { healthCheckIP: o.healthCheckIP } : {}),
    ...(o.backendConfig ? { backend_config: { ...o.backendConfig } } : {}),
  };
}

/** A typed EndpointSpec, built through the real parser (so fixtures can never drift from it). */
export function endpointSpec(o: EndpointFixture): EndpointSpec {
  const r = parseEndpointSpec(endpointWireSpec(o));
  if (!r.ok) throw new Error(`bad endpoint fixture: ${r.error}`);
  return r.value;
}

/**
 * An EndpointSpec as NAT discovery sees it: it advertises `natt-discovery-port` (4490 unless `nattPort` is
 * null, which leaves it out) and, with `loadBalancer`, `using-loadbalancer`.
 */
export function natEndpointSpec(o: EndpointFixture & { nattPort?: number | null; loadBalancer?: boolean }): EndpointSpec {
  const backendConfig: Record<string, string> = { ...o.backendConfig };
  if (o.nattPort !== null) backendConfig['natt-discovery-port'] = String(o.nattPort ?? 4490);
  if (o.loadBalancer) backendConfig['using-loadbalancer'] = 'true';
  return endpointSpec({ ...o, backendConfig });
}

/** An Endpoint object; `remote` adds the cluster label broker copies carry. */
export function endpointObject(o: EndpointFixture & { namespace?: string; resourceVersion?: string; remote?: boolean }): KubeObject {
  const spec = endpointWireSpec(o);
  return {
    apiVersion: SUBMARINER_API_VERSION,
    kind: 'Endpoint',
    metadata: {
      name: endpointObjectName(o.cluster, String(spec.cable_name)),
      namespace: o.namespace ?? 'submariner-operator',
      ...(o.resourceVersion ? { resourceVersion: o.resourceVersion } : {}),
      ...(o.remote ? { labels: { [CLUSTER_ID_LABEL]: o.cluster } } : {}),
    },
    spec,
  };
}

export function clusterObject(c: Partial<ClusterSpec> & { clusterId: string; namespace?: string; remote?: boolean }): KubeObject {
  return {
    apiVersion: SUBMARINER_API_VERSION,
    kind: 'Cluster',
    metadata: { name: c.clusterId, namespace: c.namespace ?? 'submariner-operator', ...(c.remote ? { labels: { [CLUSTER_ID_LABEL]: c.clusterId } } : {}) },
    spec: clusterSpecToWire({ clusterId: c.clusterId, colorCodes: c.colorCodes ?? ['blue'], serviceCidrs: c.serviceCidrs ?? [], clusterCidrs: c.clusterCidrs ?? [], globalCidrs: c.globalCidrs ?? [] }),
  };
}

export function gatewayObject(g: { name: string; namespace?: string; nowSeconds?: number; status?: Partial<GatewayStatus> }): KubeObject {
  const status: GatewayStatus = { haStatus: 'active', statusFailure: '', version: 'test', connections: [], ...g.status };
  return gatewayToWire({ name: g.name, namespace: g.namespace ?? 'submariner-operator', nowSeconds: g.nowSeconds ?? Date.now() / 1000, status });
}

export { endpointSpecToWire };

/** A KubeConfig loaded from a file (such as the embedded API server's `TestServer.kubeconfig`). */
export function kubeConfigFromFile(path: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/**
 * Runs `fn` (a stop), ignoring only the uncaught AbortError that aborting a live watch raises:
 * RestClient's watch leaves its readline Interface without an 'error' listener (src/k8s/rest.ts; drop this
 * once it has one). Any other uncaught error fails the test.
 */
export async function ignoringWatchAbort(fn: () => Promise<void>): Promise<void> {
  const saved = process.listeners('uncaughtException');
  const other: unknown[] = [];
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', (err) => {
    if (!(err instanceof Error && err.name === 'AbortError')) other.push(err);
  });
  try {
    await fn();
    // the watch's AbortError is raised after the stop resolves: give it a moment to surface here
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    process.removeAllListeners('uncaughtException');
    for (const l of saved) process.on('uncaughtException', l);
  }
  assert.deepEqual(other, []);
}
