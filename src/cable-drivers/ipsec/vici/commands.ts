// Typed VICI commands on top of the queueing client: each validates charon's `success`/`errmsg` answer
// and returns typed values.
import type { ViciInputSection, ViciSection } from './codec.js';
import { ViciBaseClient, type RequestOptions } from './client.js';
import { ViciError } from './errors.js';
import {
  list, parseConns, parseIkeSas, parseStats, parseVersion, str,
  type ConnInfo, type IkeSa, type ViciStats, type ViciVersion,
} from './types.js';

export interface SharedKey {
  /** Unique identifier, so the key can be replaced or unloaded later (strongSwan >= 5.7). */
  id?: string;
  type: 'IKE' | 'EAP' | 'XAUTH' | 'NTLM';
  /** Raw key material (a string is sent as its UTF-8 bytes, exactly). */
  data: string | Uint8Array;
  /** Identities the key belongs to; empty = any identity. */
  owners: readonly string[];
}

export interface InitiateRequest {
  child?: string;
  ike?: string;
  /** Milliseconds charon waits for the outcome; -1 returns at once (asynchronous); 0 waits forever. */
  timeoutMs?: number;
  /** Whether charon's IKE_SA limits may refuse the request. */
  initLimits?: boolean;
  /** control-log level to stream (default 1). */
  loglevel?: number;
}

export interface TerminateRequest {
  child?: string;
  ike?: string;
  childId?: string | number;
  ikeId?: string | number;
  /** Delete without waiting for the peer's answer (after timeoutMs if set). */
  force?: boolean;
  timeoutMs?: number;
  loglevel?: number;
}

export interface ControlResult {
  /** control-log lines streamed during the command. */
  log: string[];
}

/** A failed `success = no` answer as a ViciError carrying charon's errmsg. */
export function checkSuccess(command: string, response: ViciSection, log?: string[]): ViciSection {
  if (response.success === 'no') {
    const errmsg = str(response, 'errmsg') || 'no reason given';
    const tail = log && log.length ? `; log: ${log.slice(-4).join(' | ')}` : '';
    throw new ViciError('COMMAND_FAILED', `VICI ${command} failed: ${errmsg}${tail}`, { errmsg, log });
  }
  return response;
}

export class ViciClient extends ViciBaseClient {
  async version(opts?: RequestOptions): Promise<ViciVersion> {
    return parseVersion(await this.request('version', {}, { idempotent: true, ...opts }));
  }

  async stats(opts?: RequestOptions): Promise<ViciStats> {
    return parseStats(await this.request('stats', {}, { idempotent: true, ...opts }));
  }

  /** Loads (or replaces) a connection: `conn` is the body of the `<name> { ... }` section. */
  async loadConn(name: string, conn: ViciInputSection, opts?: RequestOptions): Promise<void> {
    checkSuccess('load-conn', await this.request('load-conn', { [name]: conn }, opts));
  }

  async unloadConn(name: string, opts?: RequestOptions): Promise<void> {
    checkSuccess('unload-conn', await this.request('unload-conn', { name }, opts));
  }

  /** Names of the connections loaded over VICI. */
  async getConns(opts?: RequestOptions): Promise<string[]> {
    return list(await this.request('get-conns', {}, { idempotent: true, ...opts }), 'conns');
  }

  async loadShared(key: SharedKey, opts?: RequestOptions): Promise<void> {
    const msg: ViciInputSection = { id: key.id, type: key.type, data: key.data, owners: [...key.owners] };
    checkSuccess('load-shared', await this.request('load-shared', msg, opts));
  }

  async unloadShared(id: string, opts?: RequestOptions): Promise<void> {
    checkSuccess('unload-shared', await this.request('unload-shared', { id }, opts));
  }

  /** Identifiers of the shared keys loaded over VICI. */
  async getShared(opts?: RequestOptions): Promise<string[]> {
    return list(await this.request('get-shared', {}, { idempotent: true, ...opts }), 'keys');
  }

  async initiate(req: InitiateRequest, opts?: RequestOptions): Promise<ControlResult> {
    const log: string[] = [];
    const msg: ViciInputSection = {
      child: req.child,
      ike: req.ike,
      timeout: req.timeoutMs,
      'init-limits': req.initLimits,
      loglevel: req.loglevel,
    };
    const { response } = await this.streamedRequest('initiate', 'control-log', msg, {
      ...this.deadline(req.timeoutMs, opts),
      onEvent: (m) => log.push(str(m, 'msg')),
    });
    checkSuccess('initiate', response, log);
    return { log };
  }

  async terminate(req: TerminateRequest, opts?: RequestOptions): Promise<ControlResult> {
    const log: string[] = [];
    const msg: ViciInputSection = {
      child: req.child,
      ike: req.ike,
      'child-id': req.childId,
      'ike-id': req.ikeId,
      force: req.force,
      timeout: req.timeoutMs,
      loglevel: req.loglevel,
    };
    const { response } = await this.streamedRequest('terminate', 'control-log', msg, {
      ...this.deadline(req.timeoutMs, opts),
      onEvent: (m) => log.push(str(m, 'msg')),
    });
    checkSuccess('terminate', response, log);
    return { log };
  }

  /** Starts rekeying an SA now (make-before-break: the new SA is up before the old one goes). */
  async rekey(req: { child?: string; ike?: string; childId?: string | number; ikeId?: string | number; reauth?: boolean }, opts?: RequestOptions): Promise<void> {
    const msg: ViciInputSection = { child: req.child, ike: req.ike, 'child-id': req.childId, 'ike-id': req.ikeId, reauth: req.reauth };
    checkSuccess('rekey', await this.request('rekey', msg, opts));
  }

  /** IKE_SAs and their CHILD_SAs. `noblock` skips SAs that are busy instead of waiting for them. */
  async listSas(filter: { ike?: string; ikeId?: string | number; noblock?: boolean } = {}, opts?: RequestOptions): Promise<IkeSa[]> {
    const msg: ViciInputSection = { noblock: filter.noblock ? 'yes' : undefined, ike: filter.ike, 'ike-id': filter.ikeId };
    const { events } = await this.streamedRequest('list-sas', 'list-sa', msg, { idempotent: true, ...opts });
    return parseIkeSas(events);
  }

  async listConns(filter: { ike?: string } = {}, opts?: RequestOptions): Promise<ConnInfo[]> {
    const { events } = await this.streamedRequest('list-conns', 'list-conn', { ike: filter.ike }, { idempotent: true, ...opts });
    return parseConns(events);
  }

  /** A command waiting `timeoutMs` inside charon needs a client deadline beyond it. */
  private deadline(timeoutMs: number | undefined, opts?: RequestOptions): RequestOptions {
    if (opts?.timeoutMs !== undefined || timeoutMs === undefined || timeoutMs <= 0) return opts ?? {};
    return { ...opts, timeoutMs: timeoutMs + 5_000 };
  }
}
