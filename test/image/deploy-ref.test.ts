// deploy/ names the image `make image` produces (name in image/build.sh, tag = package version), and the
// Containerfile carries the Node `make setup` pins.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { findRepoRoot } from '../../src/lab/lab.js';
import { exec } from '../../src/util/exec.js';

const repo = findRepoRoot();
const read = (p: string): string => readFileSync(join(repo, p), 'utf8');
const version = (JSON.parse(read('package.json')) as { version: string }).version;

describe('image: names and versions agree', () => {
  it('the build names the image quay.io/hawser/hawser and deploy/ pins it to the package version with kustomize images:', async () => {
    assert.match(read('image/build.sh'), /image_name=\$\{HAWSER_IMAGE_NAME:-quay\.io\/hawser\/hawser\}/);
    const k = parse(read('deploy/kustomization.yaml')) as { images?: { name: string; newTag?: string }[] };
    assert.deepEqual(k.images, [{ name: 'quay.io/hawser/hawser', newTag: version }]);
    const rendered = (await exec('kubectl', ['kustomize', join(repo, 'deploy')], { timeoutMs: 30_000 })).stdout;
    const images = [...rendered.matchAll(/^\s+image: (\S+)$/gm)].map((m) => m[1]);
    assert.ok(images.length >= 2);
    for (const i of images) assert.equal(i, `quay.io/hawser/hawser:${version}`);
  });

  it('the Containerfile installs image/packages.txt and the Node version scripts/install-node.sh pins', function () {
    const cf = read('image/Containerfile');
    assert.match(cf, /COPY image\/packages\.txt/);
    const pinned = existsSync(join(repo, 'scripts/install-node.sh')) ? /^NODE_VERSION=(\S+)$/m.exec(read('scripts/install-node.sh'))?.[1] : undefined;
    if (!pinned) this.skip(); // the pinned Node is not on this branch yet
    assert.equal(/^ARG NODE_VERSION=(\S+)$/m.exec(cf)?.[1], pinned);
  });
});
