// A third cluster joins the lab's broker the way a user joins one: `hawser deploy-broker` on the broker
// cluster, `hawser join broker-info.subm` on the new one, then the roles run with exactly what join wrote
// (the lab has no kubelet: it starts the roles as the DaemonSets would, with the overlay's ConfigMap and
// Secrets as their environment). Once with hawser's broker-info, once with one made by hand in subctl's
// format; each time every cable connects and a pod reaches the new cluster's pod.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { Lab, waitForCables } from '../../src/lab/index.js';
import { RestClient, resourcePath } from '../../src/k8s/rest.js';
import { waitFor } from '../../src/util/wait.js';
import { observeNode, planNodeUninstall } from '../../src/install/node.js';
import { SLOW_LEASE } from '../support/lab.js';
import { subctlBrokerInfo } from '../support/broker-info.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const HAWSER = join(ROOT, 'bin', 'hawser');
const DEPLOY = join(ROOT, 'deploy');
const BROKER_URL = 'https://172.16.0.2:6443';
const C_POD = '10.46.1.2'; // c-wk1-pod1

/** The environment the overlay's DaemonSets would give the roles: the ConfigMap patch and the two Secrets. */
function envFromOverlay(dir: string): Record<string, string> {
  const k = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { patches: { patch: string }[] };
  const data = (parse(k.patches[0]!.patch) as { value: Record<string, string> }[])[0]!.value;
  const secrets = parseAllDocuments(readFileSync(join(dir, 'secrets.yaml'), 'utf8')).map((d) => d.toJS() as { metadata: { name: string }; stringData: Record<string, string> });
  const broker = secrets.find((s) => s.metadata.name === 'hawser-broker')!.stringData;
  const psk = secrets.find((s) => s.metadata.name === 'hawser-ipsec-psk')!.stringData;
  return {
    ...data,
    CE_IPSEC_PSK: psk.psk!,
    BROKER_K8S_APISERVER: broker.server!, BROKER_K8S_APISERVERTOKEN: broker.token!, BROKER_K8S_REMOTENAMESPACE: broker.namespace!,
    BROKER_K8S_CA: Buffer.from(broker['ca.crt']!).toString('base64'),
  };
}

/** A node's network state as text (counters and link statistics left out). */
async function snapshot(lab: Lab, node: string): Promise<Record<string, string>> {
  const run = async (argv: string[]): Promise<string> => (await lab.exec(node, argv)).stdout;
  return {
    links: (await run(['ip', '-d', '-o', 'link', 'show'])).replace(/ +(RX|TX):.*$/gm, '').replace(/_timer\s+[\d.]+/g, '_timer'), // bridge timers tick
    addresses: (await run(['ip', '-o', 'address', 'show'])).replace(/valid_lft.*$/gm, ''),
    rules: await run(['ip', 'rule', 'show']),
    routes: await run(['ip', 'route', 'show', 'table', 'all']),
    nft: (await run(['nft', 'list', 'ruleset'])).replace(/counter packets \d+ bytes \d+/g, 'counter'),
  };
}

