// The real kubectl (/usr/bin/kubectl 1.32) against the embedded API server.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../../src/util/wait.js';
import { kubectl, kubectlOk, startTestServer, type TestServer } from '../support/apiserver.js';

const WIDGET_CRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget, shortNames: [wdg]}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      additionalPrinterColumns:
        - {name: Size, type: integer, jsonPath: .spec.size}
        - {name: Color, type: string, jsonPath: .spec.color, priority: 1}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer, description: How big the widget is.}
                color: {type: string, default: blue}
            status:
              type: object
              properties:
                ready: {type: boolean}
`;

const OBJECTS = `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: apps}
spec: {size: 3}
---
apiVersion: submariner.io/v1
kind: Endpoint
metadata:
  name: cluster-b-submariner-cable-cluster-b-10-0-0-2
  namespace: apps
  labels: {submariner-io/clusterID: cluster-b}
spec:
  cluster_id: cluster-b
  cable_name: submariner-cable-cluster-b-10-0-0-2
  hostname: gw-b
  subnets: [10.2.0.0/16]
  private_ip: 10.0.0.2
  public_ip: 198.51.100.2
  nat_enabled: true
  backend: libreswan
  backend_config: {udp-port: "4500", natt-discovery-port: "4490", preferred-server: "false"}
  healthCheckIP: 10.2.0.1
---
apiVersion: submariner.io/v1
kind: GlobalIngressIP
metadata: {name: svc-a, namespace: apps}
spec:
  target: ClusterIPService
  serviceRef: {name: svc-a}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1
          env: [{name: A, value: "1"}]
        - name: sidecar
          image: busybox:1
