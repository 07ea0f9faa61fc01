// `hawser show plan`'s Globalnet section, pure: objects + the observed table → the plan and its pending nft changes.
import assert from 'node:assert/strict';
import { observedGlobalnetTable, planGlobalnetSection } from '../../src/cli/commands/show-globalnet.js';
import { planGlobalnet } from '../../src/nat/desired.js';
import { inputsFromObjects } from '../../src/nat/controller.js';
import { parseTableListing } from '../../src/os/nft.js';
import { FakeApi } from '../support/fake-api.js';
import { globalnetWorld } from '../support/globalnet-world.js';

const NS = 'submariner-operator';
const NOW = new Date('2026-01-01T00:00:00Z');
const cfg = { clusterId: 'a', nodeName: 'gw1', cniIP: '10.42.0.1' };

const world = (): FakeApi => globalnetWorld(NS);

describe('show plan: Globalnet section (pure)', () => {
  it('plans from the objects; with no table, the whole table is pending', () => {
    const s = planGlobalnetSection({ objects: world().sources(NS), cfg, now: NOW, observed: undefined });
    assert.equal(s.error, undefined);
    assert.match(s.plan[0]!, /^global CIDR 242\.0\.0\.0\/24: \d+ of \d+ addresses allocated/);
    assert.ok(s.plan.some((l) => /^allocate ClusterGlobalEgressIP cluster-egress\.submariner\.io: 242\.0\.0\.\d+, 242\.0\.0\.\d+$/.test(l)), s.plan.join('\n'));
    assert.ok(s.plan.some((l) => l === 'status ClusterGlobalEgressIP cluster-egress.submariner.io'), s.plan.join('\n'));
    assert.deepEqual(s.pending?.length, 1);
    assert.match(s.pending![0]!, /^create table ip hawser-globalnet with \d+ element\(s\)$/);
  });

  it('the table as listed is read back: the plan\'s own table leaves nothing pending, a missing element is pending', () => {
    const objects = world().sources(NS);
    const plan = planGlobalnet(inputsFromObjects(objects, cfg, NOW));
    const egress = [...plan.dataplane.egressCluster].map(([k, v]) => `${k} : ${v}`);
    const listing = `table ip hawser-globalnet {\n\tset remote_global_cidrs {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { ${plan.dataplane.remoteGlobalCidrs.join(', ')} }\n\t}\n\tmap egress_cluster {\n\t\ttype ipv4_addr : interval ipv4_addr\n\t\tflags interval\n\t\telements = { ${egress.join(',\n\t\t\t     ')} }\n\t}\n}\n`;
    const observed = observedGlobalnetTable(parseTableListing(listing));
    assert.deepEqual(observed?.remoteGlobalCidrs, ['242.1.0.0/24']);
    assert.deepEqual(planGlobalnetSection({ objects, cfg, now: NOW, observed }).pending, []);
    const partial = observedGlobalnetTable(parseTableListing('table ip hawser-globalnet {\n}\n'));
    const pending = planGlobalnetSection({ objects, cfg, now: NOW, observed: partial }).pending ?? [];
    assert.ok(pending.includes('add element ip hawser-globalnet remote_global_cidrs { 242.1.0.0/24 }'), pending.join('\n'));
  });

  it('no global CIDR anywhere: the section says so instead of planning', () => {
    const api = new FakeApi();
    const s = planGlobalnetSection({ objects: api.sources(NS), cfg, now: NOW, observed: undefined });
    assert.match(s.error ?? '', /no global CIDR for cluster a/);
  });
});
