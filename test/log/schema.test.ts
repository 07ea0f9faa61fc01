// The log schema (docs/operations.md, "Logs") over the child-logger chains each role's wiring builds:
// every line parses with a parser that rejects duplicate keys, `cluster` is the local cluster,
// `remoteCluster` the other one, `err` an object, and no secret survives, whatever a call site passes.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log/index.js';
import { DuplicateKeyError, parseStrictJson } from './strict-json.js';

const LOCAL = 'cluster-a';
const REMOTE = 'cluster-b';
const NODE = 'a-gw1';
const SECRETS = ['psk-0123456789abcdef', 'eyJhbGciOiJSUzI1NiJ9.token-value', 'wg-private-key-AAAA=', 'Bearer sa-token-xyz'];

function sink(): { stream: Writable; text: () => string } {
  let buf = '';
  return { stream: new Writable({ write(chunk: Buffer, _e, cb) { buf += chunk.toString(); cb(); } }), text: () => buf };
}

type Line = Record<string, unknown>;

/** What call sites do today: err as a string, as an Error, remote cluster under `cluster`, secrets in odd places. */
function callSites(log: Logger): void {
  log.info({ cluster: REMOTE, cable: 'submariner-cable-cluster-b-172-16-1-2' }, 'cable connected');
  log.warn({ err: 'connect ECONNREFUSED 172.16.1.2:4500' }, 'cable failed (string err)');
  log.error({ err: Object.assign(new Error('ipsec: no SA'), { code: 'VICI' }), cable: 'c1' }, 'cable failed (Error err)');
  log.error(new TypeError('unexpected payload'));
  log.debug({ headers: { Authorization: SECRETS[3], 'Content-Type': 'application/json' }, req: { Headers: { AUTHORIZATION: SECRETS[3] } } }, 'api request');
  log.debug({ peer: { PrivateKey: SECRETS[2], publicKey: 'pub' }, nested: { a: { b: { Token: SECRETS[1] } } }, list: [{ psk: SECRETS[0] }] }, 'driver state');
  log.info({ node: NODE }, 'same node again');
}

/** The chains of child loggers the roles build (file:line of each `.child` as of this commit). */
const ROLES: Record<string, (root: Logger) => Logger[]> = {
  gateway: (root) => {
    const role = root.child({ localCluster: LOCAL, node: NODE, driver: 'wireguard' }); // gateway/role.ts:120
    const cliChild = root.child({ localCluster: LOCAL, node: NODE }); // cli/commands/gateway.ts:57-58
    const nat = cliChild.child({ sub: 'nat-discovery' }).child({ component: 'natdiscovery' }); // gateway/wiring.ts:34, natdiscovery.ts:101
    const hc = cliChild.child({ sub: 'health-check' }).child({ component: 'healthcheck' }); // wiring.ts:52, healthcheck/checker.ts:183
    const wg = role.child({ driver: 'wireguard', device: 'submariner' }); // wireguard/driver.ts:121
    const lsw = role.child({ driver: 'libreswan' }).child({ driver: 'libreswan', backend: 'pluto' }); // ipsec/driver.ts:82, libreswan/driver.ts:58
    return [
      root, role, role.child({ sub: 'broker-sync' }), nat, nat.child({ cable: 'c1', cluster: REMOTE }), hc, hc.child({ cable: 'c1' }),
      wg, wg.child({ cable: 'c1', cluster: REMOTE, endpoint: '172.16.1.2' }), lsw,
      role.child({ driver: 'vxlan' }).child({ cable: 'c1', cluster: REMOTE }), // vxlan/driver.ts:48,134
      role.child({ cable: 'c1', cluster: REMOTE, endpoint: 'c1' }), // cable-drivers/engine.ts:142
    ];
  },
  'route-agent': (root) => {
    const role = root.child({ cluster: LOCAL, node: NODE }); // routeagent/role.ts:183
    const hc = role.child({ sub: 'health-check' }).child({ component: 'healthcheck' }); // role.ts:216, healthcheck/shared.ts:163
    return [root, role, hc, hc.child({ cable: 'c1' }), root.child({ component: 'route-agent' })]; // dataplane.ts:92, runner.ts:41
  },
  globalnet: (root) => [root, root.child({ cluster: LOCAL, node: NODE })], // nat/role.ts:121
  apiserver: (root) => [root, root.child({ component: 'apiserver' })], // apiserver/index.ts:149
};

