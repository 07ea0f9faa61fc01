// Health check: the public surface.
export { type HealthTarget, type CableHealth, type HealthCheckerEvents } from './target.js';
export { PingStats, DEFAULT_WINDOW, type HealthStats, type RttStats } from './stats.js';
export { formatGoDuration, latencyRTT } from './duration.js';
export {
  chooseHealthCheckIP, findHealthCheckIP, listNodeAddresses, type NodeAddress, type HealthCheckIPChoice,
} from './source-ip.js';
export { SharedHealthChecker, type SharedHealthCheckerOptions } from './shared.js';
export { fpingArgs, parseFpingLine, probeGapMs, type FpingEvent } from './fping-output.js';
