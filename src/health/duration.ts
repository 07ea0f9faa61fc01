// The Go-duration wire form now lives with the wire model (k8s/submariner/duration.ts, common.ts); these
// names stay for the health code and its tests.
export { formatGoDuration } from '../k8s/submariner/duration.js';
export { latencyRTTFromNs as latencyRTT } from '../k8s/submariner/common.js';
