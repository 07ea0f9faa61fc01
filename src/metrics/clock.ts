// Monotonic milliseconds for ages and deadlines (a wall-clock step must not fail or pass a health check).
import { performance } from 'node:perf_hooks';

export function monotonicNowMs(): number {
  return performance.now();
}
