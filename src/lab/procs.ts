// Lab processes: started detached in their netns (roles also in a private mount namespace), identified
// by PID + start time from /proc so that a reused PID is never signalled, and ended by PID only.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { HawserError } from '../util/errors.js';
import { waitFor } from '../util/wait.js';
import type { ProcessPlan } from './topology.js';

/** Start time of a process (clock ticks since boot, /proc/PID/stat field 22); undefined if gone. */
export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, starttime field 22.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** True while `pid` is the very process we started (same start time) and not a zombie. */
export function isOurProcess(pid: number, startTime: string | undefined): boolean {
  const st = procState(pid);
  if (st === undefined || st === 'Z' || st === 'X') return false;
  return startTime === undefined || procStartTime(pid) === startTime;
}

// Inherited variables a role must not pick up from whoever runs the lab.
const ROLE_ENV_PREFIXES = ['SUBMARINER_', 'CE_IPSEC_', 'BROKER_K8S_'];
const ROLE_ENV_NAMES = new Set(['KUBECONFIG', 'NODE_NAME', 'POD_NAME', 'POD_NAMESPACE', 'LOG_LEVEL', 'HAWSER_STATE_DIR']);

export function processEnv(plan: ProcessPlan, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) {
    if (ROLE_ENV_NAMES.has(k) || ROLE_ENV_PREFIXES.some((p) => k.startsWith(p))) continue;
    env[k] = v;
  }
  Object.assign(env, plan.env);
  for (const [k, file] of Object.entries(plan.envFromFiles ?? {})) {
    try {
      env[k] = readFileSync(file).toString('base64');
    } catch (err) {
      throw new HawserError('NOT_FOUND', `${plan.id}: cannot read ${file} for ${k}: ${(err as Error).message}`, { cause: err });
    }
  }
  return env;
}

// Runs inside the node's netns, in a fresh mount + UTS namespace: per-node hostname and a per-node
// /var/run/wireguard (wireguard-go's UAPI sockets are path-named and every gateway's device is `submariner`).
// Daemons the role starts inherit this mount namespace; a restarted role binds the same directory again.
const PRIVATE_MOUNT_SCRIPT = 'set -e; hostname "$1"; mkdir -p "$2" /var/run/wireguard; mount --bind "$2" /var/run/wireguard; shift 2; exec "$@"';

/** The argv that runs a planned process where it belongs. */
export function processArgv(plan: ProcessPlan): string[] {
  let argv = plan.argv;
  if (plan.privateMount) {
    argv = ['unshare', '--mount', '--uts', '--propagation', 'private', '--', 'sh', '-c', PRIVATE_MOUNT_SCRIPT, 'lab-node', plan.privateMount.hostname, plan.privateMount.wireguardDir, ...argv];
  }
  if (plan.netns) argv = ['ip', 'netns', 'exec', plan.netns, ...argv];
  return argv;
}

export interface Started {
  pid: number;
  startTime?: string;
}

/**
 * Starts a planned process detached (own session, stdout/stderr appended to its log) and returns its PID
 * and start time. `ip netns exec`, `unshare` and `sh` all exec, so the PID is the final program's.
 */
export async function startProcess(plan: ProcessPlan, cwd: string): Promise<Started> {
  const [file, ...args] = processArgv(plan);
  mkdirSync(dirname(plan.log), { recursive: true });
  const out = openSync(plan.log, 'a');
  let child;
  try {
    child = spawn(file!, args, { detached: true, stdio: ['ignore', out, out], env: processEnv(plan), cwd });
  } finally {
    closeSync(out);
  }
  const pid = child.pid;
  if (pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new HawserError('EXEC', `cannot start ${plan.id} (${file}): ${err.message}`, { cause: err });
  }
  child.on('error', () => undefined);
  child.unref();
  return { pid, startTime: procStartTime(pid) };
}

/** Signals a process if it is still ours; returns false if it was already gone. */
export function signalProcess(pid: number, startTime: string | undefined, signal: NodeJS.Signals): boolean {
  if (!isOurProcess(pid, startTime)) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Signals, waits up to `timeoutMs`, then SIGKILLs what is left; resolves when all are gone. */
export async function stopProcesses(procs: readonly Started[], signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 3000): Promise<void> {
  const live = procs.filter((p) => signalProcess(p.pid, p.startTime, signal));
  if (live.length === 0) return;
  const allGone = (): boolean => live.every((p) => !isOurProcess(p.pid, p.startTime));
  if (signal !== 'SIGKILL') {
    const ok = await waitFor(allGone, { timeoutMs, intervalMs: 25 }).catch(() => false);
    if (ok) return;
    for (const p of live) signalProcess(p.pid, p.startTime, 'SIGKILL');
  }
  await waitFor(allGone, { timeoutMs: 5000, intervalMs: 25, what: `processes ${live.map((p) => p.pid).join(', ')} to exit` });
}

/** The last `lines` lines of a log file (empty if unreadable). */
export function tailFile(file: string, lines = 10): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
