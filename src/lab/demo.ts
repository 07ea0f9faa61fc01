// `hawser lab demo` (`make demo`): bring a lab up, wait until every cable is connected, print
// `hawser show all` per cluster and a cross-cluster ping matrix, then tear it all down (unless --keep).
// While parts of hawser are missing it shows what exists and ends with a summary of what is missing.
import { join } from 'node:path';
import { errorMessage } from '../util/errors.js';
import { sleep } from '../util/wait.js';
import { Lab, labDown, randomLabName, type LabUpOptions } from './lab.js';
import { cableStates, formatConnections, formatPingMatrix, globalIpsByPod, pingMatrix, readAllGateways } from './observe.js';
import { tailFile } from './procs.js';
import { Progress } from './progress.js';

export interface DemoOptions extends LabUpOptions {
  keep?: boolean;
  /** Seconds to wait for the cables (default 90). */
  timeoutS?: number;
  /** Results (default stdout). */
  out?: NodeJS.WritableStream;
  /** Progress lines (default stderr; a spinner when it is a terminal). */
  progressOut?: NodeJS.WritableStream & { isTTY?: boolean };
}

function firstLogLines(lab: Lab, ids: readonly string[]): string {
  return ids.map((id) => `${id}: ${tailFile(lab.logFile(id), 3).split('\n').join(' | ') || '(empty log)'}`).join('\n    ');
}

/** Polls the Gateway objects until every cluster's active gateway is connected to every other cluster. */
async function waitForCables(lab: Lab, timeoutS: number, progress: Progress, missing: string[]): Promise<boolean> {
  const ids = lab.topology.clusters.map((c) => c.id);
  const gatewayIds = lab.topology.processes.filter((p) => p.kind === 'gateway').map((p) => p.id);
  const deadline = Date.now() + timeoutS * 1000;
  progress.step('waiting for the cables');
  for (;;) {
    const states = cableStates(ids, await readAllGateways(lab));
    if (states.every((s) => !s.missing)) {
      progress.done('✓', 'every cable is connected');
      return true;
    }
    progress.update(`waiting for the cables: ${states.map((s) => `${s.cluster} ${s.missing || 'connected'}`).join('; ')}`);
    if (gatewayIds.every((id) => lab.pid(id) === undefined)) {
      progress.fail('no cables: no gateway role is running');
      missing.push(`no \`hawser gateway\` process is running (not implemented yet, or crashed); their logs end:\n    ${firstLogLines(lab, gatewayIds)}`);
      return false;
    }
    if (Date.now() > deadline) {
      progress.fail(`cables not connected within ${timeoutS} s`);
      for (const s of states) if (s.missing) missing.push(`${s.cluster}: ${s.missing}`);
      return false;
    }
    await sleep(1000);
  }
}

async function showAll(lab: Lab, out: NodeJS.WritableStream): Promise<void> {
  const hawser = join(lab.topology.options.repoRoot, 'bin', 'hawser');
  for (const c of lab.topology.clusters) {
    out.write(`\n=== ${c.id}: hawser show all --kubeconfig ${c.kubeconfig}\n`);
    const r = await lab.exec(c.id, [hawser, 'show', 'all', '--kubeconfig', c.kubeconfig], { allowFailure: true, timeoutMs: 30_000 }).catch((err: unknown) => ({ code: 1, stdout: '', stderr: errorMessage(err) }));
    if (r.code === 0 && r.stdout.trim()) {
      out.write(r.stdout);
      continue;
    }
    out.write(`(hawser show all failed: ${(r.stderr.trim() || `exit ${r.code}`).split('\n')[0]}; the Gateway objects instead)\n`);
    const gws = (await readAllGateways(lab))[c.id];
    out.write(typeof gws === 'string' ? `cannot read Gateways: ${gws}\n` : gws && gws.length ? formatConnections(gws) : 'no Gateway objects\n');
  }
}

function exploreHelp(lab: Lab): string {
  const t = lab.topology;
  const a = t.clusters[0]!;
  const remotePod = t.clusters[1]?.nodes[0]?.pods[0];
  const pod = a.nodes[0]!.pods[0]!;
  return [
    '',
    `The lab stays up (name ${t.name}). Explore it:`,
    `  hawser lab status --name ${t.name}`,
    `  hawser lab exec --name ${t.name} ${a.id} -- kubectl get gateways -n submariner-operator -o wide`,
    remotePod ? `  hawser lab exec --name ${t.name} ${pod.name} -- ping -c 3 ${remotePod.ip}` : '',
    `  kubectl --kubeconfig ${a.hostKubeconfig} get nodes -o wide`,
    `  logs: ${t.stateDir}/logs/`,
    `  hawser lab down --name ${t.name}`,
  ].filter(Boolean).join('\n') + '\n';
}

