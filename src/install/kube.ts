// Small API helpers shared by deploy-broker, join, migrate and uninstall.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { isApiError, resourcePath, type KubeObject, type RestClient } from '../k8s/rest.js';
import { HawserError } from '../util/errors.js';
import { waitFor } from '../util/wait.js';

export const core = (plural: string, ns?: string, name?: string, sub?: string): string => resourcePath('', 'v1', plural, ns, name, sub);
export const rbac = (plural: string, ns?: string, name?: string): string => resourcePath('rbac.authorization.k8s.io', 'v1', plural, ns, name);
export const apps = (plural: string, ns?: string, name?: string): string => resourcePath('apps', 'v1', plural, ns, name);

/** Creates the object unless it exists; returns whether it was created. */
export async function ensure(client: RestClient, collection: string, obj: KubeObject): Promise<boolean> {
  try {
    await client.create(collection, obj);
    return true;
  } catch (err) {
    if (isApiError(err, 409)) return false;
    throw err;
  }
}

/** A ServiceAccount token from a `kubernetes.io/service-account-token` Secret (created if missing, filled by the token controller). */
export async function serviceAccountToken(client: RestClient, ns: string, sa: string, secretName = `${sa}-token`): Promise<{ token: string; caPem?: string; secretName: string }> {
  await ensure(client, core('secrets', ns), {
    apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/service-account-token',
    metadata: { name: secretName, namespace: ns, annotations: { 'kubernetes.io/service-account.name': sa }, labels: { 'app.kubernetes.io/part-of': 'hawser' } },
  });
  const data = await waitFor(async () => {
    const s = await client.get(core('secrets', ns, secretName));
    const d = s.data as Record<string, string> | undefined;
    return d?.token ? d : undefined;
  }, { timeoutMs: 30_000, what: `the token controller to fill Secret ${ns}/${secretName}` });
  return {
    token: Buffer.from(data.token!, 'base64').toString('utf8'),
    ...(data['ca.crt'] ? { caPem: Buffer.from(data['ca.crt'], 'base64').toString('utf8') } : {}),
    secretName,
  };
}

/** Every CustomResourceDefinition in the YAML files of `dir`. */
export function crdsIn(dir: string): KubeObject[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && !/^kustomization\.ya?ml$/.test(f)).sort();
  } catch (err) {
    throw new HawserError('CONFIG', `cannot read the CRDs in ${dir}: ${(err as Error).message} (pass --crds <hawser>/deploy/crds)`);
  }
  return files.flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as KubeObject)).filter((o) => o?.kind === 'CustomResourceDefinition');
}

/** Creates the CRDs that are missing (never replaces one someone else installed) and waits until they are served. */
export async function ensureCrds(client: RestClient, dir: string): Promise<string[]> {
  const created: string[] = [];
  for (const crd of crdsIn(dir)) {
    if (await ensure(client, resourcePath('apiextensions.k8s.io', 'v1', 'customresourcedefinitions'), crd)) created.push(crd.metadata.name);
  }
  for (const name of created) {
    await waitFor(async () => {
      const c = await client.get(resourcePath('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', undefined, name));
      return ((c.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).some((x) => x.type === 'Established' && x.status === 'True');
    }, { timeoutMs: 30_000, what: `CRD ${name} to be established` });
  }
  return created;
}

/** deploy/ of this checkout or installation (src/install → ../../deploy; dist/src/install → ../../../deploy). */
export function defaultDeployDir(): string {
  for (const rel of ['../../deploy', '../../../deploy']) {
    const p = new URL(rel, import.meta.url).pathname;
    try {
      readdirSync(join(p, 'crds'));
      return p;
    } catch {
      // try the next layout
    }
  }
  return new URL('../../deploy', import.meta.url).pathname;
}
