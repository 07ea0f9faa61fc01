// core/v1 Node as hawser reads it: the addresses, and the labels/annotations Submariner puts on gateway nodes.
import { isIPv4 } from 'node:net';
import { asRecord, isRecord, str } from '../util/json.js';
import { NODE_GLOBAL_IP_ANNOTATION } from './submariner/globalnet.js';
import { objectRef, wireMeta, type Parsed, type WireMeta } from './submariner/common.js';

export { NODE_GLOBAL_IP_ANNOTATION };
/** Label that makes a node a gateway candidate. */
export const GATEWAY_NODE_LABEL = 'submariner.io/gateway';
/** Prefix of node labels/annotations that override a gateway's backend_config keys (`gateway.submariner.io/udp-port`, …). */
export const GATEWAY_CONFIG_PREFIX = 'gateway.submariner.io/';
/** Node label or annotation with the public-IP resolver chain (`ipv4:…`, `dns:…`, `api:…`, `lb:…`). */
export const PUBLIC_IP_ANNOTATION = `${GATEWAY_CONFIG_PREFIX}public-ip`;

/** Anything with node metadata and status (a KubeObject, or a raw object from a list). */
export interface NodeLike {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  status?: unknown;
}

/** The node's first IPv4 `InternalIP` address. */
export function nodeInternalIP(node: NodeLike): string | undefined {
  const addrs = asRecord(node.status).addresses;
  if (!Array.isArray(addrs)) return undefined;
  for (const a of addrs) {
    if (!isRecord(a) || a.type !== 'InternalIP') continue;
    const ip = str(a, 'address');
    if (ip && isIPv4(ip)) return ip;
  }
  return undefined;
}

/** The node's Globalnet global IP (annotation `submariner.io/globalIp`), if it is a valid IPv4 address. */
export function nodeGlobalIP(node: NodeLike): string | undefined {
  const v = node.metadata.annotations?.[NODE_GLOBAL_IP_ANNOTATION];
  return typeof v === 'string' && isIPv4(v) ? v : undefined;
}

/** Whether the node carries `submariner.io/gateway=true`. */
export function isGatewayNode(node: NodeLike): boolean {
  return node.metadata.labels?.[GATEWAY_NODE_LABEL] === 'true';
}

/** A gateway config override for `key`: the annotation wins over the label (as the gateway merges them). */
export function gatewayNodeSetting(node: NodeLike, key: string): string | undefined {
  return node.metadata.annotations?.[GATEWAY_CONFIG_PREFIX + key] ?? node.metadata.labels?.[GATEWAY_CONFIG_PREFIX + key];
}

/** A Node as the roles use it. */
export interface Node {
  meta: WireMeta;
  /** First IPv4 InternalIP; undefined when the node has none. */
  internalIP?: string;
  /** Globalnet's `submariner.io/globalIp`, when valid. */
  globalIP?: string;
  isGateway: boolean;
  /** `spec.unschedulable`: the node is cordoned. */
  unschedulable: boolean;
}

/**
 * The node's labels and annotations in one map, annotations winning: Submariner reads `gateway.submariner.io/*`
 * from both (an `ipv4:1.2.3.4` resolver chain is no valid label value).
 */
export function nodeLabelsAndAnnotations(n: Pick<Node, 'meta'>): Record<string, string> {
  return { ...n.meta.labels, ...n.meta.annotations };
}

export function parseNode(raw: unknown): Parsed<Node> {
  const meta = wireMeta(raw);
  if (!meta) return { ok: false, error: `${objectRef('Node', raw)}: metadata.name is missing` };
  const like: NodeLike = { metadata: { name: meta.name, labels: meta.labels, annotations: meta.annotations }, status: isRecord(raw) ? raw.status : undefined };
  const internalIP = nodeInternalIP(like);
  const globalIP = nodeGlobalIP(like);
  const unschedulable = isRecord(raw) && isRecord(raw.spec) && raw.spec.unschedulable === true;
  return { ok: true, value: { meta, ...(internalIP ? { internalIP } : {}), ...(globalIP ? { globalIP } : {}), isGateway: isGatewayNode(like), unschedulable } };
}
