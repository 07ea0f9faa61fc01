// API access: a KubeConfig for the local cluster (KUBECONFIG file or in-cluster) and for the broker
// (BROKER_K8S_* values), shared by every role and tool.
import * as k8s from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import type { BrokerConfig } from '../config/roles.js';

export { k8s };

/** Local cluster: `--kubeconfig`/KUBECONFIG if given, else in-cluster (ServiceAccount), else ~/.kube/config. */
export function localKubeConfig(kubeconfigPath?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const path = kubeconfigPath ?? process.env.KUBECONFIG;
  if (path) kc.loadFromFile(path);
  else if (process.env.KUBERNETES_SERVICE_HOST && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

/** The broker's API server URL from BROKER_K8S_APISERVER (host:port, or a full URL). */
export function brokerServerUrl(apiServer: string): string {
  return /^https?:\/\//.test(apiServer) ? apiServer : `https://${apiServer}`;
}

export function brokerKubeConfig(b: BrokerConfig): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const server = brokerServerUrl(b.apiServer);
  kc.loadFromOptions({
    clusters: [{
      name: 'broker',
      server,
      // client-node needs skipTLSVerify for plain http:// servers.
      skipTLSVerify: b.insecure || server.startsWith('http://'),
      caData: b.ca ? Buffer.from(b.ca).toString('base64') : undefined,
    }],
    users: [{ name: 'broker', token: b.token }],
    contexts: [{ name: 'broker', cluster: 'broker', user: 'broker', namespace: b.remoteNamespace }],
    currentContext: 'broker',
  });
  return kc;
}

/** HTTP status of a client-node ApiException (or undefined for other errors). */
export function apiStatus(err: unknown): number | undefined {
  if (err instanceof k8s.ApiException) return err.code;
  return undefined;
}
