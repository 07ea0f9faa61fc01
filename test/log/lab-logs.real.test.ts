// The log schema over real lab runs, one per cable driver (VXLAN with Globalnet: all three roles; WireGuard;
// IPsec through charon), two clusters each, at debug level, until the cables connect. Every JSON line of every hawser log
// must parse with the duplicate-key-rejecting parser, name its component, carry the node's own cluster
// as `cluster` (roles) and an object `err`.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, randomLabName, waitForCables, type LabState } from '../../src/lab/index.js';
import { assertNothingLeft } from '../support/lab.js';
import { parseStrictJson } from './strict-json.js';

const VARIANTS = [
  { driver: 'vxlan', globalnet: true },
  { driver: 'wireguard', globalnet: false },
  { driver: 'libreswan', globalnet: false },
] as const;

for (const v of VARIANTS) describe(`log @real: every line of a ${v.driver}${v.globalnet ? ' + Globalnet' : ''} lab run follows the schema (no duplicate keys)`, function () {
  this.timeout(180_000);
  let lab: Lab | undefined;
  let state: LabState | undefined;

  before(async () => {
    lab = await Lab.up({ name: randomLabName(), driver: v.driver, globalnet: v.globalnet, gatewaysPerCluster: 1, workersPerCluster: 1, logLevel: 'debug' });
    state = lab.state();
    await waitForCables(lab, 90_000);
  });

  after(async () => {
    if (!lab) return;
    await lab.down();
    await assertNothingLeft(lab.name, state!, lab.stateDir);
  });

  it('parses every line of every role and API server log', () => {
    const clusterOfNode = new Map(lab!.topology.clusters.flatMap((c) => c.nodes.map((n) => [n.name, c.id] as const)));
    const dir = join(lab!.stateDir, 'logs');
    const files = readdirSync(dir).filter((f) => /\.(gateway|route-agent|globalnet|apiserver)\.log$/.test(f));
    const perComponent = new Map<string, number>();
    const problems: string[] = [];
    for (const f of files) {
      const [node, role] = f.replace(/\.log$/, '').split('.') as [string, string];
      for (const raw of readFileSync(join(dir, f), 'utf8').split('\n')) {
        if (!raw.startsWith('{')) continue; // a child daemon's own text output
        let line: Record<string, unknown>;
        try {
          line = parseStrictJson(raw) as Record<string, unknown>;
        } catch (err) {
          problems.push(`${f}: ${(err as Error).message}: ${raw.slice(0, 300)}`);
          continue;
        }
        const component = String(line.component);
        perComponent.set(component, (perComponent.get(component) ?? 0) + 1);
        if (role !== 'apiserver') {
          if (component !== role) problems.push(`${f}: component ${component}: ${raw.slice(0, 300)}`);
          if (line.cluster !== clusterOfNode.get(node)) problems.push(`${f}: cluster ${String(line.cluster)} is not ${clusterOfNode.get(node)}: ${raw.slice(0, 300)}`);
        }
        if ('err' in line && (typeof line.err !== 'object' || typeof (line.err as { message?: unknown }).message !== 'string')) problems.push(`${f}: err not an object: ${raw.slice(0, 300)}`);
        if ('localCluster' in line) problems.push(`${f}: localCluster: ${raw.slice(0, 300)}`);
      }
    }
    console.log(`      ${files.length} log files, lines per component: ${JSON.stringify(Object.fromEntries(perComponent))}`);
    for (const c of ['gateway', 'route-agent', ...(v.globalnet ? ['globalnet'] : []), 'apiserver']) assert.ok((perComponent.get(c) ?? 0) > 0, `no ${c} lines`);
    assert.deepEqual(problems.slice(0, 20), []);
  });
});
