// Globalnet's metrics live in metrics/globalnet.ts, beside the other roles'; this keeps the old import path.
export { createGlobalnetMetrics, GLOBALNET_METRICS_PORT, GlobalnetMetrics } from '../metrics/globalnet.js';
