// What the gateway role watches once it stands by: the Endpoints of its namespace (remote ones arrive there,
// copied from the broker by whichever gateway is active) and the other nodes' Gateways (staleness, hand-over).
// Both are typed informers: objects are parsed once per version at the edge, a bad one is counted and logged
// once there.
import type { Logger } from '../log/index.js';
import { typedInformer, type Informer } from '../k8s/informer.js';
import { gatewayInformer } from '../k8s/informers.js';
import { isStaleGateway, type Gateway } from '../k8s/submariner/gateway.js';
import { SUBMARINER_GROUP, SUBMARINER_VERSION } from '../k8s/submariner/common.js';
import { resourcePath, type RestClient } from '../k8s/rest.js';
import type { EndpointObject } from '../cable-drivers/engine.js';
import { endpointObject } from './endpoint-object.js';

export class GatewayWatches {
  private readonly endpoints: Informer<EndpointObject>;
  private readonly gateways: Informer<Gateway>;
  /** Resolves after the Endpoints' first list: never plan cables from an empty cache (it would drop adopted ones). */
  readonly endpointsSynced: Promise<void>;
  private readonly nodeName: string;

  constructor(o: { client: RestClient; namespace: string; nodeName: string; log: Logger; onEndpointsChanged: () => void }) {
    this.nodeName = o.nodeName;
    this.endpoints = typedInformer({ client: o.client, path: resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'endpoints', o.namespace), log: o.log, parse: endpointObject });
    this.endpoints.on('change', o.onEndpointsChanged);
    // Our own Gateway, rewritten every 5 s, is not sent back to us.
    this.gateways = gatewayInformer({ client: o.client, namespace: o.namespace, log: o.log, fieldSelector: `metadata.name!=${o.nodeName}` });
    this.endpointsSynced = this.endpoints.start();
    this.endpointsSynced.catch((err: unknown) => o.log.debug({ err }, 'Endpoint informer stopped before its first list'));
    this.gateways.start().catch((err: unknown) => o.log.debug({ err }, 'Gateway informer stopped before its first list'));
  }

  remoteEndpoints(): EndpointObject[] {
    return this.endpoints.list();
  }

  /** Other nodes' Gateways. */
  otherGateways(): Gateway[] {
    return this.gateways.list();
  }

  /** Another gateway node reported its status within the last 15 s (it can take over). */
  standbyAlive(nowSeconds = Date.now() / 1000): boolean {
    return this.gateways.list().some((g) => g.meta.name !== this.nodeName && !isStaleGateway(g, nowSeconds));
  }

  async stop(): Promise<void> {
    await this.endpoints.stop();
    await this.gateways.stop();
  }
}
