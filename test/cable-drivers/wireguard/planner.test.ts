import assert from 'node:assert/strict';
import { planDevice, planNet, planNetCleanup, type DesiredDevice, type DesiredPeer, type NetDesired, type NetObserved } from '../../../src/cable-drivers/wireguard/planner.js';
import { describeOp, type RouteInfo, type RtnlOp, type RuleInfo } from '../../../src/os/netlink.js';
import { renderUapiSet, ZERO_KEY, type Device, type Peer } from '../../../src/cable-drivers/wireguard/wgctrl/index.js';
import { K1, K2, K3, PSK } from './fixtures.js';

const NOW = 1_700_000_100_000;

const peerB: DesiredPeer = { cableName: 'cable-b', publicKey: K2.pub, presharedKey: PSK.key, endpoint: '192.0.2.2:4500', keepaliveSec: 10, allowedIPs: ['10.2.0.0/16', '100.2.0.0/16'] };
const peerC: DesiredPeer = { cableName: 'cable-c', publicKey: K3.pub, presharedKey: PSK.key, endpoint: '192.0.2.3:4500', keepaliveSec: 10, allowedIPs: ['10.3.0.0/16'] };

const observedPeer = (d: DesiredPeer, over: Partial<Peer> = {}): Peer => ({
  publicKey: d.publicKey,
  presharedKey: d.presharedKey,
  endpoint: d.endpoint,
  persistentKeepaliveIntervalSec: d.keepaliveSec,
  lastHandshakeMs: NOW - 5_000,
  rxBytes: 1,
  txBytes: 1,
  allowedIPs: [...d.allowedIPs].reverse(),
  protocolVersion: 1,
  ...over,
});

const device = (peers: Peer[], over: Partial<Device> = {}): Device => ({ name: 'wg', type: 'userspace', privateKey: K1.priv, publicKey: K1.pub, listenPort: 4500, fwmark: 0, peers, ...over });
const want = (peers: DesiredPeer[]): DesiredDevice => ({ privateKey: K1.priv, listenPort: 4500, peers });

interface Case {
  name: string;
  desired: DesiredDevice;
  observed: Device;
  prune?: boolean;
  remove?: string[];
  applied?: Array<[string, string]>;
  /** Plan text, then the UAPI request it renders to ('' when nothing is written). */
  lines: string[];
  uapi: string;
}

const cases: Case[] = [
  {
    name: 'fresh device: key, port and a new peer',
    desired: want([peerB]),
    observed: device([], { privateKey: undefined, publicKey: undefined, listenPort: 38713 }),
    lines: ['device set private-key', 'device set listen-port 4500 (was 38713)', `peer add ${K2.pub.slice(0, 8)} cable=cable-b endpoint=192.0.2.2:4500 allowed-ips=10.2.0.0/16,100.2.0.0/16 keepalive=10`],
    uapi: `set=1\nprivate_key=${K1.privHex}\nlisten_port=4500\npublic_key=${K2.pubHex}\npreshared_key=${PSK.hex}\nendpoint=192.0.2.2:4500\npersistent_keepalive_interval=10\nreplace_allowed_ips=true\nallowed_ip=10.2.0.0/16\nallowed_ip=100.2.0.0/16\n\n`,
  },
  {
    name: 'in place (allowed IPs in another order): nothing to write',
    desired: want([peerB]),
    observed: device([observedPeer(peerB)]),
    lines: [],
    uapi: '',
  },
  {
    name: 'roamed endpoint of a peer we configured: left alone',
    desired: want([peerB]),
    observed: device([observedPeer(peerB, { endpoint: '198.51.100.9:31337' })]),
    applied: [[K2.pub, '192.0.2.2:4500']],
    lines: [],
    uapi: '',
  },
  {
    name: 'desired endpoint changed since we set it: written',
    desired: want([{ ...peerB, endpoint: '192.0.2.22:4500' }]),
    observed: device([observedPeer(peerB)]),
    applied: [[K2.pub, '192.0.2.2:4500']],
    lines: [`peer update ${K2.pub.slice(0, 8)} cable=cable-b: endpoint 192.0.2.2:4500 -> 192.0.2.22:4500`],
    uapi: `set=1\npublic_key=${K2.pubHex}\nupdate_only=true\nendpoint=192.0.2.22:4500\n\n`,
  },
  {
    name: 'adopted live peer with another endpoint (roamed before our restart): left alone',
    desired: want([peerB]),
    observed: device([observedPeer(peerB, { endpoint: '198.51.100.9:31337' })]),
    lines: [],
    uapi: '',
  },
  {
    name: 'adopted dead peer with another endpoint: ours is written',
    desired: want([peerB]),
    observed: device([observedPeer(peerB, { endpoint: '198.51.100.9:31337', lastHandshakeMs: 0 })]),
    lines: [`peer update ${K2.pub.slice(0, 8)} cable=cable-b: endpoint 198.51.100.9:31337 -> 192.0.2.2:4500`],
    uapi: `set=1\npublic_key=${K2.pubHex}\nupdate_only=true\nendpoint=192.0.2.2:4500\n\n`,
  },
  {
    name: 'allowed IPs, PSK and keepalive drift: one update',
    desired: want([peerB]),
    observed: device([observedPeer(peerB, { allowedIPs: ['10.2.0.0/16'], presharedKey: ZERO_KEY, persistentKeepaliveIntervalSec: 0 })]),
    lines: [`peer update ${K2.pub.slice(0, 8)} cable=cable-b: preshared-key; keepalive 0 -> 10; allowed-ips 10.2.0.0/16 -> 10.2.0.0/16,100.2.0.0/16`],
    uapi: `set=1\npublic_key=${K2.pubHex}\nupdate_only=true\npreshared_key=${PSK.hex}\npersistent_keepalive_interval=10\nreplace_allowed_ips=true\nallowed_ip=10.2.0.0/16\nallowed_ip=100.2.0.0/16\n\n`,
  },
  {
    name: 'unclaimed peer during the adoption grace: kept',
    desired: want([peerB]),
    observed: device([observedPeer(peerB), observedPeer(peerC)]),
    lines: [],
    uapi: '',
  },
  {
    name: 'unclaimed peer after the grace: removed',
    desired: want([peerB]),
    observed: device([observedPeer(peerB), observedPeer(peerC)]),
    prune: true,
    lines: [`peer remove ${K3.pub.slice(0, 8)} (no cable wants it)`],
    uapi: `set=1\npublic_key=${K3.pubHex}\nremove=true\n\n`,
  },
  {
    name: 'disconnected cable: removed even without pruning',
    desired: want([]),
    observed: device([observedPeer(peerB), observedPeer(peerC)]),
    remove: [K3.pub],
    lines: [`peer remove ${K3.pub.slice(0, 8)} (no cable wants it)`],
    uapi: `set=1\npublic_key=${K3.pubHex}\nremove=true\n\n`,
  },
];

