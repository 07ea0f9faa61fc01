// The lab as an object: bring up (plan → state file → network → API servers → registration → roles),
// reopen from the state file, exec inside, stop/start single roles, and tear down exactly what it made.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { k8s } from '../k8s/client.js';
import { HawserError, errorMessage } from '../util/errors.js';
import { exec, type ExecResult } from '../util/exec.js';
import { sleep, waitFor } from '../util/wait.js';
import { assertNetnsFree, buildNetwork } from './builder.js';
import { labDown, labStatus, type DownReport, type LabStatus } from './control.js';
import { generateSecrets, writeClusterFiles, writeHostKubeconfig } from './credentials.js';
import { readImage, unpackImage } from './image.js';
import { isOurProcess, procStartTime, startProcess, stopProcesses, tailFile, type Started } from './procs.js';
import { assertPrometheusInstalled, planPrometheus, waitPrometheusReady, writePrometheusFiles } from './prometheus.js';
import { apiAnswers, loadCrds, registerCluster } from './register.js';
import { readState, stateFilePath, updateState, writeState, type LabState, type ProcessRecord } from './state.js';

export { labDown, labStatus, type DownReport, type LabStatus, type ProcessStatus } from './control.js';
import {
  DEFAULT_STATE_ROOT, LAB_ROLES, findNode, labRootfs, netnsNames, planLab, resolveOptions, resolveTarget,
  type ClusterPlan, type LabOptions, type LabSecrets, type LabRole, type LabTopology, type NodePlan, type ProcessPlan,
} from './topology.js';

export interface LabUpOptions extends Partial<Omit<LabOptions, 'name' | 'repoRoot' | 'image'>> {
  /** Run the roles from this OCI image archive (`make image`), unpacked once into the lab's state directory. */
  image?: string;
  /** Default: 6 random hex characters. */
  name?: string;
  repoRoot?: string;
  /** Start the API servers and register objects (default true). */
  apiserver?: boolean;
  /** Start the hawser roles on the nodes (default: same as `apiserver`). */
  roles?: boolean;
  /** Leave a half-built lab in place for inspection instead of tearing it down. */
  keepOnFailure?: boolean;
  /** Called with a short description as each step starts. */
  progress?: (step: string) => void;
  /** How long the API servers get to answer (default 30 s). */
  apiTimeoutMs?: number;
  /**
   * Keep the network when the API servers fail (skipping registration and roles) and record why in
   * `lab.problems`: the demo shows what exists while parts of hawser are still missing.
   */
  tolerateApiFailure?: boolean;
  /** Start Debian's prometheus in each cluster's control-plane netns, scraping every role (src/lab/prometheus.ts). */
  prometheus?: boolean;
}

/** See `Lab.netnsWorld`. */
export interface LabNetnsWorld {
  /** This checkout's bin/hawser, run inside a node's netns as its hawser pod would run. */
  hawserBinary: string;
  clusters: Array<{ id: string; hostKubeconfig: string; nodes: Array<{ name: string; gateway: boolean; netns: string }> }>;
}

/** The checkout holding bin/hawser (works from src/ under tsx and from dist/). */
export function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'bin', 'hawser')) && existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new HawserError('NOT_FOUND', 'cannot find the hawser checkout (bin/hawser) above src/lab');
}

export function randomLabName(): string {
  return randomBytes(3).toString('hex');
}

export class Lab {
  /** What `up` had to skip (with tolerateApiFailure). */
  readonly problems: string[] = [];

  private constructor(readonly topology: LabTopology) {}

  get name(): string {
    return this.topology.name;
  }

  get stateDir(): string {
    return this.topology.stateDir;
  }

