// Authorization as Kubernetes' RBAC authorizer decides it, from Role/ClusterRole/RoleBinding/
// ClusterRoleBinding objects: a pure function of the request attributes and those objects.
import { own } from './limits.js';
import { isObject, str, type Json, type JsonObject } from './types.js';

export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
}

export interface RequestAttributes {
  verb: string;
  /** Resource requests. */
  apiGroup?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** Non-resource requests (e.g. `/version`). */
  path?: string;
}

export interface PolicyRule {
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  resourceNames: string[];
  nonResourceURLs: string[];
}

export interface RbacObjects {
  roles(namespace: string): JsonObject[];
  role(namespace: string, name: string): JsonObject | undefined;
  clusterRoles(): JsonObject[];
  clusterRole(name: string): JsonObject | undefined;
  roleBindings(namespace: string): JsonObject[];
  clusterRoleBindings(): JsonObject[];
}

export const MASTERS = 'system:masters';

/** Non-resource paths every authenticated user may GET (Kubernetes' system:discovery and system:public-info-viewer). */
const DISCOVERY_PATHS = ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/readyz', '/version', '/version/', '/openapi/*'];

/**
 * The attributes as own properties only, on an object without a prototype: a polluted
 * Object.prototype (`path`, `nonResourceURLs`, ...) can never change a decision.
 */
function ownAttributes(a: RequestAttributes): RequestAttributes {
  const out = Object.create(null) as RequestAttributes;
  for (const k of ['verb', 'apiGroup', 'resource', 'subresource', 'namespace', 'name', 'path'] as const) {
    if (Object.prototype.hasOwnProperty.call(a, k) && typeof a[k] === 'string') out[k] = a[k];
  }
  if (typeof out.verb !== 'string') out.verb = '';
  return out;
}

function strings(v: Json | undefined): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export function parseRules(role: JsonObject | undefined): PolicyRule[] {
  if (!role) return [];
  const rules = own(role, 'rules');
  if (!Array.isArray(rules)) return [];
  return rules.filter(isObject).map((r) => ({
    verbs: strings(own(r, 'verbs')),
    apiGroups: strings(own(r, 'apiGroups')),
    resources: strings(own(r, 'resources')),
    resourceNames: strings(own(r, 'resourceNames')),
    nonResourceURLs: strings(own(r, 'nonResourceURLs')),
  }));
}

export function subjectMatches(subject: Json, user: UserInfo, bindingNamespace: string): boolean {
  if (!isObject(subject)) return false;
  const kind = str(own(subject, 'kind'));
  const name = str(own(subject, 'name')) ?? '';
  if (kind === 'User') return name === user.name;
  if (kind === 'Group') return user.groups.includes(name);
  if (kind === 'ServiceAccount') {
    const ns = str(own(subject, 'namespace')) || bindingNamespace;
    return user.name === `system:serviceaccount:${ns}:${name}`;
  }
  return false;
}

function pathMatches(pattern: string, path: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return path.startsWith(pattern.slice(0, -1));
  return pattern === path;
}

export function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!rule.verbs.includes('*') && !rule.verbs.includes(a.verb)) return false;
  if (a.path !== undefined) return rule.nonResourceURLs.some((p) => pathMatches(p, a.path!));
  if (rule.nonResourceURLs.length > 0 && rule.resources.length === 0) return false;
  const group = a.apiGroup ?? '';
  if (!rule.apiGroups.includes('*') && !rule.apiGroups.includes(group)) return false;
  const res = a.subresource ? `${a.resource}/${a.subresource}` : (a.resource ?? '');
  const resOk = rule.resources.some((r) => r === '*' || r === res || (a.subresource !== undefined && r === `*/${a.subresource}`));
  if (!resOk) return false;
  if (rule.resourceNames.length > 0) return a.name !== undefined && rule.resourceNames.includes(a.name);
  return true;
}

function roleRules(objs: RbacObjects, roleRef: Json | undefined, bindingNamespace: string | undefined): PolicyRule[] {
  if (!isObject(roleRef)) return [];
  const name = str(own(roleRef, 'name')) ?? '';
  const kind = own(roleRef, 'kind');
  if (kind === 'ClusterRole') return parseRules(objs.clusterRole(name));
  if (kind === 'Role' && bindingNamespace !== undefined) return parseRules(objs.role(bindingNamespace, name));
  return [];
}

export interface Decision {
  allowed: boolean;
  reason: string;
}

/** Decides a request: system:masters may do anything; everything else needs a matching rule. */
export function authorize(user: UserInfo, attrs: RequestAttributes, objs: RbacObjects): Decision {
  const a = ownAttributes(attrs);
  if (user.groups.includes(MASTERS)) return { allowed: true, reason: 'system:masters' };
  if (a.path !== undefined && (a.verb === 'get' || a.verb === 'head') && DISCOVERY_PATHS.some((p) => pathMatches(p, a.path!))) {
    return { allowed: true, reason: 'discovery' };
  }
  // every user may review their own access (system:basic-user)
  if (a.apiGroup === 'authorization.k8s.io' && a.resource === 'selfsubjectaccessreviews' && a.verb === 'create') {
    return { allowed: true, reason: 'system:basic-user' };
  }
  for (const b of objs.clusterRoleBindings()) {
    const subjects = own(b, 'subjects');
    if (!Array.isArray(subjects) || !subjects.some((s) => subjectMatches(s, user, ''))) continue;
    if (roleRules(objs, own(b, 'roleRef'), undefined).some((r) => ruleAllows(r, a))) {
      return { allowed: true, reason: `RBAC: allowed by ClusterRoleBinding "${str(isObject(b.metadata) ? b.metadata.name : undefined) ?? ''}"` };
    }
  }
  if (a.namespace) {
    for (const b of objs.roleBindings(a.namespace)) {
      const subjects = own(b, 'subjects');
      if (!Array.isArray(subjects) || !subjects.some((s) => subjectMatches(s, user, a.namespace!))) continue;
      if (roleRules(objs, own(b, 'roleRef'), a.namespace).some((r) => ruleAllows(r, a))) {
        return { allowed: true, reason: `RBAC: allowed by RoleBinding "${str(isObject(b.metadata) ? b.metadata.name : undefined) ?? ''}/${a.namespace}"` };
      }
    }
  }
  return { allowed: false, reason: '' };
}

