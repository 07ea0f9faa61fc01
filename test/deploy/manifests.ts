// Helpers for the deploy/ tests: find, parse and render the manifests.
import { readdirSync, readFileSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { exec } from '../../src/util/exec.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEPLOY = join(ROOT, 'deploy');

/** A Kubernetes object as parsed, narrowed only as far as the tests need. */
export interface KObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

export function filesUnder(dir: string, ext: RegExp): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p, ext));
    else if (ext.test(e.name)) out.push(p);
  }
  return out.sort();
}

export function parseYamlFile(path: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  const list = Array.isArray(docs) ? docs : [docs];
  const out: unknown[] = [];
  for (const d of list) {
    if (d.errors.length) throw new Error(`${relative(ROOT, path)}: ${d.errors.map((e) => e.message).join('; ')}`);
    const v: unknown = d.toJS();
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

function isKObject(v: unknown): v is KObject {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  const md = o.metadata as Record<string, unknown> | undefined;
  return typeof o.apiVersion === 'string' && typeof o.kind === 'string' && typeof md?.name === 'string';
}

export function asObjects(docs: unknown[]): KObject[] {
  return docs.map((d, i) => {
    if (!isKObject(d)) throw new Error(`document ${i} is not a Kubernetes object`);
    return d;
  });
}

/** Whether deploy/crds is a kustomization yet (the CRDs are another issue's). */
export function crdsReady(): boolean {
  return ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].some((f) => existsSync(join(DEPLOY, 'crds', f)));
}

export async function kustomize(dir: string): Promise<KObject[]> {
  const { stdout } = await exec('kubectl', ['kustomize', dir], { timeoutMs: 30_000 });
  return asObjects(parseAllDocuments(stdout).map((d) => d.toJS() as unknown).filter((v) => v !== null));
}

/** Renders a throwaway overlay: deploy/base plus the given components (paths relative to deploy/). */
export async function kustomizeWith(components: string[], resources: string[] = ['base']): Promise<KObject[]> {
  const dir = mkdtempSync(join(tmpdir(), 'hw-kustomize-'));
  try {
    const rel = (p: string): string => relative(dir, join(DEPLOY, p));
    writeFileSync(join(dir, 'kustomization.yaml'), [
      'apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization',
      `resources: [${resources.map(rel).join(', ')}]`,
      `components: [${components.map(rel).join(', ')}]`, '',
    ].join('\n'));
    return await kustomize(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function find(objs: KObject[], kind: string, name: string): KObject {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} in the rendered manifests`);
  return o;
}
