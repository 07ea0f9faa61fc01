// Typed views of charon's answers (list-sa, list-conn, version, stats): pure functions from decoded
// messages, tolerant of missing keys (older or newer charon) and never throwing on odd values.
import type { ViciEntry, ViciSection } from './codec.js';

export interface ViciVersion {
  daemon: string;
  version: string;
  sysname: string;
  release: string;
  machine: string;
}

export interface ViciStats {
  uptimeRunning: string;
  uptimeSince: string;
  workersTotal?: number;
  workersIdle?: number;
  scheduled?: number;
  ikeSasTotal?: number;
  ikeSasHalfOpen?: number;
  plugins: string[];
}

export interface ChildSa {
  /** The section name in list-sas (child name, with a unique suffix on newer charon). */
  key: string;
  name: string;
  uniqueId: string;
  reqid?: number;
  /** INSTALLED, REKEYING, REKEYED, DELETING, ... */
  state: string;
  mode: string;
  protocol: string;
  encap: boolean;
  spiIn: string;
  spiOut: string;
  encrAlg: string;
  integAlg: string;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  /** Seconds since the last packet, if any. */
  useIn?: number;
  useOut?: number;
  rekeyTime?: number;
  lifeTime?: number;
  installTime?: number;
  localTs: string[];
  remoteTs: string[];
}

export interface IkeSa {
  /** The connection (peer config) name. */
  name: string;
  uniqueId: string;
  version: number;
  /** CREATED, CONNECTING, ESTABLISHED, PASSIVE, REKEYING, REKEYED, DELETING, DESTROYING. */
  state: string;
  localHost: string;
  localPort?: number;
  localId: string;
  remoteHost: string;
  remotePort?: number;
  remoteId: string;
  initiator: boolean;
  initiatorSpi: string;
  responderSpi: string;
  natLocal: boolean;
  natRemote: boolean;
  natFake: boolean;
  natAny: boolean;
  encrAlg: string;
  integAlg: string;
  prfAlg: string;
  dhGroup: string;
  /** Seconds since establishment. */
  established?: number;
  rekeyTime?: number;
  reauthTime?: number;
  tasksQueued: string[];
  tasksActive: string[];
  tasksPassive: string[];
  children: ChildSa[];
}

export interface ConnChild {
  name: string;
  mode: string;
  localTs: string[];
  remoteTs: string[];
}

export interface ConnAuth {
  /** Section name: `local`, `local-1`, `remote`, ... */
  round: string;
  class: string;
  id: string;
}

export interface ConnInfo {
  name: string;
  localAddrs: string[];
  remoteAddrs: string[];
  version: string;
  local: ConnAuth[];
  remote: ConnAuth[];
  children: ConnChild[];
}

export function isSection(e: ViciEntry | undefined): e is ViciSection {
  return typeof e === 'object' && e !== null && !Array.isArray(e);
}

export function str(s: ViciSection, key: string): string {
  const v = s[key];
  return typeof v === 'string' ? v : '';
}