function run(component: string, level: 'info' | 'debug'): string {
  const s = sink();
  const base = component === 'apiserver' ? {} : { cluster: LOCAL, node: NODE };
  const root = createLogger({ component, base, level, destination: s.stream });
  for (const log of ROLES[component]!(root)) callSites(log);
  return s.text();
}

function check(text: string, component: string, level: 'info' | 'debug'): Line[] {
  const lines = text.trim().split('\n');
  assert.ok(lines.length > 5, 'lines written');
  return lines.map((raw) => {
    const line = parseStrictJson(raw) as Line; // throws DuplicateKeyError on a repeated key
    assert.equal(typeof line.time, 'string', raw);
    assert.equal(typeof line.msg, 'string', raw);
    assert.equal(line.component, component, raw);
    if (component !== 'apiserver') assert.equal(line.cluster, LOCAL, `cluster is the local cluster: ${raw}`);
    if ('remoteCluster' in line) assert.equal(line.remoteCluster, REMOTE, raw);
    assert.ok(!('localCluster' in line), `localCluster is spelt cluster: ${raw}`);
    if ('err' in line) {
      const err = line.err as Record<string, unknown>;
      assert.equal(typeof err, 'object', raw);
      assert.equal(typeof err.type, 'string', raw);
      assert.equal(typeof err.message, 'string', raw);
      assert.equal('stack' in err, level === 'debug' && err.message !== 'connect ECONNREFUSED 172.16.1.2:4500', `stack only at debug: ${raw}`);
    }
    for (const secret of SECRETS) assert.ok(!raw.includes(secret), `secret in ${raw}`);
    return line;
  });
}

describe('log: one schema, no duplicate keys, err objects, redaction at any depth', () => {
  it('the strict parser rejects a repeated key at any depth', () => {
    assert.throws(() => parseStrictJson('{"a":1,"b":{"c":1,"c":2}}'), DuplicateKeyError);
    assert.throws(() => parseStrictJson('{"component":"gateway","component":"healthcheck"}'), DuplicateKeyError);
    assert.deepEqual(parseStrictJson('{"a":[1,{"b":"x\\"y"}],"c":null,"d":-1.5e3}'), { a: [1, { b: 'x"y' }], c: null, d: -1500 });
  });

  for (const component of Object.keys(ROLES)) {
    for (const level of ['info', 'debug'] as const) {
      it(`${component} at ${level}: every line of every child logger follows the schema`, () => {
        const lines = check(run(component, level), component, level);
        const subs = new Set(lines.map((l) => l.sub).filter(Boolean));
        if (component === 'gateway') assert.deepEqual([...subs].sort(), ['broker-sync', 'health-check', 'nat-discovery']);
        if (component === 'route-agent') assert.deepEqual([...subs], ['health-check']);
        if (level === 'debug') {
          const req = lines.find((l) => l.msg === 'api request')!;
          assert.deepEqual(req.headers, { Authorization: '[Redacted]', 'Content-Type': 'application/json' });
          assert.deepEqual(req.req, { Headers: { AUTHORIZATION: '[Redacted]' } });
          const st = lines.find((l) => l.msg === 'driver state')!;
          assert.deepEqual(st.peer, { PrivateKey: '[Redacted]', publicKey: 'pub' });
          assert.deepEqual(st.nested, { a: { b: { Token: '[Redacted]' } } });
          assert.deepEqual(st.list, [{ psk: '[Redacted]' }]);
        } else {
          assert.ok(!lines.some((l) => l.level === 'debug'));
        }
        const failed = lines.filter((l) => l.msg === 'cable failed (Error err)');
        for (const l of failed) assert.deepEqual({ ...(l.err as object), stack: undefined }, { type: 'Error', message: 'ipsec: no SA', code: 'VICI', stack: undefined });
        const typed = lines.find((l) => l.msg === 'unexpected payload')!;
        assert.equal((typed.err as Line).type, 'TypeError');
      });
    }
  }

  it('a child that changes a bound value replaces it (one key, the new value); a call that contradicts one keeps both', () => {
    const s = sink();
    const root = createLogger({ component: 'gateway', base: { cluster: LOCAL }, level: 'info', destination: s.stream });
    root.child({ cable: 'c1' }).child({ cable: 'c2' }).info('rebound');
    root.child({ cable: 'c1' }).info({ cable: 'c3' }, 'call');
    const [a, b] = s.text().trim().split('\n').map((l) => parseStrictJson(l) as Line);
    assert.equal(a!.cable, 'c2');
    assert.equal(b!.cable, 'c1');
    assert.equal(b!.cableCall, 'c3');
  });
});
