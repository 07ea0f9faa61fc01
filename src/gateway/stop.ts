// The gateway's SIGTERM sequence (the role's `stop` action): decide between handing over and restarting in
// place (node-facts.ts `decideStop`), then stop the services in the order that never leaves two gateways active.
import type { Logger } from '../log/index.js';
import type { BrokerSync } from '../k8s/brokersync.js';
import type { GatewayDeps } from './deps.js';
import type { NatChoice } from './nat-choice.js';
import type { NodeFactsReader, StopDecision } from './node-facts.js';
import type { CablesPort, ElectorPort, HealthPort } from './ports.js';
import type { StatusWriter } from './status-writer.js';
import type { GatewayWatches } from './watches.js';

/** How long standbys wait for an active gateway that restarts in place before they take over. */
export const RESTART_GRACE_MS = 20_000;

export interface StopParts {
  d: GatewayDeps;
  log: Logger;
  facts: NodeFactsReader;
  status: StatusWriter;
  nat: NatChoice;
  elector?: ElectorPort;
  brokerSync?: BrokerSync;
  health?: HealthPort;
  watches?: GatewayWatches;
  cables?: CablesPort;
  wasActive: boolean;
  shutdownCables: () => Promise<void>;
  /** Counts the move to passive (once per activation). */
  reportPassive: () => void;
  /** Told the decision before anything stops (the Gateway says passive from then on when handing over). */
  decided: (d: StopDecision) => void;
}

export async function stopGateway(p: StopParts): Promise<void> {
  const decision = await p.facts.stopDecision(p.d.cfg.releaseOnStop);
  p.decided(decision);
  const handOver = decision.kind === 'hand-over';
  p.log.info({ decision: decision.kind, why: decision.why, active: p.wasActive },
    handOver ? 'stopping: handing the gateway over to a standby' : 'stopping for a restart in place: keeping the lease, cables and daemons for the next start');
  if (handOver) {
    // Alone, keep the data path so the next start adopts it without a flap; with a live standby (it takes
    // the released lease at once) our cables go first: never two active.
    if (p.wasActive && p.watches?.standbyAlive()) {
      p.reportPassive();
      p.status.markDirty(0);
      await p.shutdownCables();
    }
    await p.nat.stop();
    await p.brokerSync?.stop();
    // Released unless HAWSER_LEASE_RELEASE_ON_SHUTDOWN=false (then a standby takes over when it expires).
    await p.elector?.stop({ release: p.d.cfg.election.releaseOnCancel });
    // The last word of this gateway: passive.
    await p.status.close({ final: true });
  } else {
    await p.elector?.stop({ release: false, holdForMs: Math.max(p.d.restartGraceMs ?? RESTART_GRACE_MS, p.d.cfg.election.leaseDurationMs) });
    await p.nat.stop();
    await p.brokerSync?.stop();
    // The Gateway keeps saying what it said: the next start rewrites it within the grace.
    await p.status.close();
  }
  await p.health?.stop();
  await p.watches?.stop();
  try {
    await p.cables?.stop();
  } catch (err) {
    p.log.warn({ err }, 'stopping the cable driver failed');
  }
}