describe('wireguard planner', () => {
  describe('planDevice (desired peers vs observed device -> minimal Config)', () => {
    for (const c of cases) {
      it(c.name, () => {
        const plan = planDevice(c.desired, c.observed, {
          prune: c.prune ?? false,
          remove: new Set(c.remove ?? []),
          appliedEndpoints: new Map(c.applied ?? []),
          nowMs: NOW,
          liveHandshakeMs: 180_000,
        });
        assert.deepEqual(plan.lines, c.lines);
        assert.equal(plan.config ? renderUapiSet(plan.config) : '', c.uapi);
      });
    }
  });

  describe('planNet (routes, rule, link as rtnetlink ops)', () => {
    const wantNet: NetDesired = { dev: 'wg0', table: 150, proto: 119, routes: [{ dst: '10.2.0.0/16', src: '10.1.0.1' }, { dst: '100.2.0.0/16' }], rule: { priority: 150 } };
    const route = (dst: string, over: Partial<RouteInfo> = {}): RouteInfo => ({ family: 4, table: 150, dst, oif: 7, protocol: 119, scope: 253, type: 1, onlink: false, ...over });
    const rule = (over: Partial<RuleInfo> = {}): RuleInfo => ({ family: 4, pref: 150, table: 150, action: 1, ...over });
    const empty: NetObserved = { link: { index: 7, up: false }, routes: [], rules: [rule({ pref: 32766, table: 254 })] };
    const inPlace: NetObserved = {
      link: { index: 7, up: true },
      routes: [route('10.2.0.0/16', { prefsrc: '10.1.0.1' }), route('100.2.0.0/16'), route('10.9.0.0/16', { oif: 3, protocol: 147 }), route('10.8.0.0/16', { oif: 7, protocol: 4 })],
      // the route agent (protocol 147) added the rule first: ours is not needed
      rules: [rule({ protocol: 147 })],
    };
    const text = (ops: readonly RtnlOp[]): string[] => ops.map(describeOp);

    it('from nothing: link up, routes (with source), the rule', () => {
      const ops = planNet(wantNet, empty);
      assert.deepEqual(text(ops), [
        'link set ifindex 7 up',
        'route replace 10.2.0.0/16 oif 7 table 150',
        'route replace 100.2.0.0/16 oif 7 table 150',
        'rule add pref 150 lookup 150',
      ]);
      assert.deepEqual(ops[1], { op: 'route-replace', route: { table: 150, dst: '10.2.0.0/16', oif: 7, protocol: 119, scope: 253, prefsrc: '10.1.0.1' } });
      assert.deepEqual(ops[3], { op: 'rule-add', rule: { pref: 150, table: 150, protocol: 119, family: 4 } });
    });
    it('in place (another protocol\'s rule; routes not ours by device or protocol left alone): nothing', () => {
      assert.deepEqual(planNet(wantNet, inPlace), []);
    });
    it('changed source: the route is replaced', () => {
      assert.deepEqual(text(planNet({ ...wantNet, routes: [{ dst: '10.2.0.0/16', src: '10.1.0.9' }, { dst: '100.2.0.0/16' }] }, inPlace)), ['route replace 10.2.0.0/16 oif 7 table 150']);
    });
    it('routes of ours no cable wants (a previous run\'s, or a removed cable\'s) go', () => {
      const withStale: NetObserved = { ...inPlace, routes: [...inPlace.routes, route('10.3.0.0/16')] };
      const ops = planNet(wantNet, withStale);
      assert.deepEqual(ops, [{ op: 'route-del', route: { table: 150, dst: '10.3.0.0/16', oif: 7, protocol: 119, scope: 253 } }]);
    });
    it('no device yet: nothing (routes would be refused)', () => {
      assert.deepEqual(planNet(wantNet, { routes: [], rules: [] }), []);
    });
    it('cleanup removes exactly ours', () => {
      const withOurRule: NetObserved = { ...inPlace, rules: [...inPlace.rules, rule({ protocol: 119 })] };
      assert.deepEqual(text(planNetCleanup(wantNet, withOurRule)), ['route del 10.2.0.0/16 oif 7 table 150', 'route del 100.2.0.0/16 oif 7 table 150', 'rule del pref 150 lookup 150']);
      assert.deepEqual(planNetCleanup(wantNet, withOurRule).at(-1), { op: 'rule-del', rule: { pref: 150, table: 150, protocol: 119, family: 4 } });
    });
  });
});
