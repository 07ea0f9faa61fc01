// `hawser show all|connections|endpoints|gateways|networks|versions|brokers [--kubeconfig F] [--contexts A,B]
//  [--broker F] [-n NS] [-o json|yaml]`, and `hawser show plan` (this node: what the planners would do now).
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { RestClient, resourcePath, isApiError, type KubeObject } from '../../k8s/rest.js';
import { SUBMARINER_GROUP, SUBMARINER_VERSION } from '../../k8s/resources.js';
import { errorMessage } from '../../util/errors.js';
import { ALL_SECTIONS, buildShowModel, renderShow, showFailed, type Section, type ShowModel, type ShowResource } from '../../show/model.js';
import { brokerProblems, buildBroker, renderBroker, type ShowBroker } from '../../show/broker.js';
import { brokerClient, contextClients } from '../../show/contexts.js';
import { renderPlan, planFailed, type PlanSection } from '../../show/plan.js';
import type { RouteAgentConfig } from '../../config/roles.js';
import type { Logger } from '../../log/index.js';
import { UsageError } from '../usage.js';

export const USAGE = `usage: hawser show [all|connections|endpoints|gateways|networks|versions|brokers] [--kubeconfig FILE]
         [--contexts NAME[,NAME]] [--broker KUBECONFIG] [-n|--namespace submariner-operator] [-o|--output json|yaml]
Prints each cluster's connections, endpoints, gateways, networks and versions from the submariner.io CRs
(subctl show's layout), for every context of the kubeconfig (or those --contexts names; in a pod: its own
cluster), and the broker: --broker KUBECONFIG, else BROKER_K8S_* as the gateway pod has them.
Versions carry liveness from live signals: a Gateway's update-timestamp (fresh within 15 s), a RouteAgent's
(150 s), the pod's phase and readiness when readable; a stale or stopped one is ✗.
A resource this identity may not read (403) makes its sections ✗ with the reason; the others still print.
Exit code 1 when any section shows ✗ (also with -o: {clusters: [...], broker}).
       hawser show plan [--kubeconfig FILE] [--node NAME] [-o json]
plan: what the planners would do on this node now, read-only (nothing is written to the kernel or the API):
  the route agent's plan and the kernel changes a reconcile would make now (its dry run against the observed
  links, routes, rules, FDB, sysctls and nft table), the cables the gateway engine would want (newest
  Endpoint per remote cluster, NAT by the Endpoints' flags; NAT discovery may choose otherwise), and with
  Globalnet its plan (allocations, status, GlobalIngressIPs, internal Services, the node's global IP) and the
  element changes against this node's hawser-globalnet table (meaningful on the active gateway). Configured
  from the route agent's environment (SUBMARINER_NAMESPACE, _CLUSTERID, _CLUSTERCIDR, _SERVICECIDR, NODE_NAME):
  run it in the hawser pod (kubectl exec), or set them; --node overrides NODE_NAME. Exit code 1 when a section
  cannot be planned.`;

type ShowSection = Section | 'brokers';

async function readCluster(client: RestClient, ns: string, context: string): Promise<ShowModel> {
  const unreadable: Partial<Record<ShowResource, string>> = {};
  const list = async (plural: ShowResource): Promise<KubeObject[]> => {
    const path = plural === 'pods' ? resourcePath('', 'v1', 'pods', ns) : resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, plural, ns);
    try {
      return (await client.list(path)).items;
    } catch (err) {
      if (isApiError(err, 404)) return [];
      // e.g. the gateway's ServiceAccount may not list routeagents: that section says so, the rest prints
      if (isApiError(err, 403)) {
        unreadable[plural] = `forbidden (403) in namespace ${ns}: use a kubeconfig allowed to list ${plural === 'pods' ? 'pods' : `${plural}.${SUBMARINER_GROUP}`}`;
        return [];
      }
      throw err;
    }
  };
  const [gateways, endpoints, clusters, routeAgents, pods] = await Promise.all([list('gateways'), list('endpoints'), list('clusters'), list('routeagents'), list('pods')]);
  return buildShowModel({ gateways, endpoints, clusters, routeAgents, pods, unreadable, context });
}

