// Real packets through hawser's Globalnet table: two "clusters" whose pods have the same IP (10.42.0.10),
// each behind its gateway netns, joined by a point-to-point "WAN". The tables come from the planner, applied
// by the real applier. Pod A sends UDP to pod B's global ingress IP; pod B's server answers with the source
// address it saw, which must be pod A's global egress IP chosen by Submariner's precedence.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { NftDataplane } from '../../src/nat/nft.js';
import { ipv4ToInt as ipToInt } from '../../src/net/cidr.js';
import { parseLabelSelector } from '../../src/nat/selector.js';
import { createNetns, deleteNetns, netnsPids, uniqueName } from '../../src/os/netns.js';
import { exec } from '../../src/util/exec.js';
import { World } from './sim.js';

const SERVER = `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(r.address,r.port,r.address));s.bind(7777,()=>console.log('ready'));`;
// One fresh socket (new source port, so a new conntrack entry and a fresh NAT decision) per request line.
const CLIENT = `const d=require('dgram');require('readline').createInterface({input:process.stdin}).on('line',l=>{const [h,p]=l.split(' ');const s=d.createSocket('udp4');const t=setTimeout(()=>{console.log('timeout');s.close()},1500);s.on('message',m=>{clearTimeout(t);console.log('reply '+m);s.close()});s.send('x',+p,h)});console.log('ready');`;

