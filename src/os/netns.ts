// Network namespaces: create, delete, run in. Names are unique per run so parallel labs and tests never collide.
import { randomBytes } from 'node:crypto';
import { exec } from '../util/exec.js';

/** A unique name: `<prefix>-<6 hex>`; kernel names are limited to 15 characters for links. */
export function uniqueName(prefix: string, hexLen = 6): string {
  return `${prefix}-${randomBytes(Math.ceil(hexLen / 2)).toString('hex').slice(0, hexLen)}`;
}

export async function netnsExists(name: string): Promise<boolean> {
  const r = await exec('ip', ['netns', 'list'], { allowFailure: true });
  return r.stdout.split('\n').some((l) => l.split(' ')[0] === name);
}

export async function createNetns(name: string): Promise<void> {
  await exec('ip', ['netns', 'add', name]);
  await exec('ip', ['link', 'set', 'lo', 'up'], { netns: name });
}

/** Deletes a namespace; absent is fine. Processes inside must be killed first (by PID) by their owner. */
export async function deleteNetns(name: string): Promise<void> {
  if (await netnsExists(name)) await exec('ip', ['netns', 'delete', name], { allowFailure: true });
}

/** PIDs of processes whose network namespace is `name` (to end them by PID before deleting it). */
export async function netnsPids(name: string): Promise<number[]> {
  const r = await exec('ip', ['netns', 'pids', name], { allowFailure: true });
  return r.stdout.split('\n').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
}