/**
 * The planners' view of this node, read-only: the route agent's pure planner on this node's cluster view and
 * its dry run against the kernel, and the cable engine's selection and plan from an empty engine. Only the
 * CLI may call role planners (show imports no role), hence here; the sections render in src/show/plan.ts.
 */
export async function planSections(o: { client: RestClient; cfg: RouteAgentConfig; log: Logger; netns?: string }): Promise<PlanSection[]> {
  const [{ clusterView, remoteGatewayIPs, routeAgentInput }, { planRouteAgent, planToText, RouteAgentDataplane }, { selectRemoteEndpoints, planCables, planText, fallbackNat }] = await Promise.all([
    import('../../routeagent/role.js'),
    import('../../routeagent/index.js'),
    import('../../cable-drivers/engine.js'),
  ]);
  const { endpointObject } = await import('../../gateway/endpoint-object.js');
  const ns = o.cfg.namespace;
  const [nodes, endpoints] = await Promise.all([
    o.client.list(resourcePath('', 'v1', 'nodes')),
    o.client.list(resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'endpoints', ns)),
  ]);
  const view = clusterView(nodes.items, endpoints.items, o.cfg.clusterId, o.cfg.nodeName);
  const sections: PlanSection[] = [];

  const ra: PlanSection = { title: `route agent (node ${o.cfg.nodeName}, cluster ${o.cfg.clusterId})`, plan: [], warnings: [] };
  const dp = new RouteAgentDataplane({ netns: o.netns, log: o.log, resyncIntervalMs: 0 });
  let cniIP: string | undefined;
  try {
    const thisIP = view.thisNode?.internalIP;
    const host = thisIP ? await dp.discoverHost(thisIP, o.cfg.clusterCidrs.map((c) => c.text)) : {};
    cniIP = host.cniInterface?.ip;
    const input = routeAgentInput(o.cfg, view, host, await dp.underlayPaths(remoteGatewayIPs(view)));
    if ('error' in input) ra.error = input.error;
    else {
      const plan = planRouteAgent(input);
      ra.plan = planToText(plan).trimEnd().split('\n').filter((l) => !l.startsWith('warning '));
      ra.warnings = plan.warnings;
      ra.pending = await dp.pending(plan);
    }
  } catch (err) {
    ra.error = `cannot read this node's kernel state: ${errorMessage(err)}`;
  } finally {
    await dp.close();
  }
  sections.push(ra);

  const cables: PlanSection = { title: 'cables (the gateway engine, from an empty engine)', plan: [], warnings: [] };
  if (!view.localEndpoint) cables.error = `no local Endpoint of cluster ${o.cfg.clusterId} in namespace ${ns}: no active gateway has published one`;
  else {
    const local = view.localEndpoint;
    const objs = endpoints.items.flatMap((e) => {
      const p = endpointObject(e);
      return p.ok ? [p.value] : [];
    });
    const sel = selectRemoteEndpoints(objs, o.cfg.clusterId, local.backend);
    const actions = planCables(sel.wanted, (e) => fallbackNat(local, e), new Map());
    cables.plan = actions.length ? planText(actions).split('\n') : ['no remote cluster to connect to'];
    cables.warnings = sel.rejected.map((r) => r.reason);
  }
  sections.push(cables);

  const { globalnetSection } = await import('./show-globalnet.js');
  const gn = await globalnetSection({ client: o.client, cfg: o.cfg, log: o.log, netns: o.netns, cniIP }).catch((err: unknown): PlanSection => ({
    title: `globalnet (cluster ${o.cfg.clusterId})`, plan: [], warnings: [], error: `cannot read Globalnet's objects: ${errorMessage(err)}`,
  }));
  if (gn) sections.push(gn);
  return sections;
}

