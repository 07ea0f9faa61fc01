// Checks for @real tests that bring a whole lab (src/lab) up: "nothing left behind", whether the embedded API
// server exists, and the e2e lab lifecycle (a new lab, or a named existing one while developing).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Lab } from '../../src/lab/index.js';
import { listNetns } from '../../src/lab/builder.js';
import { isOurProcess } from '../../src/lab/procs.js';
import type { LabState } from '../../src/lab/state.js';
import { exec } from '../../src/util/exec.js';

/** Link names the lab uses inside its namespaces: none may ever show up in the root netns. */
const LAB_LINK = /^(br-lan|br-wan|wan|wan-[a-h]|cni0|veth-pod\d|cp|gw\d|wk\d)$/;

export async function rootLabLinks(): Promise<string[]> {
  const r = await exec('ip', ['-o', 'link', 'show']);
  return r.stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter((n) => LAB_LINK.test(n));
}

/** Asserts a lab left no namespace, process or file behind. `state` is a copy taken while it was up. */
export async function assertNothingLeft(name: string, state: LabState | undefined, stateDir: string): Promise<void> {
  const ns = [...(await listNetns())].filter((n) => n.startsWith(`hw-${name}-`));
  assert.deepEqual(ns, [], 'namespaces left');
  for (const p of state?.processes ?? []) {
    if (p.pid !== undefined) assert.equal(isOurProcess(p.pid, p.startTime), false, `process ${p.id} (${p.pid}) still runs`);
  }
  assert.equal(existsSync(stateDir), false, `${stateDir} still exists`);
  assert.deepEqual(await rootLabLinks(), [], 'lab links in the root netns');
}

/** True once the embedded API server has landed (src/apiserver/index.ts exports startApiServer). */
export async function apiServerAvailable(): Promise<boolean> {
  if (!existsSync(new URL('../../src/apiserver/index.ts', import.meta.url))) return false;
  // A computed specifier: this file must typecheck before the module exists.
  const specifier = ['..', '..', 'src', 'apiserver', 'index.js'].join('/');
  try {
    const mod = (await import(specifier)) as Record<string, unknown>;
    return typeof mod.startApiServer === 'function';
  } catch {
    return false;
  }
}

/**
 * The lab for a describe block: a new one, or (while developing) an existing one named in
 * HAWSER_E2E_LAB_<KEY> (e.g. HAWSER_E2E_LAB_WIREGUARD=mylab), which is then left up.
 */
export async function labFor(key: string, opts: Parameters<typeof Lab.up>[0]): Promise<{ lab: Lab; down: () => Promise<void> }> {
  const existing = process.env[`HAWSER_E2E_LAB_${key.toUpperCase()}`];
  if (existing) return { lab: Lab.open(existing), down: async () => undefined };
  const lab = await Lab.up(opts);
  return { lab, down: async () => void (await lab.down()) };
}
