// `hawser lab up --image`: how a role is planned and started when it runs from the unpacked image.
import assert from 'node:assert/strict';
import { processArgv, processEnv, rootfsMountWords } from '../../src/lab/procs.js';
import { formatTopology, planLab, resolveOptions, type LabSecrets, type ProcessPlan } from '../../src/lab/topology.js';
import { isHawserError } from '../../src/util/errors.js';

const SECRETS: LabSecrets = {
  psk: 'cHNrLXRleHQtZm9yLXRlc3Rz',
  adminTokens: { 'cluster-a': 'admin-a-token', 'cluster-b': 'admin-b-token' },
  brokerTokens: { 'cluster-a': 'broker-a-token', 'cluster-b': 'broker-b-token' },
};
const IMAGE = { archive: '/img/hawser-0.1.0.oci.tar', digest: 'sha256:' + 'a'.repeat(64), env: { PATH: '/usr/local/bin:/usr/bin', NODE_ENV: 'production' } };

function rolePlan(id: string, image = true): ProcessPlan {
  const t = planLab(resolveOptions({ name: 'x1', repoRoot: '/repo', stateRoot: '/run/l', ...(image ? { image: IMAGE } : {}) }), SECRETS);
  return t.processes.find((p) => p.id === id)!;
}

describe('lab: roles from an image (--image)', () => {
  it('runs `hawser <role>` from the image PATH with the pod paths, under the image env', () => {
    const gw = rolePlan('a-gw1/gateway');
    assert.deepEqual(gw.argv, ['hawser', 'gateway']);
    assert.equal(gw.env.PATH, '/usr/local/bin:/usr/bin');
    assert.equal(gw.env.NODE_ENV, 'production');
    assert.equal(gw.env.KUBECONFIG, '/run/secrets/hawser/kubeconfig');
    assert.equal(gw.env.HAWSER_STATE_DIR, '/var/run/hawser');
    assert.equal(gw.privateMount?.rootfs?.dir, '/run/l/x1/rootfs');
    assert.deepEqual(rootfsMountWords(gw.privateMount!.rootfs!.mounts), [
      'dir:rw:/run/l/x1/nodes/a-gw1/state:/run/hawser',
      'dir:rw:/run/l/x1/nodes/a-gw1/wireguard:/run/wireguard',
      'file:ro:/run/l/x1/clusters/cluster-a/kubeconfig:/run/secrets/hawser/kubeconfig',
      'file:rw:/run/xtables.lock:/run/xtables.lock',
      'dir:ro?:/lib/modules:/usr/lib/modules',
    ]);
    // The checkout's roles are unchanged.
    const host = rolePlan('a-gw1/gateway', false);
    assert.deepEqual(host.argv, ['/repo/bin/hawser', 'gateway']);
    assert.equal(host.privateMount?.rootfs, undefined);
  });

  it('starts it in the node netns, in its own mount and UTS namespace, chrooted after the mounts', () => {
    const argv = processArgv(rolePlan('b-wk1/route-agent'));
    assert.deepEqual(argv.slice(0, 12), ['ip', 'netns', 'exec', 'hw-x1-b-wk1', 'unshare', '--mount', '--uts', '--propagation', 'private', '--', 'sh', '-c']);
    const script = argv[12]!;
    assert.match(script, /mount -t proc .* "\$root\/proc"/);
    assert.match(script, /mount --bind "\/dev\/\$d"/);
    assert.match(script, /net\/tun/);
    assert.match(script, /mount -o remount,bind,ro "\$root"\nexec chroot "\$root" "\$@"$/);
    assert.deepEqual(argv.slice(13, 16), ['lab-pod', 'b-wk1', '/run/l/x1/rootfs']);
    assert.deepEqual(argv.slice(-3), ['--', 'hawser', 'route-agent']);
  });

  it('gives the role nothing of the host environment', () => {
    const env = processEnv({ ...rolePlan('a-gw1/gateway'), envFromFiles: {} }, { PATH: '/host/bin', NODE_OPTIONS: '--inspect', npm_config_cache: '/root/.npm' });
    assert.equal(env.PATH, '/usr/local/bin:/usr/bin');
    assert.equal(env.NODE_OPTIONS, undefined);
    assert.equal(env.npm_config_cache, undefined);
    assert.equal(env.HOME, '/root');
  });

  it('refuses mount paths the script cannot carry, and relative archives', () => {
    assert.throws(() => rootfsMountWords([{ kind: 'dir', source: '/a:b', target: '/x', readOnly: true }]), (e: unknown) => isHawserError(e, 'INVALID'));
    assert.throws(() => resolveOptions({ name: 'x1', repoRoot: '/repo', image: { ...IMAGE, archive: 'rel.tar' } }), /absolute/);
  });

  it('shows the image and the chroot in the dry-run plan', () => {
    const t = planLab(resolveOptions({ name: 'x1', repoRoot: '/repo', stateRoot: '/run/l', image: IMAGE }), SECRETS);
    const text = formatTopology(t);
    assert.match(text, /^image \/img\/hawser-0\.1\.0\.oci\.tar \(sha256:a{64}\) unpacked into \/run\/l\/x1\/rootfs$/m);
    assert.match(text, /process a-gw1\/gateway in hw-x1-a-gw1 \[mount ns: hostname a-gw1, chroot \/run\/l\/x1\/rootfs \(read-only\), \/run\/hawser=\/run\/l\/x1\/nodes\/a-gw1\/state, .*\]: hawser gateway/);
  });
});