async function runPlan(values: { kubeconfig?: string; node?: string; output?: string }): Promise<number> {
  const [{ routeAgentConfigFromEnv }, { createLogger }, { localAccess }] = await Promise.all([
    import('../../config/roles.js'), import('../../log/index.js'), import('../../k8s/access.js'),
  ]);
  const env = { ...process.env, ...(values.node ? { NODE_NAME: values.node } : {}), SUBMARINER_HEALTHCHECKENABLED: 'false' };
  const cfg = routeAgentConfigFromEnv(env);
  const client = new RestClient(await localAccess(values.kubeconfig));
  try {
    const sections = await planSections({ client, cfg, log: createLogger({ level: 'warn', destination: process.stderr }) });
    process.stdout.write(values.output === 'json' ? `${JSON.stringify(sections, null, 2)}\n` : renderPlan(sections));
    return planFailed(sections) ? 1 : 0;
  } finally {
    client.close();
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      kubeconfig: { type: 'string' }, contexts: { type: 'string' }, broker: { type: 'string' },
      namespace: { type: 'string', short: 'n', default: 'submariner-operator' }, output: { type: 'string', short: 'o' },
      node: { type: 'string' },
    },
  });
  const what = positionals[0] ?? 'all';
  if (what === 'plan') {
    if (positionals.length > 1) throw new UsageError(`one section expected, got ${positionals.join(' ')}`);
    if (values.output && values.output !== 'json') throw new UsageError('show plan: -o must be json');
    return runPlan(values);
  }
  if (values.node) throw new UsageError('--node applies to show plan only');
  if (positionals.length > 1) throw new UsageError(`one section expected, got ${positionals.join(' ')}`);
  if (what !== 'all' && what !== 'brokers' && !ALL_SECTIONS.includes(what as Section)) throw new UsageError(`unknown section ${JSON.stringify(what)}: expected all, ${ALL_SECTIONS.join(', ')}, brokers, plan`);
  if (values.output && values.output !== 'json' && values.output !== 'yaml') throw new UsageError('-o must be json or yaml');
  const sections: readonly ShowSection[] = what === 'all' ? [...ALL_SECTIONS, 'brokers'] : [what as ShowSection];
  const clusterSections = sections.filter((x): x is Section => x !== 'brokers');
  const contexts = (values.contexts ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  const ns = values.namespace!;

  const clients = clusterSections.length || what === 'brokers' ? await contextClients(values.kubeconfig, contexts) : [];
  const models = clusterSections.length ? await Promise.all(clients.map(async (c) => {
    try {
      return await readCluster(c.client, ns, c.context);
    } finally {
      c.client.close();
    }
  })) : [];
  let broker: ShowBroker | undefined;
  if (sections.includes('brokers')) {
    const b = await brokerClient(values.broker);
    if (b) {
      const list = async (plural: string) => (await b.client.list(resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, plural, b.namespace))).items;
      try {
        broker = buildBroker(b.server, b.namespace, { clusters: await list('clusters'), endpoints: await list('endpoints') });
      } catch (err) {
        broker = buildBroker(b.server, b.namespace, { error: isApiError(err, 403) ? `forbidden (403) in namespace ${b.namespace}: use the broker's admin or a cluster's broker token` : errorMessage(err) });
      } finally {
        b.client.close();
      }
    } else if (what === 'brokers') throw new UsageError('no broker: pass --broker KUBECONFIG or set BROKER_K8S_APISERVER (+ _APISERVERTOKEN, _CA)');
  }
  const expect = models.map((m) => m.cluster);
  const failed = models.some((m) => showFailed(m, clusterSections)) || (broker !== undefined && brokerProblems(broker, expect).length > 0);
  if (values.output) {
    const doc = { clusters: models, ...(broker ? { broker } : {}) };
    process.stdout.write(values.output === 'json' ? JSON.stringify(doc, null, 2) + '\n' : stringify(doc));
  } else {
    const parts = models.map((m) => renderShow(m, clusterSections));
    if (broker) parts.push(renderBroker(broker, expect));
    process.stdout.write(parts.join('\n'));
  }
  return failed ? 1 : 0;
}
