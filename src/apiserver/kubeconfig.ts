// A kubeconfig for kubectl and @kubernetes/client-node pointing at one server with one token.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import YAML from 'yaml';

export interface KubeconfigOptions {
  server: string;
  token: string;
  /** The server's CA; without it (or for http://) TLS verification is skipped. */
  caPem?: string;
  namespace?: string;
  /** Names of the cluster/user/context entries (default `hawser`). */
  name?: string;
}

export function kubeconfigYaml(o: KubeconfigOptions): string {
  const name = o.name ?? 'hawser';
  const cluster: Record<string, unknown> = { server: o.server };
  if (o.caPem && o.server.startsWith('https://')) cluster['certificate-authority-data'] = Buffer.from(o.caPem).toString('base64');
  else cluster['insecure-skip-tls-verify'] = true;
  const context: Record<string, unknown> = { cluster: name, user: name };
  if (o.namespace) context.namespace = o.namespace;
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster }],
    users: [{ name, user: { token: o.token } }],
    contexts: [{ name, context }],
    'current-context': name,
    preferences: {},
  });
}

/** Writes the kubeconfig (mode 0600: it holds a token). */
export function writeKubeconfig(path: string, o: KubeconfigOptions): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, kubeconfigYaml(o), { mode: 0o600 });
}
