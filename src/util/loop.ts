// Loop primitives shared by the roles: a debounced, level-triggered runner.

/**
 * Coalesces bursts of changes into one run of `fn`; never runs two at once; a change during a run
 * schedules one more run (level-triggered). Errors are passed to `onError`, and the run is retried.
 * A trigger with a shorter delay than the pending one brings the run forward (the earliest deadline wins),
 * so one Debouncer serves both "soon, after a burst" and "at this retry deadline".
 */
export class Debouncer {
  private timer: NodeJS.Timeout | undefined;
  private dueAtMs = 0;
  private running = false;
  private pending = false;
  /** The earliest deadline asked for during a run (kept for the run that follows it). */
  private pendingDueAtMs = 0;
  private closed = false;

  constructor(
    private readonly fn: () => Promise<void>,
    private readonly delayMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly retryMs = 1000,
    /** Whether a pending run keeps the process alive (false for background repair loops). */
    private readonly keepAlive = true,
  ) {}

  trigger(delayMs = this.delayMs): void {
    if (this.closed) return;
    const due = Date.now() + delayMs;
    if (this.running) {
      this.pendingDueAtMs = this.pending ? Math.min(this.pendingDueAtMs, due) : due;
      this.pending = true;
      return;
    }
    if (this.timer) {
      if (due >= this.dueAtMs) return;
      clearTimeout(this.timer);
    }
    this.dueAtMs = due;
    this.timer = setTimeout(() => void this.run(), delayMs);
    if (!this.keepAlive) this.timer.unref();
  }

  /** Whether a run is scheduled or under way (tests, diagnostics). */
  get busy(): boolean {
    return this.running || this.timer !== undefined;
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
    if (this.pending) this.trigger(Math.max(0, this.pendingDueAtMs - Date.now()));
    else if (failed) this.trigger(this.retryMs);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
