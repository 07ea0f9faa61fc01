// Moved to test/support/lab.ts (one home for test support); kept so importers in other folders keep working.
export {
  SLOW_LEASE, STATE_MESSAGES, cableStateLines, captureWan, labFor, logSize, missingStableFields, pidsMatching, readLog, spawnIn, startPings, tcpTransfer,
  type LogLine, type PingRun, type TcpResult,
} from '../support/lab.js';
