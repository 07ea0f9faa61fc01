// Writes the OCI image layout (config, manifest, index.json, oci-layout) around the layer blobs that
// image/build.sh put in <layout>/blobs/sha256. Input on stdin (JSON, see build.sh). Key order and
// formatting are fixed, so the same inputs give the same digests.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { URL } from 'node:url';

const layout = process.argv[2];
if (!layout) throw new Error('usage: node image/oci-layout.mjs LAYOUT_DIR < spec.json');
const spec = JSON.parse(readFileSync(0, 'utf8'));
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const created = new Date(spec.created * 1000).toISOString().replace('.000Z', 'Z');

function blob(obj) {
  const text = JSON.stringify(obj);
  const digest = 'sha256:' + createHash('sha256').update(text).digest('hex');
  writeFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)), text);
  return { digest, size: Buffer.byteLength(text) };
}

const annotations = {
  'org.opencontainers.image.title': 'hawser',
  'org.opencontainers.image.description': `${pkg.description}. Node ${spec.node} on Debian ${spec.debian}.`,
  'org.opencontainers.image.version': spec.version,
  'org.opencontainers.image.revision': spec.revision,
  'org.opencontainers.image.source': spec.source,
  'org.opencontainers.image.licenses': pkg.license,
  'org.opencontainers.image.created': created,
  'org.opencontainers.image.ref.name': spec.version,
};

const config = blob({
  created,
  architecture: 'amd64',
  os: 'linux',
  config: {
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NODE_ENV=production'],
    // tini as PID 1 reaps what hawser's detached daemons leave behind; the DaemonSets give `hawser <role>`.
    Entrypoint: ['/usr/bin/tini', '--'],
    Cmd: ['hawser', '--help'],
    WorkingDir: '/',
    Labels: annotations,
  },
  rootfs: { type: 'layers', diff_ids: spec.layers.map((l) => l.diffId) },
  history: spec.layers.map((l) => ({ created, created_by: 'image/build.sh', comment: l.comment })),
});

const manifest = blob({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
  layers: spec.layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  annotations,
});

writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
writeFileSync(join(layout, 'index.json'), JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [{
    mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest,
    annotations: { 'org.opencontainers.image.ref.name': spec.version, 'io.containerd.image.name': `${spec.name}:${spec.version}` },
  }],
}));
