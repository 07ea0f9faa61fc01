// Public-IP resolution as Submariner does it, per resolver form, chains, failures and air-gapped mode, and
// what the gateway says when the outcome is empty or the private IP.
import assert from 'node:assert/strict';
import {
  DEFAULT_API_RESOLVERS, apiUrl, assessPublicIP, defaultResolverChain, firstIPv4, loadBalancerIngressOf,
  publicIpChainText, resolvePublicIP, usesLoadBalancerChain, type LoadBalancerIngress, type ResolveIO,
} from '../../src/gateway/public-ip.js';
import { parseResolverChain, type Resolver } from '../../src/config/public-ip-chain.js';
import { EndpointFollower } from '../../src/gateway/endpoint-follow.js';
import { NodeFactsReader } from '../../src/gateway/node-facts.js';
import { Failures } from '../../src/gateway/status-writer.js';
import { gatewayConfigFromEnv } from '../../src/config/roles.js';
import type { RestClient } from '../../src/k8s/rest.js';
import type { EndpointSpec } from '../../src/k8s/resources.js';
import { waitFor } from '../../src/util/wait.js';
import { logSink, natEndpointSpec } from '../support/fixtures.js';

class FakeIO implements ResolveIO {
  readonly calls: string[] = [];
  constructor(
    private readonly web: Record<string, string | Error> = {},
    private readonly dns: Record<string, string[]> = {},
    private readonly lbs: Record<string, LoadBalancerIngress | undefined> = {},
  ) {}
  async httpGet(url: string): Promise<string> {
    this.calls.push(`GET ${url}`);
    const v = this.web[url];
    if (v === undefined) throw new Error(`connect ECONNREFUSED (${url})`);
    if (v instanceof Error) throw v;
    return v;
  }
  async lookup4(name: string): Promise<string[]> {
    this.calls.push(`DNS ${name}`);
    const v = this.dns[name];
    if (!v) throw new Error(`getaddrinfo ENOTFOUND ${name}`);
    return v;
  }
  async loadBalancerIngress(service: string): Promise<LoadBalancerIngress | undefined> {
    this.calls.push(`LB ${service}`);
    return this.lbs[service];
  }
}

function chain(text: string): Resolver[] {
  const r = parseResolverChain(text);
  if (!r.ok) throw new Error(r.error);
  return r.resolvers;
}

