// What the gateway knows about its node: the Node object's addresses and gateway labels, the public IP
// (Submariner's resolver chain), the health-check address, and whether the node is going away (the
// SIGTERM decision between handing over and restarting in place).
import type { Logger } from '../log/index.js';
import type { GatewayConfig } from '../config/roles.js';
import { nodeLabelsAndAnnotations, parseNode, type Node } from '../k8s/node.js';
import { resourcePath, type RestClient } from '../k8s/rest.js';
import type { NodeFacts } from './local-endpoint.js';
import { parseResolverChain } from '../config/public-ip-chain.js';
import {
  assessPublicIP, publicIpChainText, resolvePublicIP, systemResolveIO, usesLoadBalancerChain, type PublicIpResult, type ResolveIO,
} from './public-ip.js';
import type { Failures } from './status-writer.js';
import { errorMessage, HawserError } from '../util/errors.js';
import { Backoff, sleep } from '../util/wait.js';

/** The whole resolver chain gets this long (the gateway then starts with what it has and retries). */
export const PUBLIC_IP_BUDGET_MS = 30_000;

export interface PublicIpOutcome {
  ip: string;
  usingLoadBalancer: boolean;
}

export interface NodeFactsOptions {
  cfg: GatewayConfig;
  client: RestClient;
  log: Logger;
  failures: Failures;
  /** Addresses on this node, for the health-check source (pod-CIDR address). */
  healthCheckIP?: () => Promise<{ ip?: string; unavailable?: string }>;
  /** I/O of the public-IP resolvers; default: HTTP(S), DNS and the Services of SUBMARINER_NAMESPACE. */
  publicIpIO?: ResolveIO;
}

export type StopDecision = { kind: 'hand-over' | 'restart-in-place'; why: string };

/**
 * On SIGTERM: hand the Lease over when the node is going away (cordoned, being deleted, or the operator
 * said so); otherwise this is a restart in place (a rolling upgrade): keep the Lease and the data path.
 * Without the Node (API down) we cannot tell: restart in place keeps traffic flowing, and if we do not
 * come back the Lease expires and a standby takes over anyway.
 */
export function decideStop(node: Node | undefined, releaseOnStop: boolean | undefined): StopDecision {
  if (releaseOnStop === true) return { kind: 'hand-over', why: 'HAWSER_RELEASE_ON_STOP=true' };
  if (node?.meta.deletionTimestamp) return { kind: 'hand-over', why: 'the Node is being deleted' };
  if (node?.unschedulable) return { kind: 'hand-over', why: 'the Node is cordoned (unschedulable)' };
  if (releaseOnStop === false) return { kind: 'restart-in-place', why: 'HAWSER_RELEASE_ON_STOP=false' };
  return { kind: 'restart-in-place', why: node ? 'the Node stays (not cordoned, not being deleted)' : 'the Node could not be read' };
}

export class NodeFactsReader {
  private lastPublicIpMessage: string | undefined;
  private readonly startedAtSeconds = Math.floor(Date.now() / 1000);
  /** This node's CNI interface address: the health check's source (with Globalnet, not what we publish). */
  cniIP: string | undefined;

  constructor(private readonly o: NodeFactsOptions) {}

  private get globalnet(): boolean {
    return this.o.cfg.globalCidrs.length > 0;
  }

  /** This gateway's Node, typed; throws when the API or the object is not usable. */
  async node(): Promise<Node> {
    const p = parseNode(await this.o.client.get(resourcePath('', 'v1', 'nodes', undefined, this.o.cfg.nodeName)));
    if (!p.ok) throw new HawserError('INVALID', p.error);
    return p.value;
  }

  /** On SIGTERM: whether the Node is going away (read for at most 1 s; not read when the operator decided). */
  async stopDecision(releaseOnStop: boolean | undefined): Promise<StopDecision> {
    const node = releaseOnStop === true ? undefined : await Promise.race([this.node(), sleep(1000).then(() => undefined)]).catch(() => undefined);
    return decideStop(node, releaseOnStop);
  }

