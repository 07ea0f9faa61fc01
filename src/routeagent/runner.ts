// The loop between the role's informers and the dataplane: every change hands over the whole input
// (level-triggered); the latest input wins, one reconcile runs at a time, a change seen while idle is
// applied at once (failover latency), and a failed reconcile is retried with backoff.
import type { Logger } from '../log/index.js';
import { logger } from '../log/index.js';
import { Backoff } from '../util/wait.js';
import { RouteAgentApplyError, type RouteAgentDataplane } from './dataplane.js';
import { planRouteAgent } from './planner.js';
import type { ApplyReport, RouteAgentInput, RouteAgentPlan } from './types.js';

export interface RunResult {
  /** Undefined when the input could not be planned (see `error`). */
  plan?: RouteAgentPlan;
  report?: ApplyReport;
  /** Set when planning or applying failed; the message is fit for a status field. */
  error?: Error;
}

export interface RouteAgentRunnerOptions {
  dataplane: Pick<RouteAgentDataplane, 'reconcile'>;
  log?: Logger;
  /** Called after every reconcile (e.g. to write the RouteAgent status). */
  onResult?: (r: RunResult) => void;
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export class RouteAgentRunner {
  private input: RouteAgentInput | undefined;
  private dirty = false;
  private running: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private last: RunResult | undefined;
  private readonly backoff: Backoff;
  private readonly log: Logger;

  constructor(private readonly opts: RouteAgentRunnerOptions) {
    this.backoff = new Backoff(opts.retryBaseMs ?? 500, opts.retryMaxMs ?? 30_000);
    this.log = opts.log ?? logger().child({ component: 'route-agent' });
  }

  /** Hands over the complete current input; applied now if idle, else right after the running reconcile. */
  update(input: RouteAgentInput): void {
    this.input = input;
    this.kick();
  }

  /** Reconciles the last input again (periodic drift repair). */
  resync(): void {
    if (this.input) this.kick();
  }

  /** Resolves once nothing is running or queued (retries scheduled for later do not count). */
  async settled(): Promise<RunResult | undefined> {
    while (this.running) await this.running;
    return this.last;
  }

  /** No further reconciles; waits for the running one. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.settled();
  }

  private kick(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    this.running ??= this.loop().finally(() => {
      this.running = undefined;
    });
  }

  private async loop(): Promise<void> {
    while (this.dirty && !this.stopped && this.input) {
      this.dirty = false;
      const result = await this.once(this.input);
      this.last = result;
      try {
        this.opts.onResult?.(result);
      } catch (err) {
        this.log.warn({ err }, 'route agent result handler failed');
      }
      if (result.error && result.plan && !this.dirty) {
        // the plan was fine, the kernel refused part of it: try again later unless a new input comes first
        const delay = this.backoff.next();
        this.log.warn({ err: result.error.message, retryInMs: delay }, 'route agent reconcile failed; retrying');
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.kick();
        }, delay);
        this.retryTimer.unref();
      } else if (!result.error) {
        this.backoff.reset();
      }
    }
  }

  private async once(input: RouteAgentInput): Promise<RunResult> {
    let plan: RouteAgentPlan;
    try {
      plan = planRouteAgent(input);
    } catch (err) {
      this.log.error({ err }, 'route agent input cannot be planned');
      return { error: err instanceof Error ? err : new Error(String(err)) };
    }
    try {
      return { plan, report: await this.opts.dataplane.reconcile(plan) };
    } catch (err) {
      if (err instanceof RouteAgentApplyError) return { plan, report: err.report, error: err };
      return { plan, error: err instanceof Error ? err : new Error(String(err)) };
    }
  }
}
