// Loop primitives shared by the roles: a debounced, level-triggered runner.

/**
 * Coalesces bursts of changes into one run of `fn`; never runs two at once; a change during a run
 * schedules one more run (level-triggered). Errors are passed to `onError`, and the run is retried.
 */
export class Debouncer {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private pending = false;
  private closed = false;

  constructor(
    private readonly fn: () => Promise<void>,
    private readonly delayMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly retryMs = 1000,
  ) {}

  trigger(delayMs = this.delayMs): void {
    if (this.closed) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => void this.run(), delayMs);
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    this.running = true;
    this.pending = false;
    let failed = false;
    try {
      await this.fn();
    } catch (err) {
      failed = true;
      this.onError(err);
    } finally {
      this.running = false;
    }
    if (this.pending) this.trigger();
    else if (failed) this.trigger(this.retryMs);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
