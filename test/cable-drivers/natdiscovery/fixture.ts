// One NAT discovery instance, for @real tests that run it inside a network namespace:
//   ip netns exec NS node --import tsx fixture.ts '<json>'
// with {local, remotes} as Endpoint wire specs and optional timings. Prints JSON lines:
// {"event":"ready","port":N} then {"event":"decided","cable":…,"info":{…},"source":…}. Stops on SIGTERM.
import { NatDiscovery } from '../../../src/cable-drivers/natdiscovery/natdiscovery.js';
import { parseEndpointSpec, type EndpointSpec } from '../../../src/k8s/resources.js';
import { createLogger } from '../../../src/log/index.js';

interface FixtureConfig {
  local: unknown;
  remotes: unknown[];
  timings?: Record<string, number>;
}

function spec(raw: unknown): EndpointSpec {
  const r = parseEndpointSpec(raw);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as FixtureConfig;
const log = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', destination: process.stderr });
const nd = new NatDiscovery({ localEndpoint: spec(cfg.local), log, timings: cfg.timings });
nd.on('decided', (cable, info, source) => process.stdout.write(`${JSON.stringify({ event: 'decided', cable, info, source })}\n`));
await nd.start();
process.stdout.write(`${JSON.stringify({ event: 'ready', port: nd.port })}\n`);
for (const r of cfg.remotes) nd.addRemote(spec(r));
process.on('SIGTERM', () => {
  void nd.stop().then(() => process.exit(0));
});
