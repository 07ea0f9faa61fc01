// One `info` line per cable state change (connected / error / removed), so on-call can follow a cable
// from the gateway log alone. The changes come from the cable engine the moment an outcome, an
// observation or a health verdict makes them (engine.ts `onState`), so the log and the Gateway status,
// which reads the same observations, never disagree and no cable is polled for the log's sake.
import type { Logger } from '../log/index.js';
import type { CableLogState, CableStateChange } from '../cable-drivers/engine.js';

export type { CableLogState, CableStateChange } from '../cable-drivers/engine.js';

/** Which changes on-call sees at `info`; `connecting` (a transient) goes to `debug`. */
export function isInfoChange(c: CableStateChange): boolean {
  return c.to !== 'connecting';
}

/** The line's fields: the stable ones (`remoteCluster`, `endpoint`, `cable`; `cluster`/`driver` come from the logger). */
export function cableLogFields(c: CableStateChange): Record<string, unknown> {
  return {
    remoteCluster: c.cluster,
    endpoint: c.cable,
    cable: c.cable,
    status: c.to,
    previous: c.from ?? 'none',
    ...(c.statusMessage ? { statusMessage: c.statusMessage } : {}),
    ...(c.why ? { why: c.why } : {}),
  };
}

export class CableStateLog {
  constructor(private readonly log: Logger) {}

  /** Logs one change: `cable <state>`. */
  write(c: CableStateChange): void {
    const msg = `cable ${c.to satisfies CableLogState}`;
    if (isInfoChange(c)) this.log.info(cableLogFields(c), msg);
    else this.log.debug(cableLogFields(c), msg);
  }
}
