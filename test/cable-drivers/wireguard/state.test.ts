import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatState, loadState, parseState, writeStateFile, type SavedCable } from '../../../src/cable-drivers/wireguard/state.js';
import type { EndpointSpec } from '../../../src/k8s/resources.js';
import { K2 } from './fixtures.js';

const endpoint: EndpointSpec = {
  clusterId: 'b', cableName: 'submariner-cable-b-192-0-2-2', hostname: 'gw-b', subnets: ['10.2.0.0/16'], invalidSubnets: [], privateIP: '192.0.2.2', publicIP: '192.0.2.2', healthCheckIP: '',
  privateIPs: ['192.0.2.2'], publicIPs: ['192.0.2.2'], healthCheckIPs: [], natEnabled: false, backend: 'wireguard', backendConfig: { publicKey: K2.pub },
};
const saved: SavedCable = { cableName: endpoint.cableName, publicKey: K2.pub, endpoint, usingIP: '192.0.2.2', usingNAT: false };

describe('WireGuard cable state file', () => {
  it('round-trips through an atomic write', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hw-wgst-'));
    try {
      const file = join(dir, 'wgf.cables.json');
      writeStateFile(file, formatState([saved]));
      assert.deepEqual(readdirSync(dir), ['wgf.cables.json'], 'no tmp file left');
      const { cables, problem } = loadState(file);
      assert.equal(problem, undefined);
      assert.deepEqual(cables.map((c) => ({ ...c, endpoint: { ...c.endpoint, backendConfig: { ...c.endpoint.backendConfig } } })), [saved]);
      assert.deepEqual(loadState(join(dir, 'missing.json')), { cables: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects malformed content as a whole', () => {
    assert.match(parseState('nope').problem ?? '', /not JSON/);
    assert.match(parseState('{"version":2,"cables":[]}').problem ?? '', /version 1/);
    const bad = JSON.parse(formatState([saved])) as { cables: Array<Record<string, unknown>> };
    bad.cables[0]!.publicKey = 'short';
    assert.match(parseState(JSON.stringify(bad)).problem ?? '', /entry 0 is malformed/);
    assert.equal(parseState(JSON.stringify(bad)).cables.length, 0);
  });
});
