// A transition table run as a state machine: an event with a row for the current state moves to the row's
// state and queues its actions; actions run one transition after another (a SIGTERM waits for the
// deactivation in progress). An event with no row is ignored. The gateway role's table is role.ts `TRANSITIONS`.
import type { Logger } from '../log/index.js';

export interface Transition<S extends string, E extends string, A extends string> {
  from: S;
  on: E;
  to: S;
  do: readonly A[];
}

export class StateMachine<S extends string, E extends string, A extends string> {
  private current: S;
  private actions: Promise<void> = Promise.resolve();
  /** Every transition taken, as `from --event--> to` (self-transitions only out of the initial state). */
  readonly transcript: string[] = [];

  constructor(
    private readonly table: readonly Transition<S, E, A>[],
    private readonly initial: S,
    private readonly o: { log: Logger; run: (a: A) => Promise<void>; entered?: (t: Transition<S, E, A>) => void },
  ) {
    this.current = initial;
  }

  get state(): S {
    return this.current;
  }

  /** Takes the transition for `ev` (if any) and queues its actions; resolves when they (and earlier ones) ran. */
  fire(ev: E): Promise<void> {
    const t = this.table.find((r) => r.from === this.current && r.on === ev);
    if (!t) {
      this.o.log.debug({ state: this.current, event: ev }, 'event ignored in this state');
      return this.actions;
    }
    if (t.to !== t.from || t.from === this.initial) this.transcript.push(`${t.from} --${ev}--> ${t.to}`);
    this.current = t.to;
    this.o.entered?.(t);
    const run = async (): Promise<void> => {
      for (const a of t.do) await this.o.run(a);
    };
    this.actions = this.actions.then(run, run);
    return this.actions;
  }
}