describe('gateway: public IP resolvers', () => {
  it('parses chains (spaces, empty entries) and refuses bad entries with the entry named', () => {
    assert.deepEqual(chain(' ipv4:203.0.113.7 , dns:gw.example.org,,api:ip.example/plain,lb:submariner-gateway,ipv6:2001:db8::1'), [
      { kind: 'ipv4', value: '203.0.113.7' }, { kind: 'dns', value: 'gw.example.org' }, { kind: 'api', value: 'ip.example/plain' },
      { kind: 'lb', value: 'submariner-gateway' }, { kind: 'ipv6', value: '2001:db8::1' },
    ]);
    for (const bad of ['ftp:x', 'ipv4:300.1.1.1', 'ipv6:1.2.3.4', '203.0.113.7', 'api:', '']) {
      const r = parseResolverChain(bad);
      assert.equal(r.ok, false, bad);
    }
  });

  it('chain source: node label/annotation, then SUBMARINER_PUBLICIP, then the shuffled default api: list', () => {
    assert.deepEqual(publicIpChainText({ 'gateway.submariner.io/public-ip': 'ipv4:1.2.3.4' }, 'dns:x'), { text: 'ipv4:1.2.3.4', source: 'node' });
    assert.deepEqual(publicIpChainText({}, 'dns:x'), { text: 'dns:x', source: 'SUBMARINER_PUBLICIP' });
    const d = publicIpChainText({}, undefined);
    assert.equal(d.source, 'default');
    assert.deepEqual(d.text.split(',').sort(), [...DEFAULT_API_RESOLVERS].sort());
    assert.notEqual(defaultResolverChain(() => 0), defaultResolverChain(() => 0.99));
  });

  it('api: https://<value> as Submariner; a full http(s) URL as given (labs); the first valid IPv4 of the body', () => {
    assert.equal(apiUrl('api.ipify.org'), 'https://api.ipify.org');
    assert.equal(apiUrl('ipecho.net/plain'), 'https://ipecho.net/plain');
    assert.equal(apiUrl('http://10.9.0.1:8080/ip'), 'http://10.9.0.1:8080/ip');
    assert.equal(firstIPv4('Current IP: 999.1.1.1 then 198.51.100.4\n'), '198.51.100.4');
    assert.equal(firstIPv4('<html>no</html>'), undefined);
  });

  const cases: Array<[string, string, FakeIO, boolean, string, string | undefined, number]> = [
    ['ipv4 literal', 'ipv4:203.0.113.7', new FakeIO(), false, '203.0.113.7', 'ipv4', 0],
    ['dns: lowest address of the name', 'dns:gw.example.org', new FakeIO({}, { 'gw.example.org': ['198.51.100.9', '198.51.100.10', '198.51.100.2'] }), false, '198.51.100.2', 'dns', 0],
    ['api: body parsed', 'api:ip.example/plain', new FakeIO({ 'https://ip.example/plain': '203.0.113.50\n' }), false, '203.0.113.50', 'api', 0],
    ['lb: ingress IP', 'lb:submariner-gateway', new FakeIO({}, {}, { 'submariner-gateway': { ip: '192.0.2.80' } }), false, '192.0.2.80', 'lb', 0],
    ['lb: ingress hostname looked up', 'lb:submariner-gateway', new FakeIO({}, { 'elb.example': ['192.0.2.81'] }, { 'submariner-gateway': { hostname: 'elb.example' } }), false, '192.0.2.81', 'lb', 0],
    ['chain: a failing api falls through to the next', 'api:down.example,api:up.example', new FakeIO({ 'https://up.example': 'ip=203.0.113.60' }), false, '203.0.113.60', 'api', 1],
    ['chain: an answer without an address falls through', 'api:junk.example,dns:gw.example.org', new FakeIO({ 'https://junk.example': '<html>rate limited</html>' }, { 'gw.example.org': ['198.51.100.3'] }), false, '198.51.100.3', 'dns', 1],
    ['chain: lb without ingress yet, then a literal', 'lb:submariner-gateway,ipv4:203.0.113.8', new FakeIO(), false, '203.0.113.8', 'ipv4', 1],
    ['ipv6 entries are skipped (IPv4 cables only)', 'ipv6:2001:db8::1,ipv4:203.0.113.9', new FakeIO(), false, '203.0.113.9', 'ipv4', 1],
    ['every resolver fails: empty, one failure each', 'api:a.example,dns:nx.example,lb:none', new FakeIO(), false, '', undefined, 3],
    ['air-gapped: lookups are not even tried, the literal counts', 'api:ip.example,dns:gw.example.org,ipv4:203.0.113.10', new FakeIO({ 'https://ip.example': '203.0.113.1' }), true, '203.0.113.10', 'ipv4', 2],
    ['air-gapped without a literal: empty', 'api:ip.example,lb:submariner-gateway', new FakeIO({ 'https://ip.example': '203.0.113.1' }), true, '', undefined, 2],
  ];
  for (const [name, text, io, airGapped, ip, via, failures] of cases) {
    it(name, async () => {
      const r = await resolvePublicIP(chain(text), io, { airGapped });
      assert.equal(r.ip, ip);
      assert.equal(r.via?.kind, via);
      assert.equal(r.failures.length, failures, r.failures.join(' | '));
      if (airGapped) assert.deepEqual(io.calls, []);
    });
  }

  it('failure lines name the resolver and the cause', async () => {
    const r = await resolvePublicIP(chain('api:a.example,dns:nx.example,lb:none'), new FakeIO(), { airGapped: false });
    assert.match(r.failures[0]!, /^api:a\.example: .*ECONNREFUSED/);
    assert.match(r.failures[1]!, /^dns:nx\.example: .*ENOTFOUND/);
    assert.match(r.failures[2]!, /^lb:none: Service none has no LoadBalancer ingress yet/);
  });

  it('lb: sets using-loadbalancer; the Service ingress is validated', () => {
    assert.equal(usesLoadBalancerChain('lb:submariner-gateway'), true);
    assert.equal(usesLoadBalancerChain('ipv4:1.2.3.4,lb:x'), false);
    assert.deepEqual(loadBalancerIngressOf({ status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }, { ip: '192.0.2.2' }] } } }), { ip: '192.0.2.1' });
    assert.deepEqual(loadBalancerIngressOf({ status: { loadBalancer: { ingress: [{ hostname: 'a.elb' }] } } }), { hostname: 'a.elb' });
    assert.equal(loadBalancerIngressOf({ status: { loadBalancer: {} } }), undefined);
    assert.equal(loadBalancerIngressOf('nonsense'), undefined);
  });
});