  /** Builds a lab; on failure tears down what was made (unless keepOnFailure) and rethrows. */
  static async up(opts: LabUpOptions = {}): Promise<Lab> {
    const { apiserver = true, keepOnFailure = false, progress = () => undefined, apiTimeoutMs = 30_000 } = opts;
    const roles = opts.roles ?? apiserver;
    if (roles && !apiserver) throw new HawserError('INVALID', 'lab: the hawser roles need the API servers (roles without apiserver)');
    const image = opts.image === undefined ? undefined : await readImage(resolve(opts.image));
    const o = resolveOptions({
      ...opts, name: opts.name ?? randomLabName(), repoRoot: opts.repoRoot ?? findRepoRoot(),
      image: image && { archive: image.archive, digest: image.digest, env: image.env },
    });
    const secrets = generateSecrets(Array.from({ length: o.clusters }, (_, i) => `cluster-${String.fromCharCode(97 + i)}`));
    const t = planLab(o, secrets);
    if (opts.prometheus) {
      assertPrometheusInstalled();
      t.processes.push(...planPrometheus(t));
    }
    await assertNetnsFree(netnsNames(t));
    mkdirSync(o.stateRoot, { recursive: true, mode: 0o700 });
    try {
      mkdirSync(t.stateDir, { mode: 0o700 });
    } catch (err) {
      throw new HawserError('EXISTS', `lab ${t.name} already exists (${t.stateDir}); hawser lab down --name ${t.name}`, { cause: err });
    }
    // Everything this lab may create is recorded before the first of it exists.
    writeState(t.stateFile, {
      version: 1, name: t.name, phase: 'building', createdAt: new Date().toISOString(),
      owner: { pid: process.pid, startTime: procStartTime(process.pid) },
      netns: netnsNames(t), processes: [], files: [t.stateDir], topology: t,
    });
    const lab = new Lab(t);
    try {
      progress(`building ${t.namespaces.length} network namespaces${o.image ? ' and unpacking the image' : ''}`);
      await Promise.all([buildNetwork(t), writeClusterFiles(t, secrets), o.image && unpackImage(o.image.archive, labRootfs(t.stateDir))]);
      const daemons = t.processes.filter((p) => p.kind === 'bird');
      if (daemons.length) {
        progress(`starting ${daemons.length} BIRD daemons and waiting for their routes`);
        for (const p of daemons) await lab.start(p);
        await lab.waitBgpRoutes(60_000);
      }
      let apiUp = false;
      if (apiserver) {
        try {
          await lab.startControlPlane(secrets, apiTimeoutMs, progress);
          apiUp = true;
        } catch (err) {
          if (!opts.tolerateApiFailure) throw err;
          lab.problems.push(`API servers: ${errorMessage(err)}`);
        }
      }
      if (roles && apiUp) {
        progress('starting hawser roles on the nodes');
        for (const p of t.processes.filter((p) => (LAB_ROLES as readonly string[]).includes(p.kind))) await lab.start(p);
      }
      if (opts.prometheus) {
        progress('starting Prometheus in each control plane');
        await lab.startPrometheus();
      }
      updateState(t.stateFile, (s) => void (s.phase = 'up'));
      return lab;
    } catch (err) {
      updateState(t.stateFile, (s) => {
        s.phase = 'failed';
        s.error = errorMessage(err);
      });
      if (!keepOnFailure) await labDown(t.name, { stateRoot: o.stateRoot }).catch(() => undefined);
      throw err;
    }
  }

  /** API servers, their relays and the host port forwarder; then CRDs, namespaces, broker, nodes, pods. */
  private async startControlPlane(secrets: LabSecrets, apiTimeoutMs: number, progress: (s: string) => void): Promise<void> {
    const t = this.topology;
    progress(`starting ${t.clusters.length} API server(s)`);
    for (const p of t.processes.filter((p) => p.kind === 'apiserver' || p.kind === 'relay' || p.kind === 'forwarder')) await this.start(p);
    const ports = await this.waitForwardPorts(10_000);
    for (const c of t.clusters) writeHostKubeconfig(c, ports[c.id]!, secrets);
    await Promise.all(t.clusters.map((c) => this.waitApi(c, apiTimeoutMs)));
    progress('registering CRDs, namespaces, broker, nodes and pods');
    const crds = loadCrds(join(t.options.repoRoot, 'deploy', 'crds'));
    await Promise.all(t.clusters.map((c) => registerCluster(this.kubeConfig(c.id), t, c, crds)));
  }

  /** A handle on a running lab, from its state file. */
  static open(name: string, stateRoot = DEFAULT_STATE_ROOT): Lab {
    return new Lab(readState(stateFilePath(stateRoot, name)).topology);
  }

  state(): LabState {
    return readState(this.topology.stateFile);
  }

  cluster(id: string): ClusterPlan {
    const c = this.topology.clusters.find((x) => x.id === id || x.letter === id);
    if (!c) throw new HawserError('NOT_FOUND', `lab ${this.name} has no cluster ${id} (clusters: ${this.topology.clusters.map((x) => x.id).join(', ')})`);
    return c;
  }

  node(name: string): NodePlan {
    const n = findNode(this.topology, name);
    if (!n) throw new HawserError('NOT_FOUND', `lab ${this.name} has no node ${name}`);
    return n;
  }

