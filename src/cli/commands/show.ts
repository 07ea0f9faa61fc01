// `hawser show all|connections|endpoints|gateways|networks|versions [--kubeconfig F] [-n NS] [-o json|yaml]`
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { localAccess } from '../../k8s/access.js';
import { RestClient, resourcePath, isApiError } from '../../k8s/rest.js';
import { SUBMARINER_GROUP, SUBMARINER_VERSION } from '../../k8s/resources.js';
import { ALL_SECTIONS, buildShowModel, renderShow, showFailed, type Section, type ShowResource } from '../../show/model.js';
import { UsageError } from '../usage.js';

export const USAGE = `usage: hawser show [all|connections|endpoints|gateways|networks|versions] [--kubeconfig FILE]
         [-n|--namespace submariner-operator] [-o|--output json|yaml]
Prints the cluster's connections, endpoints, gateways, networks and versions from the submariner.io CRs
(subctl show's layout). Default: all. A resource this identity may not read (403) makes its sections ✗
with the reason; the others still print. Exit code 1 when any section shows ✗ (also with -o).`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { kubeconfig: { type: 'string' }, namespace: { type: 'string', short: 'n', default: 'submariner-operator' }, output: { type: 'string', short: 'o' } },
  });
  const what = positionals[0] ?? 'all';
  const sections: readonly Section[] = what === 'all' ? ALL_SECTIONS : (ALL_SECTIONS.includes(what as Section) ? [what as Section] : []);
  if (!sections.length) throw new UsageError(`unknown section ${JSON.stringify(what)}: expected all, ${ALL_SECTIONS.join(', ')}`);
  if (positionals.length > 1) throw new UsageError(`one section expected, got ${positionals.join(' ')}`);
  if (values.output && values.output !== 'json' && values.output !== 'yaml') throw new UsageError('-o must be json or yaml');
  const client = new RestClient(await localAccess(values.kubeconfig));
  const ns = values.namespace!;
  const unreadable: Partial<Record<ShowResource, string>> = {};
  const list = async (plural: ShowResource) => {
    try {
      return (await client.list(resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, plural, ns))).items;
    } catch (err) {
      if (isApiError(err, 404)) return [];
      // e.g. the gateway's ServiceAccount may not list routeagents: that section says so, the rest prints
      if (isApiError(err, 403)) {
        unreadable[plural] = `forbidden (403) in namespace ${ns}: use a kubeconfig allowed to list ${plural}.${SUBMARINER_GROUP}`;
        return [];
      }
      throw err;
    }
  };
  const [gateways, endpoints, clusters, routeAgents] = await Promise.all([list('gateways'), list('endpoints'), list('clusters'), list('routeagents')]);
  const model = buildShowModel({ gateways, endpoints, clusters, routeAgents, unreadable });
  if (values.output === 'json') process.stdout.write(JSON.stringify(model, null, 2) + '\n');
  else if (values.output === 'yaml') process.stdout.write(stringify(model));
  else process.stdout.write(renderShow(model, sections));
  return showFailed(model, sections) ? 1 : 0;
}
