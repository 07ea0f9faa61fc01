// How the long-running roles end: on SIGTERM/SIGINT run `stop` once (bounded by a deadline, so a stuck
// API call cannot keep a terminating pod alive), then exit 0. The data path is the stop function's business.
import type { Logger } from '../log/index.js';

export async function runUntilSignal(log: Logger, why: string, stop: () => Promise<void>, deadlineMs = 5000): Promise<never> {
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, why);
    const timer = setTimeout(() => process.exit(0), deadlineMs);
    void stop()
      .catch((err) => log.error({ err }, 'error during shutdown'))
      .finally(() => {
        clearTimeout(timer);
        process.exit(0);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return new Promise<never>(() => undefined);
}