describe('install: a third cluster joins the lab with hawser join @real', function () {
  this.timeout(300_000);
  let lab: Lab | undefined;
  let dir = '';
  let psk = '';
  const cNodes = ['c-gw1', 'c-wk1'];

  const hawser = async (target: string, args: string[]): Promise<string> => {
    const r = await lab!.exec(target, [HAWSER, ...args], { allowFailure: true, timeoutMs: 120_000, env: { LOG_LEVEL: 'warn' } });
    assert.equal(r.code, 0, `hawser ${args.join(' ')} in ${target}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const bare: Record<string, Record<string, string>> = {};
  const startC = async (env: Record<string, string>): Promise<void> => {
    for (const n of cNodes) await lab!.startRoleWith(n, 'route-agent', { env });
    await lab!.startRoleWith('c-gw1', 'gateway', { env });
  };
  const stopC = async (): Promise<void> => {
    await lab!.stopRole('c-gw1', 'gateway');
    for (const n of cNodes) await lab!.stopRole(n, 'route-agent');
  };
  const connected = async (): Promise<void> => {
    await waitForCables(lab!, 90_000);
    await waitFor(async () => (await lab!.ping('a-wk1-pod1', C_POD)).ok, { timeoutMs: 20_000, what: `a-wk1-pod1 → ${C_POD}` });
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-join-lab-'));
    lab = await Lab.up({ clusters: 3, driver: 'wireguard', gatewaysPerCluster: 1, workersPerCluster: 1, podsPerNode: 1, roleEnv: SLOW_LEASE, roles: false });
    for (const p of lab.topology.processes) {
      if (p.node && p.cluster !== 'cluster-c') await lab.startRole(p.node, p.kind as 'gateway' | 'route-agent');
    }
    psk = lab.roleEnv('a-gw1', 'gateway').CE_IPSEC_PSK!;
  });

  after(async () => {
    await lab?.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('with the broker-info.subm that hawser deploy-broker wrote', async () => {
    // the clusters already joined share the lab's PSK: carry it over as subctl's --ipsec-psk-from would
    const seed = join(dir, 'seed.subm');
    writeFileSync(seed, subctlBrokerInfo({ url: BROKER_URL, token: 'unused', ca: 'unused', ns: 'submariner-k8s-broker', psk: Buffer.from(psk, 'base64') }));
    const info = join(dir, 'broker-info.subm');
    await hawser('cluster-a', ['deploy-broker', '--broker-url', BROKER_URL, '--ipsec-psk-from', seed, '--crds', join(DEPLOY, 'crds'), '--output', info]);
    const out = join(dir, 'cluster-c-hawser');
    const joined = await hawser('cluster-c', ['join', info, '--clusterid', 'cluster-c', '--cable-driver', 'wireguard', '--natt=false', '--servicecidr', '10.47.0.0/16', '--label-gateway=false', '--deploy', DEPLOY, '--output', out]);
    assert.match(joined, /pod CIDR 10\.46\.0\.0\/23: smallest CIDR covering the podCIDRs/);
    for (const n of cNodes) bare[n] = await snapshot(lab!, n);
    const t0 = Date.now();
    await startC(envFromOverlay(out));
    await connected();
    process.stdout.write(`      cables connected and ${C_POD} answers ${((Date.now() - t0) / 1000).toFixed(1)} s after cluster-c's roles started\n`);
  });

  it('with a broker-info.subm made by hand in subctl\'s format', async () => {
    await stopC();
    const a = new RestClient(lab!.kubeConfig('cluster-a'));
    const secret = await a.get(resourcePath('', 'v1', 'secrets', 'submariner-k8s-broker', 'submariner-k8s-broker-admin-token'));
    a.close();
    const d = secret.data as Record<string, string>;
    const file = join(dir, 'by-hand.subm');
    writeFileSync(file, subctlBrokerInfo({
      url: BROKER_URL, token: Buffer.from(d.token!, 'base64').toString(), ca: readFileSync(join(lab!.topology.clusters[0]!.tlsDir, 'ca.crt'), 'utf8'),
      ns: 'submariner-k8s-broker', psk: Buffer.from(psk, 'base64'),
    }));
    const out = join(dir, 'cluster-c-by-hand');
    await hawser('cluster-c', ['join', file, '--clusterid', 'cluster-c', '--cable-driver', 'wireguard', '--natt=false', '--clustercidr', '10.46.0.0/16', '--servicecidr', '10.47.0.0/16', '--label-gateway=false', '--deploy', DEPLOY, '--output', out]);
    await startC(envFromOverlay(out));
    await connected();
  });

  it("hawser uninstall node on each of cluster-c's nodes leaves them byte for byte as before hawser ran", async () => {
    await stopC();
    for (const n of cNodes) {
      const node = lab!.topology.clusters.flatMap((c) => c.nodes).find((x) => x.name === n)!;
      const stateDir = join(node.dir, 'state');
      // as the lab runs the roles: this node's /var/run/wireguard is its own directory, in a private mount namespace
      const r = await lab!.exec(n, ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$1" /var/run/wireguard && shift && exec "$@"', 'uninstall',
        join(node.dir, 'wireguard'), HAWSER, 'uninstall', 'node', '--state-dir', stateDir], { allowFailure: true, timeoutMs: 120_000, env: { LOG_LEVEL: 'warn' } });
      assert.equal(r.code, 0, `uninstall node on ${n}: ${r.stderr}${r.stdout}`);
      assert.deepEqual(planNodeUninstall(await observeNode({ netns: node.netns, stateDir })), [], `${n}: hawser state left`);
      assert.deepEqual(await snapshot(lab!, n), bare[n], `${n} differs from before hawser ran`);
    }
  });
});
