import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ACCESS_MATRIX, describeCheck, type AccessCheck } from './access.js';
import { DEPLOY, asObjects, kustomizeWith, parseYamlFile, type KObject } from './manifests.js';

interface Rule { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }
interface Subject { kind: string; name: string; namespace?: string }

/** Kubernetes RBAC's decision for a ServiceAccount, from the objects alone (no aggregation, no groups). */
function allowed(objs: KObject[], c: AccessCheck): boolean {
  const [, , saNs, saName] = c.user.split(':');
  const bound = (b: KObject): boolean => (b.subjects as Subject[]).some((s) => s.kind === 'ServiceAccount' && s.name === saName && s.namespace === saNs);
  const rulesOf = (kind: string, name: string, ns?: string): Rule[] => {
    const role = objs.find((o) => o.kind === kind && o.metadata.name === name && (kind === 'ClusterRole' || o.metadata.namespace === ns));
    return (role?.rules as Rule[] | undefined) ?? [];
  };
  const rules: Rule[] = [];
  for (const b of objs.filter((o) => o.kind === 'ClusterRoleBinding' && bound(o))) rules.push(...rulesOf('ClusterRole', (b.roleRef as { name: string }).name));
  if (c.namespace !== undefined) {
    for (const b of objs.filter((o) => o.kind === 'RoleBinding' && o.metadata.namespace === c.namespace && bound(o))) {
      const ref = b.roleRef as { kind: string; name: string };
      rules.push(...rulesOf(ref.kind, ref.name, c.namespace));
    }
  }
  return rules.some((r) => r.apiGroups.includes(c.group) && r.resources.includes(c.resource) && r.verbs.includes(c.verb)
    && (!r.resourceNames?.length || (c.name !== undefined && r.resourceNames.includes(c.name))));
}

describe('deploy: RBAC grants what each role needs and nothing else', function () {
  this.timeout(30_000);
  let objs: KObject[];
  before(async () => {
    objs = [...await kustomizeWith(['components/globalnet']), ...asObjects(parseYamlFile(join(DEPLOY, 'broker', 'rbac.yaml')))];
  });

  for (const c of ACCESS_MATRIX) {
    it(describeCheck(c), () => assert.equal(allowed(objs, c), c.allowed));
  }
});
