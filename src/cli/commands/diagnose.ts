// `hawser diagnose [node|all|probe]`: what commonly breaks cables, and what to do.
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { errorMessage } from '../../util/errors.js';
import { localAccess } from '../../k8s/access.js';
import { RestClient, resourcePath } from '../../k8s/rest.js';
import { CLUSTER_ID_LABEL, parseClusterSpec, SUBMARINER_GROUP, SUBMARINER_VERSION } from '../../k8s/resources.js';
import { renderChecks, runChecks, type CheckResult, type NodeFactsForDiagnose } from '../../diagnose/checks.js';
import { forwardPolicyCheck } from '../../diagnose/forward.js';
import { armScript, parseProbeCounters, pathMtuTo, PING_OVERHEAD, PROBE_TABLE, sendUdpProbes, newProbeToken } from '../../diagnose/probes.js';
import { diagnoseAll, type NodeReport } from '../../diagnose/all.js';
import { Nft } from '../../os/nft.js';
import { openRtnl } from '../../os/netlink.js';
import { openSysctl } from '../../os/sysctl.js';
import { waitFor } from '../../util/wait.js';
import { UsageError } from '../usage.js';

export const USAGE = `usage: hawser diagnose [node] [--kubeconfig FILE] [--driver libreswan|wireguard|vxlan] [--cluster-cidr CIDR[,CIDR]]
         [--remote-cidr CIDR[,CIDR]] [--probe IP:PORT:TOKEN]... [--pmtu-to IP]... [-n|--namespace NS] [-o json]
       hawser diagnose all (--lab NAME | [--kubeconfig FILE] [--contexts A,B]) [-n NS] [-o json] [-v]
       hawser diagnose probe listen --port PORT[,PORT] [--token HEX16] [--seconds 30]
       hawser diagnose probe send --to IP --port PORT[,PORT] --token HEX16
node (default): checks this node: binaries, kernel modules, ip_forward and /proc/sys writability, MTU, a
  FORWARD chain that drops forwarded traffic, an input chain that drops the cable ports, CIDR overlaps,
  clock skew. --probe sends 3 UDP firewall probes; --pmtu-to runs a path-MTU search (DF pings) to IP.
all: every cluster's DaemonSets, pods, gateways (live update-timestamp), connections and Globalnet pool;
  with --lab also every node's checks, firewall probes between the active gateways of each pair of
  clusters (cable port, NAT discovery 4490) and from each node to its gateway (4800), and the path MTU
  through every cable. Passing node checks are summed up per node (-v lists each).
probe listen/send: the two ends of one firewall probe, to run by hand on two nodes (kubectl exec into the
  hawser pods): listen counts the probes that arrive (an nftables counter; the port may be in use), send
  sends them.
Every finding says what to open or change. Exit code 1 when any check fails.`;

async function which(bin: string): Promise<boolean> {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  return dirs.some((d) => existsSync(`${d}/${bin}`));
}

function moduleAvailable(name: string): boolean {
  if (existsSync(`/sys/module/${name}`)) return true;
  try {
    const rel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
    const dep = readFileSync(`/lib/modules/${rel}/modules.dep`, 'utf8');
    return new RegExp(`/${name}\\.ko`).test(dep);
  } catch {
    return false;
  }
}

const list = (v: string | undefined): string[] => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);

function parsePorts(v: string | undefined): number[] {
  const ports = list(v).map(Number);
  if (!ports.length || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) throw new UsageError(`--port ${JSON.stringify(v ?? '')}: expected PORT[,PORT] between 1 and 65535`);
  return ports;
}

