import assert from 'node:assert/strict';
import { Failures, StatusWriter, type GatewaySnapshot } from '../../src/gateway/status-writer.js';
import { ApiError, type KubeObject, type RestClient } from '../../src/k8s/rest.js';
import { parseEndpointSpec } from '../../src/k8s/resources.js';
import { quietLog } from '../support/apiserver.js';

const PATH = '/apis/submariner.io/v1/namespaces/submariner-operator/gateways/gw1';

function endpoint(): GatewaySnapshot['localEndpoint'] {
  const p = parseEndpointSpec({ cluster_id: 'a', cable_name: 'submariner-cable-a-10-0-0-1', hostname: 'gw1', backend: 'wireguard', subnets: ['10.1.0.0/16'], private_ip: '10.0.0.1', public_ip: '10.0.0.1', backend_config: {} });
  if (!p.ok) throw new Error(p.error);
  return p.value;
}

/** An API server stand-in that keeps one object and answers with resourceVersions, as a real one does. */
class FakeApi {
  obj: KubeObject | undefined;
  rv = 0;
  calls: string[] = [];
  conflictNext = false;

  private stored(o: KubeObject): KubeObject {
    this.obj = JSON.parse(JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: String(++this.rv), uid: 'uid-1' } })) as KubeObject;
    return JSON.parse(JSON.stringify(this.obj)) as KubeObject;
  }

  client(): RestClient {
    const api = {
      getOrUndefined: async (path: string): Promise<KubeObject | undefined> => {
        this.calls.push(`get ${path === PATH ? 'gw1' : path}`);
        return this.obj ? (JSON.parse(JSON.stringify(this.obj)) as KubeObject) : undefined;
      },
      create: async (_path: string, o: KubeObject): Promise<KubeObject> => {
        this.calls.push('create');
        return this.stored(o);
      },
      replace: async (path: string, o: KubeObject): Promise<KubeObject> => {
        const rv = String(o.metadata.resourceVersion ?? '');
        this.calls.push(`replace ${path === PATH ? 'gw1' : path} rv=${rv}`);
        if (this.conflictNext || rv !== this.obj?.metadata.resourceVersion) {
          this.conflictNext = false;
          throw new ApiError(409, 'Conflict', 'the object has been modified');
        }
        return this.stored(o);
      },
    };
    return api as unknown as RestClient;
  }
}

describe('gateway status writer', () => {
  it('each write builds on the metadata of the previous answer (no GET), keeps others\' labels and annotations, and a 409 rebuilds from a fresh read', async () => {
    const api = new FakeApi();
    const failures = new Failures(quietLog);
    const snapshot = async (): Promise<GatewaySnapshot> => ({ haStatus: 'active', localEndpoint: endpoint(), connections: [], health: () => undefined });
    const w = new StatusWriter({ client: api.client(), namespace: 'submariner-operator', nodeName: 'gw1', version: 'test', log: quietLog, failures, snapshot, leading: () => false, debounceMs: 0, refreshMs: 0 });
    const write = async (): Promise<void> => {
      const before = w.writes;
      w.markDirty(0);
      const deadline = Date.now() + 5000;
      while (w.writes === before && Date.now() < deadline && !failures.size) await new Promise((r) => setImmediate(r));
    };
    await write();
    assert.deepEqual(api.calls, ['get gw1', 'create']);
    // someone else labels the object: the next write keeps that, but it must first see the new resourceVersion
    api.obj!.metadata.labels = { team: 'net' };
    api.obj!.metadata.annotations = { ...api.obj!.metadata.annotations, note: 'kept' };
    api.obj!.metadata.resourceVersion = String(++api.rv);
    api.calls = [];
    await write();
    assert.deepEqual(api.calls, ['replace gw1 rv=1', 'get gw1', 'replace gw1 rv=2']);
    assert.equal(api.obj!.metadata.labels?.team, 'net');
    assert.equal(api.obj!.metadata.annotations?.note, 'kept');
    assert.match(String(api.obj!.metadata.annotations?.['update-timestamp']), /^\d+$/);
    // nothing changed in between: straight on the last answer's metadata
    api.calls = [];
    await write();
    await write();
    assert.deepEqual(api.calls, ['replace gw1 rv=3', 'replace gw1 rv=4']);
    assert.equal(failures.size, 0);
    await w.close();
  });
});
