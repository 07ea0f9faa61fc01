// Status and teardown of a lab from its state file alone: no Kubernetes client, so `hawser lab down`
// and `status` start fast and work whatever state the lab (or the process that built it) is in.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { netnsPids } from '../os/netns.js';
import { HawserError } from '../util/errors.js';
import { sleep } from '../util/wait.js';
import { deleteNetnsList, listNetns } from './builder.js';
import { isOurProcess, procStartTime, stopProcesses, type Started } from './procs.js';
import { readState, stateFilePath, updateState } from './state.js';
import { DEFAULT_STATE_ROOT } from './topology.js';

export interface ProcessStatus {
  id: string;
  kind: string;
  netns?: string;
  pid?: number;
  alive: boolean;
  log: string;
  stopped: boolean;
}

export interface LabStatus {
  name: string;
  phase: string;
  error?: string;
  stateDir: string;
  netns: { name: string; exists: boolean }[];
  processes: ProcessStatus[];
  kubeconfigs: { cluster: string; lab: string; host?: string }[];
}

export interface DownReport {
  name: string;
  killed: number[];
  netnsDeleted: string[];
  removed: string[];
}

export async function labStatus(name: string, stateRoot = DEFAULT_STATE_ROOT): Promise<LabStatus> {
  const s = readState(stateFilePath(stateRoot, name));
  const existing = await listNetns();
  const plans = new Map(s.topology.processes.map((p) => [p.id, p]));
  return {
    name, phase: s.phase, error: s.error, stateDir: s.topology.stateDir,
    netns: s.netns.map((n) => ({ name: n, exists: existing.has(n) })),
    processes: s.processes.map((r) => ({
      id: r.id, kind: plans.get(r.id)?.kind ?? '?', netns: r.netns, pid: r.pid,
      alive: r.pid !== undefined && isOurProcess(r.pid, r.startTime),
      log: plans.get(r.id)?.log ?? '', stopped: r.stoppedAt !== undefined,
    })),
    kubeconfigs: s.topology.clusters.map((c) => ({ cluster: c.id, lab: c.kubeconfig, host: existsSync(c.hostKubeconfig) ? c.hostKubeconfig : undefined })),
  };
}

/**
 * Removes exactly what the lab recorded: kills its processes by PID (checking start times) and every
 * process left inside its namespaces, deletes its namespaces (their links go with them), removes its
 * files. Safe to run again, and after the lab process was killed at any point.
 */
export async function labDown(name: string, opts: { stateRoot?: string } = {}): Promise<DownReport> {
  const stateRoot = opts.stateRoot ?? DEFAULT_STATE_ROOT;
  const file = stateFilePath(stateRoot, name);
  const report: DownReport = { name, killed: [], netnsDeleted: [], removed: [] };
  if (!existsSync(file)) {
    // Killed between creating the directory and writing the state: nothing else exists yet.
    const dir = join(stateRoot, name);
    if (!existsSync(dir)) throw new HawserError('NOT_FOUND', `no lab named ${name} under ${stateRoot} (hawser lab list)`);
    rmSync(dir, { recursive: true, force: true });
    report.removed.push(dir);
    return report;
  }
  const prevPhase = readState(file).phase;
  const s = updateState(file, (x) => void (x.phase = 'tearing-down'));
  // A builder still running in another process would keep creating things: stop it first. (A process
  // holding a finished lab, e.g. a test, is left alone.)
  if (prevPhase === 'building' && s.owner.pid !== process.pid && isOurProcess(s.owner.pid, s.owner.startTime)) {
    await stopProcesses([{ pid: s.owner.pid, startTime: s.owner.startTime }], 'SIGKILL');
  }
  const recorded: Started[] = s.processes.filter((r) => r.pid !== undefined).map((r) => ({ pid: r.pid!, startTime: r.startTime }));
  report.killed.push(...recorded.filter((p) => isOurProcess(p.pid, p.startTime)).map((p) => p.pid));
  await stopProcesses(recorded, 'SIGKILL');
  // Whatever still runs inside our namespaces is ours too (daemons the roles started, half-recorded starts).
  for (let round = 0; round < 5; round++) {
    const existing = await listNetns();
    const inside: Started[] = [];
    for (const ns of s.netns) {
      if (!existing.has(ns)) continue;
      for (const pid of await netnsPids(ns)) inside.push({ pid, startTime: procStartTime(pid) });
    }
    if (inside.length === 0) break;
    report.killed.push(...inside.map((p) => p.pid));
    await stopProcesses(inside, 'SIGKILL');
  }
  report.netnsDeleted.push(...(await deleteNetnsList(s.netns)));
  // An `ip -batch` the killed builder left running may still be adding namespaces: settle, then sweep again.
  if (prevPhase !== 'up') {
    await sleep(300);
    report.netnsDeleted.push(...(await deleteNetnsList(s.netns)));
  }
  for (const f of s.files) {
    if (existsSync(f)) {
      rmSync(f, { recursive: true, force: true });
      report.removed.push(f);
    }
  }
  return report;
}