  /** Netns of a cluster (its control plane), node, pod, router (`a-rtr`), `wan`, or a netns name. */
  netns(target: string): string {
    const r = resolveTarget(this.topology, target);
    if (!r) throw new HawserError('NOT_FOUND', `lab ${this.name} has no target ${target} (a cluster, node, pod, <letter>-rtr or wan)`);
    return r.netns;
  }

  /** Admin kubeconfig path: `host` (127.0.0.1 via the port forwarder) or `lab` (LAN address, for use inside). */
  kubeconfig(cluster: string, where: 'host' | 'lab' = 'host'): string {
    const c = this.cluster(cluster);
    return where === 'host' ? c.hostKubeconfig : c.kubeconfig;
  }

  /** client-node KubeConfig for a cluster, usable from the host. */
  kubeConfig(cluster: string): k8s.KubeConfig {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(this.kubeconfig(cluster, 'host'));
    return kc;
  }

  /**
   * The lab as clusters whose nodes are network namespaces: plain data for a tool that acts on every node
   * (`hawser diagnose all --lab` turns it into its world), so the tool never needs the lab itself.
   */
  netnsWorld(): LabNetnsWorld {
    return {
      hawserBinary: join(findRepoRoot(), 'bin', 'hawser'),
      clusters: this.topology.clusters.map((c) => ({
        id: c.id,
        hostKubeconfig: c.hostKubeconfig,
        nodes: c.nodes.map((n) => ({ name: n.name, gateway: n.gateway, netns: n.netns })),
      })),
    };
  }

  /** Runs argv inside a target's netns with KUBECONFIG set to its cluster's in-lab kubeconfig. */
  exec(target: string, argv: readonly string[], opts: { input?: string; timeoutMs?: number; allowFailure?: boolean; env?: Record<string, string> } = {}): Promise<ExecResult> {
    const r = resolveTarget(this.topology, target);
    if (!r) throw new HawserError('NOT_FOUND', `lab ${this.name} has no target ${target}`);
    const env: NodeJS.ProcessEnv = { ...process.env, ...(r.cluster ? { KUBECONFIG: r.cluster.kubeconfig } : {}), ...opts.env };
    const [cmd, ...args] = argv;
    return exec(cmd!, args, { netns: r.netns, env, input: opts.input, timeoutMs: opts.timeoutMs, allowFailure: opts.allowFailure });
  }

  /** One ping from a target; `rttMs` when answered. */
  async ping(from: string, ip: string, timeoutS = 1): Promise<{ ok: boolean; rttMs?: number }> {
    const r = await this.exec(from, ['ping', '-n', '-c', '1', '-W', String(timeoutS), ip], { allowFailure: true, timeoutMs: (timeoutS + 2) * 1000 });
    const m = /time[=<]([\d.]+) ms/.exec(r.stdout);
    return r.code === 0 ? { ok: true, rttMs: m ? Number(m[1]) : undefined } : { ok: false };
  }

  private plan(id: string): ProcessPlan {
    const p = this.topology.processes.find((x) => x.id === id);
    if (!p) throw new HawserError('NOT_FOUND', `lab ${this.name} has no process ${id}`);
    return p;
  }

  private roleId(node: string, role: LabRole): string {
    const n = this.node(node);
    if (!n.roles.includes(role)) throw new HawserError('NOT_FOUND', `node ${node} runs no ${role} (it runs ${n.roles.join(', ')})`);
    return `${node}/${role}`;
  }