  /** Reads the node facts, retrying with backoff while `wanted()` (a SIGTERM ends it); undefined once not wanted. */
  async readUntil(wanted: () => boolean): Promise<NodeFacts | undefined> {
    const backoff = new Backoff(500, 10_000);
    while (wanted()) {
      try {
        const facts = await this.read();
        this.o.failures.clear('node');
        return facts;
      } catch (err) {
        this.o.failures.set('node', `cannot read node facts: ${errorMessage(err)}`);
        await sleep(backoff.next());
      }
    }
    return undefined;
  }

  /** Node facts from the Node object, public IP included. Throws when the API or the Node is not usable. */
  async read(budgetMs = PUBLIC_IP_BUDGET_MS): Promise<NodeFacts> {
    const node = await this.node();
    const privateIP = node.internalIP;
    if (!privateIP) throw new HawserError('INVALID', `node ${this.o.cfg.nodeName} has no IPv4 InternalIP in status.addresses`);
    const labels = nodeLabelsAndAnnotations(node);
    const facts: NodeFacts = { name: this.o.cfg.nodeName, privateIP, labels, startedAtSeconds: this.startedAtSeconds };
    const pub = await this.resolvePublicIP(labels, privateIP, budgetMs);
    facts.publicIP = pub.ip;
    facts.usingLoadBalancer = pub.usingLoadBalancer;
    const hc = this.o.healthCheckIP ? await this.o.healthCheckIP() : {};
    this.cniIP = hc.ip;
    // With Globalnet the CNI address lies in a CIDR every cluster shares: publish the node's global IP
    // (allocated by globalnet, DNATed to the CNI address) instead, once it exists.
    facts.healthCheckIP = this.globalnet ? node.globalIP : hc.ip;
    this.o.failures.note('healthcheck-ip', hc.unavailable ? `health checking unavailable: ${hc.unavailable}` : undefined);
    return facts;
  }

  /** With Globalnet, the node's global IP (globalnet allocates it after we start); undefined without Globalnet. */
  async globalHealthCheckIP(): Promise<string | undefined> {
    if (!this.globalnet || !this.o.cfg.healthCheck.enabled) return undefined;
    return (await this.node()).globalIP ?? '';
  }

  /** The public IP again (Submariner's PublicIPWatcher), from the Node's current labels. */
  async recheckPublicIP(privateIP: string): Promise<PublicIpOutcome> {
    return this.resolvePublicIP(nodeLabelsAndAnnotations(await this.node()), privateIP, PUBLIC_IP_BUDGET_MS);
  }

  /**
   * The public IP as Submariner resolves it (node label/annotation, SUBMARINER_PUBLICIP, default api: list;
   * AIR_GAPPED_DEPLOYMENT), said in the log and the Gateway status when it is empty or the private IP.
   */
  async resolvePublicIP(labels: Readonly<Record<string, string>>, privateIP: string, budgetMs: number): Promise<PublicIpOutcome> {
    const { text, source } = publicIpChainText(labels, this.o.cfg.publicIP);
    const usingLoadBalancer = usesLoadBalancerChain(text);
    const parsed = parseResolverChain(text);
    let result: PublicIpResult;
    if (!parsed.ok) {
      result = { ip: '', failures: [parsed.error] };
    } else {
      const io = this.o.publicIpIO ?? systemResolveIO((name) => this.o.client.get(resourcePath('', 'v1', 'services', this.o.cfg.namespace, name)));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<PublicIpResult>((resolve) => {
        timer = setTimeout(() => resolve({ ip: '', failures: [`no resolver answered within ${budgetMs / 1000} s`] }), budgetMs);
      });
      result = await Promise.race([resolvePublicIP(parsed.resolvers, io, { airGapped: this.o.cfg.airGapped }), deadline]);
      clearTimeout(timer);
    }
    const a = assessPublicIP(result, privateIP, source, text);
    this.o.failures.note('public-ip', a.status);
    if (a.message !== this.lastPublicIpMessage) {
      this.o.log[a.level]({ publicIP: result.ip, source, airGapped: this.o.cfg.airGapped, failures: result.failures.length ? result.failures : undefined }, a.message);
      this.lastPublicIpMessage = a.message;
    }
    return { ip: result.ip, usingLoadBalancer };
  }
}