class LineProc {
  readonly proc: ChildProcess;
  private readonly lines: string[] = [];
  private waiters: ((l: string) => void)[] = [];
  constructor(netns: string, code: string) {
    this.proc = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.proc.stdout! }).on('line', (l) => {
      const w = this.waiters.shift();
      if (w) w(l);
      else this.lines.push(l);
    });
  }
  next(timeoutMs = 5000): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no output from helper process')), timeoutMs);
      this.waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }
  send(line: string): void {
    this.proc.stdin!.write(line + '\n');
  }
  kill(): void {
    if (this.proc.pid && this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

describe('nat: Globalnet nftables with real packets @real', function () {
  this.timeout(60_000);
  const id = uniqueName('hw-gn', 4);
  const ns = { pa: `${id}-pa`, ga: `${id}-ga`, gb: `${id}-gb`, pb: `${id}-pb` };
  const procs: LineProc[] = [];
  let client: LineProc;
  const a = new World('242.0.0.0/24', ['10.42.0.0/24'], ['242.0.1.0/24']);
  const b = new World('242.0.1.0/24', ['10.42.0.0/24'], ['242.0.0.0/24']);
  let nftA: NftDataplane;
  let nftB: NftDataplane;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    for (const n of Object.values(ns)) await createNetns(n);
    const ip = (n: string, ...args: string[]): Promise<unknown> => exec('ip', ['-n', n, ...args]);
    // pod <-> gateway in each cluster, the same addresses on both sides
    for (const [pod, gw] of [[ns.pa, ns.ga], [ns.pb, ns.gb]] as const) {
      await ip(gw, 'link', 'add', 'to-pod', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod);
      await ip(gw, 'addr', 'add', '10.42.0.1/24', 'dev', 'to-pod');
      await ip(gw, 'link', 'set', 'to-pod', 'up');
      await ip(pod, 'addr', 'add', '10.42.0.10/24', 'dev', 'eth0');
      await ip(pod, 'link', 'set', 'eth0', 'up');
      await ip(pod, 'route', 'add', 'default', 'via', '10.42.0.1');
      await exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1'], { netns: gw });
    }
    await ip(ns.ga, 'link', 'add', 'wan', 'type', 'veth', 'peer', 'name', 'wan', 'netns', ns.gb);
    await ip(ns.ga, 'addr', 'add', '192.168.250.1/30', 'dev', 'wan');
    await ip(ns.gb, 'addr', 'add', '192.168.250.2/30', 'dev', 'wan');
    await ip(ns.ga, 'link', 'set', 'wan', 'up');
    await ip(ns.gb, 'link', 'set', 'wan', 'up');
    await ip(ns.ga, 'route', 'add', '242.0.1.0/24', 'via', '192.168.250.2');
    await ip(ns.gb, 'route', 'add', '242.0.0.0/24', 'via', '192.168.250.1');

    const server = new LineProc(ns.pb, SERVER);
    procs.push(server);
    assert.equal(await server.next(), 'ready');
    client = new LineProc(ns.pa, CLIENT);
    procs.push(client);
    assert.equal(await client.next(), 'ready');
    // The route agent's identity SNAT for local->remote traffic (its table, srcnat - 20) and a CNI-style
    // masquerade (srcnat): Globalnet must bind first on the gateway.
    await exec('nft', ['-f', '-'], {
      netns: ns.ga,
      input: [
        'table ip ra-sim {',
        '  chain post { type nat hook postrouting priority srcnat - 20; policy accept;',
        '    ip saddr 10.42.0.0/16 ip daddr 242.0.1.0/24 snat ip to ip saddr',
        '  }',
        '  chain masq { type nat hook postrouting priority srcnat; policy accept; oifname "wan" masquerade; }',
        '}',
        '',
      ].join('\n'),
    });
    nftA = new NftDataplane({ netns: ns.ga });
    nftB = new NftDataplane({ netns: ns.gb });
  });

  after(async () => {
    for (const p of procs) p.kill();
    for (const n of Object.values(ns)) {
      for (const pid of await netnsPids(n)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await deleteNetns(n);
    }
  });

  async function syncA(): Promise<void> {
    await nftA.sync(a.reconcile().plan.dataplane);
  }

  /** The source address pod B sees for a new flow from pod A to pod B's global IP. */
  async function seenByB(globalIP: string): Promise<string> {
    client.send(`${globalIP} 7777`);
    const l = await client.next();
    if (!l.startsWith('reply ')) throw new Error(`no reply from ${globalIP} (${l})`);
    return l.slice(6);
  }

  it('SNATs pod A to the cluster egress range and DNATs pod B\'s global ingress IP, though both pods are 10.42.0.10', async () => {
    a.addPod('app', 'pa', '10.42.0.10', { app: 'client' });
    a.addClusterEgress('cluster-egress.submariner.io');
    await syncA();
    assert.deepEqual(a.cges.get('cluster-egress.submariner.io')!.status.allocatedIPs.length, 8);
    b.exportService('app', 'srv', 'None', { selector: { app: 'srv' } });
    b.addPod('app', 'pb', '10.42.0.10', { app: 'srv' });
    b.reconcile();
    const { plan } = b.reconcile();
    const ingressIP = b.giips.get('app/pod-pb')!.status.allocatedIP;
    assert.equal(ingressIP, '242.0.1.254');
    await nftB.sync(plan.dataplane);

    const seen = await seenByB(ingressIP);
    const n = ipToInt(seen);
    assert.ok(n >= ipToInt('242.0.0.1') && n <= ipToInt('242.0.0.8'), `pod B saw ${seen}, expected one of 242.0.0.1-242.0.0.8`);
    // The kernel picks an address of the range by hashing source and destination addresses, so one pod
    // keeps one global IP towards one peer across flows (other pods/peers spread over the range).
    for (let i = 0; i < 3; i++) assert.equal(await seenByB(ingressIP), seen);
  });

  it('precedence with real packets: PODS > HDLS-PODS > NS > CLUSTER, each change one element', async () => {
    a.tick();
    a.addEgress('app', 'ns-wide');
    await syncA();
    const nsIP = a.geips.get('app/ns-wide')!.status.allocatedIPs[0]!;
    assert.equal(nsIP, '242.0.0.254');
    assert.equal(await seenByB('242.0.1.254'), nsIP, 'NS beats CLUSTER');

    // Pod A backs an exported headless Service: its global ingress IP doubles as its egress IP.
    a.tick();
    a.exportService('app', 'hs', 'None', { selector: { app: 'client' } });
    await syncA(); // creates the GlobalIngressIP
    await syncA(); // allocates it
    const hdlsIP = a.giips.get('app/pod-pa')!.status.allocatedIP;
    assert.equal(hdlsIP, '242.0.0.253');
    assert.equal(await seenByB('242.0.1.254'), hdlsIP, 'HDLS-PODS beats NS');

    a.tick();
    const sel = parseLabelSelector({ matchLabels: { app: 'client' } });
    assert.ok(sel.ok);
    a.addEgress('app', 'clients', { kind: 'value', value: 1 }, { kind: 'selector', value: sel.value });
    assert.equal(nftA.current!.egressPods.size, 0);
    const r = await nftA.sync(a.reconcile().plan.dataplane);
    assert.deepEqual(r, { mode: 'incremental', changes: 1 });
    const podIP = a.geips.get('app/clients')!.status.allocatedIPs[0]!;
    assert.equal(podIP, '242.0.0.252');
    assert.equal(await seenByB('242.0.1.254'), podIP, 'PODS beats HDLS-PODS');

    a.geips.delete('app/clients');
    await syncA();
    assert.equal(await seenByB('242.0.1.254'), hdlsIP);
    a.exports.delete('app/hs');
    await syncA();
    assert.equal(await seenByB('242.0.1.254'), nsIP);
    a.geips.delete('app/ns-wide');
    await syncA();
    const back = ipToInt(await seenByB('242.0.1.254'));
    assert.ok(back >= ipToInt('242.0.0.1') && back <= ipToInt('242.0.0.8'));
  });

  it('a full resync rebuilds the table in one transaction and removal leaves nothing behind', async () => {
    const r = await nftA.fullResync(nftA.current!);
    assert.equal(r.mode, 'full');
    const listed = (await exec('nft', ['list', 'table', 'ip', 'hawser-globalnet'], { netns: ns.ga })).stdout;
    assert.match(listed, /10\.42\.0\.0\/24 : 242\.0\.0\.1-242\.0\.0\.8/);
    await nftA.remove();
    const after = await exec('nft', ['list', 'tables'], { netns: ns.ga });
    assert.doesNotMatch(after.stdout, /hawser-globalnet/);
    await nftA.remove(); // absent is fine
  });
});
