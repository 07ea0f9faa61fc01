import assert from 'node:assert/strict';
import { armScript, parseProbeCounters, pathMtuSearch, newProbeToken, probePayload, type PingOutcome } from '../../src/diagnose/probes.js';
import { forwardPolicyCheck, parseRuleset } from '../../src/diagnose/forward.js';
import { gatewayChecks, globalnetChecks, podChecks, firewallCheck } from '../../src/diagnose/cluster.js';
import { planProbes } from '../../src/diagnose/all.js';
import type { KubeObject } from '../../src/k8s/rest.js';

/** A path that answers DF pings up to `pathMtu` and refuses locally above `localMtu`. */
const path = (localMtu: number, pathMtu: number) => async (payload: number): Promise<PingOutcome> =>
  payload + 28 > localMtu ? { kind: 'too-big', mtu: localMtu } : payload + 28 <= pathMtu ? { kind: 'reply' } : { kind: 'lost' };

describe('diagnose: probes, FORWARD policy and cluster checks (pure)', () => {
  it('arms one counting rule per probe, refuses bad ids/tokens, and reads the counters back', () => {
    const t = newProbeToken();
    assert.match(t, /^[0-9a-f]{16}$/);
    const s = armScript([{ id: 'p0', port: 4500, token: t }, { id: 'p1', port: 4800, token: t }]);
    assert.match(s, /hook input priority 100/);
    assert.match(s, new RegExp(`udp dport 4500 @th,64,64 0x${t} counter drop comment "p0"`));
    assert.throws(() => armScript([{ id: 'P"; flush ruleset', port: 1, token: t }]), /probe id/);
    assert.throws(() => armScript([{ id: 'p', port: 1, token: 'zz' }]), /token/);
    assert.equal(probePayload(t).subarray(0, 8).toString('hex'), t);
    const listing = '\t\tudp dport 4500 @th,64,64 0x123 counter packets 3 bytes 117 drop comment "p0"\n\t\tudp dport 4800 @th,64,64 0x123 counter packets 0 bytes 0 drop comment "p1"\n';
    assert.deepEqual([...parseProbeCounters(listing)], [['p0', 3], ['p1', 0]]);
  });

  it('finds the path MTU: clean path, black hole (to 8 bytes), unreachable', async () => {
    assert.deepEqual(await pathMtuSearch(path(1420, 1500)), { reachable: true, localMtu: 1420, pathMtu: 1420, blackHole: false, probes: 2 });
    const bh = await pathMtuSearch(path(1420, 1132));
    assert.equal(bh.blackHole, true);
    assert.ok(bh.pathMtu! <= 1132 && bh.pathMtu! > 1132 - 8, String(bh.pathMtu));
    assert.ok(bh.probes <= 12);
    assert.equal((await pathMtuSearch(async () => ({ kind: 'lost' }))).reachable, false);
  });

  it('FORWARD: Docker\'s policy drop is found, an accept naming our CIDRs clears it, hawser\'s own tables are ignored', () => {
    const docker = 'table ip filter {\n\tchain FORWARD {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tcounter packets 0 bytes 0 jump DOCKER-USER\n\t}\n\tchain DOCKER-USER {\n\t\tcounter packets 0 bytes 0 return\n\t}\n}\n';
    assert.equal(parseRuleset(docker)[0]!.policy, 'drop');
    const o = { localCidrs: ['10.42.0.0/16'], remoteCidrs: ['10.44.0.0/16'] };
    const f = forwardPolicyCheck(docker, o);
    assert.equal(f.verdict, 'fail');
    assert.match(f.detail, /ip filter FORWARD \(policy drop\)/);
    assert.match(f.fix!, /iptables -I FORWARD -s 10\.44\.0\.0\/16 -j ACCEPT/);
    const opened = docker.replace('jump DOCKER-USER', 'jump DOCKER-USER\n\t\tip saddr 10.44.0.0/16 accept');
    assert.equal(forwardPolicyCheck(opened, o).verdict, 'ok');
    const trailing = 'table inet calico {\n\tchain fw {\n\t\ttype filter hook forward priority 0; policy accept;\n\t\tct state established accept\n\t\tcounter packets 1 bytes 2 drop\n\t}\n}\n';
    assert.match(forwardPolicyCheck(trailing, o).detail, /ends in drop/);
    assert.equal(forwardPolicyCheck(docker.replace('table ip filter', 'table ip hawser-nat'), o).verdict, 'ok');
  });

  it('gateways: a stale update-timestamp is a stopped gateway; no live active one is a failure', () => {
    const gw = (name: string, ts: number, ha = 'active'): KubeObject => ({ metadata: { name, annotations: { 'update-timestamp': String(ts) } }, status: { haStatus: ha, connections: [] } });
    const ok = gatewayChecks('a', [gw('gw1', 995)], 1000);
    assert.deepEqual(ok.map((r) => r.verdict), ['ok']);
    const stale = gatewayChecks('a', [gw('gw1', 900)], 1000);
    assert.equal(stale[0]!.name, 'a: active gateway');
    assert.equal(stale[0]!.verdict, 'fail');
    assert.match(stale[1]!.detail, /last refreshed 100 s ago/);
  });

  it('pods: not running / not ready / restarting; Globalnet: refused allocations and a nearly full pool', () => {
    const pod = (name: string, status: Record<string, unknown>): KubeObject => ({ metadata: { name, namespace: 'submariner-operator', labels: { app: 'submariner-gateway' } }, status });
    const rs = podChecks('a', [pod('p1', { phase: 'Pending' }), pod('p2', { phase: 'Running', conditions: [{ type: 'Ready', status: 'False', message: 'readyz: informer gateways not synced' }] }), pod('p3', { phase: 'Running', containerStatuses: [{ restartCount: 7 }] })]);
    assert.deepEqual(rs.map((r) => r.verdict), ['fail', 'fail', 'warn']);
    assert.match(rs[1]!.detail, /informer gateways not synced/);
    assert.equal(podChecks('a', [])[0]!.verdict, 'fail');
    const egress = (n: number, failed = false): KubeObject => ({ kind: 'GlobalEgressIP', metadata: { name: `e${n}`, namespace: 'ns' }, status: { allocatedIPs: Array.from({ length: n }, (_, i) => `242.0.0.${i}`), ...(failed ? { conditions: [{ type: 'Allocated', status: 'False', reason: 'IPPoolAllocationFailed', message: 'no free IPs' }] } : {}) } });
    const g = globalnetChecks('a', '242.0.0.0/28', [egress(15), egress(0, true)]);
    assert.equal(g[0]!.verdict, 'warn');
    assert.match(g[0]!.detail, /15 of 16 global IPs/);
    assert.equal(g[1]!.verdict, 'fail');
    assert.match(g[1]!.fix!, /exhausted/);
    assert.deepEqual(globalnetChecks('a', undefined, []), []);
  });

  it('plans probes both ways between active gateways (cable port from udp-port) and from each node to its gateway', () => {
    const local = (id: string, ip: string, port?: string) => ({ clusterId: id, cableName: id, hostname: 'gw', subnets: [], invalidSubnets: [], privateIP: ip, publicIP: ip, healthCheckIP: '', privateIPs: [ip], publicIPs: [ip], healthCheckIPs: [], natEnabled: false, backend: 'wireguard', backendConfig: (port ? { 'udp-port': port } : {}) as Record<string, string> });
    const views = [
      { id: 'a', local: local('a', '172.16.0.11', '4501'), activeNode: 'a-gw1', usingIP: new Map([['b', '198.18.0.2']]), clusterCidrs: [], serviceCidrs: [], remoteCidrs: [] },
      { id: 'b', local: local('b', '172.17.0.11'), activeNode: 'b-gw1', usingIP: new Map<string, string>(), clusterCidrs: [], serviceCidrs: [], remoteCidrs: [] },
    ];
    const nodes = new Map([['a', [{ name: 'a-gw1', gateway: true }, { name: 'a-wk1', gateway: false }]], ['b', [{ name: 'b-gw1', gateway: true }]]]);
    const plan = planProbes(views, nodes).map((p) => `${p.outcome.kind} ${p.sender.node}->${p.listener.node} ${p.outcome.to.ip}:${p.outcome.port}`);
    assert.deepEqual(plan, ['inter-cluster a-gw1->b-gw1 198.18.0.2:4500', 'nat-discovery a-gw1->b-gw1 198.18.0.2:4490', 'intra-cluster a-wk1->a-gw1 172.16.0.11:4800', 'inter-cluster b-gw1->a-gw1 172.16.0.11:4501', 'nat-discovery b-gw1->a-gw1 172.16.0.11:4490']);
    const fw = firewallCheck({ kind: 'inter-cluster', from: { cluster: 'b', node: 'b-gw1' }, to: { cluster: 'a', node: 'a-gw1', ip: '172.16.0.11' }, port: 4501, sent: 3, received: 0 });
    assert.equal(fw.verdict, 'fail');
    assert.match(fw.fix!, /open UDP 4501 between the gateways of b and a/);
  });
});