  /** Starts a planned process, recording it in the state file first. */
  private async start(p: ProcessPlan): Promise<Started> {
    for (const [file, content] of Object.entries(p.files ?? {})) {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, content, { mode: 0o600 });
    }
    const startedAt = new Date().toISOString();
    updateState(this.topology.stateFile, (s) => {
      // Forget earlier runs of this id that are gone, keep the rest so down still kills them.
      s.processes = s.processes.filter((r) => r.id !== p.id || (r.pid !== undefined && isOurProcess(r.pid, r.startTime)));
      s.processes.push({ id: p.id, netns: p.netns, startedAt });
    });
    const started = await startProcess(p, this.topology.options.repoRoot);
    updateState(this.topology.stateFile, (s) => {
      const r = s.processes.find((x) => x.id === p.id && x.startedAt === startedAt && x.pid === undefined);
      if (r) Object.assign(r, { pid: started.pid, startTime: started.startTime });
    });
    return started;
  }

  private liveRecords(id: string): ProcessRecord[] {
    return this.state().processes.filter((r) => r.id === id && r.pid !== undefined && isOurProcess(r.pid, r.startTime));
  }

  /** PID of a running process (`<node>/<role>`, `<cluster>/apiserver`, …), or undefined. */
  pid(id: string): number | undefined {
    return this.liveRecords(id).at(-1)?.pid;
  }

  roleRunning(node: string, role: LabRole): boolean {
    return this.pid(this.roleId(node, role)) !== undefined;
  }

  /**
   * Starts (or restarts, if it exited) each cluster's Prometheus, recorded in the state file like every lab
   * process so `down` kills it by PID; adds them to the plan of a lab that was built without them.
   */
  async startPrometheus(timeoutMs = 20_000): Promise<void> {
    const t = this.topology;
    if (!t.processes.some((p) => p.kind === 'prometheus')) {
      assertPrometheusInstalled();
      t.processes.push(...planPrometheus(t));
      updateState(t.stateFile, (s) => void (s.topology.processes = t.processes));
    }
    writePrometheusFiles(t);
    const plans = t.processes.filter((p) => p.kind === 'prometheus');
    for (const p of plans) if (this.pid(p.id) === undefined) await this.start(p);
    await Promise.all(plans.map((p) => waitPrometheusReady(this, p.cluster!, timeoutMs, () => this.pid(p.id) !== undefined).catch((err: unknown) => {
      throw new HawserError('EXEC', `${errorMessage(err)}; its log (${p.log}) ends:\n${tailFile(p.log, 5)}`, { cause: err });
    })));
  }

  /** Starts any planned process by id (e.g. `a-wk1/bird` after `stopProcess`); a no-op if it runs. */
  async startProcess(id: string): Promise<number> {
    const running = this.pid(id);
    if (running !== undefined) return running;
    return (await this.start(this.plan(id))).pid;
  }

  /** Stops any planned process by PID (e.g. a BIRD daemon, to restart it). */
  async stopProcess(id: string, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    this.plan(id);
    const recs = this.liveRecords(id);
    await stopProcesses(recs.map((r) => ({ pid: r.pid!, startTime: r.startTime })), signal, timeoutMs);
    updateState(this.topology.stateFile, (s) => {
      for (const r of s.processes) if (r.id === id && recs.some((x) => x.pid === r.pid)) r.stoppedAt = new Date().toISOString();
    });
  }

  /**
   * Waits until every node running BIRD has a `proto bird` route to every other node's pod block of its
   * cluster (the calico-bgp preset); fails with what is missing and the BIRD logs' last lines.
   */
  async waitBgpRoutes(timeoutMs: number): Promise<void> {
    const t = this.topology;
    const nodes = t.processes.filter((p) => p.kind === 'bird' && p.node !== undefined).map((p) => this.node(p.node!));
    const birds = t.processes.filter((p) => p.kind === 'bird');
    let missing: string[] = [];
    let dead: string[] = [];
    try {
      await waitFor(async () => {
        dead = birds.filter((p) => this.pid(p.id) === undefined).map((p) => p.id);
        // A daemon that exited (bad config) will not come back: stop waiting.
        if (dead.length) return true;
        missing = [];
        for (const n of nodes) {
          const r = await this.exec(n.name, ['ip', '-4', 'route', 'show', 'proto', 'bird'], { allowFailure: true });
          const peers = this.cluster(n.cluster).nodes.filter((x) => x !== n);
          for (const p of peers) if (!r.stdout.includes(`${p.podCidr} via ${p.ip}`)) missing.push(`${n.name}: ${p.podCidr} via ${p.ip}`);
        }
        return missing.length === 0;
      }, { timeoutMs, intervalMs: 250, what: 'BGP routes' });
      if (dead.length) throw new HawserError('EXEC', `BIRD exited (${dead.join(', ')}): ${dead.slice(0, 2).map((id) => tailFile(this.plan(id).log, 3)).join('\n')}`);
    } catch (err) {
      if (dead.length) throw err;
      const logs = t.processes.filter((p) => p.kind === 'bird').slice(0, 2).map((p) => `${p.id}: ${tailFile(p.log, 3)}`).join('\n');
      throw new HawserError('TIMEOUT', `BIRD did not install every pod block within ${timeoutMs / 1000} s (missing ${missing.slice(0, 6).join(', ')}); ${logs}`, { cause: err });
    }
  }

  /** Starts a role on a node (as its DaemonSet pod would be restarted); a no-op if it runs. */
  async startRole(node: string, role: LabRole): Promise<number> {
    const id = this.roleId(node, role);
    const running = this.pid(id);
    if (running !== undefined) return running;
    return (await this.start(this.plan(id))).pid;
  }

  /**
   * Starts a role with part of its environment replaced (e.g. by what `hawser join` wrote) and/or another
   * command (e.g. a different hawser build, for an upgrade): test/install's lab tests install and upgrade
   * a cluster the way a user would. A no-op if it runs.
   */
  async startRoleWith(node: string, role: LabRole, o: { env?: Readonly<Record<string, string>>; command?: string }): Promise<number> {
    const id = this.roleId(node, role);
    const running = this.pid(id);
    if (running !== undefined) return running;
    const p = this.plan(id);
    const env = o.env ?? {};
    const envFromFiles = Object.fromEntries(Object.entries(p.envFromFiles ?? {}).filter(([k]) => !(k in env)));
    const argv = o.command ? [o.command, ...p.argv.slice(1)] : p.argv;
    return (await this.start({ ...p, argv, env: { ...p.env, ...env }, envFromFiles })).pid;
  }

  /** Stops a role by PID: SIGTERM (graceful, SIGKILL after `timeoutMs`) or SIGKILL (a crash). Daemons it started stay. */
  async stopRole(node: string, role: LabRole, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    const id = this.roleId(node, role);
    const recs = this.liveRecords(id);
    await stopProcesses(recs.map((r) => ({ pid: r.pid!, startTime: r.startTime })), signal, timeoutMs);
    updateState(this.topology.stateFile, (s) => {
      for (const r of s.processes) if (r.id === id && recs.some((x) => x.pid === r.pid)) r.stoppedAt = new Date().toISOString();
    });
  }

  async restartRole(node: string, role: LabRole, signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
    await this.stopRole(node, role, signal);
    return this.startRole(node, role);
  }

  /** The complete environment a role runs with (BROKER_K8S_CA included), e.g. to run it by hand. */
  roleEnv(node: string, role: LabRole): Record<string, string> {
    const p = this.plan(this.roleId(node, role));
    const env = { ...p.env };
    for (const [k, file] of Object.entries(p.envFromFiles ?? {})) env[k] = readFileSync(file).toString('base64');
    return env;
  }

  /** Log file of a process id (`<node>/<role>`, `<cluster>/apiserver`, `lab/forwarder`). */
  logFile(id: string): string {
    return this.plan(id).log;
  }

  async status(): Promise<LabStatus> {
    return labStatus(this.name, this.topology.options.stateRoot);
  }

  down(): Promise<DownReport> {
    return labDown(this.name, { stateRoot: this.topology.options.stateRoot });
  }

  private async waitForwardPorts(timeoutMs: number): Promise<Record<string, number>> {
    const t = this.topology;
    return waitFor(() => {
      if (!existsSync(t.forwardPortsFile)) {
        if (this.pid('lab/forwarder') === undefined) throw new HawserError('EXEC', `the port forwarder exited: ${tailFile(this.logFile('lab/forwarder'), 5)}`);
        return undefined;
      }
      return JSON.parse(readFileSync(t.forwardPortsFile, 'utf8')) as Record<string, number>;
    }, { timeoutMs, intervalMs: 50, what: 'the loopback port forwarder' }).catch((err: unknown) => {
      throw new HawserError('TIMEOUT', `${errorMessage(err)}; see ${this.logFile('lab/forwarder')}`, { cause: err });
    });
  }

  /** Waits for a cluster's API server to answer; fails fast (with its log) if it exits. */
  private async waitApi(c: ClusterPlan, timeoutMs: number): Promise<void> {
    const kc = this.kubeConfig(c.id);
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (this.pid(`${c.id}/apiserver`) === undefined) {
        throw new HawserError('EXEC', `the API server of ${c.id} exited; its log (${this.logFile(`${c.id}/apiserver`)}) ends:\n${tailFile(this.logFile(`${c.id}/apiserver`), 8)}`);
      }
      try {
        if (await apiAnswers(kc)) return;
      } catch (err) {
        last = errorMessage(err);
      }
      if (Date.now() > deadline) {
        throw new HawserError('TIMEOUT', `the API server of ${c.id} did not answer within ${timeoutMs / 1000} s (last error: ${last}); see ${this.logFile(`${c.id}/apiserver`)}`);
      }
      await sleep(100);
    }
  }
}