/** The message Kubernetes gives a 403, e.g. `pods is forbidden: User "u" cannot list resource "pods" in API group "" in the namespace "ns"`. */
export function forbiddenMessage(user: UserInfo, a: RequestAttributes): string {
  if (a.path !== undefined) return `forbidden: User "${user.name}" cannot ${a.verb} path "${a.path}"`;
  const res = a.subresource ? `${a.resource}/${a.subresource}` : (a.resource ?? '');
  const what = a.name ? `${res} "${a.name}"` : res;
  const where = a.namespace ? ` in the namespace "${a.namespace}"` : ' at the cluster scope';
  return `${what} is forbidden: User "${user.name}" cannot ${a.verb} resource "${res}" in API group "${a.apiGroup ?? ''}"${where}`;
}

// ---- escalation prevention ---------------------------------------------------------------------

/** Every rule that applies to `user` in `namespace` (cluster-wide rules only when undefined). */
export function rulesOf(user: UserInfo, namespace: string | undefined, objs: RbacObjects): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const b of objs.clusterRoleBindings()) {
    const subjects = own(b, 'subjects');
    if (Array.isArray(subjects) && subjects.some((s) => subjectMatches(s, user, ''))) out.push(...roleRules(objs, own(b, 'roleRef'), undefined));
  }
  if (namespace) {
    for (const b of objs.roleBindings(namespace)) {
      const subjects = own(b, 'subjects');
      if (Array.isArray(subjects) && subjects.some((s) => subjectMatches(s, user, namespace))) out.push(...roleRules(objs, own(b, 'roleRef'), namespace));
    }
  }
  return out;
}

function has(list: string[], v: string): boolean {
  return list.includes('*') || list.includes(v);
}

function resourceCovered(owner: string[], res: string): boolean {
  if (owner.includes('*') || owner.includes(res)) return true;
  const slash = res.indexOf('/');
  return slash > 0 && owner.includes(`*${res.slice(slash)}`);
}

function urlCovered(owner: string[], url: string): boolean {
  return owner.some((p) => p === '*' || p === url || (p.endsWith('*') && url.startsWith(p.slice(0, -1))));
}

/**
 * Whether `owner` rules grant everything `rule` grants, as Kubernetes' RBAC validation decides it:
 * the rule is split into single verb/group/resource/name items and each must be in one owner rule
 * (a `*` item only by a `*` owner).
 */
export function covers(owner: readonly PolicyRule[], rule: PolicyRule): boolean {
  for (const verb of rule.verbs) {
    for (const url of rule.nonResourceURLs) {
      if (!owner.some((o) => has(o.verbs, verb) && urlCovered(o.nonResourceURLs, url))) return false;
    }
    for (const group of rule.apiGroups) {
      for (const res of rule.resources) {
        const names: (string | undefined)[] = rule.resourceNames.length ? rule.resourceNames : [undefined];
        for (const name of names) {
          const ok = owner.some((o) => has(o.verbs, verb) && has(o.apiGroups, group) && resourceCovered(o.resources, res) &&
            (o.resourceNames.length === 0 || (name !== undefined && o.resourceNames.includes(name))));
          if (!ok) return false;
        }
      }
    }
  }
  return true;
}

/** How Kubernetes prints a rule in an escalation message. */
export function ruleText(r: PolicyRule): string {
  const parts: string[] = [];
  if (r.apiGroups.length) parts.push(`APIGroups:${JSON.stringify(r.apiGroups)}`);
  if (r.resources.length) parts.push(`Resources:${JSON.stringify(r.resources)}`);
  if (r.resourceNames.length) parts.push(`ResourceNames:${JSON.stringify(r.resourceNames)}`);
  if (r.nonResourceURLs.length) parts.push(`NonResourceURLs:${JSON.stringify(r.nonResourceURLs)}`);
  parts.push(`Verbs:${JSON.stringify(r.verbs)}`);
  return `{${parts.join(', ')}}`;
}

/** The rules of `rules` that `owner` does not cover. */
export function uncovered(owner: readonly PolicyRule[], rules: readonly PolicyRule[]): PolicyRule[] {
  return rules.filter((r) => !covers(owner, r));
}

/** The rules a binding's roleRef names (Role in `namespace` or ClusterRole), or undefined if it does not exist. */
export function referencedRules(roleRef: Json | undefined, namespace: string | undefined, objs: RbacObjects): PolicyRule[] | undefined {
  if (!isObject(roleRef)) return undefined;
  const name = str(own(roleRef, 'name')) ?? '';
  const kind = own(roleRef, 'kind');
  if (kind === 'ClusterRole') {
    const r = objs.clusterRole(name);
    return r ? parseRules(r) : undefined;
  }
  if (kind === 'Role' && namespace) {
    const r = objs.role(namespace, name);
    return r ? parseRules(r) : undefined;
  }
  return undefined;
}
