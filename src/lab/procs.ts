// Lab processes: started detached in their netns (roles also in a private mount namespace), identified
// by PID + start time from /proc so that a reused PID is never signalled, and ended by PID only.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { HawserError } from '../util/errors.js';
import { waitFor } from '../util/wait.js';
import type { ProcessPlan, RootfsMount } from './topology.js';

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
  // A role run from an image sees only the image's and the pod's environment, nothing of the host's.
  const inherited = plan.privateMount?.rootfs ? {} : base;
  for (const [k, v] of Object.entries(inherited)) {
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

// The same, run from an unpacked image as a container runtime would (container runtimes cannot run on
// these machines): the shared root filesystem bind-mounted read-only, fresh /proc, /sys (of the node's
// netns), a /dev with the usual devices and /dev/net/tun, tmpfs /tmp and /run, then the pod's volumes
// (`kind:ro|rw|ro?|rw?:source:target`, `?` = skip a missing source), then chroot. Targets that resolve
// outside the root (through a symbolic link of the image) are refused.
const ROOTFS_SCRIPT = `set -e
hostname "$1"; root=$(readlink -f "$2"); shift 2
mount --bind "$root" "$root"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
mount -t tmpfs -o nosuid,mode=755,size=1m tmpfs "$root/dev"
mkdir "$root/dev/net" "$root/dev/pts" "$root/dev/shm"
for d in null zero full random urandom tty net/tun; do : > "$root/dev/$d"; mount --bind "/dev/$d" "$root/dev/$d"; done
ln -s /proc/self/fd "$root/dev/fd"; ln -s /proc/self/fd/0 "$root/dev/stdin"; ln -s /proc/self/fd/1 "$root/dev/stdout"; ln -s /proc/self/fd/2 "$root/dev/stderr"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/dev/shm"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/tmp"
mount -t tmpfs -o nosuid,nodev,mode=755 tmpfs "$root/run"
while [ "$1" != -- ]; do
  spec=$1; shift
  kind=\${spec%%:*}; spec=\${spec#*:}; mode=\${spec%%:*}; spec=\${spec#*:}; src=\${spec%%:*}; dst=\${spec#*:}
  if [ ! -e "$src" ]; then
    case $mode in *'?') continue ;; esac
    # A missing writable source is created, as kubelet does for hostPath DirectoryOrCreate/FileOrCreate.
    case $kind:$mode in dir:rw) mkdir -p "$src" ;; file:rw) : >> "$src" ;; *) echo "lab: $src (for the pod's $dst) does not exist" >&2; exit 1 ;; esac
  fi
  case $(readlink -m "$root$dst") in "$root"/*) ;; *) echo "lab: $dst resolves outside the root filesystem" >&2; exit 1 ;; esac
  if [ "$kind" = dir ]; then mkdir -p "$root$dst"; else mkdir -p "$(dirname "$root$dst")"; : > "$root$dst"; fi
  mount --bind "$src" "$root$dst"
  case $mode in ro*) mount -o remount,bind,ro "$root$dst" ;; esac
done
shift
mount -o remount,bind,ro "$root"
exec chroot "$root" "$@"`;

/** `kind:mode:source:target` words for ROOTFS_SCRIPT. */
export function rootfsMountWords(mounts: readonly RootfsMount[]): string[] {
  const bad = mounts.find((m) => m.source.includes(':') || m.target.includes(':') || !m.target.startsWith('/'));
  if (bad) throw new HawserError('INVALID', `lab: mount ${bad.source} → ${bad.target}: paths must be absolute and hold no ':'`);
  return mounts.map((m) => `${m.kind}:${m.readOnly ? 'ro' : 'rw'}${m.optional ? '?' : ''}:${m.source}:${m.target}`);
}

/** The argv that runs a planned process where it belongs. */
export function processArgv(plan: ProcessPlan): string[] {
  let argv = plan.argv;
  const rootfs = plan.privateMount?.rootfs;
  if (plan.privateMount && rootfs) {
    argv = ['unshare', '--mount', '--uts', '--propagation', 'private', '--', 'sh', '-c', ROOTFS_SCRIPT, 'lab-pod', plan.privateMount.hostname, rootfs.dir, ...rootfsMountWords(rootfs.mounts), '--', ...argv];
  } else if (plan.privateMount) {
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
