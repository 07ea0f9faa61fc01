// End to end: no secret ever reaches a log. Two labs (WireGuard; IPsec via strongSwan) run at debug level
// with CE_IPSEC_DEBUG on, their cables connect, then every log file of each lab (roles, API servers, relays,
// the forwarder, charon's and every other daemon's log under the lab state dir) is searched for the PSK
// (as given, and the SHA-256 WireGuard derives from it, hex and base64), every gateway's WireGuard private
// key (read from the live device, base64 and hex), every API and broker token and the TLS private keys.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { Lab, randomLabName, waitForCables, type LabState } from '../../src/lab/index.js';
import { errorMessage } from '../../src/util/errors.js';
import { assertNothingLeft } from '../support/lab.js';

type Driver = 'wireguard' | 'libreswan';

const ROLE_ENV = { HAWSER_LEASE_DURATION: '10', HAWSER_RENEW_DEADLINE: '8', HAWSER_RETRY_PERIOD: '1', CE_IPSEC_DEBUG: 'true' };

interface Secret {
  what: string;
  value: string;
}

interface Run {
  lab: Lab;
  state: LabState;
  /** Why the cables did not connect (undefined: they did). */
  notConnected?: string;
  connectedAfterS?: number;
}

/** Every log file of a lab: anything named *.log, *.out or *.err under its state dir (not Prometheus' TSDB). */
function logFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (!p.endsWith('/data')) walk(p);
      } else if (e.isFile() && /\.(log|out|err)$/.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

function sha256(b: Buffer | string): Buffer {
  return createHash('sha256').update(b).digest();
}

/** The base64 body of a PEM private key (its first 48 characters are plenty to recognise it). */
function pemBody(file: string): string {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.startsWith('-----')).join('').slice(0, 48);
}

async function secretsOf(run: Run, driver: Driver): Promise<Secret[]> {
  const { lab } = run;
  const t = lab.topology;
  const gateways = t.clusters.flatMap((c) => c.nodes.filter((n) => n.gateway));
  const env = lab.roleEnv(gateways[0]!.name, 'gateway');
  const psk = env.CE_IPSEC_PSK!;
  const out: Secret[] = [
    { what: 'CE_IPSEC_PSK', value: psk },
    { what: 'SHA-256(PSK text) hex (WireGuard preshared key, UAPI form)', value: sha256(psk).toString('hex') },
    { what: 'SHA-256(PSK text) base64 (WireGuard preshared key, wg form)', value: sha256(psk).toString('base64') },
    { what: 'SHA-256(PSK bytes) hex', value: sha256(Buffer.from(psk, 'base64')).toString('hex') },
    { what: 'SHA-256(PSK bytes) base64', value: sha256(Buffer.from(psk, 'base64')).toString('base64') },
  ];
  for (const c of t.clusters) {
    const tokens = (parse(readFileSync(c.tokenFile, 'utf8')) as { tokens: { token: string; user: string }[] }).tokens;
    for (const tk of tokens) out.push({ what: `API token of ${tk.user} on ${c.id}`, value: tk.token });
    for (const key of ['ca.key', 'server.key']) out.push({ what: `TLS private key ${c.id}/${key}`, value: pemBody(join(c.tlsDir, key)) });
  }
  for (const g of gateways) out.push({ what: `BROKER_K8S_APISERVERTOKEN of ${g.name}`, value: lab.roleEnv(g.name, 'gateway').BROKER_K8S_APISERVERTOKEN! });
  if (driver === 'wireguard') {
    for (const g of gateways) {
      // wg finds the device's UAPI socket under /var/run/wireguard: bind the node's own directory there,
      // in a private mount namespace, as the lab does for the roles.
      const r = await lab.exec(g.name, ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c',
        'mount --bind "$1" /var/run/wireguard && exec wg show submariner private-key', 'wg-key', join(g.dir, 'wireguard')]);
      const key = r.stdout.trim();
      assert.equal(Buffer.from(key, 'base64').length, 32, `${g.name}: wg show printed ${JSON.stringify(key)}`);
      out.push({ what: `WireGuard private key of ${g.name} (base64)`, value: key });
      out.push({ what: `WireGuard private key of ${g.name} (hex, UAPI form)`, value: Buffer.from(key, 'base64').toString('hex') });
    }
  }
  // Short values would match by chance; every real secret here is long.
  for (const s of out) assert.ok(s.value.length >= 32, `${s.what} is too short to search for`);
  return out;
}

describe('e2e @real: no PSK, private key or token in any log of a lab', function () {
  this.timeout(120_000);
  const runs = new Map<Driver, Run>();

  before(async () => {
    const started = Date.now();
    // Both labs at once: the suite must stay fast. The IPsec lab is kept small.
    const up = async (driver: Driver): Promise<void> => {
      const lab = await Lab.up({
        name: randomLabName(), driver, logLevel: 'debug', roleEnv: ROLE_ENV,
        ...(driver === 'libreswan' ? { gatewaysPerCluster: 1, workersPerCluster: 0 } : {}),
      });
      const run: Run = { lab, state: lab.state() };
      runs.set(driver, run);
      try {
        await waitForCables(lab, 60_000);
        run.connectedAfterS = (Date.now() - started) / 1000;
      } catch (err) {
        run.notConnected = errorMessage(err);
      }
    };
    const results = await Promise.allSettled([up('wireguard'), up('libreswan')]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  after(async () => {
    for (const run of runs.values()) {
      await run.lab.down();
      await assertNothingLeft(run.lab.name, run.state, run.lab.stateDir);
    }
  });

  for (const driver of ['wireguard', 'libreswan'] as const) {
    it(`${driver}: the cables connect`, function () {
      const run = runs.get(driver)!;
      assert.equal(run.notConnected, undefined);
      console.log(`      ${driver}: every cable connected ${run.connectedAfterS!.toFixed(1)} s after the start`);
    });

    it(`${driver}: no secret appears in any log file`, async () => {
      const run = runs.get(driver)!;
      const secrets = await secretsOf(run, driver);
      const files = logFiles(run.lab.stateDir);
      const names = files.map((f) => relative(run.lab.stateDir, f));
      // The search must cover what matters, not an empty set.
      for (const must of ['logs/a-gw1.gateway.log', 'logs/a-gw1.route-agent.log', 'logs/cluster-a.apiserver.log', 'logs/cluster-b.apiserver.log']) assert.ok(names.includes(must), `${must} missing: ${names.join(', ')}`);
      if (driver === 'libreswan') assert.ok(names.some((n) => n.endsWith('charon.log')), `no charon log: ${names.join(', ')}`);
      let bytes = 0;
      const leaks: string[] = [];
      for (const f of files) {
        const text = readFileSync(f, 'latin1');
        bytes += statSync(f).size;
        for (const s of secrets) if (text.includes(s.value)) leaks.push(`${s.what} in ${relative(run.lab.stateDir, f)}`);
      }
      assert.ok(bytes > 10_000, `only ${bytes} bytes of logs`);
      // The search itself works: the lab's state file (not a log) does hold the PSK and the tokens.
      const stateText = readFileSync(run.lab.topology.stateFile, 'latin1');
      assert.ok(secrets.filter((s) => /^(CE_IPSEC_PSK|BROKER_K8S_APISERVERTOKEN)/.test(s.what)).every((s) => stateText.includes(s.value)));
      console.log(`      ${driver}: ${secrets.length} secrets searched in ${files.length} log files (${(bytes / 1024).toFixed(0)} KiB): ${leaks.length} found`);
      assert.deepEqual(leaks, []);
    });
  }
});
