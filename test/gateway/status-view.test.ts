// What this node's Gateway says, from the role's state alone (table).
import assert from 'node:assert/strict';
import { haStatusToWrite, serving, type RoleView } from '../../src/gateway/status-view.js';

const base: RoleView = { state: 'standby', handingOver: false, electionSettled: true, problems: false, hasEndpoint: true };

describe('gateway status view', () => {
  const rows: Array<[string, Partial<RoleView>, 'active' | 'passive' | undefined]> = [
    ['nothing known yet: nothing to write', { state: 'starting', hasEndpoint: false }, undefined],
    ['a driver that fails to start: passive with the problem', { state: 'starting', hasEndpoint: false, problems: true }, 'passive'],
    ['standing by before the election spoke: nothing (a restart in place must not flash passive)', { electionSettled: false }, undefined],
    ['standing by, the election spoke: passive', {}, 'passive'],
    ['active', { state: 'active' }, 'active'],
    ['stopping from active for a restart in place: still active', { state: 'stopping', stoppingFrom: 'active' }, 'active'],
    ['stopping from active, handing over: passive', { state: 'stopping', stoppingFrom: 'active', handingOver: true }, 'passive'],
    ['stopping from standby before the election spoke: nothing', { state: 'stopping', stoppingFrom: 'standby', electionSettled: false }, undefined],
    ['stopped: passive', { state: 'stopped' }, 'passive'],
  ];
  for (const [what, v, want] of rows) {
    it(what, () => {
      const view = { ...base, ...v };
      assert.equal(haStatusToWrite(view), want);
      assert.equal(serving(view), want === 'active');
    });
  }
});
