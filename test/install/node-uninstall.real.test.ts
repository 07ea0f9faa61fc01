// `hawser uninstall` on a node next to foreign plumbing: snapshot the foreign state, install everything
// hawser's roles install (the real route agent data path, and the gateway's cable devices, routes,
// rules, source addresses, nft table, daemons and state files), uninstall, and compare byte for byte.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planNodeUninstall, observeNode, uninstallNode } from '../../src/install/node.js';
import { createLogger } from '../../src/log/index.js';
import { pidAlive } from '../../src/os/daemon.js';
import { planRouteAgent, RouteAgentDataplane, type RouteAgentInput } from '../../src/routeagent/index.js';
import { ipIn, Namespaces, run } from '../support/netns-commands.js';

const log = createLogger({ level: process.env.LOG_LEVEL ?? 'fatal' });

async function snapshot(ns: string): Promise<Record<string, string>> {
  const counters = (s: string): string => s.replace(/counter packets \d+ bytes \d+/g, 'counter');
  const legacy = (await run(ns, 'iptables-legacy-save', [])).split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]')).join('\n');
  return {
    nft: counters(await run(ns, 'nft', ['list', 'ruleset'])),
    iptablesLegacy: legacy,
    links: (await run(ns, 'ip', ['-d', '-o', 'link', 'show'])).replace(/ +(RX|TX):.*$/gm, ''),
    addresses: await run(ns, 'ip', ['-o', 'address', 'show']),
    rules: await run(ns, 'ip', ['rule', 'show']),
    routes: await run(ns, 'ip', ['route', 'show', 'table', 'all']),
    fdb: await run(ns, 'bridge', ['fdb', 'show', 'dev', 'flannel.1']),
  };
}

/** A process whose command line reads `name …`, in the namespace (so namespace cleanup ends it too). */
function fakeDaemon(ns: string, name: string): number {
  const child = spawn('ip', ['netns', 'exec', ns, 'bash', '-c', `exec -a ${name} sleep 600`], { stdio: 'ignore', detached: true });
  child.unref();
  return child.pid!;
}

