// Authorization as Kubernetes' RBAC authorizer decides it, from Role/ClusterRole/RoleBinding/
// ClusterRoleBinding objects: a pure function of the request attributes and those objects.
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

function strings(v: Json | undefined): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export function parseRules(role: JsonObject | undefined): PolicyRule[] {
  if (!role || !Array.isArray(role.rules)) return [];
  return role.rules.filter(isObject).map((r) => ({
    verbs: strings(r.verbs),
    apiGroups: strings(r.apiGroups),
    resources: strings(r.resources),
    resourceNames: strings(r.resourceNames),
    nonResourceURLs: strings(r.nonResourceURLs),
  }));
}

export function subjectMatches(subject: Json, user: UserInfo, bindingNamespace: string): boolean {
  if (!isObject(subject)) return false;
  const kind = str(subject.kind);
  const name = str(subject.name) ?? '';
  if (kind === 'User') return name === user.name;
  if (kind === 'Group') return user.groups.includes(name);
  if (kind === 'ServiceAccount') {
    const ns = str(subject.namespace) || bindingNamespace;
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

function roleRules(objs: RbacObjects, roleRef: Json, bindingNamespace: string | undefined): PolicyRule[] {
  if (!isObject(roleRef)) return [];
  const name = str(roleRef.name) ?? '';
  if (roleRef.kind === 'ClusterRole') return parseRules(objs.clusterRole(name));
  if (roleRef.kind === 'Role' && bindingNamespace !== undefined) return parseRules(objs.role(bindingNamespace, name));
  return [];
}

export interface Decision {
  allowed: boolean;
  reason: string;
}

/** Decides a request: system:masters may do anything; everything else needs a matching rule. */
export function authorize(user: UserInfo, a: RequestAttributes, objs: RbacObjects): Decision {
  if (user.groups.includes(MASTERS)) return { allowed: true, reason: 'system:masters' };
  if (a.path !== undefined && (a.verb === 'get' || a.verb === 'head') && DISCOVERY_PATHS.some((p) => pathMatches(p, a.path!))) {
    return { allowed: true, reason: 'discovery' };
  }
  // every user may review their own access (system:basic-user)
  if (a.apiGroup === 'authorization.k8s.io' && a.resource === 'selfsubjectaccessreviews' && a.verb === 'create') {
    return { allowed: true, reason: 'system:basic-user' };
  }
  for (const b of objs.clusterRoleBindings()) {
    if (!Array.isArray(b.subjects) || !b.subjects.some((s) => subjectMatches(s, user, ''))) continue;
    if (roleRules(objs, b.roleRef, undefined).some((r) => ruleAllows(r, a))) {
      return { allowed: true, reason: `RBAC: allowed by ClusterRoleBinding "${str(isObject(b.metadata) ? b.metadata.name : undefined) ?? ''}"` };
    }
  }
  if (a.namespace) {
    for (const b of objs.roleBindings(a.namespace)) {
      if (!Array.isArray(b.subjects) || !b.subjects.some((s) => subjectMatches(s, user, a.namespace!))) continue;
      if (roleRules(objs, b.roleRef, a.namespace).some((r) => ruleAllows(r, a))) {
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
