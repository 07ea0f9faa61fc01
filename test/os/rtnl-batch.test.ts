import assert from 'node:assert/strict';
import { FlagsNew, rt } from 'netlink';
import { describeOp, type RtnlOp } from '../../src/os/netlink.js';
import { encodeOp, errnoName, frameOps } from '../../src/os/rtnl-batch.js';
import type { OpOutcome } from '../../src/os/netlink.js';

function decode(op: RtnlOp): { type: number; flags: number; msg: rt.Message; raw: Buffer } {
  const e = encodeOp(op);
  const raw = Buffer.concat(e.payload);
  return { type: e.type, flags: e.flags, msg: rt.parseMessage(e.type, raw), raw };
}

describe('os/rtnl-batch encoding', () => {
  it('a route add is NEWROUTE with CREATE|EXCL, a replace (failover re-point) CREATE|REPLACE, a delete DELROUTE', () => {
    const route = { table: 150, dst: '172.16.3.0/24', gateway: '240.168.90.11', oif: 7, protocol: 147, onlink: true };
    const add = decode({ op: 'route-add', route });
    assert.equal(add.type, rt.MessageType.NEWROUTE);
    assert.equal(add.flags, FlagsNew.CREATE | FlagsNew.EXCL);
    const m = add.msg as rt.RouteMessage;
    assert.equal(m.data.dstLen, 24);
    assert.equal(m.attrs.table, 150);
    assert.equal(m.attrs.oif, 7);
    assert.deepEqual([...m.attrs.dst!], [172, 16, 3, 0]);
    assert.deepEqual([...m.attrs.gateway!], [240, 168, 90, 11]);
    assert.equal(decode({ op: 'route-replace', route }).flags, FlagsNew.CREATE | FlagsNew.REPLACE);
    assert.equal(decode({ op: 'route-del', route }).type, rt.MessageType.DELROUTE);
  });

  it('a table above 255 travels in RTA_TABLE with RT_TABLE_COMPAT in the header', () => {
    const m = decode({ op: 'rule-add', rule: { pref: 100, table: 1000, protocol: 147 } }).msg as rt.RuleMessage;
    assert.equal(m.data.table, 252);
    assert.equal(m.attrs.table, 1000);
    assert.equal(m.attrs.priority, 100);
  });

  it('a VXLAN FDB entry carries NDA_PORT (network order) and NDA_VNI when given', () => {
    const op: RtnlOp = { op: 'neigh-append', neigh: { family: 'bridge', ifindex: 5, mac: '00:00:00:00:00:00', dst: '192.168.1.2', port: 4800, vni: 1000 } };
    const { raw, flags } = decode(op);
    assert.equal(flags, FlagsNew.CREATE | FlagsNew.APPEND);
    // attributes after the 12-byte ndmsg: find type 6 (port) and 7 (vni)
    const attrs = new Map<number, Buffer>();
    for (let off = 12; off + 4 <= raw.length; ) {
      const len = raw.readUInt16LE(off);
      attrs.set(raw.readUInt16LE(off + 2), raw.subarray(off + 4, off + len));
      off += (len + 3) & ~3;
    }
    assert.equal(attrs.get(6)!.readUInt16BE(0), 4800);
    assert.equal(attrs.get(7)!.readUInt32LE(0), 1000);
    assert.match(describeOp(op), /fdb append 00:00:00:00:00:00 dst 192.168.1.2 port 4800 vni 1000 ifindex 5/);
  });

  it('malformed input is refused before anything is sent', () => {
    assert.throws(() => encodeOp({ op: 'neigh-add', neigh: { family: 'inet', ifindex: 1, mac: 'zz', dst: '10.0.0.1' } }), /not a MAC address/);
    assert.throws(() => encodeOp({ op: 'route-add', route: { table: 150, dst: '10.0.0.0/40', protocol: 147 } }), /not a CIDR/);
    assert.equal(errnoName(-17), 'EEXIST');
  });

  it('one sendmsg buffer: consecutive sequence numbers, NLM_F_ACK on the last message only, the bytes encodeOp gives', () => {
    const ops: RtnlOp[] = [
      { op: 'route-add', route: { table: 150, dst: '172.16.3.0/24', gateway: '240.168.90.11', oif: 7, protocol: 147, onlink: true } },
      { op: 'neigh-replace', neigh: { family: 'inet', ifindex: 1, mac: 'zz', dst: '10.0.0.1' } },
      { op: 'rule-add', rule: { pref: 150, table: 150, protocol: 147 } },
      { op: 'route-del', route: { table: 1000, dst: 'fd00:1::/64', oif: 4, protocol: 147 } },
    ];
    const out: OpOutcome[] = new Array(ops.length);
    const { buffer, opOf } = frameOps(ops, 0, ops.length, 41, out);
    assert.deepEqual(opOf, [0, 2, 3], 'the op that cannot be encoded gets no message');
    assert.equal(out[1]?.ok, false);
    assert.equal(out[1]?.ok === false && out[1].errno, 'EINVAL');
    const frames: { len: number; type: number; flags: number; seq: number; payload: Buffer }[] = [];
    for (let off = 0; off < buffer.length; ) {
      const len = buffer.readUInt32LE(off);
      frames.push({ len, type: buffer.readUInt16LE(off + 4), flags: buffer.readUInt16LE(off + 6), seq: buffer.readUInt32LE(off + 8), payload: buffer.subarray(off + 16, off + len) });
      off += (len + 3) & ~3;
    }
    assert.deepEqual(frames.map((f) => f.seq), [41, 42, 43]);
    assert.deepEqual(frames.map((f) => f.flags & 4), [0, 0, 4], 'NLM_F_ACK on the last only');
    assert.ok(frames.every((f) => f.flags & 1), 'NLM_F_REQUEST on all');
    for (const [k, i] of opOf.entries()) {
      const e = encodeOp(ops[i]!);
      assert.equal(frames[k]!.type, e.type);
      assert.equal(frames[k]!.flags & ~5, e.flags);
      assert.deepEqual(frames[k]!.payload, Buffer.concat(e.payload));
    }
  });
});
