// Typed informers for the kinds the roles watch: the consumer gets parsed values (`list()`, `get()`, `delta`),
// never raw JSON, and objects that do not parse are counted and logged once per version by the informer.
import type { Logger } from '../log/index.js';
import { Informer, typedInformer, type InformerTransport } from './informer.js';
import { parseNode, type Node } from './node.js';
import { resourcePath } from './rest.js';
import { SUBMARINER_GROUP, SUBMARINER_VERSION } from './submariner/common.js';
import { parseCluster, type Cluster } from './submariner/cluster.js';
import { parseEndpoint, type Endpoint } from './submariner/endpoint.js';
import { parseGateway, type Gateway } from './submariner/gateway.js';
import { parseRouteAgent, type RouteAgent } from './submariner/routeagent.js';

export interface WatchOptions {
  client: InformerTransport;
  log: Logger;
  labelSelector?: string;
  fieldSelector?: string;
}

const sub = (plural: string, namespace: string): string => resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, plural, namespace);

export function endpointInformer(o: WatchOptions & { namespace: string }): Informer<Endpoint> {
  return typedInformer({ ...o, path: sub('endpoints', o.namespace), parse: parseEndpoint });
}

export function clusterInformer(o: WatchOptions & { namespace: string }): Informer<Cluster> {
  return typedInformer({ ...o, path: sub('clusters', o.namespace), parse: parseCluster });
}

export function gatewayInformer(o: WatchOptions & { namespace: string }): Informer<Gateway> {
  return typedInformer({ ...o, path: sub('gateways', o.namespace), parse: parseGateway });
}

export function routeAgentInformer(o: WatchOptions & { namespace: string }): Informer<RouteAgent> {
  return typedInformer({ ...o, path: sub('routeagents', o.namespace), parse: parseRouteAgent });
}

export function nodeInformer(o: WatchOptions): Informer<Node> {
  return typedInformer({ ...o, path: resourcePath('', 'v1', 'nodes'), parse: parseNode });
}