describe('install: hawser uninstall leaves a node exactly as it found it @real', function () {
  this.timeout(60_000);
  const nss = new Namespaces();
  let node = '';
  let stateDir = '';
  const pids: number[] = [];
  let original: Record<string, string>;

  const input: RouteAgentInput = {
    nodeName: 'node', nodeIP: '192.168.61.12',
    nodes: [{ name: 'node', ip: '192.168.61.12' }, { name: 'peer', ip: '192.168.61.11' }],
    activeGateway: { nodeName: 'node', nodeIP: '192.168.61.12' },
    localClusterCidrs: ['10.244.0.0/16'], localServiceCidrs: ['10.96.0.0/12'],
    remoteCidrs: ['172.31.0.0/16'], cableDriver: 'libreswan', cableInterface: 'eth0',
  };

  before(async () => {
    node = await nss.create('hw-unode');
    stateDir = mkdtempSync(join(tmpdir(), 'hw-uninstall-state-'));
    for (const k of ['all', 'default']) await run(node, 'sysctl', ['-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
    // foreign: a CNI's VXLAN, policy routing (one route in table 150, a rule at pref 150), an address label on lo
    await ipIn(node, `link add eth0 type veth peer name eth0p
      address add 192.168.61.12/24 dev eth0
      link set eth0 up
      link set eth0p up
      link set lo up
      link add flannel.1 type vxlan id 1 dstport 8472 local 192.168.61.12 dev eth0 nolearning
      address add 10.244.2.0/32 dev flannel.1
      link set flannel.1 up
      route add 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink
      route add 10.88.0.0/16 dev eth0 table 150
      rule add pref 150 fwmark 0x1 lookup 151
      route add 10.50.0.0/16 via 192.168.61.1 table 200
      rule add pref 100 from 10.244.7.0/24 lookup 200
      address add 10.96.0.1/32 dev lo label lo:kube`);
    await run(node, 'nft', ['-f', '-'], 'table ip foreignnat {\n  chain post {\n    type nat hook postrouting priority srcnat; policy accept;\n    masquerade\n  }\n}\n');
    await run(node, 'iptables-legacy', ['-t', 'nat', '-N', 'KUBE-POSTROUTING']);
    await run(node, 'iptables-legacy', ['-t', 'nat', '-A', 'POSTROUTING', '-j', 'KUBE-POSTROUTING']);
    original = await snapshot(node);
  });

  after(async () => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await nss.cleanup();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('removes routes, rules, links, address labels, nft tables, daemons and state files of every role, nothing else', async () => {
    // route agent: the real data path
    const dp = new RouteAgentDataplane({ netns: node, log });
    await dp.reconcile(planRouteAgent(input));
    await dp.close();
    // gateway: WireGuard-like device with its routes and rule (119), the VXLAN cable (104), lo:hawser; globalnet's table
    await ipIn(node, `link add submariner type veth peer name submariner-p
      link set submariner up
      route add 172.30.0.0/16 dev submariner table 150 proto 119
      rule add pref 150 lookup 150 proto 119
      link add vxlan-tunnel type vxlan id 1000 dstport 4500 local 192.168.61.12 dev eth0
      address add 241.168.61.12/8 dev vxlan-tunnel
      link set vxlan-tunnel up
      route add 172.29.0.0/16 via 241.168.61.11 dev vxlan-tunnel table 100 proto 104 onlink
      route add 172.28.0.0/16 dev eth0 table 100 proto 104
      rule add pref 100 lookup 100 proto 104
      address add 10.96.0.0/32 dev lo label lo:hawser`);
    await run(node, 'nft', ['add', 'table', 'ip', 'hawser-globalnet']);
    // daemons with PID files, and a PID file naming someone else's process (must survive)
    const charon = fakeDaemon(node, 'charon');
    const wgGo = fakeDaemon(node, 'wireguard-go');
    const foreign = fakeDaemon(node, 'kube-proxy');
    pids.push(charon, wgGo, foreign);
    mkdirSync(join(stateDir, 'ipsec'), { recursive: true });
    mkdirSync(join(stateDir, 'wireguard'), { recursive: true });
    writeFileSync(join(stateDir, 'ipsec', 'charon.pid'), `${charon}\n`);
    writeFileSync(join(stateDir, 'wireguard', 'submariner.pid'), `${wgGo}\n`);
    writeFileSync(join(stateDir, 'wireguard', 'submariner.cables.json'), '{}');
    writeFileSync(join(stateDir, 'unrelated.txt'), 'not ours');
    await waitAlive([charon, wgGo, foreign]);
    assert.notDeepEqual(await snapshot(node), original);

    const report = await uninstallNode({ netns: node, stateDir, log });
    assert.deepEqual(report.failures, []);
    for (const want of [/stop charon/, /stop wireguard-go/, /ip link del vx-submariner/, /ip link del submariner/, /ip link del vxlan-tunnel/,
      /rule del pref 150 lookup 150 proto 147/, /rule del pref 150 lookup 150 proto 119/, /rule del pref 100 lookup 100 proto 104/,
      /route del 172.28.0.0\/16 table 100 proto 104/, /address del 10.96.0.0\/32 dev lo label lo:hawser/,
      /nft delete table ip hawser$/, /nft delete table ip hawser-globalnet/]) {
      assert.ok(report.done.some((d) => want.test(d)), `no step matching ${want} in:\n${report.done.join('\n')}`);
    }
    assert.deepEqual(await snapshot(node), original);
    assert.equal(pidAlive(charon, 'charon'), false, 'charon still running');
    assert.equal(pidAlive(wgGo, 'wireguard-go'), false, 'wireguard-go still running');
    assert.equal(existsSync(join(stateDir, 'ipsec')), false);
    assert.equal(existsSync(join(stateDir, 'wireguard')), false);
    assert.equal(existsSync(join(stateDir, 'unrelated.txt')), true, 'a file hawser does not own was removed');

    // a PID file naming a foreign process: reported and left alone
    mkdirSync(join(stateDir, 'ipsec'), { recursive: true });
    writeFileSync(join(stateDir, 'ipsec', 'charon.pid'), `${foreign}\n`);
    const again = await uninstallNode({ netns: node, stateDir, log });
    assert.deepEqual(again.failures, []);
    assert.ok(pidAlive(foreign, 'kube-proxy'), 'a foreign process was signalled');
    assert.match(again.leftAlone.join('\n'), /is not charon/);
    assert.deepEqual(planNodeUninstall(await observeNode({ netns: node, stateDir })), []);
    assert.deepEqual(await snapshot(node), original);
  });
});

async function waitAlive(pids: number[]): Promise<void> {
  const { waitFor } = await import('../../src/util/wait.js');
  await waitFor(() => pids.every((p) => pidAlive(p, 'sleep') || pidAlive(p, 'charon') || pidAlive(p, 'wireguard-go') || pidAlive(p, 'kube-proxy')), { timeoutMs: 5000, what: 'fake daemons' });
}
