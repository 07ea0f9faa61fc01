// The driver's memory across restarts: which cable owns which peer public key, and the remote Endpoint
// as last connected, so an adopted device's peers can be named in connections(). Public data only:
// never a private or preshared key (the device keeps those).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { endpointSpecToWire, parseEndpointSpec, type EndpointSpec } from '../../k8s/resources.js';
import { errorMessage } from '../../util/errors.js';
import { keyProblem } from './wgctrl/index.js';

/** Per device name: tests and labs share one state dir between several devices. */
export const stateFileName = (ifname: string): string => `${ifname}.cables.json`;
const VERSION = 1;

export interface SavedCable {
  cableName: string;
  publicKey: string;
  endpoint: EndpointSpec;
  usingIP: string;
  usingNAT: boolean;
}

export type LoadResult = { cables: SavedCable[]; problem?: string };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The file's text (stable order, so an unchanged set writes identical bytes). */
export function formatState(cables: readonly SavedCable[]): string {
  const list = [...cables]
    .sort((a, b) => a.cableName.localeCompare(b.cableName))
    .map((c) => ({ cableName: c.cableName, publicKey: c.publicKey, usingIP: c.usingIP, usingNAT: c.usingNAT, endpoint: endpointSpecToWire(c.endpoint) }));
  return `${JSON.stringify({ version: VERSION, cables: list }, null, 1)}\n`;
}

/** Validates the file's text; anything malformed is a `problem` (the caller starts empty). */
export function parseState(text: string): LoadResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { cables: [], problem: `not JSON: ${errorMessage(err)}` };
  }
  if (!isObj(raw) || raw.version !== VERSION || !Array.isArray(raw.cables)) return { cables: [], problem: `not a version ${VERSION} cable list` };
  const cables: SavedCable[] = [];
  for (const [i, c] of raw.cables.entries()) {
    if (!isObj(c) || typeof c.cableName !== 'string' || typeof c.publicKey !== 'string' || keyProblem(c.publicKey) || typeof c.usingIP !== 'string' || typeof c.usingNAT !== 'boolean') {
      return { cables: [], problem: `entry ${i} is malformed` };
    }
    const ep = parseEndpointSpec(c.endpoint);
    if (!ep.ok) return { cables: [], problem: `entry ${i} (${c.cableName}): endpoint ${ep.error}` };
    if (ep.value.cableName !== c.cableName) return { cables: [], problem: `entry ${i}: cable name ${c.cableName} does not match its endpoint's ${ep.value.cableName}` };
    cables.push({ cableName: c.cableName, publicKey: c.publicKey, endpoint: ep.value, usingIP: c.usingIP, usingNAT: c.usingNAT });
  }
  return { cables };
}

/** Reads the file; a missing file is an empty list without a problem. */
export function loadState(path: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { cables: [] };
    return { cables: [], problem: `cannot read: ${errorMessage(err)}` };
  }
  return parseState(text);
}

/** Writes `formatState` text atomically (tmp + rename): a crash leaves the old file or the new one, never half of one. */
export function writeStateFile(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}