describe('gateway: the private IP is never published as the public one without saying so', () => {
  const priv = '10.0.0.5';
  it('nothing resolved: empty public IP, a warning and a status line naming what to set', () => {
    const a = assessPublicIP({ ip: '', failures: ['api:ip.example: ECONNREFUSED'] }, priv, 'default', 'api:ip.example');
    assert.equal(a.level, 'warn');
    assert.match(a.status ?? '', /publishing an empty public IP/);
    assert.match(a.status ?? '', /remote clusters will use the private IP 10\.0\.0\.5/);
    assert.match(a.status ?? '', /gateway\.submariner\.io\/public-ip or SUBMARINER_PUBLICIP/);
    assert.match(a.status ?? '', /ECONNREFUSED/);
  });
  it('a lookup that returns the private IP: published, but with a warning and a status line', () => {
    for (const via of [{ kind: 'api', value: 'http://10.0.0.1/ip' }, { kind: 'dns', value: 'gw' }, { kind: 'lb', value: 'svc' }] as const) {
      const a = assessPublicIP({ ip: priv, via, failures: [] }, priv, 'SUBMARINER_PUBLICIP', `${via.kind}:${via.value}`);
      assert.equal(a.level, 'warn');
      assert.match(a.status ?? '', /is this node's private IP/);
    }
  });
  it('a literal ipv4: equal to the private IP is what the operator said: info only', () => {
    const a = assessPublicIP({ ip: priv, via: { kind: 'ipv4', value: priv }, failures: [] }, priv, 'node', `ipv4:${priv}`);
    assert.equal(a.level, 'info');
    assert.equal(a.status, undefined);
  });
  it('a real public IP: info only', () => {
    const a = assessPublicIP({ ip: '203.0.113.5', via: { kind: 'api', value: 'x' }, failures: [] }, priv, 'default', 'api:x');
    assert.deepEqual([a.level, a.status], ['info', undefined]);
  });
});

describe('gateway node facts: public IP outcome in the log and the Gateway status', () => {
  const env = { SUBMARINER_NAMESPACE: 'ns', SUBMARINER_CLUSTERID: 'a', NODE_NAME: 'gw1', SUBMARINER_CLUSTERCIDR: '10.42.0.0/16', SUBMARINER_SERVICECIDR: '10.43.0.0/16', SUBMARINER_CABLEDRIVER: 'vxlan', BROKER_K8S_APISERVER: 'x:1', BROKER_K8S_APISERVERTOKEN: 't', BROKER_K8S_REMOTENAMESPACE: 'b' };
  function role(extra: Record<string, string>, io: ResolveIO): { r: NodeFactsReader; lines: () => Array<Record<string, unknown>>; status: () => string[] } {
    const { log, lines } = logSink();
    const failures = new Failures(log);
    const r = new NodeFactsReader({ cfg: gatewayConfigFromEnv({ ...env, ...extra }), log, client: {} as unknown as RestClient, failures, publicIpIO: io });
    const status = (): string[] => failures.messages();
    return { r, lines, status };
  }

  it('unresolvable: empty public IP, a warning line and a status line; both clear once it resolves', async () => {
    const web: Record<string, string> = {};
    const { r, lines, status } = role({ SUBMARINER_PUBLICIP: 'api:ip.example' }, new FakeIO(web));
    assert.deepEqual(await r.resolvePublicIP({}, '10.0.0.5', 5000), { ip: '', usingLoadBalancer: false });
    assert.ok(lines().some((l) => l.level === 'warn' && /publishing an empty public IP/.test(String(l.msg))));
    assert.equal(status().length, 1);
    web['https://ip.example'] = '203.0.113.77';
    assert.deepEqual(await r.resolvePublicIP({}, '10.0.0.5', 5000), { ip: '203.0.113.77', usingLoadBalancer: false });
    assert.deepEqual(status(), []);
  });

  it('the node annotation wins over SUBMARINER_PUBLICIP; lb: reports using-loadbalancer', async () => {
    const { r } = role({ SUBMARINER_PUBLICIP: 'ipv4:203.0.113.1' }, new FakeIO({}, {}, { gw: { ip: '192.0.2.9' } }));
    assert.deepEqual(await r.resolvePublicIP({ 'gateway.submariner.io/public-ip': 'lb:gw' }, '10.0.0.5', 5000), { ip: '192.0.2.9', usingLoadBalancer: true });
  });

  it('a resolver that hangs is cut at the start budget (the gateway starts and retries later)', async () => {
    const hang: ResolveIO = { httpGet: () => new Promise(() => undefined), lookup4: () => new Promise(() => undefined), loadBalancerIngress: () => new Promise(() => undefined) };
    const { r, status } = role({ SUBMARINER_PUBLICIP: 'api:slow.example' }, hang);
    assert.deepEqual(await r.resolvePublicIP({}, '10.0.0.5', 50), { ip: '', usingLoadBalancer: false });
    assert.match(status()[0] ?? '', /no resolver answered within 0\.05 s/);
  });
});

describe('gateway endpoint follower: periodic public-IP re-resolution (Submariner\'s PublicIPWatcher) and the global IP', () => {
  const cfg = gatewayConfigFromEnv({ SUBMARINER_NAMESPACE: 'ns', SUBMARINER_CLUSTERID: 'a', NODE_NAME: 'gw1', SUBMARINER_CLUSTERCIDR: '10.42.0.0/16', SUBMARINER_SERVICECIDR: '10.43.0.0/16', SUBMARINER_CABLEDRIVER: 'vxlan', BROKER_K8S_APISERVER: 'x:1', BROKER_K8S_APISERVERTOKEN: 't', BROKER_K8S_REMOTENAMESPACE: 'b' });

  it('a changed answer updates the local Endpoint (public IP, using-loadbalancer); an unchanged one does nothing', async () => {
    const web: Record<string, string> = { 'https://ip.example': '203.0.113.1' };
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'gw1', annotations: { 'gateway.submariner.io/public-ip': 'api:ip.example' } } };
    const local = { get: async () => node } as unknown as RestClient;
    const { log } = logSink();
    const failures = new Failures(log);
    const facts = new NodeFactsReader({ cfg, client: local, log, failures, publicIpIO: new FakeIO(web) });
    let ep = natEndpointSpec({ cluster: 'a', privateIP: '10.0.0.5', publicIP: '203.0.113.1' });
    const updates: string[] = [];
    const f = new EndpointFollower({
      facts, failures, log, current: () => ep, followGlobalIP: false, publicIpRecheckMs: 20,
      update: async (next) => {
        ep = next;
        updates.push(next.publicIP);
      },
    });
    f.start();
    try {
      await f.recheckPublicIP();
      assert.deepEqual(updates, [], 'same answer: nothing to republish');
      web['https://ip.example'] = '203.0.113.2';
      await waitFor(() => ep.publicIP === '203.0.113.2', { timeoutMs: 5000, what: 'the new public IP in the local Endpoint' });
      assert.deepEqual(ep.publicIPs, ['203.0.113.2']);
      assert.deepEqual(updates, ['203.0.113.2']);
    } finally {
      f.stop();
    }
  });

  it('with Globalnet, the node\'s global IP becomes the health-check IP once allocated; a failed read is a status problem', async () => {
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'gw1', annotations: {} as Record<string, string> } };
    let fail = false;
    const local = { get: async () => (fail ? Promise.reject(new Error('connection refused')) : node) } as unknown as RestClient;
    const { log } = logSink();
    const failures = new Failures(log);
    const gcfg = gatewayConfigFromEnv({ SUBMARINER_NAMESPACE: 'ns', SUBMARINER_CLUSTERID: 'a', NODE_NAME: 'gw1', SUBMARINER_CLUSTERCIDR: '10.42.0.0/16', SUBMARINER_SERVICECIDR: '10.43.0.0/16', SUBMARINER_GLOBALCIDR: '242.0.0.0/16', SUBMARINER_CABLEDRIVER: 'vxlan', BROKER_K8S_APISERVER: 'x:1', BROKER_K8S_APISERVERTOKEN: 't', BROKER_K8S_REMOTENAMESPACE: 'b' });
    const facts = new NodeFactsReader({ cfg: gcfg, client: local, log, failures });
    let ep: EndpointSpec = natEndpointSpec({ cluster: 'a', privateIP: '10.0.0.5' });
    const f = new EndpointFollower({ facts, failures, log, current: () => ep, followGlobalIP: true, update: async (next) => void (ep = next) });
    await f.recheckGlobalIP();
    assert.equal(ep.healthCheckIP, '', 'not allocated yet');
    node.metadata.annotations['submariner.io/globalIp'] = '242.0.0.7';
    await f.recheckGlobalIP();
    assert.equal(ep.healthCheckIP, '242.0.0.7');
    fail = true;
    await f.recheckGlobalIP();
    assert.match(failures.text(), /cannot read this node's global IP: connection refused/);
    fail = false;
    await f.recheckGlobalIP();
    assert.equal(failures.text(), '');
  });
});