export async function run(argv: string[]): Promise<number> {
  const sub = argv[0] && !argv[0].startsWith('-') ? argv[0] : 'node';
  const rest = argv[0] === sub ? argv.slice(1) : argv;
  if (sub === 'node') return runNode(rest);
  if (sub === 'all') return runAll(rest);
  if (sub === 'probe') return runProbe(rest);
  throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}: expected node, all or probe`);
}

/** Writes the current value back: only a writable /proc/sys takes it (containerd mounts it read-only for unprivileged pods). */
async function procSysWritable(): Promise<CheckResult> {
  const sysctl = await openSysctl();
  try {
    const v = await sysctl.get('net/ipv4/ip_forward');
    await sysctl.set('net/ipv4/ip_forward', v ?? '1');
    return { name: '/proc/sys', verdict: 'ok', detail: 'writable (net.ipv4.ip_forward)' };
  } catch (err) {
    return { name: '/proc/sys', verdict: 'fail', detail: `not writable: ${errorMessage(err)}`, fix: 'run the hawser pods privileged (deploy/ default; the container runtime mounts /proc/sys read-only otherwise): the route agent sets ip_forward and rp_filter' };
  } finally {
    await sysctl.close();
  }
}

async function runNode(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: 'string' }, driver: { type: 'string' }, 'cluster-cidr': { type: 'string' }, 'remote-cidr': { type: 'string' },
      namespace: { type: 'string', short: 'n', default: 'submariner-operator' }, output: { type: 'string', short: 'o' },
      probe: { type: 'string', multiple: true }, 'pmtu-to': { type: 'string', multiple: true },
    },
  });
  if (values.output && values.output !== 'json') throw new UsageError('-o must be json');
  const probes = (values.probe ?? []).map((p) => {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5}):([0-9a-f]{16})$/.exec(p);
    if (!m) throw new UsageError(`--probe ${JSON.stringify(p)}: expected IPv4:PORT:TOKEN (16 hex digits)`);
    return { ip: m[1]!, port: Number(m[2]), token: m[3]! };
  });
  const env = process.env;
  const facts: NodeFactsForDiagnose = {
    binaries: {},
    kernel: { wireguard: moduleAvailable('wireguard'), esp: moduleAvailable('esp4'), vxlan: moduleAvailable('vxlan'), tun: existsSync('/dev/net/tun') },
    ipForward: readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() === '1',
    addresses: [],
    clusterCidrs: list(values['cluster-cidr'] ?? env.SUBMARINER_CLUSTERCIDR),
    globalnet: Boolean(env.SUBMARINER_GLOBALCIDR),
    cableDriver: values.driver ?? env.SUBMARINER_CABLEDRIVER,
  };
  // probes first: they measure the network, not this process's later work
  const sent: NodeReport['sent'] = [];
  await Promise.all(probes.map(async (p) => {
    try {
      await sendUdpProbes(p.ip, p.port, p.token);
      sent.push(p);
    } catch (err) {
      sent.push({ ...p, error: errorMessage(err) });
    }
  }));
  const pmtu: NodeReport['pmtu'] = [];
  const pmtuErrors: CheckResult[] = [];
  for (const ip of values['pmtu-to'] ?? []) {
    try {
      pmtu.push({ ip, result: await pathMtuTo(ip) });
    } catch (err) {
      pmtuErrors.push({ name: `path MTU to ${ip}`, verdict: 'warn', detail: `cannot probe: ${errorMessage(err)}`, fix: 'run diagnose where raw ICMP sockets are allowed (root or CAP_NET_RAW: the hawser pods have it)' });
    }
  }
  for (const b of ['ip', 'nft', 'fping', 'ping', 'wireguard-go', 'charon-systemd', 'swanctl']) facts.binaries[b] = await which(b);
  const rtnl = await openRtnl().catch(() => undefined);
  if (rtnl) {
    try {
      const [links, addrs, routes] = await Promise.all([rtnl.links(), rtnl.addresses(), rtnl.routes()]);
      const name = new Map(links.map((l) => [l.index, l] as const));
      facts.addresses = addrs.filter((a) => a.family === 4).map((a) => ({ ifname: name.get(a.ifindex)?.name ?? String(a.ifindex), ip: a.address, prefix: a.prefix }));
      const def = routes.find((r) => r.family === 4 && r.table === 254 && r.dst === '0.0.0.0/0');
      const mtu = def?.oif !== undefined ? name.get(def.oif)?.mtu : undefined;
      if (mtu) facts.defaultRouteMtu = mtu;
    } finally {
      await rtnl.close();
    }
  }
  const ruleset = await new Nft().listRuleset().catch(() => undefined);
  if (ruleset !== undefined) facts.nftRuleset = ruleset;
  if (values.kubeconfig || env.KUBECONFIG || env.KUBERNETES_SERVICE_HOST) {
    try {
      const client = new RestClient(await localAccess(values.kubeconfig), 5000);
      const { items } = await client.list(resourcePath(SUBMARINER_GROUP, SUBMARINER_VERSION, 'clusters', values.namespace));
      facts.remoteClusters = items.filter((c) => c.metadata.labels?.[CLUSTER_ID_LABEL]).flatMap((c) => {
        const p = parseClusterSpec(c.spec);
        return p.ok ? [{ clusterId: p.value.clusterId, cidrs: [...p.value.clusterCidrs, ...p.value.serviceCidrs] }] : [];
      });
      facts.apiClockSkewMs = await clockSkew(client);
    } catch (err) {
      facts.apiError = errorMessage(err);
    }
  }
  const checks = runChecks(facts);
  checks.push(await procSysWritable());
  checks.push(...pmtuErrors);
  if (ruleset !== undefined) {
    const remote = [...list(values['remote-cidr']), ...(facts.remoteClusters ?? []).flatMap((r) => r.cidrs)];
    checks.push(forwardPolicyCheck(ruleset, { localCidrs: facts.clusterCidrs, remoteCidrs: [...new Set(remote)] }));
  }
  // `all` (-o json) judges the path MTU itself, knowing which cluster the IP belongs to
  for (const m of values.output === 'json' ? [] : pmtu) {
    const r = m.result;
    checks.push(!r.reachable
      ? { name: `path MTU to ${m.ip}`, verdict: 'warn', detail: 'no answer to a small ping' }
      : r.blackHole
        ? { name: `path MTU to ${m.ip}`, verdict: 'fail', detail: `black hole: ${r.pathMtu} bytes cross, up to ${r.localMtu} are dropped silently`, fix: `set submariner.io/tcp-clamp-mss=${(r.pathMtu ?? 0) - 40} on the nodes, lower the pod MTU to ${r.pathMtu}, or let ICMP "fragmentation needed" through (largest ping payload ${(r.pathMtu ?? 0) - PING_OVERHEAD})` }
        : { name: `path MTU to ${m.ip}`, verdict: 'ok', detail: `${r.pathMtu} bytes cross unfragmented${r.localMtu < 1500 ? ` (MTU below 1500 towards it: the route allows ${r.localMtu})` : ''}` });
  }
  if (values.output === 'json') {
    const report: NodeReport = { checks, sent, pmtu };
    process.stdout.write(JSON.stringify(report) + '\n');
  } else process.stdout.write(renderChecks(checks));
  return checks.some((r) => r.verdict === 'fail') ? 1 : 0;
}

async function runAll(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { lab: { type: 'string' }, verbose: { type: 'boolean', short: 'v' }, kubeconfig: { type: 'string' }, contexts: { type: 'string' }, namespace: { type: 'string', short: 'n', default: 'submariner-operator' }, output: { type: 'string', short: 'o' } },
  });
  if (values.output && values.output !== 'json') throw new UsageError('-o must be json');
  if (values.lab && (values.kubeconfig || values.contexts)) throw new UsageError('--lab takes the kubeconfigs from the lab: drop --kubeconfig/--contexts');
  let world;
  if (values.lab) {
    const [{ labWorld }, { Lab }] = await Promise.all([import('../../diagnose/lab-world.js'), import('../../lab/index.js')]);
    world = await labWorld(Lab.open(values.lab, process.env.HAWSER_LAB_ROOT).netnsWorld(), values.namespace!);
  } else {
    const { contextClients } = await import('../../show/contexts.js');
    const clients = await contextClients(values.kubeconfig, list(values.contexts));
    world = { namespace: values.namespace!, clusters: clients.map((c) => ({ id: c.clusterHint, client: c.client, nodes: [] })) };
  }
  const report = await diagnoseAll(world, { verbose: values.verbose });
  if (values.output === 'json') process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else process.stdout.write(renderChecks(report.results));
  return report.results.some((r) => r.verdict === 'fail') ? 1 : 0;
}

async function runProbe(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { port: { type: 'string' }, token: { type: 'string' }, to: { type: 'string' }, seconds: { type: 'string', default: '30' } },
  });
  const mode = positionals[0];
  if (mode !== 'listen' && mode !== 'send') throw new UsageError(`probe ${JSON.stringify(mode ?? '')}: expected listen or send`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${positionals[1]!}`);
  const ports = parsePorts(values.port);
  if (mode === 'send') {
    if (!values.to || !values.token) throw new UsageError('probe send needs --to IP and --token (printed by probe listen)');
    for (const port of ports) await sendUdpProbes(values.to, port, values.token);
    process.stdout.write(`sent 3 probes to each of ${ports.map((p) => `${values.to!}:${p}`).join(', ')}\n`);
    return 0;
  }
  const seconds = Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError('--seconds must be a positive number');
  const token = values.token ?? newProbeToken();
  const nft = new Nft();
  const expect = ports.map((port) => ({ id: `port-${port}`, port, token }));
  await nft.run(armScript(expect));
  process.stdout.write(`listening for UDP probes on ${ports.join(', ')} for ${seconds} s: run on the other node\n  hawser diagnose probe send --to <this node's IP> --port ${ports.join(',')} --token ${token}\n`);
  let counts = new Map<string, number>();
  try {
    await waitFor(async () => {
      counts = parseProbeCounters((await nft.listTable('inet', PROBE_TABLE)) ?? '');
      return expect.every((e) => (counts.get(e.id) ?? 0) > 0);
    }, { timeoutMs: seconds * 1000, intervalMs: 250, what: 'probes' }).catch(() => undefined);
  } finally {
    await nft.deleteTable('inet', PROBE_TABLE);
  }
  let failed = false;
  for (const e of expect) {
    const n = counts.get(e.id) ?? 0;
    if (!n) failed = true;
    process.stdout.write(n ? `✓ UDP ${e.port}: ${n} probes arrived\n` : `✗ UDP ${e.port}: no probe arrived in ${seconds} s\n    → open UDP ${e.port} inbound to this node from the sender (security group, network firewall, host firewall)\n`);
  }
  return failed ? 1 : 0;
}

/** Skew from the API server's Date header (second resolution), measured around one request. */
async function clockSkew(client: RestClient): Promise<number | undefined> {
  const before = Date.now();
  const res = await client.raw('GET', '/version');
  const after = Date.now();
  const date = res.headers.date;
  if (!date) return undefined;
  return Date.parse(date) + 500 - (before + after) / 2;
}
