// What hawser loaded into its charon, kept beside charon's PID file so the next hawser (after a restart)
// adopts the connections without reloading them (VICI can list connections but not their full settings).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { endpointSpecToWire, parseEndpointSpec, type EndpointSpec } from '../../k8s/resources.js';
import type { NatInfo } from '../types.js';

export interface LoadedConn {
  hash: string;
  remote: EndpointSpec;
  nat: NatInfo;
}

export interface IpsecState {
  /** The charon these connections were loaded into; another PID means they are gone. */
  charonPid?: number;
  conns: Map<string, LoadedConn>;
}

export function emptyState(charonPid?: number): IpsecState {
  return { charonPid, conns: new Map() };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses the file; anything unreadable is an empty state (the connections are then simply reloaded). */
export function parseState(text: string): IpsecState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return emptyState();
  }
  if (!isObj(raw) || raw.version !== 1 || !isObj(raw.conns)) return emptyState();
  const pid = typeof raw.charonPid === 'number' && Number.isInteger(raw.charonPid) ? raw.charonPid : undefined;
  const state = emptyState(pid);
  for (const [name, v] of Object.entries(raw.conns)) {
    if (!isObj(v) || typeof v.hash !== 'string' || !isObj(v.nat)) continue;
    const remote = parseEndpointSpec(v.remote);
    const useIP = v.nat.useIP;
    const useNAT = v.nat.useNAT;
    if (!remote.ok || typeof useIP !== 'string' || typeof useNAT !== 'boolean') continue;
    state.conns.set(name, { hash: v.hash, remote: remote.value, nat: { useIP, useNAT } });
  }
  return state;
}

export function renderState(state: IpsecState): string {
  const conns: Record<string, unknown> = {};
  for (const [name, c] of [...state.conns].sort(([a], [b]) => a.localeCompare(b))) {
    conns[name] = { hash: c.hash, remote: endpointSpecToWire(c.remote), nat: { useIP: c.nat.useIP, useNAT: c.nat.useNAT } };
  }
  return `${JSON.stringify({ version: 1, charonPid: state.charonPid, conns }, null, 2)}\n`;
}

export function readState(file: string): IpsecState {
  try {
    return parseState(readFileSync(file, 'utf8'));
  } catch {
    return emptyState();
  }
}

export function writeState(file: string, state: IpsecState): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, renderState(state), { mode: 0o600 });
  renameSync(tmp, file);
}
