// Discovery documents: /version, /api, /api/v1, /apis, /apis/<group>, /apis/<group>/<version>.
import { apiVersionOf, STANDARD_VERBS, type Registry, type ResourceType } from './registry.js';
import type { JsonObject } from './types.js';

/** The Kubernetes release this server speaks for (kubectl picks matching behaviour from it). */
export const KUBE_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0' };

export function versionInfo(): JsonObject {
  return {
    major: KUBE_VERSION.major,
    minor: KUBE_VERSION.minor,
    gitVersion: KUBE_VERSION.gitVersion,
    gitCommit: 'hawser',
    gitTreeState: 'clean',
    buildDate: '2025-01-01T00:00:00Z',
    goVersion: `node ${process.version}`,
    compiler: 'hawser',
    platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  };
}

export function apiVersions(serverAddress: string): JsonObject {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function groupJson(g: { name: string; versions: string[]; preferred: string }): JsonObject {
  const gv = (v: string): JsonObject => ({ groupVersion: `${g.name}/${v}`, version: v });
  return { name: g.name, versions: g.versions.map(gv), preferredVersion: gv(g.preferred) };
}

export function apiGroupList(reg: Registry): JsonObject {
  const groups = reg
    .groups()
    .filter((g) => g.name !== '')
    .sort((a, b) => a.name.localeCompare(b.name));
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map(groupJson) };
}

export function apiGroup(reg: Registry, name: string): JsonObject | undefined {
  const g = reg.groups().find((x) => x.name === name && name !== '');
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...groupJson(g) } : undefined;
}

function verbsOf(t: ResourceType): string[] {
  return t.virtual ? ['create'] : STANDARD_VERBS;
}

export function apiResourceList(reg: Registry, group: string, version: string): JsonObject | undefined {
  const types = reg.inGroupVersion(group, version).sort((a, b) => a.plural.localeCompare(b.plural));
  if (types.length === 0) return undefined;
  const resources: JsonObject[] = [];
  for (const t of types) {
    const r: JsonObject = { name: t.plural, singularName: t.singular, namespaced: t.namespaced, kind: t.kind, verbs: verbsOf(t) };
    if (t.shortNames.length) r.shortNames = t.shortNames;
    if (t.categories.length) r.categories = t.categories;
    resources.push(r);
    if (t.statusSubresource) {
      resources.push({ name: `${t.plural}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['get', 'patch', 'update'] });
    }
    if (t.group === '' && t.plural === 'serviceaccounts') {
      resources.push({ name: 'serviceaccounts/token', singularName: '', namespaced: true, group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources };
}
