// Issue 19: the underlay preset (see src/lab/presets.ts) with hawser's VXLAN cables, end to end, plus what
// makes Submariner crash-loop there ("unable to find CNI Interface on the host which has IP from [...]"):
// no node address in any of the cluster's three pod subnets. hawser keeps its cables up and says so.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readGateways } from '../../src/lab/index.js';
import { describePreset } from './preset-support.js';

describePreset('underlay', (s) => {
  it('has no CNI interface on the nodes and degrades with a status and a diagnose finding, never a crash loop', async () => {
    const lab = s.lab();
    const a = lab.topology.clusters[0]!;
    const cidrs = a.podCidrs!.join(',');
    const gws = await readGateways(lab.kubeConfig(a.id), a.id);
    const active = gws.find((g) => g.haStatus === 'active');
    assert.ok(active, 'an active gateway');
    const raw = await lab.exec(a.id, ['kubectl', 'get', 'gateways.submariner.io', '-n', 'submariner-operator', active.name, '-o', 'jsonpath={.status.statusFailure}']);
    assert.match(raw.stdout, /health checking unavailable: no address on this node is inside the cluster CIDRs \[172\.110\.1\.0\/24, 172\.110\.2\.0\/24, 172\.110\.3\.0\/24\]/);
    const hawser = join(lab.topology.options.repoRoot, 'bin', 'hawser');
    const d = await lab.exec(active.name, [hawser, 'diagnose', '--kubeconfig', a.kubeconfig, '--driver', 'vxlan', '--cluster-cidr', cidrs], { allowFailure: true, timeoutMs: 60_000 });
    assert.match(d.stdout, /CNI interface.*no address on this node is inside 172\.110\.1\.0\/24, 172\.110\.2\.0\/24, 172\.110\.3\.0\/24/);
    assert.match(d.stdout, /Submariner would crash-loop here/);
    // Every role still runs (the lab has no kubelet: an exit would leave it down).
    for (const n of s.nodes()) for (const role of n.roles) assert.ok(lab.roleRunning(n.name, role), `${n.name} ${role} runs`);
  });
});
