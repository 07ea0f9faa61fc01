// Which clusters `show`/`diagnose all` look at: every context of a kubeconfig (or those named with
// --contexts), as subctl does; in a pod without a kubeconfig, the pod's own cluster.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parse } from 'yaml';
import { brokerSecretDir } from '../config/roles.js';
import { brokerServerUrl, kubeconfigFileAccess, localAccess, staticAccess, type ClusterAccess } from '../k8s/access.js';
import { RestClient } from '../k8s/rest.js';
import { HawserError } from '../util/errors.js';

export interface ContextClient {
  /** The kubeconfig context, or `in-cluster`. */
  context: string;
  /** A name for the cluster before its Cluster ID is known (the context name). */
  clusterHint: string;
  client: RestClient;
}

/** Context names of a kubeconfig file, in file order. */
export function kubeconfigContexts(text: string): { names: string[]; current?: string } {
  const doc = parse(text) as unknown;
  const rec = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>) : {};
  const names = (Array.isArray(rec.contexts) ? rec.contexts : [])
    .map((c) => (typeof c === 'object' && c !== null ? (c as Record<string, unknown>).name : undefined))
    .filter((n): n is string => typeof n === 'string' && n !== '');
  return { names, current: typeof rec['current-context'] === 'string' ? rec['current-context'] : undefined };
}

/**
 * Clients for the selected contexts: `contexts` given → exactly those (an unknown one is an error naming the
 * known ones); none given → every context of the kubeconfig. No kubeconfig file (in a pod) → the pod's cluster.
 */
export async function contextClients(kubeconfig: string | undefined, contexts: readonly string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 10_000): Promise<ContextClient[]> {
  const path = kubeconfig ?? env.KUBECONFIG;
  const file = path && !path.includes(delimiter) ? path : path ? undefined : join(homedir(), '.kube', 'config');
  const inCluster = !path && env.KUBERNETES_SERVICE_HOST;
  if (!file || inCluster || !existsSync(file)) {
    if (contexts.length) throw new HawserError('CONFIG', `--contexts needs a kubeconfig file (--kubeconfig or KUBECONFIG${path?.includes(delimiter) ? ' naming one file' : ''})`);
    return [{ context: inCluster ? 'in-cluster' : 'current', clusterHint: '', client: new RestClient(await localAccess(kubeconfig, env), timeoutMs) }];
  }
  const { names, current } = kubeconfigContexts(readFileSync(file, 'utf8'));
  const unknown = contexts.filter((c) => !names.includes(c));
  if (unknown.length) throw new HawserError('CONFIG', `kubeconfig ${file} has no context ${unknown.join(', ')} (it has: ${names.join(', ') || 'none'})`);
  const selected = contexts.length ? contexts : names.length ? names : current ? [current] : [];
  return Promise.all(selected.map(async (context) => {
    let access: ClusterAccess;
    try {
      access = await kubeconfigFileAccess(file, context);
    } catch (err) {
      // auth plugins: client-node handles the current context
      if (context !== current) throw err;
      access = await localAccess(file, env);
    }
    return { context, clusterHint: context, client: new RestClient(access, timeoutMs) };
  }));
}

/** The broker: a kubeconfig given with --broker, else BROKER_K8S_* as the gateway pod has them; undefined when neither. */
export async function brokerClient(brokerKubeconfig: string | undefined, env: NodeJS.ProcessEnv = process.env, timeoutMs = 10_000): Promise<{ client: RestClient; namespace: string; server: string } | undefined> {
  if (brokerKubeconfig) {
    const access = await kubeconfigFileAccess(brokerKubeconfig);
    return { client: new RestClient(access, timeoutMs), namespace: access.namespace ?? env.BROKER_K8S_REMOTENAMESPACE ?? 'submariner-k8s-broker', server: access.server };
  }
  const apiServer = env.BROKER_K8S_APISERVER;
  if (!apiServer) return undefined;
  let token = env.BROKER_K8S_APISERVERTOKEN;
  let ca = env.BROKER_K8S_CA ? (env.BROKER_K8S_CA.includes('-----BEGIN') ? env.BROKER_K8S_CA : Buffer.from(env.BROKER_K8S_CA, 'base64').toString('utf8')) : undefined;
  if (env.BROKER_K8S_SECRET) {
    const dir = brokerSecretDir(env.BROKER_K8S_SECRET);
    if (existsSync(join(dir, 'token'))) token = readFileSync(join(dir, 'token'), 'utf8').trim();
    if (existsSync(join(dir, 'ca.crt'))) ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
  }
  const namespace = env.BROKER_K8S_REMOTENAMESPACE ?? 'submariner-k8s-broker';
  const access = staticAccess({ server: brokerServerUrl(apiServer), token, caPem: ca, insecure: env.BROKER_K8S_INSECURE === 'true', namespace });
  return { client: new RestClient(access, timeoutMs), namespace, server: access.server };
}
