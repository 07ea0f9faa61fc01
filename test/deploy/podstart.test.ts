// Would each pod start? Offline checks of every rendered pod spec against what real runtimes enforce:
// Pod Security Admission, a runtime that mounts /proc/sys read-only for unprivileged containers
// (containerd, CRI-O, Docker), a read-only root filesystem, and OpenShift's SCC admission.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DEPLOY, kustomize, kustomizeWith, type KObject } from './manifests.js';

interface Mount { name: string; mountPath: string; readOnly?: boolean }
interface Container {
  name: string;
  securityContext?: { privileged?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { add?: string[] } };
  volumeMounts?: Mount[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface Volume { name: string; hostPath?: { path: string; type?: string }; emptyDir?: object }
interface PodSpec {
  serviceAccountName?: string; hostNetwork?: boolean; priorityClassName?: string;
  containers: Container[]; initContainers?: Container[]; volumes?: Volume[];
}
interface RbacRule { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }

const podSpec = (ds: KObject): PodSpec => (ds.spec as { template: { spec: PodSpec } }).template.spec;
const allContainers = (s: PodSpec): Container[] => [...(s.initContainers ?? []), ...s.containers];
const daemonSets = (objs: KObject[]): KObject[] => objs.filter((o) => o.kind === 'DaemonSet');

/** The Pod Security Standards' `baseline` checks that a hawser pod can trip (hostNetwork, privileged, hostPath, capabilities). */
function baselineViolations(s: PodSpec): string[] {
  const out: string[] = [];
  if (s.hostNetwork) out.push('hostNetwork');
  if ((s.volumes ?? []).some((v) => v.hostPath)) out.push('hostPath volumes');
  const allowedCaps = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);
  for (const c of allContainers(s)) {
    if (c.securityContext?.privileged) out.push(`${c.name}: privileged`);
    for (const cap of c.securityContext?.capabilities?.add ?? []) if (!allowedCaps.has(cap)) out.push(`${c.name}: capability ${cap}`);
  }
  return out;
}

/** Which PSA level a namespace enforces (unlabelled: whatever the cluster default is, often baseline or restricted). */
function enforcedLevel(objs: KObject[], ns: string): string | undefined {
  return objs.find((o) => o.kind === 'Namespace' && o.metadata.name === ns)?.metadata.labels?.['pod-security.kubernetes.io/enforce'];
}

/** Paths each role writes (besides its volumes' own): they must be mounts on a read-only root filesystem. */
const WRITES: Record<string, string[]> = {
  'submariner-gateway': ['/var/run/hawser', '/tmp', '/var/run/wireguard'],
  'submariner-routeagent': ['/var/run/hawser', '/tmp'],
  'submariner-globalnet': ['/var/run/hawser', '/tmp'],
  'hawser-uninstall': ['/var/run/hawser', '/var/run/wireguard'],
};
/** Roles that write /proc/sys (ip_forward, rp_filter) or open /dev/net/tun (userspace data path). */
const NEEDS_PRIVILEGED = new Set(['submariner-gateway', 'submariner-routeagent', 'hawser-uninstall']);

describe('deploy: pods start on real runtimes', function () {
  this.timeout(30_000);
  let full: KObject[];
  let uninstall: KObject[];

  before(async () => {
    full = await kustomizeWith(['components/globalnet']);
    uninstall = await kustomize(join(DEPLOY, 'uninstall'));
  });

  it('Pod Security Admission: the namespace enforces `privileged`, which every pod needs (baseline would reject each)', () => {
    assert.equal(enforcedLevel(full, 'submariner-operator'), 'privileged');
    for (const ds of [...daemonSets(full), ...daemonSets(uninstall)]) {
      assert.equal(ds.metadata.namespace, 'submariner-operator', ds.metadata.name);
      assert.notDeepEqual(baselineViolations(podSpec(ds)), [], `${ds.metadata.name} would pass baseline: then it does not need privileged`);
    }
  });

  it('read-only /proc/sys runtimes: the roles that write sysctls or open /dev/net/tun run privileged; every written path is a mount', () => {
    for (const ds of [...daemonSets(full), ...daemonSets(uninstall)]) {
      const s = podSpec(ds);
      const worker = ds.metadata.name === 'hawser-uninstall' ? s.initContainers![0]! : s.containers[0]!;
      if (NEEDS_PRIVILEGED.has(ds.metadata.name)) assert.equal(worker.securityContext?.privileged, true, `${ds.metadata.name}: /proc/sys is read-only unless privileged`);
      assert.equal(worker.securityContext?.readOnlyRootFilesystem, true, ds.metadata.name);
      const mounts = worker.volumeMounts ?? [];
      for (const path of WRITES[ds.metadata.name] ?? assert.fail(`no write list for ${ds.metadata.name}`)) {
        const m = mounts.find((x) => x.mountPath === path);
        assert.ok(m && !m.readOnly, `${ds.metadata.name} writes ${path} but has no writable mount there`);
      }
      for (const m of mounts) assert.ok(s.volumes?.some((v) => v.name === m.name), `${ds.metadata.name}: mount ${m.name} has no volume`);
      // state on the host: a replaced pod adopts the data path, and uninstall finds it
      assert.equal(s.volumes?.find((v) => v.name === 'state')?.hostPath?.path, '/var/run/hawser', ds.metadata.name);
    }
    const gw = podSpec(full.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'submariner-gateway')!);
    const hostPaths = Object.fromEntries((gw.volumes ?? []).filter((v) => v.hostPath).map((v) => [v.hostPath!.path, v.hostPath!.type ?? '']));
    assert.equal(hostPaths['/dev/net/tun'], 'CharDevice');
    assert.ok('/lib/modules' in hostPaths);
    assert.ok(gw.containers[0]!.volumeMounts!.find((m) => m.mountPath === '/lib/modules')?.readOnly, '/lib/modules must be read-only');
    const ra = podSpec(full.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'submariner-routeagent')!);
    assert.equal(ra.volumes?.find((v) => v.hostPath?.path === '/run/xtables.lock')?.hostPath?.type, 'FileOrCreate');
  });

