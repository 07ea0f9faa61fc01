// Test-side helpers for Globalnet against the embedded API server, with workarounds for two reported
// issues in src/k8s/rest.ts (drop them once it is fixed).
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { createLogger } from '../../src/log/index.js';

export const quiet = createLogger({ destination: { write: () => undefined } });

/** A KubeConfig from a file (RestClient reads headers as plain records since client-node 2; no workaround left). */
export function flatKubeConfig(path: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/**
 * Runs `fn` (a stop), ignoring only the uncaught AbortError that aborting a live watch raises:
 * RestClient's watch leaves its readline Interface without an 'error' listener.
 */
export async function ignoringWatchAbort(fn: () => Promise<void>): Promise<void> {
  const saved = process.listeners('uncaughtException');
  const other: unknown[] = [];
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', (err) => {
    if (!(err instanceof Error && err.name === 'AbortError')) other.push(err);
  });
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    process.removeAllListeners('uncaughtException');
    for (const l of saved) process.on('uncaughtException', l);
  }
  assert.deepEqual(other, []);
}