export async function runDemo(o: DemoOptions): Promise<number> {
  const out = o.out ?? process.stdout;
  const progress = new Progress(o.progressOut);
  const name = o.name ?? randomLabName();
  const started = Date.now();
  const missing: string[] = [];
  let lab: Lab | undefined;
  const onSignal = (): void => {
    progress.log('interrupted: tearing the lab down');
    void labDown(name, { stateRoot: o.stateRoot }).catch(() => undefined).finally(() => process.exit(130));
  };
  if (!o.keep) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  try {
    try {
      lab = await Lab.up({ ...o, name, tolerateApiFailure: true, progress: (s) => progress.step(s) });
      progress.done();
    } catch (err) {
      progress.fail();
      throw err;
    }
    const t = lab.topology;
    out.write(`lab ${t.name}: ${t.clusters.map((c) => `${c.id} (${c.nodes.map((n) => n.name).join(', ')})`).join(', ')}; driver ${t.options.driver}${t.options.nat ? `; ${t.clusters.at(-1)!.id} behind NAT` : ''}${t.options.globalnet ? '; globalnet' : ''}\n`);
    missing.push(...lab.problems);
    if (lab.problems.length === 0) {
      await waitForCables(lab, o.timeoutS ?? 90, progress, missing);
      await showAll(lab, out);
      const dead = t.processes.filter((p) => p.node !== undefined && p.kind !== 'gateway' && lab!.pid(p.id) === undefined).map((p) => p.id);
      if (dead.length) missing.push(`${dead.length} other role process(es) are not running; their logs end:\n    ${firstLogLines(lab, dead)}`);
    }
    let globalIps: Map<string, string> | undefined;
    if (t.options.globalnet && lab.problems.length === 0) {
      // Globalnet allocates a GlobalIngressIP per exported pod; give it a moment after the cables.
      progress.step('waiting for GlobalIngressIPs of the lab pods');
      const want = t.clusters.flatMap((c) => c.nodes.flatMap((n) => n.pods.map((p) => p.name)));
      const deadline = Date.now() + 20_000;
      for (;;) {
        globalIps = await globalIpsByPod(lab);
        const have = want.filter((p) => globalIps!.has(p)).length;
        progress.update(`waiting for GlobalIngressIPs of the lab pods: ${have}/${want.length}`);
        if (have === want.length || Date.now() > deadline) break;
        await sleep(1000);
      }
      progress.done(globalIps.size === want.length ? '✓' : '✗', `GlobalIngressIPs: ${globalIps.size}/${want.length} pods`);
    }
    progress.step('pinging every pod of the other clusters');
    const cells = await pingMatrix(lab, globalIps ? (p) => globalIps.get(p.name) : (p) => p.ip);
    progress.done();
    out.write(`\n=== pod-to-pod across clusters (ping -c 1 -W 1${globalIps ? ', to GlobalIngressIPs' : ''})\n${formatPingMatrix(t, cells)}`);
    const tried = cells.filter((c) => c.ip);
    const failed = tried.filter((c) => !c.ok).length;
    const noIp = new Set(cells.filter((c) => !c.ip).map((c) => c.to));
    if (noIp.size) missing.push(`${noIp.size} pod(s) have no GlobalIngressIP to ping (${[...noIp].join(', ')})`);
    if (failed) missing.push(`${failed}/${tried.length} cross-cluster pings failed`);
    if (o.keep) out.write(exploreHelp(lab));
  } catch (err) {
    missing.push(errorMessage(err));
  } finally {
    if (lab && !o.keep) {
      progress.step('tearing the lab down');
      await lab.down().then(() => progress.done(), (err: unknown) => {
        progress.fail();
        missing.push(`teardown: ${errorMessage(err)} (retry: hawser lab down --name ${name})`);
      });
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (missing.length === 0) {
    out.write(`\ndemo OK in ${secs} s: every cable connected, every pod reaches every pod of the other clusters\n`);
    return 0;
  }
  out.write(`\ndemo incomplete after ${secs} s; missing:\n${missing.map((m) => `  - ${m}`).join('\n')}\n`);
  return 1;
}