`;

describe('apiserver: kubectl 1.32', function () {
  this.timeout(60_000);
  let ts: TestServer;
  let folder: string;

  before(async () => {
    ts = await startTestServer();
    folder = join(ts.dir, 'manifests');
    mkdirSync(join(folder, 'crds'), { recursive: true });
    mkdirSync(join(folder, 'objects'), { recursive: true });
    writeFileSync(join(folder, 'crds', 'widget.yaml'), WIDGET_CRD);
    writeFileSync(join(folder, 'objects', 'ns.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n');
    writeFileSync(join(folder, 'objects', 'objects.yaml'), OBJECTS);
  });
  after(async () => ts?.close());

  it('lists API resources, ours included', async () => {
    const out = await kubectlOk(ts, ['api-resources']);
    assert.match(out, /gateways\s+submariner\.io\/v1\s+true\s+Gateway/);
    assert.match(out, /clusterglobalegressips\s+cgeip\s+submariner\.io\/v1\s+false\s+ClusterGlobalEgressIP/);
    assert.match(out, /serviceexports\s+svcex\s+multicluster\.x-k8s\.io\/v1alpha1\s+true\s+ServiceExport/);
    assert.match(out, /leases\s+coordination\.k8s\.io\/v1\s+true\s+Lease/);
  });

  it('applies a folder of CRDs, then a folder of objects (validated against OpenAPI)', async () => {
    assert.match(await kubectlOk(ts, ['apply', '-f', join(folder, 'crds')]), /customresourcedefinition.apiextensions.k8s.io\/widgets.example.com created/);
    await kubectlOk(ts, ['wait', '--for=condition=established', 'crd/widgets.example.com', '--timeout=10s']);
    const out = await kubectlOk(ts, ['apply', '-f', join(folder, 'objects')]);
    assert.match(out, /namespace\/apps created/);
    assert.match(out, /widget.example.com\/w1 created/);
    assert.match(out, /endpoint.submariner.io\/cluster-b-submariner-cable-cluster-b-10-0-0-2 created/);
    assert.match(out, /deployment.apps\/web created/);
    // unknown fields are refused (kubectl asks for fieldValidation=Strict)
    const bad = await kubectl(ts, ['apply', '-f', '-'], { input: 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w2, namespace: apps}\nspec: {size: 1, shape: round}\n' });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /unknown field "spec.shape"/);
    const invalid = await kubectl(ts, ['apply', '-f', '-'], { input: 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w3, namespace: apps}\nspec: {color: red}\n' });
    assert.match(invalid.stderr, /spec.size: Required value/);
  });

  it('gets as table (printer columns, -o wide), yaml and json', async () => {
    const table = await kubectlOk(ts, ['get', 'widgets', '-n', 'apps']);
    assert.match(table, /NAME\s+SIZE\s*\n\s*w1\s+3/);
    const wide = await kubectlOk(ts, ['get', 'wdg', '-n', 'apps', '-o', 'wide']);
    assert.match(wide, /NAME\s+SIZE\s+COLOR\s*\n\s*w1\s+3\s+blue/, 'defaults applied, wide columns shown');
    const giip = await kubectlOk(ts, ['get', 'giip', '-n', 'apps']);
    assert.match(giip, /NAME\s+IP/);
    const yaml = await kubectlOk(ts, ['get', 'endpoints.submariner.io', '-n', 'apps', '-o', 'yaml']);
    assert.match(yaml, /kind: List|kind: EndpointList/);
    assert.match(yaml, /natt-discovery-port: "4490"/);
    const json = JSON.parse(await kubectlOk(ts, ['get', 'deploy', 'web', '-n', 'apps', '-o', 'json'])) as { metadata: { generation: number }; spec: { template: { spec: { containers: unknown[] } } } };
    assert.equal(json.metadata.generation, 1);
    assert.equal(json.spec.template.spec.containers.length, 2);
    const sel = await kubectlOk(ts, ['get', 'endpoints.submariner.io', '-A', '-l', 'submariner-io/clusterID in (cluster-b)', '-o', 'name']);
    assert.equal(sel.trim(), 'endpoint.submariner.io/cluster-b-submariner-cable-cluster-b-10-0-0-2');
  });

  it('re-applies a changed Deployment as a strategic merge patch', async () => {
    const changed = OBJECTS.split('---').find((d) => d.includes('kind: Deployment'))!.replace('image: nginx:1', 'image: nginx:2').replace('        - name: sidecar\n          image: busybox:1\n', '');
    assert.match(await kubectlOk(ts, ['apply', '-f', '-'], { input: changed }), /deployment.apps\/web configured/);
    const d = JSON.parse(await kubectlOk(ts, ['get', 'deploy', 'web', '-n', 'apps', '-o', 'json'])) as { metadata: { generation: number }; spec: { template: { spec: { containers: { name: string; image: string; env?: unknown[] }[] } } } };
    assert.deepEqual(d.spec.template.spec.containers.map((c) => `${c.name}=${c.image}`), ['web=nginx:2']);
    assert.deepEqual(d.spec.template.spec.containers[0]!.env, [{ name: 'A', value: '1' }]);
    assert.equal(d.metadata.generation, 2);
  });

  it('labels, annotates and patches (strategic, merge, json)', async () => {
    await kubectlOk(ts, ['label', 'widget', 'w1', '-n', 'apps', 'tier=gold']);
    await kubectlOk(ts, ['annotate', 'widget', 'w1', '-n', 'apps', 'note=hello']);
    await kubectlOk(ts, ['patch', 'widget', 'w1', '-n', 'apps', '--type', 'merge', '-p', '{"spec":{"size":5}}']);
    await kubectlOk(ts, ['patch', 'widget', 'w1', '-n', 'apps', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/color","value":"green"}]']);
    await kubectlOk(ts, ['patch', 'deploy', 'web', '-n', 'apps', '-p', '{"spec":{"replicas":3}}']);
    const w = JSON.parse(await kubectlOk(ts, ['get', 'widget', 'w1', '-n', 'apps', '-o', 'json'])) as { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: { size: number; color: string } };
    assert.equal(w.metadata.labels.tier, 'gold');
    assert.equal(w.metadata.annotations.note, 'hello');
    assert.deepEqual(w.spec, { size: 5, color: 'green' });
    const strategic = await kubectl(ts, ['patch', 'widget', 'w1', '-n', 'apps', '-p', '{"spec":{"size":6}}']);
    assert.notEqual(strategic.code, 0, 'strategic merge patch is refused for custom resources');
    assert.equal(await kubectlOk(ts, ['get', 'deploy', 'web', '-n', 'apps', '-o', 'jsonpath={.spec.replicas}']), '3');
  });

  it('edits with KUBE_EDITOR', async () => {
    const editor = join(ts.dir, 'editor.sh');
    writeFileSync(editor, '#!/bin/sh\nsed -i "s/size: 5/size: 7/" "$1"\n');
    chmodSync(editor, 0o755);
    assert.match(await kubectlOk(ts, ['edit', 'widget', 'w1', '-n', 'apps'], { env: { KUBE_EDITOR: editor } }), /widget.example.com\/w1 edited/);
    assert.equal(await kubectlOk(ts, ['get', 'widget', 'w1', '-n', 'apps', '-o', 'jsonpath={.spec.size}']), '7');
  });

  it('explains our kinds from the OpenAPI v3 documents', async () => {
    const out = await kubectlOk(ts, ['explain', 'gateways.status.connections']);
    assert.match(out, /KIND:\s+Gateway/);
    assert.match(out, /statusMessage\s+<string> -required-/);
    const w = await kubectlOk(ts, ['explain', 'widget.spec.size']);
    assert.match(w, /How big the widget is/);
  });

  it('applies server-side, twice, dropping what is no longer applied', async () => {
    const cm = (data: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, namespace: apps}\ndata: {${data}}\n`;
    assert.match(await kubectlOk(ts, ['apply', '--server-side', '-f', '-'], { input: cm('a: "1", b: "2"') }), /configmap\/ssa serverside-applied/);
    await kubectlOk(ts, ['apply', '--server-side', '-f', '-'], { input: cm('a: "1"') });
    assert.equal(await kubectlOk(ts, ['get', 'cm', 'ssa', '-n', 'apps', '-o', 'jsonpath={.data}']), '{"a":"1"}');
  });

  it('streams changes with get -w', async () => {
    const child = spawn('kubectl', ['get', 'widgets', '-n', 'apps', '-w', '--output-watch-events'], {
      env: { PATH: process.env.PATH ?? '', HOME: join(ts.dir, 'home'), KUBECONFIG: ts.kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    try {
      await waitFor(() => /ADDED\s+w1/.test(out), { timeoutMs: 10_000, what: 'the initial listing' });
      await kubectlOk(ts, ['apply', '-f', '-'], { input: 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w9, namespace: apps}\nspec: {size: 9}\n' });
      await kubectlOk(ts, ['label', 'widget', 'w9', '-n', 'apps', 'x=y']);
      await kubectlOk(ts, ['delete', 'widget', 'w9', '-n', 'apps']);
      await waitFor(() => /ADDED\s+w9\s+9/.test(out) && /MODIFIED\s+w9/.test(out) && /DELETED\s+w9/.test(out), { timeoutMs: 10_000, what: `watch events (got ${out})` });
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('deletes, waiting for finalizers, and kubectl wait --for=delete sees it go', async () => {
    await kubectlOk(ts, ['patch', 'widget', 'w1', '-n', 'apps', '--type', 'merge', '-p', '{"metadata":{"finalizers":["example.com/hold"]}}']);
    const del = await kubectl(ts, ['delete', 'widget', 'w1', '-n', 'apps', '--wait=false']);
    assert.equal(del.code, 0, del.stderr);
    assert.match(await kubectlOk(ts, ['get', 'widget', 'w1', '-n', 'apps', '-o', 'jsonpath={.metadata.deletionTimestamp}']), /^\d{4}-/);
    const waiting = kubectl(ts, ['wait', '--for=delete', 'widget/w1', '-n', 'apps', '--timeout=20s']);
    await kubectlOk(ts, ['patch', 'widget', 'w1', '-n', 'apps', '--type', 'json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);
    const w = await waiting;
    assert.equal(w.code, 0, w.stderr);
    assert.match((await kubectl(ts, ['get', 'widget', 'w1', '-n', 'apps'])).stderr, /NotFound|not found/);
  });

  it('runs the typed commands that send protobuf (create ns/secret/sa/role/rolebinding/service/token, auth can-i, --as)', async () => {
    await kubectlOk(ts, ['create', 'namespace', 'typed']);
    await kubectlOk(ts, ['create', 'secret', 'generic', 'psk', '-n', 'typed', '--from-literal=psk=c2VjcmV0']);
    await kubectlOk(ts, ['create', 'serviceaccount', 'agent', '-n', 'typed']);
    await kubectlOk(ts, ['create', 'role', 'ep-reader', '-n', 'typed', '--verb=get,list,watch', '--resource=endpoints.submariner.io']);
    await kubectlOk(ts, ['create', 'rolebinding', 'agent-ep', '-n', 'typed', '--role=ep-reader', '--serviceaccount=typed:agent']);
    await kubectlOk(ts, ['create', 'service', 'clusterip', 'svc', '-n', 'typed', '--tcp=80:8080']);
    assert.equal(await kubectlOk(ts, ['get', 'secret', 'psk', '-n', 'typed', '-o', 'jsonpath={.data.psk}']), Buffer.from('c2VjcmV0').toString('base64'));
    assert.match(await kubectlOk(ts, ['get', 'svc', 'svc', '-n', 'typed', '-o', 'jsonpath={.spec.clusterIP}']), /^10\.\d+\.\d+\.\d+$/);
    assert.equal((await kubectlOk(ts, ['auth', 'can-i', 'list', 'endpoints.submariner.io', '-n', 'typed', '--as', 'system:serviceaccount:typed:agent'])).trim(), 'yes');
    assert.equal((await kubectl(ts, ['auth', 'can-i', 'delete', 'endpoints.submariner.io', '-n', 'typed', '--as', 'system:serviceaccount:typed:agent'])).stdout.trim(), 'no');
    const token = (await kubectlOk(ts, ['create', 'token', 'agent', '-n', 'typed'])).trim();
    assert.match(await kubectlOk(ts, ['--token', token, 'get', 'endpoints.submariner.io', '-n', 'typed']), /No resources found|^$/);
    const denied = await kubectl(ts, ['--token', token, 'get', 'secrets', '-n', 'typed']);
    assert.match(denied.stderr, /User "system:serviceaccount:typed:agent" cannot list resource "secrets"/);
    const unsupported = await kubectl(ts, ['create', 'deployment', 'd', '--image=nginx', '-n', 'typed']);
    assert.match(unsupported.stderr, /protobuf bodies are accepted for .* not Deployment; send JSON instead/);
  });

  it('deletes a namespace with everything in it', async () => {
    await kubectlOk(ts, ['delete', 'namespace', 'apps', '--timeout=20s']);
    const r = await kubectl(ts, ['get', 'ns', 'apps']);
    assert.match(r.stderr, /not found/);
  });
});
