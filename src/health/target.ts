// What a health check probes and reports, shared by the prober (shared.ts) and its users.
import type { ChildProcess } from 'node:child_process';
import type { HealthStats } from './stats.js';

export interface HealthTarget {
  cableName: string;
  /** The remote endpoint's healthCheckIP. */
  targetIP: string;
  /** Our address inside a local cluster CIDR (see chooseHealthCheckIP); without it the kernel picks. */
  sourceIP?: string;
}

export type ProberKind = 'icmp' | 'fping';

export interface CableHealth extends HealthStats {
  targetIP: string;
  sourceIP?: string;
  /** Whether the prober is running right now. */
  running: boolean;
  /** How the probes are sent: in-process ICMP socket, or one `fping -l` process. */
  prober: ProberKind;
  /** Why the prober last failed to run, if it did. */
  lastError?: string;
}

/** One prober for every target sharing a source address: `fping -l` (a process) or in-process ICMP. */
export interface TargetProber {
  readonly kind: ProberKind;
  readonly sourceIP: string | undefined;
  /** The target IPs probed, sorted. */
  readonly targets: string[];
  /** Whether it is probing right now (process alive, socket open). */
  readonly running: boolean;
  /** Its process, if it has one. */
  readonly pid: number | undefined;
  /** Why it last failed to run, if it did. */
  lastError: string | undefined;
  /** Probe exactly these from now on. */
  retarget(targets: string[]): Promise<void>;
  stop(): Promise<void>;
}

export interface HealthCheckerEvents {
  /** New statistics (every probe outcome). */
  change: [cableName: string, health: CableHealth];
  /** Healthy flipped. */
  health: [cableName: string, healthy: boolean, health: CableHealth];
}

/** SIGTERM a prober process, SIGKILL after 1 s, and wait for it to close. */
export async function endChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  const pid = child.pid;
  const kill = (sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  kill('SIGTERM');
  const hard = setTimeout(() => kill('SIGKILL'), 1000);
  await exited;
  clearTimeout(hard);
}

export const sameTarget = (a: HealthTarget, b: HealthTarget): boolean => a.targetIP === b.targetIP && (a.sourceIP ?? '') === (b.sourceIP ?? '');