export function optNum(s: ViciSection, key: string): number | undefined {
  const v = s[key];
  if (typeof v !== 'string' || !/^-?\d+$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

function num(s: ViciSection, key: string): number {
  return optNum(s, key) ?? 0;
}

function bool(s: ViciSection, key: string): boolean {
  return s[key] === 'yes';
}

export function list(s: ViciSection, key: string): string[] {
  const v = s[key];
  return Array.isArray(v) ? [...v] : [];
}

function sub(s: ViciSection, key: string): ViciSection | undefined {
  const v = s[key];
  return isSection(v) ? v : undefined;
}

export function parseVersion(m: ViciSection): ViciVersion {
  return { daemon: str(m, 'daemon'), version: str(m, 'version'), sysname: str(m, 'sysname'), release: str(m, 'release'), machine: str(m, 'machine') };
}

export function parseStats(m: ViciSection): ViciStats {
  const uptime = sub(m, 'uptime');
  const workers = sub(m, 'workers');
  const ikesas = sub(m, 'ikesas');
  return {
    uptimeRunning: uptime ? str(uptime, 'running') : '',
    uptimeSince: uptime ? str(uptime, 'since') : '',
    workersTotal: workers ? optNum(workers, 'total') : undefined,
    workersIdle: workers ? optNum(workers, 'idle') : undefined,
    scheduled: optNum(m, 'scheduled'),
    ikeSasTotal: ikesas ? optNum(ikesas, 'total') : undefined,
    ikeSasHalfOpen: ikesas ? optNum(ikesas, 'half-open') : undefined,
    plugins: list(m, 'plugins'),
  };
}

export function parseChildSa(key: string, c: ViciSection): ChildSa {
  return {
    key,
    name: str(c, 'name') || key,
    uniqueId: str(c, 'uniqueid'),
    reqid: optNum(c, 'reqid'),
    state: str(c, 'state'),
    mode: str(c, 'mode'),
    protocol: str(c, 'protocol'),
    encap: bool(c, 'encap'),
    spiIn: str(c, 'spi-in'),
    spiOut: str(c, 'spi-out'),
    encrAlg: str(c, 'encr-alg'),
    integAlg: str(c, 'integ-alg'),
    bytesIn: num(c, 'bytes-in'),
    bytesOut: num(c, 'bytes-out'),
    packetsIn: num(c, 'packets-in'),
    packetsOut: num(c, 'packets-out'),
    useIn: optNum(c, 'use-in'),
    useOut: optNum(c, 'use-out'),
    rekeyTime: optNum(c, 'rekey-time'),
    lifeTime: optNum(c, 'life-time'),
    installTime: optNum(c, 'install-time'),
    localTs: list(c, 'local-ts'),
    remoteTs: list(c, 'remote-ts'),
  };
}

/** One IKE_SA from the section named after its connection (list-sa, ike-updown, child-updown). */
export function parseIkeSa(name: string, s: ViciSection): IkeSa {
  const children: ChildSa[] = [];
  const cs = sub(s, 'child-sas');
  if (cs) for (const key of Object.keys(cs)) {
    const c = cs[key];
    if (isSection(c)) children.push(parseChildSa(key, c));
  }
  return {
    name,
    uniqueId: str(s, 'uniqueid'),
    version: num(s, 'version'),
    state: str(s, 'state'),
    localHost: str(s, 'local-host'),
    localPort: optNum(s, 'local-port'),
    localId: str(s, 'local-id'),
    remoteHost: str(s, 'remote-host'),
    remotePort: optNum(s, 'remote-port'),
    remoteId: str(s, 'remote-id'),
    initiator: bool(s, 'initiator'),
    initiatorSpi: str(s, 'initiator-spi'),
    responderSpi: str(s, 'responder-spi'),
    natLocal: bool(s, 'nat-local'),
    natRemote: bool(s, 'nat-remote'),
    natFake: bool(s, 'nat-fake'),
    natAny: bool(s, 'nat-any'),
    encrAlg: str(s, 'encr-alg'),
    integAlg: str(s, 'integ-alg'),
    prfAlg: str(s, 'prf-alg'),
    dhGroup: str(s, 'dh-group'),
    established: optNum(s, 'established'),
    rekeyTime: optNum(s, 'rekey-time'),
    reauthTime: optNum(s, 'reauth-time'),
    tasksQueued: list(s, 'tasks-queued'),
    tasksActive: list(s, 'tasks-active'),
    tasksPassive: list(s, 'tasks-passive'),
    children,
  };
}

/** Every IKE_SA in a set of list-sa events (each event holds one section per IKE_SA). */
export function parseIkeSas(events: readonly ViciSection[]): IkeSa[] {
  const out: IkeSa[] = [];
  for (const ev of events) {
    for (const name of Object.keys(ev)) {
      const s = ev[name];
      if (isSection(s)) out.push(parseIkeSa(name, s));
    }
  }
  return out;
}

/** The IKE_SA inside an ike-updown/child-updown event, with its `up` flag. */
export function parseUpdown(ev: ViciSection): { up: boolean; sa: IkeSa } | undefined {
  for (const name of Object.keys(ev)) {
    const s = ev[name];
    if (isSection(s)) return { up: ev.up === 'yes', sa: parseIkeSa(name, s) };
  }
  return undefined;
}

function parseAuth(round: string, s: ViciSection): ConnAuth {
  return { round, class: str(s, 'class'), id: str(s, 'id') };
}

export function parseConns(events: readonly ViciSection[]): ConnInfo[] {
  const out: ConnInfo[] = [];
  for (const ev of events) {
    for (const name of Object.keys(ev)) {
      const s = ev[name];
      if (!isSection(s)) continue;
      const local: ConnAuth[] = [];
      const remote: ConnAuth[] = [];
      const children: ConnChild[] = [];
      for (const key of Object.keys(s)) {
        const v = s[key];
        if (!isSection(v)) continue;
        if (/^local(-|$)/.test(key)) local.push(parseAuth(key, v));
        else if (/^remote(-|$)/.test(key)) remote.push(parseAuth(key, v));
        else if (key === 'children') {
          for (const cn of Object.keys(v)) {
            const c = v[cn];
            if (isSection(c)) children.push({ name: cn, mode: str(c, 'mode'), localTs: list(c, 'local-ts'), remoteTs: list(c, 'remote-ts') });
          }
        }
      }
      out.push({ name, localAddrs: list(s, 'local_addrs'), remoteAddrs: list(s, 'remote_addrs'), version: str(s, 'version'), local, remote, children });
    }
  }
  return out;
}
