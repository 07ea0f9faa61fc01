// Issue 19: the calico-bgp preset (see src/lab/presets.ts) with hawser's VXLAN cables, end to end, plus
// restarts of every BIRD of one cluster: BIRD's routes come back as they were, hawser's stay untouched.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readGateways } from '../../src/lab/index.js';
import { crossClusterFailures, describePreset, labState, reaches } from './preset-support.js';

describePreset('calico-bgp', (s) => {
  it("restarting BIRD on every node of cluster-a neither withdraws hawser's routes and rules nor changes BIRD's", async () => {
    const lab = s.lab();
    const foreign = await labState(lab);
    const owned = await labState(lab, 'owned');
    const birds = lab.topology.processes.filter((p) => p.kind === 'bird' && p.cluster === 'cluster-a');
    assert.ok(birds.length >= 4, 'BIRD on every node and the route reflector');
    for (const p of birds) await lab.stopProcess(p.id, 'SIGTERM');
    // BIRD takes its routes along when it stops; hawser's stay.
    const a = lab.topology.clusters[0]!;
    const wk = a.nodes.at(-1)!;
    const r = await lab.exec(wk.name, ['ip', '-4', 'route', 'show', 'proto', 'bird']);
    assert.equal(r.stdout.trim(), '', `no BIRD routes on ${wk.name} while BIRD is down`);
    assert.deepEqual((await labState(lab, 'owned'))[wk.name], owned[wk.name], `hawser's state on ${wk.name} while BIRD is down`);
    for (const p of birds) await lab.startProcess(p.id);
    await lab.waitBgpRoutes(60_000);
    assert.deepEqual(await labState(lab, 'owned'), owned, "hawser's routes, rules and tables after the BIRD restart");
    assert.deepEqual(await labState(lab), foreign, "BIRD's routes (and the rest) after the restart");
    assert.deepEqual(await crossClusterFailures(lab, a.nodes.map((n) => n.pods[0]!.name)), []);
  });

  it('FORWARD policy DROP on the active gateway: other nodes lose their cross-cluster traffic, `hawser diagnose` says which accepts fix it, and they do', async () => {
    const lab = s.lab();
    const [a, b] = lab.topology.clusters;
    const gw = (await readGateways(lab.kubeConfig(a!.id), a!.id)).find((g) => g.haStatus === 'active')!.name;
    const worker = a!.nodes.find((n) => !n.gateway)!.pods[0]!.name;
    const target = b!.nodes.at(-1)!.pods[0]!.ip;
    const foreign = await labState(lab);
    await lab.exec(gw, ['iptables', '-P', 'FORWARD', 'DROP']);
    const inserted: string[][] = [];
    try {
      assert.equal(await reaches(lab, worker, target, 3000), false, `${worker} → ${target} through ${gw} with FORWARD DROP`);
      const hawser = join(lab.topology.options.repoRoot, 'bin', 'hawser');
      const d = await lab.exec(gw, [hawser, 'diagnose', '--kubeconfig', a!.kubeconfig, '--driver', 'vxlan', '--cluster-cidr', a!.podCidr], { allowFailure: true, timeoutMs: 60_000 });
      assert.match(d.stdout, /! forwarding: a forward chain drops by default/);
      const cidrs = /for c in (.+?); do iptables -I FORWARD -s \$c -j ACCEPT; iptables -I FORWARD -d \$c -j ACCEPT; done/.exec(d.stdout)?.[1]?.split(' ') ?? [];
      assert.deepEqual(cidrs, [b!.podCidr, b!.serviceCidr], 'the fix names the remote CIDRs');
      for (const c of cidrs) for (const dir of ['-s', '-d']) {
        await lab.exec(gw, ['iptables', '-I', 'FORWARD', dir, c, '-j', 'ACCEPT']);
        inserted.push([dir, c]);
      }
      assert.ok(await reaches(lab, worker, target), `${worker} → ${target} after the fix`);
    } finally {
      for (const [dir, c] of inserted) await lab.exec(gw, ['iptables', '-D', 'FORWARD', dir!, c!, '-j', 'ACCEPT'], { allowFailure: true });
      await lab.exec(gw, ['iptables', '-P', 'FORWARD', 'ACCEPT']);
    }
    assert.deepEqual(await labState(lab), foreign, 'the gateway as it was');
  });
});
