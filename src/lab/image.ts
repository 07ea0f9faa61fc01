// The lab's view of an OCI image archive (`make image`): read its config and unpack its layers into a
// root filesystem that the roles run from (`hawser lab up --image`). Only what hawser's own images hold:
// one manifest, gzip layers, no whiteouts (a later layer never deletes files of an earlier one).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { HawserError, errorMessage } from '../util/errors.js';
import { exec } from '../util/exec.js';

export interface ImageDescriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface ImageInfo {
  archive: string;
  /** Digest of the manifest: the image's identity (what a registry shows). */
  digest: string;
  layers: ImageDescriptor[];
  /** The config's Env, as name → value. */
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
  annotations: Record<string, string>;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const GZIP_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

function bad(archive: string, what: string): never {
  throw new HawserError('INVALID', `${archive} is not an OCI image archive hawser can run: ${what} (build one with \`make image\`)`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function descriptor(archive: string, v: unknown, what: string): ImageDescriptor {
  if (!isRecord(v) || typeof v.mediaType !== 'string' || typeof v.digest !== 'string' || !DIGEST_RE.test(v.digest) || typeof v.size !== 'number') {
    bad(archive, `${what} is not a descriptor with mediaType, sha256 digest and size`);
  }
  return { mediaType: v.mediaType, digest: v.digest, size: v.size };
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isRecord(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

function blobPath(digest: string): string {
  return `blobs/sha256/${digest.slice('sha256:'.length)}`;
}

/** One member of the archive as text (index.json and the small JSON blobs). */
async function member(archive: string, path: string): Promise<string> {
  const r = await exec('tar', ['-xOf', archive, path], { allowFailure: true, timeoutMs: 60_000 });
  if (r.code !== 0) bad(archive, `it has no ${path} (tar: ${r.stderr.trim().split('\n')[0]?.replace(/^tar: /, '') ?? ''})`);
  return r.stdout;
}

function parseJson(archive: string, text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    return bad(archive, `${what} is not JSON (${errorMessage(err)})`);
  }
}

/** Index → manifest → config of an OCI archive (a tar of an OCI image layout). */
export async function readImage(archive: string): Promise<ImageInfo> {
  if (!existsSync(archive)) throw new HawserError('NOT_FOUND', `image archive ${archive} does not exist (build it with \`make image\`)`);
  const index = parseJson(archive, await member(archive, 'index.json'), 'index.json');
  if (!isRecord(index) || !Array.isArray(index.manifests) || index.manifests.length !== 1) bad(archive, 'index.json must list exactly one manifest');
  const m = descriptor(archive, index.manifests[0], 'the manifest entry of index.json');
  const manifest = parseJson(archive, await member(archive, blobPath(m.digest)), 'the manifest');
  if (!isRecord(manifest) || !Array.isArray(manifest.layers)) bad(archive, 'the manifest has no layers');
  const c = descriptor(archive, manifest.config, 'the manifest config');
  const layers = manifest.layers.map((l, i) => descriptor(archive, l, `layer ${i}`));
  for (const l of layers) if (l.mediaType !== GZIP_LAYER) bad(archive, `layer ${l.digest} is ${l.mediaType}, not ${GZIP_LAYER}`);
  const config = parseJson(archive, await member(archive, blobPath(c.digest)), 'the image config');
  const cc = isRecord(config) && isRecord(config.config) ? config.config : {};
  const env: Record<string, string> = {};
  for (const kv of stringList(cc.Env)) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return {
    archive, digest: m.digest, layers, env,
    entrypoint: stringList(cc.Entrypoint), cmd: stringList(cc.Cmd), annotations: stringMap(manifest.annotations),
  };
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/**
 * Unpacks the image's layers, in order, into `rootfs` (which must not exist yet), checking each layer's
 * digest first. Owners, modes and links are kept as the layers hold them (run as root).
 */
export async function unpackImage(archive: string, rootfs: string): Promise<ImageInfo> {
  const info = await readImage(archive);
  if (existsSync(rootfs)) throw new HawserError('EXISTS', `cannot unpack ${archive}: ${rootfs} already exists`);
  const blobs = `${rootfs}.blobs`;
  mkdirSync(blobs, { recursive: true, mode: 0o700 });
  mkdirSync(rootfs, { mode: 0o755 });
  try {
    await exec('tar', ['-xf', archive, '-C', blobs, ...info.layers.map((l) => blobPath(l.digest))], { timeoutMs: 120_000 });
    for (const l of info.layers) {
      const file = join(blobs, blobPath(l.digest));
      const got = await sha256File(file);
      if (got !== l.digest) bad(archive, `layer ${l.digest} has digest ${got} (a damaged archive)`);
      await exec('tar', ['-xzf', file, '-C', rootfs, '--numeric-owner', '--same-permissions', '--same-owner'], { timeoutMs: 300_000 });
    }
  } finally {
    rmSync(blobs, { recursive: true, force: true });
  }
  return info;
}

/** The image's version annotation (org.opencontainers.image.version), if any. */
export function imageVersion(info: ImageInfo): string | undefined {
  return info.annotations['org.opencontainers.image.version'];
}

