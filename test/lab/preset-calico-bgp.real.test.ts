// Issue 19: the calico-bgp preset (see src/lab/presets.ts) with hawser's VXLAN cables, end to end, plus
// restarts of every BIRD of one cluster: BIRD's routes come back as they were, hawser's stay untouched.
import assert from 'node:assert/strict';
import { crossClusterFailures, describePreset, labState } from './preset-support.js';

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
});
