// The hand-read route notification (routeFromPayload) gives what the package's parse + routeFromMessage
// gives, and the hand-written route request (routePayload) the bytes the package writes, for the route
// shapes hawser writes and reads.
import assert from 'node:assert/strict';
import { AttrStream, rt } from 'netlink';
import { routeFromMessage, routeFromPayload, type RouteSpec } from '../../src/os/netlink.js';
import { encodeOp, routeMessage, routePayload } from '../../src/os/rtnl-batch.js';

const specs: RouteSpec[] = [
  { table: 150, dst: '10.56.0.0/16', gateway: '240.168.93.11', oif: 7, protocol: 147, onlink: true, prefsrc: '10.46.0.1' },
  { table: 150, dst: '10.57.0.0/16', oif: 3, protocol: 147, scope: 253 },
  { table: 254, dst: '0.0.0.0/0', gateway: '192.168.1.1', oif: 2, protocol: 4, metric: 100 },
  { table: 1000, dst: '172.16.5.0/24', oif: 9, protocol: 119 },
  { table: 254, dst: 'fd00:1::/64', oif: 4, protocol: 2, metric: 256 },
  { table: 255, dst: 'fe80::1/128', oif: 4, protocol: 2 },
  { table: 255, dst: '10.0.0.1/32', oif: 4, protocol: 2, type: 2 },
];

describe('os: route notifications read by hand', () => {
  for (const spec of specs) {
    it(`${spec.dst} table ${spec.table}`, () => {
      const payload = Buffer.concat(encodeOp({ op: 'route-add', route: spec }).payload);
      const viaPackage = routeFromMessage(rt.parseMessage(rt.MessageType.NEWROUTE, payload) as rt.RouteMessage);
      assert.deepEqual(routeFromPayload(payload), viaPackage);
    });
  }

  it('a truncated message is left out, not misread', () => {
    const payload = Buffer.concat(encodeOp({ op: 'route-add', route: specs[0]! }).payload);
    assert.equal(routeFromPayload(payload.subarray(0, 8)), undefined);
    assert.equal(routeFromPayload(payload.subarray(0, payload.length - 2)), undefined);
  });
});

describe('os: route requests written by hand', () => {
  for (const spec of specs) {
    it(`${spec.dst} table ${spec.table}: the bytes the package writes`, () => {
      const s = new AttrStream();
      rt.formatRouteMessage(routeMessage(spec), s);
      assert.deepEqual(routePayload(spec), Buffer.concat(s.bufs));
    });
  }
});
