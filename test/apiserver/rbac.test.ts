import assert from 'node:assert/strict';
import { userInfo } from '../../src/apiserver/auth.js';
import { authorize, forbiddenMessage, type RbacObjects, type RequestAttributes } from '../../src/apiserver/rbac.js';
import type { JsonObject } from '../../src/apiserver/types.js';

function objects(items: JsonObject[]): RbacObjects {
  const of = (kind: string, ns?: string): JsonObject[] =>
    items.filter((o) => o.kind === kind && (ns === undefined || (o.metadata as JsonObject).namespace === ns));
  const named = (kind: string, name: string, ns?: string): JsonObject | undefined => of(kind, ns).find((o) => (o.metadata as JsonObject).name === name);
  return {
    roles: (ns) => of('Role', ns),
    role: (ns, name) => named('Role', name, ns),
    clusterRoles: () => of('ClusterRole'),
    clusterRole: (name) => named('ClusterRole', name),
    roleBindings: (ns) => of('RoleBinding', ns),
    clusterRoleBindings: () => of('ClusterRoleBinding'),
  };
}

const world = objects([
  { kind: 'ClusterRole', metadata: { name: 'gateway-reader' }, rules: [{ apiGroups: ['submariner.io'], resources: ['gateways', 'endpoints'], verbs: ['get', 'list', 'watch'] }] },
  { kind: 'ClusterRole', metadata: { name: 'status-writer' }, rules: [{ apiGroups: ['submariner.io'], resources: ['gateways/status'], verbs: ['update', 'patch'] }] },
  { kind: 'ClusterRole', metadata: { name: 'lease-one' }, rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['submariner-gateway-lock'], verbs: ['*'] }] },
  { kind: 'ClusterRole', metadata: { name: 'all-status' }, rules: [{ apiGroups: ['*'], resources: ['*/status'], verbs: ['get'] }] },
  { kind: 'Role', metadata: { name: 'cm-editor', namespace: 'ns1' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['*'] }] },
  { kind: 'ClusterRoleBinding', metadata: { name: 'readers' }, roleRef: { kind: 'ClusterRole', name: 'gateway-reader' }, subjects: [{ kind: 'Group', name: 'readers' }] },
  { kind: 'ClusterRoleBinding', metadata: { name: 'sa-status' }, roleRef: { kind: 'ClusterRole', name: 'status-writer' }, subjects: [{ kind: 'ServiceAccount', name: 'gw', namespace: 'sm' }] },
  { kind: 'RoleBinding', metadata: { name: 'bob-cm', namespace: 'ns1' }, roleRef: { kind: 'Role', name: 'cm-editor' }, subjects: [{ kind: 'User', name: 'bob' }] },
  { kind: 'RoleBinding', metadata: { name: 'bob-lease', namespace: 'ns1' }, roleRef: { kind: 'ClusterRole', name: 'lease-one' }, subjects: [{ kind: 'User', name: 'bob' }] },
  { kind: 'RoleBinding', metadata: { name: 'sa-all-status', namespace: 'sm' }, roleRef: { kind: 'ClusterRole', name: 'all-status' }, subjects: [{ kind: 'ServiceAccount', name: 'gw' }] },
]);

describe('apiserver: RBAC', () => {
  const admin = userInfo('admin', ['system:masters']);
  const reader = userInfo('carol', ['readers']);
  const bob = userInfo('bob');
  const sa = userInfo('system:serviceaccount:sm:gw');
  const res = (verb: string, apiGroup: string, resource: string, extra: Partial<RequestAttributes> = {}): RequestAttributes => ({ verb, apiGroup, resource, ...extra });

  const cases: [string, ReturnType<typeof userInfo>, RequestAttributes, boolean][] = [
    ['masters may do anything', admin, res('delete', '', 'nodes', { name: 'n1' }), true],
    ['group binding allows list anywhere', reader, res('list', 'submariner.io', 'gateways', { namespace: 'x' }), true],
    ['group binding does not allow create', reader, res('create', 'submariner.io', 'gateways', { namespace: 'x' }), false],
    ['main-resource rights do not cover status', reader, res('get', 'submariner.io', 'gateways', { subresource: 'status', name: 'g' }), false],
    ['service account subject with namespace', sa, res('patch', 'submariner.io', 'gateways', { subresource: 'status', namespace: 'sm', name: 'g' }), true],
    ['status rights do not cover the main resource', sa, res('patch', 'submariner.io', 'gateways', { namespace: 'sm', name: 'g' }), false],
    ['*/status in the bound namespace', sa, res('get', 'apps', 'deployments', { subresource: 'status', namespace: 'sm', name: 'd' }), true],
    ['*/status not elsewhere', sa, res('get', 'apps', 'deployments', { subresource: 'status', namespace: 'other', name: 'd' }), false],
    ['role binding only in its namespace', bob, res('create', '', 'configmaps', { namespace: 'ns1' }), true],
    ['role binding not in another namespace', bob, res('create', '', 'configmaps', { namespace: 'ns2' }), false],
    ['resourceNames match the named lease', bob, res('update', 'coordination.k8s.io', 'leases', { namespace: 'ns1', name: 'submariner-gateway-lock' }), true],
    ['resourceNames exclude other leases', bob, res('update', 'coordination.k8s.io', 'leases', { namespace: 'ns1', name: 'other' }), false],
    ['resourceNames exclude unnamed list', bob, res('list', 'coordination.k8s.io', 'leases', { namespace: 'ns1' }), false],
    ['discovery for every authenticated user', bob, { verb: 'get', path: '/apis/submariner.io/v1' }, true],
    ['but not other non-resource paths', bob, { verb: 'get', path: '/metrics' }, false],
  ];
  for (const [name, user, attrs, want] of cases) it(name, () => assert.equal(authorize(user, attrs, world).allowed, want));

  it('service account users get their groups', () => {
    assert.deepEqual(sa.groups.sort(), ['system:authenticated', 'system:serviceaccounts', 'system:serviceaccounts:sm']);
  });
  it('says what was forbidden like Kubernetes', () => {
    assert.equal(
      forbiddenMessage(bob, res('list', '', 'pods', { namespace: 'ns2' })),
      'pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "ns2"',
    );
    assert.equal(
      forbiddenMessage(bob, res('get', 'submariner.io', 'gateways', { subresource: 'status', name: 'g' })),
      'gateways/status "g" is forbidden: User "bob" cannot get resource "gateways/status" in API group "submariner.io" at the cluster scope',
    );
  });
});
