import assert from 'node:assert/strict';
import { decodeBrokerInfo, encodeBrokerInfo, pskText, brokerApiServer } from '../../src/install/brokerinfo.js';
import { allocateGlobalCidr, chooseCidrs } from '../../src/install/join.js';
import { coveringCidr, discoverFrom, rangeFromProbeError } from '../../src/install/discover.js';
import { planNodeUninstall } from '../../src/install/node.js';
import { subctlBrokerInfo } from '../support/broker-info.js';

const b64 = (x: string | Buffer): string => Buffer.from(x).toString('base64');

describe('install: broker-info.subm, CIDR discovery, planning', () => {
  const psk = Buffer.alloc(48, 7);
  const fixture = { url: 'https://192.0.2.10:6443', token: 'eyJhbGciOi.token', ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', ns: 'submariner-k8s-broker', psk };

  it("reads subctl's format and writes it byte for byte", () => {
    const text = subctlBrokerInfo(fixture);
    const info = decodeBrokerInfo(text);
    assert.equal(info.brokerURL, fixture.url);
    assert.deepEqual(info.clientToken, { token: fixture.token, namespace: fixture.ns, caPem: fixture.ca, secretName: 'submariner-k8s-broker-admin-token' });
    assert.deepEqual(info.ipsecPsk, psk);
    assert.equal(info.serviceDiscovery, true);
    assert.deepEqual(info.components, ['service-discovery', 'connectivity']);
    assert.equal(encodeBrokerInfo(info), text);
    assert.equal(pskText(info), psk.toString('base64'));
    assert.equal(brokerApiServer(info), '192.0.2.10:6443');
    // the standard alphabet, no padding, lower-case keys: Go's reader takes them, so does ours
    assert.deepEqual(decodeBrokerInfo(text.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '')), info);
  });

  it('names what is wrong with a bad file', () => {
    assert.throws(() => decodeBrokerInfo('not base64 at all!'), /not base64/);
    assert.throws(() => decodeBrokerInfo(Buffer.from('{"brokerURL":"x"}').toString('base64')), /ClientToken is missing/);
    assert.throws(() => decodeBrokerInfo(Buffer.from('{"ClientToken":{}}').toString('base64')), /brokerURL is missing/);
    assert.throws(() => decodeBrokerInfo(Buffer.from(`{"brokerURL":"x","ClientToken":{"data":{"token":"${b64('t')}"}}}`).toString('base64')), /namespace is missing/);
  });

  it('discovers CIDRs from control-plane flags, node podCIDRs and the Service probe, and says what it could not find', () => {
    const pod = (name: string, args: string[]): never => ({ metadata: { name, namespace: 'kube-system' }, spec: { containers: [{ command: [name.split('-').slice(0, -1).join('-'), ...args] }] } }) as never;
    const d1 = discoverFrom({ controlPlanePods: [pod('kube-controller-manager-cp1', ['--cluster-cidr=10.244.0.0/16', '--service-cluster-ip-range=10.96.0.0/12'])], nodes: [] });
    assert.deepEqual(d1.clusterCidr?.cidrs, ['10.244.0.0/16']);
    assert.deepEqual(d1.serviceCidr?.cidrs, ['10.96.0.0/12']);
    const nodes = ['10.42.0.0/24', '10.42.3.0/24', '10.42.1.0/24'].map((c, i) => ({ metadata: { name: `n${i}` }, spec: { podCIDR: c, podCIDRs: [c] } })) as never[];
    const d2 = discoverFrom({ controlPlanePods: [], nodes, probeError: 'Service "x" is invalid: spec.clusterIPs: Invalid value: []string{"0.0.0.0"}: failed to allocate IP 0.0.0.0: the provided IP (0.0.0.0) is not in the valid range. The range of valid IPs is 10.43.0.0/16' });
    assert.deepEqual(d2.clusterCidr?.cidrs, ['10.42.0.0/22']);
    assert.match(d2.clusterCidr!.source, /podCIDRs of 3 node/);
    assert.deepEqual(d2.serviceCidr?.cidrs, ['10.43.0.0/16']);
    const d3 = discoverFrom({ controlPlanePods: [], nodes: [] });
    assert.equal(d3.clusterCidr, undefined);
    assert.match(d3.notes.join('\n'), /pass --clustercidr[\s\S]*pass --servicecidr/);
    assert.throws(() => chooseCidrs({}, d3), /pod CIDR could not be discovered.*pass --clustercidr/);
    assert.deepEqual(chooseCidrs({ clusterCidr: ['10.1.0.0/16'], serviceCidr: ['10.2.0.0/16'] }, d3).clusterCidrs, ['10.1.0.0/16']);
    assert.throws(() => chooseCidrs({ clusterCidr: ['10.1.0.0'], serviceCidr: ['10.2.0.0/16'] }, d3), /expected an IPv4 CIDR/);
    assert.equal(coveringCidr(['10.0.0.0/24', '10.0.1.0/24']), '10.0.0.0/23');
    assert.deepEqual(rangeFromProbeError('nothing here'), []);
  });

  it('allocates global CIDRs as subctl does: the next free block of the cluster size', () => {
    assert.equal(allocateGlobalCidr('242.0.0.0/8', 65536, []), '242.0.0.0/16');
    assert.equal(allocateGlobalCidr('242.0.0.0/8', 65536, ['242.0.0.0/16', '242.2.0.0/16']), '242.1.0.0/16');
    assert.equal(allocateGlobalCidr('242.0.0.0/15', 65536, ['242.0.0.0/16', '242.1.0.0/16']), undefined);
  });

  it('plans node cleanup from the registry only', () => {
    const plan = planNodeUninstall({
      links: ['eth0', 'vx-submariner', 'flannel.1', 'submariner'],
      routes: [
        { family: 4, dst: '10.1.0.0/16', table: '150', protocol: '147', dev: 'eth0' },
        { family: 4, dst: '10.2.0.0/16', table: '150', protocol: '4', dev: 'eth0' },
        { family: 4, dst: '10.3.0.0/16', table: '150', protocol: '119', dev: 'submariner' },
      ],
      rules: [{ family: 4, priority: 150, table: '150', protocol: '147', src: 'all' }, { family: 4, priority: 150, table: '151', fwmark: '0x1', src: 'all' }],
      addresses: [{ dev: 'lo', address: '10.43.0.0', prefixlen: 32, label: 'lo:hawser' }, { dev: 'lo', address: '10.96.0.1', prefixlen: 32, label: 'lo:kube' }],
      nftTables: [{ family: 'ip', name: 'hawser' }, { family: 'inet', name: 'hawser' }, { family: 'ip', name: 'filter' }],
      daemons: [{ name: 'charon', pid: 42, ours: true }, { name: 'wireguard-go', pid: 43, ours: false }],
      paths: ['/var/run/hawser/ipsec'],
    });
    assert.deepEqual(plan.map((s) => s.text), [
      'stop charon (pid 42)',
      'ip link del vx-submariner',
      'ip link del submariner',
      'ip -4 route del 10.1.0.0/16 table 150 proto 147 dev eth0',
      'ip -4 rule del pref 150 lookup 150 proto 147',
      'ip address del 10.43.0.0/32 dev lo label lo:hawser',
      'nft delete table ip hawser',
      'rm -r /var/run/hawser/ipsec',
    ]);
  });
});
