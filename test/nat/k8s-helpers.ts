// Test-side helpers for Globalnet against the embedded API server, with workarounds for two reported
// issues in src/k8s/rest.ts (drop them once it is fixed).
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { createLogger } from '../../src/log/index.js';

export const quiet = createLogger({ destination: { write: () => undefined } });

/**
 * client-node 1.x returns a Headers object from applyToFetchOptions; RestClient spreads it like a plain
 * record and so drops the bearer token. This KubeConfig hands RestClient plain headers.
 */
export class FlatHeadersKubeConfig extends k8s.KubeConfig {
  override async applyToFetchOptions(opts: Parameters<k8s.KubeConfig['applyToFetchOptions']>[0]): ReturnType<k8s.KubeConfig['applyToFetchOptions']> {
    const o = await super.applyToFetchOptions(opts);
    const h = o.headers as unknown as { forEach?: (cb: (v: string, k: string) => void) => void } | undefined;
    if (h && typeof h.forEach === 'function') {
      const plain: Record<string, string> = {};
      h.forEach((v, k) => (plain[k] = v));
      o.headers = plain;
    }
    return o;
  }
}

export function flatKubeConfig(path: string): FlatHeadersKubeConfig {
  const kc = new FlatHeadersKubeConfig();
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
