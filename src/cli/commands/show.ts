// `hawser show all|connections|endpoints|gateways|networks|versions|brokers [--kubeconfig F] [--contexts A,B]
//  [--broker F] [-n NS] [-o json|yaml]`
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { RestClient, resourcePath, isApiError, type KubeObject } from '../../k8s/rest.js';
import { SUBMARINER_GROUP, SUBMARINER_VERSION } from '../../k8s/resources.js';
import { errorMessage } from '../../util/errors.js';
import { ALL_SECTIONS, buildShowModel, renderShow, showFailed, type Section, type ShowModel, type ShowResource } from '../../show/model.js';
import { brokerProblems, buildBroker, renderBroker, type ShowBroker } from '../../show/broker.js';
import { brokerClient, contextClients } from '../../show/contexts.js';
import { UsageError } from '../usage.js';

export const USAGE = `usage: hawser show [all|connections|endpoints|gateways|networks|versions|brokers] [--kubeconfig FILE]
         [--contexts NAME[,NAME]] [--broker KUBECONFIG] [-n|--namespace submariner-operator] [-o|--output json|yaml]
Prints each cluster's connections, endpoints, gateways, networks and versions from the submariner.io CRs
(subctl show's layout), for every context of the kubeconfig (or those --contexts names; in a pod: its own
cluster), and the broker: --broker KUBECONFIG, else BROKER_K8S_* as the gateway pod has them.
Versions carry liveness from live signals: a Gateway's update-timestamp (fresh within 15 s), a RouteAgent's
(150 s), the pod's phase and readiness when readable; a stale or stopped one is ✗.
A resource this identity may not read (403) makes its sections ✗ with the reason; the others still print.
Exit code 1 when any section shows ✗ (also with -o: {clusters: [...], broker}).`;

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

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      kubeconfig: { type: 'string' }, contexts: { type: 'string' }, broker: { type: 'string' },
      namespace: { type: 'string', short: 'n', default: 'submariner-operator' }, output: { type: 'string', short: 'o' },
    },
  });
  const what = positionals[0] ?? 'all';
  if (positionals.length > 1) throw new UsageError(`one section expected, got ${positionals.join(' ')}`);
  if (what !== 'all' && what !== 'brokers' && !ALL_SECTIONS.includes(what as Section)) throw new UsageError(`unknown section ${JSON.stringify(what)}: expected all, ${ALL_SECTIONS.join(', ')}, brokers`);
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