  it('priority, resources and an update strategy that never takes both gateways down', () => {
    for (const ds of daemonSets(full)) {
      const s = podSpec(ds);
      assert.equal(s.priorityClassName, 'system-node-critical', ds.metadata.name);
      const c = s.containers[0]!;
      assert.ok(c.resources?.requests?.memory && c.resources.requests.cpu && c.resources.limits?.memory, `${ds.metadata.name}: requests and a memory limit`);
    }
    const gw = full.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'submariner-gateway')!;
    assert.deepEqual((gw.spec as { updateStrategy: unknown }).updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
  });

  it('OpenShift: with components/openshift every pod ServiceAccount may use the privileged SCC; globalnet may set externalIPs', async () => {
    const objs = await kustomizeWith(['components/globalnet', 'components/openshift']);
    const all = [...objs, ...uninstall];
    const mayUse = (sa: string, ns: string, group: string, resource: string, verb: string, name?: string): boolean => {
      const bindings = all.filter((o) => (o.kind === 'RoleBinding' && o.metadata.namespace === ns) || o.kind === 'ClusterRoleBinding');
      return bindings.some((b) => (b.subjects as { kind: string; name: string; namespace?: string }[]).some((x) => x.kind === 'ServiceAccount' && x.name === sa && x.namespace === ns)
        && all.some((r) => r.kind === (b.roleRef as { kind: string }).kind && r.metadata.name === (b.roleRef as { name: string }).name
          && (r.rules as RbacRule[]).some((rule) => rule.apiGroups.includes(group) && rule.resources.includes(resource) && rule.verbs.includes(verb)
            && (name === undefined || !rule.resourceNames || rule.resourceNames.includes(name)))));
    };
    for (const ds of daemonSets(all)) {
      const sa = podSpec(ds).serviceAccountName ?? 'default';
      assert.ok(mayUse(sa, ds.metadata.namespace!, 'security.openshift.io', 'securitycontextconstraints', 'use', 'privileged'), `${sa} cannot use SCC privileged: ${ds.metadata.name} would be rejected`);
    }
    assert.ok(mayUse('submariner-globalnet', 'submariner-operator', 'network.openshift.io', 'services/externalips', 'create'));
  });

  it('components/restricted-capabilities: capabilities instead of privileged, and it still renders', async () => {
    const objs = await kustomizeWith(['components/globalnet', 'components/restricted-capabilities']);
    for (const ds of daemonSets(objs)) {
      const sc = podSpec(ds).containers[0]!.securityContext!;
      assert.equal(sc.privileged, undefined, ds.metadata.name);
      assert.ok(sc.capabilities?.add?.includes('NET_ADMIN'), ds.metadata.name);
    }
  });
});
