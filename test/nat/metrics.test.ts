import assert from 'node:assert/strict';
import { createGlobalnetMetrics } from '../../src/nat/metrics.js';

describe('nat: Globalnet metrics registry', () => {
  it('carries hawser_build_info and process metrics like the other roles, beside Submariner\'s gauges', async () => {
    const m = createGlobalnetMetrics('9.9.9');
    m.record({ cidr: '242.0.0.0/24', size: 254, available: 250, allocated: 4, egress: 1, clusterEgress: 2, ingress: 1 });
    const text = await m.registry.metrics();
    assert.match(text, /^hawser_build_info\{component="globalnet",version="9\.9\.9"\} 1$/m);
    assert.match(text, /^process_cpu_user_seconds_total /m);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
    assert.match(text, /^submariner_global_IP_availability\{cidr="242\.0\.0\.0\/24"\} 250$/m);
    // each role run gets its own registry: a second one does not clash with the first
    assert.doesNotThrow(() => createGlobalnetMetrics('9.9.9'));
  });
});
